-- userapi: the statements on users, prepared once per connection.
--
-- Every statement is parameterised; timestamps are formatted here as
-- RFC 3339 UTC with microseconds. Each answers rows whose first column is
-- the outcome and whose other columns are a user, always in this order:
-- id, name, email, age, is_active, is_admin, created_at, updated_at, version.
--
-- If-Match is passed as an array of versions (int8[], NULL = none): the
-- write goes ahead when the row's version is any of them.
--
-- Outcomes: ok; unauthorized (the token's user is gone, inactive, or the
-- token is older than its token_version: 401); forbidden (403); missing
-- (no such user, or one the caller may not see: 404); stale (If-Match
-- version no longer current: 412).
--
-- The caller is $1 (the token's sub) with $2 (its token version): checking
-- the token's validity costs no second round trip. Authorisation (admin,
-- or the user itself) is decided here too, in the same statement.

-- name: user_create
-- Sign-up: open to anyone. $1 name, $2 email, $3 age, $4 password hash.
INSERT INTO users (name, email, age, password_hash)
VALUES ($1, $2, $3::int4, $4)
RETURNING 'ok', id, name, email, age, is_active, is_admin,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    version;

-- name: user_me
-- The caller itself. $1 caller, $2 token version.
SELECT CASE WHEN u.id IS NULL THEN 'unauthorized' ELSE 'ok' END,
    u.id, u.name, u.email, u.age, u.is_active, u.is_admin,
    to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    to_char(u.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    u.version
FROM (SELECT 1) AS one
LEFT JOIN users u ON u.id = $1::uuid AND u.is_active
    AND u.token_version = $2::int8;

-- name: user_get
-- $1 caller, $2 token version, $3 user id.
WITH caller AS (
	SELECT id, is_admin FROM users
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
)
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM caller) THEN 'unauthorized'
    WHEN u.id IS NULL THEN 'missing' ELSE 'ok' END,
    u.id, u.name, u.email, u.age, u.is_active, u.is_admin,
    to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    to_char(u.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    u.version
FROM (SELECT 1) AS one
LEFT JOIN users u ON u.id = $3::uuid
    AND EXISTS (SELECT 1 FROM caller c WHERE c.is_admin OR c.id = u.id);

-- name: user_list
-- Admins only. $1 caller, $2 token version, $3 skip, $4 limit, $5 email.
WITH caller AS (
	SELECT id, is_admin FROM users
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
)
(SELECT 'ok', id, name, email, age, is_active, is_admin,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    version
FROM users
WHERE EXISTS (SELECT 1 FROM caller WHERE is_admin)
    AND ($5::text IS NULL OR lower(email) = lower($5::text))
ORDER BY created_at, id
OFFSET $3::int8
LIMIT $4::int8)
UNION ALL
SELECT CASE WHEN EXISTS (SELECT 1 FROM caller) THEN 'forbidden'
    ELSE 'unauthorized' END,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE NOT EXISTS (SELECT 1 FROM caller WHERE is_admin);

-- name: user_replace
-- PUT: $1 caller, $2 token version, $3 id, $4 name, $5 email, $6 age,
-- $7 If-Match version. The version test is on the row being updated, so
-- of two writers with the same If-Match exactly one wins (the other
-- re-checks the row after the first commits).
WITH caller AS (
	SELECT id, is_admin FROM users
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
), upd AS (
	UPDATE users
	SET name = $4, email = $5, age = $6::int4,
	    updated_at = clock_timestamp(), version = version + 1
	WHERE id = $3::uuid AND ($7::int8[] IS NULL OR version = ANY ($7::int8[]))
	    AND EXISTS (SELECT 1 FROM caller c WHERE c.is_admin OR c.id = $3::uuid)
	RETURNING *
)
SELECT 'ok', id, name, email, age, is_active, is_admin,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    version
FROM upd
UNION ALL
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM caller) THEN 'unauthorized'
    WHEN EXISTS (SELECT 1 FROM users u, caller c WHERE u.id = $3::uuid
	AND (c.is_admin OR c.id = u.id)) THEN 'stale'
    ELSE 'missing' END,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE NOT EXISTS (SELECT 1 FROM upd);

-- name: user_patch
-- PATCH: $1 caller, $2 token version, $3 id, $4 name, $5 email (NULL:
-- keep), $6 set age?, $7 age, $8 is_active, $9 is_admin (NULL: keep; only
-- admins may set them), $10 If-Match version. Deactivating a user bumps
-- its token_version: its tokens stop working, also after reactivation.
WITH caller AS (
	SELECT id, is_admin FROM users
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
), upd AS (
	UPDATE users
	SET name = coalesce($4, name), email = coalesce($5, email),
	    age = CASE WHEN $6::bool THEN $7::int4 ELSE age END,
	    is_active = coalesce($8::bool, is_active),
	    is_admin = coalesce($9::bool, is_admin),
	    token_version = token_version +
		CASE WHEN is_active AND $8::bool = false THEN 1 ELSE 0 END,
	    updated_at = clock_timestamp(), version = version + 1
	WHERE id = $3::uuid AND ($10::int8[] IS NULL OR version = ANY ($10::int8[]))
	    AND EXISTS (SELECT 1 FROM caller c WHERE c.is_admin OR
		(c.id = $3::uuid AND $8::bool IS NULL AND $9::bool IS NULL))
	RETURNING *
)
SELECT 'ok', id, name, email, age, is_active, is_admin,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    version
FROM upd
UNION ALL
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM caller) THEN 'unauthorized'
    WHEN NOT EXISTS (SELECT 1 FROM users u, caller c WHERE u.id = $3::uuid
	AND (c.is_admin OR c.id = u.id)) THEN 'missing'
    WHEN ($8::bool IS NOT NULL OR $9::bool IS NOT NULL)
	AND NOT EXISTS (SELECT 1 FROM caller WHERE is_admin) THEN 'forbidden'
    ELSE 'stale' END,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE NOT EXISTS (SELECT 1 FROM upd);

-- name: user_delete
-- $1 caller, $2 token version, $3 id, $4 If-Match version.
WITH caller AS (
	SELECT id, is_admin FROM users
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
), del AS (
	DELETE FROM users
	WHERE id = $3::uuid AND ($4::int8[] IS NULL OR version = ANY ($4::int8[]))
	    AND EXISTS (SELECT 1 FROM caller c WHERE c.is_admin OR c.id = $3::uuid)
	RETURNING id
)
SELECT CASE
    WHEN NOT EXISTS (SELECT 1 FROM caller) THEN 'unauthorized'
    WHEN EXISTS (SELECT 1 FROM del) THEN 'ok'
    WHEN EXISTS (SELECT 1 FROM users u, caller c WHERE u.id = $3::uuid
	AND (c.is_admin OR c.id = u.id)) THEN 'stale'
    ELSE 'missing' END,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL;
