-- userapi: the statements on users, prepared once per connection.
--
-- Every statement is parameterised. A user leaves PostgreSQL as these
-- columns, read by name in src/store/store.c (checked once per statement):
-- outcome, id, name, email, age, is_active, is_admin, created_us,
-- updated_us, version. Timestamps are int8 microseconds since the Unix
-- epoch (extract(epoch ...) is exact, and int8 is the cheapest output
-- there is); src/json/user_json.c formats them once as RFC 3339 UTC.
--
-- outcome: ok; missing (no such user, or one the caller may not see:
-- 404); forbidden (403); stale (If-Match version no longer current: 412).
-- No row at all: the caller's token is no longer valid (its user is gone,
-- inactive, or the token is older than its token_version): 401.
--
-- The caller is $1 (the token's sub) with $2 (its token version), joined
-- as a second row of users (alias c) in the same statement as the
-- request's own lookup: revocation is immediate on every instance, and it
-- costs one more primary-key probe (3 shared buffers: 2 index pages, 1
-- heap page), never a second round trip. Authorisation (admin, or the
-- user itself) is decided in the join condition.
--
-- If-Match is passed as an array of versions (int8[]; NULL = none given:
-- any version; '{}' = none of the listed tags can match): the write goes
-- ahead when the row's version is any of them. A user that does not exist
-- or that the caller may not see is missing whatever the If-Match.
--
-- "-- read-only" marks a statement that changes nothing: the db layer
-- lets such statements share a pipeline sync point (one implicit
-- transaction), and refuses to start if a marked one says INSERT,
-- UPDATE, pg_notify and the like (src/db/db.c).
--
-- Costs below are EXPLAIN (ANALYZE, BUFFERS) on 10,000 users, warm cache,
-- PostgreSQL 15: "probes" are index descents, "buffers" shared hits.

-- name: user_create
-- Sign-up: open to anyone. $1 name, $2 email, $3 age, $4 password hash.
-- Cost: the heap insert and two index inserts (pkey, lower(email)), plus
-- created_at_id: 1 heap + 3 index leaf pages, about 8 buffers.
-- created_at and updated_at take one clock reading, so a new user's two
-- timestamps are equal.
INSERT INTO users (name, email, age, password_hash, created_at, updated_at)
SELECT $1, $2, $3::int4, $4, t, t FROM clock_timestamp() AS t
RETURNING 'ok' AS outcome, id, name, email, age, is_active, is_admin,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_us,
    (extract(epoch FROM updated_at) * 1000000)::int8 AS updated_us,
    version;

-- name: user_me
-- read-only
-- The caller itself. $1 caller, $2 token version.
-- Cost: one primary-key probe, 3 buffers (2 index, 1 heap); no row: 401.
SELECT 'ok' AS outcome, id, name, email, age, is_active, is_admin,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_us,
    (extract(epoch FROM updated_at) * 1000000)::int8 AS updated_us,
    version
FROM users
WHERE id = $1::uuid AND is_active AND token_version = $2::int8;

-- name: user_get
-- read-only
-- $1 caller, $2 token version, $3 user id.
-- Cost: two primary-key probes (nested loop: the caller, then the user),
-- 6 buffers; no row: 401; a row without id: 404.
SELECT CASE WHEN u.id IS NULL THEN 'missing' ELSE 'ok' END AS outcome,
    u.id, u.name, u.email, u.age, u.is_active, u.is_admin,
    (extract(epoch FROM u.created_at) * 1000000)::int8 AS created_us,
    (extract(epoch FROM u.updated_at) * 1000000)::int8 AS updated_us,
    u.version
FROM users c
LEFT JOIN users u ON u.id = $3::uuid AND (c.is_admin OR c.id = u.id)
WHERE c.id = $1::uuid AND c.is_active AND c.token_version = $2::int8;

-- name: user_list
-- read-only
-- Admins only. $1 caller, $2 token version, $3 skip, $4 limit.
-- Cost: the caller's probe (3 buffers), then for an admin an index scan
-- of users_created_at_id for skip + limit entries: limit 10 read 6
-- buffers in all on the bench's data (rows inserted together share heap
-- pages; at worst one heap page per row, 15); a large skip walks that
-- many index entries.
-- No row: 401; one row forbidden: 403; one row ok without id: [].
SELECT CASE WHEN c.is_admin THEN 'ok' ELSE 'forbidden' END AS outcome,
    u.id, u.name, u.email, u.age, u.is_active, u.is_admin,
    (extract(epoch FROM u.created_at) * 1000000)::int8 AS created_us,
    (extract(epoch FROM u.updated_at) * 1000000)::int8 AS updated_us,
    u.version
FROM users c
LEFT JOIN LATERAL (
	SELECT * FROM users
	WHERE c.is_admin
	ORDER BY created_at, id
	OFFSET $3::int8
	LIMIT $4::int8
) u ON true
WHERE c.id = $1::uuid AND c.is_active AND c.token_version = $2::int8;

-- name: user_list_email
-- read-only
-- user_list with the email filter: $1 caller, $2 token version, $3 skip,
-- $4 limit, $5 email. A statement of its own, so that the prepared
-- (generic) plan probes users_email_key instead of filtering a scan of
-- every user (`$5 IS NULL OR ...` in one statement read all 10,000 rows).
-- Cost: two probes (6 buffers), at most one row to sort.
SELECT CASE WHEN c.is_admin THEN 'ok' ELSE 'forbidden' END AS outcome,
    u.id, u.name, u.email, u.age, u.is_active, u.is_admin,
    (extract(epoch FROM u.created_at) * 1000000)::int8 AS created_us,
    (extract(epoch FROM u.updated_at) * 1000000)::int8 AS updated_us,
    u.version
FROM users c
LEFT JOIN LATERAL (
	SELECT * FROM users
	WHERE c.is_admin AND lower(email) = lower($5::text)
	ORDER BY created_at, id
	OFFSET $3::int8
	LIMIT $4::int8
) u ON true
WHERE c.id = $1::uuid AND c.is_active AND c.token_version = $2::int8;

-- name: user_replace
-- PUT: $1 caller, $2 token version, $3 id, $4 name, $5 email, $6 age,
-- $7 If-Match versions. The version test is on the row being updated, so
-- of two writers with the same If-Match exactly one wins (the other
-- re-checks the row after the first commits).
-- Cost (success): the caller's probe and the user's (6 buffers), the new
-- row version and its index entries (HOT when the e-mail is unchanged:
-- then no index insert); the why-not branch runs only when nothing was
-- updated (two more probes).
WITH upd AS (
	UPDATE users u
	SET name = $4, email = $5, age = $6::int4,
	    updated_at = clock_timestamp(), version = u.version + 1
	FROM users c
	WHERE c.id = $1::uuid AND c.is_active AND c.token_version = $2::int8
	    AND u.id = $3::uuid AND (c.is_admin OR c.id = u.id)
	    AND ($7::int8[] IS NULL OR u.version = ANY ($7::int8[]))
	RETURNING u.*
)
SELECT 'ok' AS outcome, id, name, email, age, is_active, is_admin,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_us,
    (extract(epoch FROM updated_at) * 1000000)::int8 AS updated_us,
    version
FROM upd
UNION ALL
SELECT CASE WHEN u.id IS NULL THEN 'missing' ELSE 'stale' END,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM users c
LEFT JOIN users u ON u.id = $3::uuid AND (c.is_admin OR c.id = u.id)
WHERE NOT EXISTS (SELECT 1 FROM upd)
    AND c.id = $1::uuid AND c.is_active AND c.token_version = $2::int8;

-- name: user_patch
-- PATCH: $1 caller, $2 token version, $3 id, $4 name, $5 email (NULL:
-- keep), $6 set age?, $7 age, $8 is_active, $9 is_admin (NULL: keep; only
-- admins may set them), $10 If-Match versions. Deactivating a user bumps
-- its token_version: its tokens stop working, also after reactivation.
-- Cost (success): as user_replace: two primary-key probes (6 buffers)
-- and the new row version (HOT unless the e-mail changed); nothing else
-- runs. When nothing was updated, two more probes tell missing (404),
-- forbidden (403) and stale (412) apart.
WITH upd AS (
	UPDATE users u
	SET name = coalesce($4, u.name), email = coalesce($5, u.email),
	    age = CASE WHEN $6::bool THEN $7::int4 ELSE u.age END,
	    is_active = coalesce($8::bool, u.is_active),
	    is_admin = coalesce($9::bool, u.is_admin),
	    token_version = u.token_version +
		CASE WHEN u.is_active AND $8::bool = false THEN 1 ELSE 0 END,
	    updated_at = clock_timestamp(), version = u.version + 1
	FROM users c
	WHERE c.id = $1::uuid AND c.is_active AND c.token_version = $2::int8
	    AND u.id = $3::uuid
	    AND (c.is_admin OR
		(c.id = u.id AND $8::bool IS NULL AND $9::bool IS NULL))
	    AND ($10::int8[] IS NULL OR u.version = ANY ($10::int8[]))
	RETURNING u.*
)
SELECT 'ok' AS outcome, id, name, email, age, is_active, is_admin,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_us,
    (extract(epoch FROM updated_at) * 1000000)::int8 AS updated_us,
    version
FROM upd
UNION ALL
SELECT CASE WHEN u.id IS NULL THEN 'missing'
    WHEN ($8::bool IS NOT NULL OR $9::bool IS NOT NULL)
	AND NOT c.is_admin THEN 'forbidden'
    ELSE 'stale' END,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM users c
LEFT JOIN users u ON u.id = $3::uuid AND (c.is_admin OR c.id = u.id)
WHERE NOT EXISTS (SELECT 1 FROM upd)
    AND c.id = $1::uuid AND c.is_active AND c.token_version = $2::int8;

-- name: user_delete
-- $1 caller, $2 token version, $3 id, $4 If-Match versions.
-- Cost: the caller's probe and the user's (6 buffers) and the delete
-- mark; one row: ok, missing or stale; no row: 401.
WITH del AS (
	DELETE FROM users u
	USING users c
	WHERE c.id = $1::uuid AND c.is_active AND c.token_version = $2::int8
	    AND u.id = $3::uuid AND (c.is_admin OR c.id = u.id)
	    AND ($4::int8[] IS NULL OR u.version = ANY ($4::int8[]))
	RETURNING u.id
)
SELECT 'ok' AS outcome FROM del
UNION ALL
SELECT CASE WHEN u.id IS NULL THEN 'missing' ELSE 'stale' END
FROM users c
LEFT JOIN users u ON u.id = $3::uuid AND (c.is_admin OR c.id = u.id)
WHERE NOT EXISTS (SELECT 1 FROM del)
    AND c.id = $1::uuid AND c.is_active AND c.token_version = $2::int8;
