-- userapi: the statements of authentication: logins, lockout, passwords, admins.

-- name: login_begin
-- Count this login for the account and fetch it, in one statement.
-- $1 e-mail, $2 window (interval), $3 attempts allowed per window.
-- The count is taken before the password is checked, so parallel guesses
-- cannot pass the limit; a successful login clears it (login_reset).
-- Answers: id, email, password_hash, is_active, token_version, locked
-- (bool), retry_after (seconds). Unknown e-mails are counted too, so a
-- lockout says nothing about which accounts exist.
WITH attempt AS (
	INSERT INTO login_attempts AS a (email_key, attempts, window_start)
	VALUES (lower($1), 1, clock_timestamp())
	ON CONFLICT (email_key) DO UPDATE SET
	    attempts = CASE WHEN a.window_start <= clock_timestamp() - $2::interval
		THEN 1 ELSE a.attempts + 1 END,
	    window_start = CASE WHEN a.window_start <= clock_timestamp() - $2::interval
		THEN clock_timestamp() ELSE a.window_start END
	RETURNING attempts, window_start
)
SELECT u.id, u.email, u.password_hash, u.is_active, u.token_version,
    attempt.attempts > $3::int4,
    greatest(1, ceil(extract(epoch FROM
	attempt.window_start + $2::interval - clock_timestamp())))::int8
FROM attempt
LEFT JOIN users u ON lower(u.email) = lower($1);

-- name: login_reset
-- A successful login clears the account's count. $1 e-mail.
DELETE FROM login_attempts WHERE email_key = lower($1);

-- name: password_current
-- The caller's hash, to check its current password. $1 caller, $2 token
-- version. Answers: 'ok'|'unauthorized', password_hash.
SELECT CASE WHEN u.id IS NULL THEN 'unauthorized' ELSE 'ok' END,
    u.password_hash
FROM (SELECT 1) AS one
LEFT JOIN users u ON u.id = $1::uuid AND u.is_active
    AND u.token_version = $2::int8;

-- name: password_set
-- Set the caller's new hash and retire its tokens, if the token is still
-- current. $1 caller, $2 token version, $3 new hash. Answers 'ok' or
-- 'unauthorized'.
WITH upd AS (
	UPDATE users
	SET password_hash = $3, token_version = token_version + 1,
	    updated_at = clock_timestamp(), version = version + 1
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
	RETURNING id
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM upd) THEN 'ok'
    ELSE 'unauthorized' END;

-- name: admin_ensure
-- The first admin (ADMIN_EMAIL at start-up): created when absent, never
-- changed when present. $1 name, $2 email, $3 hash. Answers
-- 'created' | 'admin' (already an admin) | 'not_admin' (exists, not one).
WITH ins AS (
	INSERT INTO users (name, email, password_hash, is_admin)
	VALUES ($1, $2, $3, true)
	ON CONFLICT ((lower(email))) DO NOTHING
	RETURNING id
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM ins) THEN 'created'
    WHEN (SELECT is_admin FROM users WHERE lower(email) = lower($2))
	THEN 'admin' ELSE 'not_admin' END;

-- name: admin_promote
-- `userapi create-admin`: create the admin, or make the existing user one
-- and set its password (the operator asked for it). $1 name, $2 email,
-- $3 hash. Answers 'created' | 'promoted'.
WITH upd AS (
	UPDATE users
	SET is_admin = true, is_active = true, password_hash = $3,
	    token_version = token_version + 1,
	    updated_at = clock_timestamp(), version = version + 1
	WHERE lower(email) = lower($2)
	RETURNING id
), ins AS (
	INSERT INTO users (name, email, password_hash, is_admin)
	SELECT $1, $2, $3, true
	WHERE NOT EXISTS (SELECT 1 FROM upd)
	RETURNING id
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM ins) THEN 'created'
    ELSE 'promoted' END;
