-- userapi: the statements of the WebSocket bus (src/ws/), prepared once per connection.
--
-- A caller is $1 (the token's sub) with $2 (its token version), checked
-- in the same statement as for the users API (sql/users.sql).

-- name: ws_auth
-- read-only
-- The upgrade: the caller's e-mail when its token is still current.
SELECT email FROM users
WHERE id = $1::uuid AND is_active AND token_version = $2::int8;

-- name: ws_post
-- Store a sender's waiting messages and announce them, in one statement.
-- $1 caller, $2 token version, $3 the texts in the order sent, as a JSON
-- array of JSON strings (encoded by the server: a text may hold \u0000,
-- which a text value cannot). One row per message; none: the token is
-- revoked.
--
-- The advisory lock is taken before the ids are drawn and held until the
-- commit, so ids are committed, and so notified, in increasing order:
-- a worker can then skip anything at or below the last id it delivered.
-- The ids follow the array's order (volatile functions are evaluated
-- after ORDER BY), and the NOTIFYs go out in id order. A NOTIFY payload
-- is the message itself when it is at most $4 bytes (WS_NOTIFY_MAX;
-- PostgreSQL's limit is 7999), else only its id, and the workers read
-- the message from the table.
WITH lock AS (
	SELECT pg_advisory_xact_lock(7450217305005)
), sender AS (
	SELECT u.email FROM users u, lock
	WHERE u.id = $1::uuid AND u.is_active AND u.token_version = $2::int8
), new AS (
	SELECT nextval('ws_messages_id_seq') AS id, clock_timestamp() AS at,
	    s.email, t.body
	FROM sender s,
	    json_array_elements($3::json) WITH ORDINALITY AS t(body, ord)
	ORDER BY t.ord
), ins AS (
	INSERT INTO ws_messages (id, at, msg)
	SELECT id, at,
	    '{"type":"message","id":' || id || ',"from":' ||
	    to_json(email)::text || ',"text":' || body::text ||
	    ',"at":"' || to_char(at AT TIME ZONE 'UTC',
	    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"}'
	FROM new
	RETURNING id, msg
)
SELECT id, pg_notify('ws', CASE WHEN octet_length(msg) <= $4::int4
    THEN msg ELSE id::text END)
FROM ins
ORDER BY id;

-- name: ws_since
-- read-only
-- The kept messages after id $1, at most $2 of them, in order, and
-- whether some after $1 were pruned already (reset). At least one row:
-- id and msg are NULL when there is nothing after $1.
SELECT s.pruned_upto > $1::int8, m.id, m.msg
FROM ws_state s
LEFT JOIN LATERAL (
	SELECT id, msg FROM ws_messages
	WHERE id > $1::int8
	ORDER BY id
	LIMIT $2::int8
) m ON true
ORDER BY m.id;

-- name: ws_fetch
-- read-only
-- One message, when its NOTIFY carried only the id.
SELECT msg FROM ws_messages WHERE id = $1::int8;

-- name: ws_tail
-- read-only
-- The newest id there is (kept or pruned): where a worker starts.
SELECT greatest((SELECT max(id) FROM ws_messages),
    (SELECT pruned_upto FROM ws_state), 0);

-- name: ws_prune
-- Keep the last $1 messages and those of the last $2 seconds at most;
-- remember the highest id removed.
WITH cut AS (
	SELECT greatest(
	    (SELECT id FROM ws_messages ORDER BY id DESC OFFSET $1::int8
	    LIMIT 1),
	    (SELECT max(id) FROM ws_messages
	    WHERE at < clock_timestamp() - make_interval(secs => $2::int8)))
	    AS upto
), del AS (
	DELETE FROM ws_messages
	WHERE id <= (SELECT upto FROM cut)
	RETURNING id
)
UPDATE ws_state SET pruned_upto = greatest(pruned_upto,
    (SELECT max(id) FROM del))
WHERE EXISTS (SELECT 1 FROM del);

-- name: ws_revalidate
-- read-only
-- Of the (user, token version) pairs connected, those no longer valid:
-- the user is gone or inactive, or its tokens were retired.
SELECT t.id, t.tv
FROM unnest($1::uuid[], $2::int8[]) AS t(id, tv)
WHERE NOT EXISTS (
	SELECT 1 FROM users u
	WHERE u.id = t.id AND u.is_active AND u.token_version = t.tv);
