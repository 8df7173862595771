-- userapi: the statements on users, prepared once per connection.
--
-- Every statement is parameterised; timestamps are formatted here as
-- RFC 3339 UTC with microseconds. The column list of a user is always:
-- id, name, email, age, is_active, is_admin, created_at, updated_at, version.
-- Writes that take an If-Match version ($n::int8, NULL = none) answer one
-- row whose first column says what happened: ok, stale (412) or missing (404).

-- name: user_create
INSERT INTO users (name, email, age, password_hash)
VALUES ($1, $2, $3::int4, $4)
RETURNING id, name, email, age, is_active, is_admin,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    version;

-- name: user_get
SELECT id, name, email, age, is_active, is_admin,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    version
FROM users
WHERE id = $1::uuid;

-- name: user_list
SELECT id, name, email, age, is_active, is_admin,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    version
FROM users
WHERE $3::text IS NULL OR lower(email) = lower($3::text)
ORDER BY created_at, id
OFFSET $1::int8
LIMIT $2::int8;

-- name: user_replace
-- PUT: $1 id, $2 name, $3 email, $4 age, $5 If-Match version.
-- The version test is on the row being updated, so of two writers with
-- the same If-Match exactly one wins (the other re-checks after the lock).
WITH upd AS (
	UPDATE users
	SET name = $2, email = $3, age = $4::int4,
	    updated_at = clock_timestamp(), version = version + 1
	WHERE id = $1::uuid AND ($5::int8 IS NULL OR version = $5::int8)
	RETURNING *
)
SELECT 'ok', id, name, email, age, is_active, is_admin,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    version
FROM upd
UNION ALL
SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE id = $1::uuid)
    THEN 'stale' ELSE 'missing' END,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE NOT EXISTS (SELECT 1 FROM upd);

-- name: user_patch
-- PATCH: $1 id, $2 name, $3 email (NULL: keep), $4 set age?, $5 age,
-- $6 is_active, $7 is_admin (NULL: keep), $8 If-Match version.
WITH upd AS (
	UPDATE users
	SET name = coalesce($2, name), email = coalesce($3, email),
	    age = CASE WHEN $4::bool THEN $5::int4 ELSE age END,
	    is_active = coalesce($6::bool, is_active),
	    is_admin = coalesce($7::bool, is_admin),
	    updated_at = clock_timestamp(), version = version + 1
	WHERE id = $1::uuid AND ($8::int8 IS NULL OR version = $8::int8)
	RETURNING *
)
SELECT 'ok', id, name, email, age, is_active, is_admin,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    version
FROM upd
UNION ALL
SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE id = $1::uuid)
    THEN 'stale' ELSE 'missing' END,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE NOT EXISTS (SELECT 1 FROM upd);

-- name: user_delete
-- $1 id, $2 If-Match version.
WITH del AS (
	DELETE FROM users
	WHERE id = $1::uuid AND ($2::int8 IS NULL OR version = $2::int8)
	RETURNING id
)
SELECT CASE
    WHEN EXISTS (SELECT 1 FROM del) THEN 'ok'
    WHEN EXISTS (SELECT 1 FROM users WHERE id = $1::uuid) THEN 'stale'
    ELSE 'missing' END;
