-- userapi: the statements of authentication: logins, lockout, passwords, admins.

-- name: login_begin
-- Count this login for the account and fetch it, in one statement.
-- $1 e-mail (at most 254 bytes: longer ones are refused before any
-- query), $2 window (interval), $3 attempts allowed per window.
-- The count is taken before the password is checked, so parallel guesses
-- cannot pass the limit; a successful login clears it (login_reset).
-- Answers one row: id, email, password_hash, is_active, token_version
-- (NULL when there is no such account), locked (bool), retry_after
-- (seconds). Unknown e-mails are counted too, so a lockout says nothing
-- about which accounts exist.
-- login_attempts stays bounded: one row per account key (its primary
-- key); a key whose window passed starts a new one in place; and each
-- login removes up to 4 other keys whose window passed (oldest first, by
-- login_attempts_window_start; rows another login holds are skipped), so
-- rows expire even when their key is never tried again, faster than
-- anonymous logins can add them.
-- Cost (EXPLAIN (ANALYZE, BUFFERS), generic plan, warm): the purge's
-- scan of login_attempts_window_start (2 buffers when nothing expired; 4
-- expired keys: about 23, their index probes and delete marks), the
-- upsert's probe of login_attempts_pkey and its new row version (5
-- buffers), one probe of users_email_key (3 buffers): 10 in all.
WITH expired AS (
	DELETE FROM login_attempts
	WHERE email_key IN (
		SELECT email_key FROM login_attempts
		WHERE window_start <= statement_timestamp() - $2::interval
		    AND email_key <> lower($1)
		ORDER BY window_start
		LIMIT 4
		FOR UPDATE SKIP LOCKED)
), attempt AS (
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
    attempt.attempts > $3::int4 AS locked,
    greatest(1, ceil(extract(epoch FROM
	attempt.window_start + $2::interval - clock_timestamp())))::int8
	AS retry_after
FROM attempt
LEFT JOIN users u ON lower(u.email) = lower($1);

-- name: login_reset
-- A successful login clears the account's count. $1 e-mail.
-- Cost: one probe of login_attempts_pkey and the delete mark.
DELETE FROM login_attempts WHERE email_key = lower($1);

-- name: password_begin
-- POST /users/me/password: count this try against the caller's lockout
-- (the same key and limit as its logins: a wrong current password is a
-- failed login) and fetch the caller's hash, if the token is still
-- current. $1 caller, $2 token version, $3 window, $4 attempts allowed.
-- Answers login_begin's columns; no row: the token is no longer valid.
-- Cost: the caller's primary-key probe (3 buffers) and the upsert (5
-- buffers): 8 in all.
WITH c AS (
	SELECT id, email, password_hash, is_active, token_version
	FROM users
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
), attempt AS (
	INSERT INTO login_attempts AS a (email_key, attempts, window_start)
	SELECT lower(email), 1, clock_timestamp() FROM c
	ON CONFLICT (email_key) DO UPDATE SET
	    attempts = CASE WHEN a.window_start <= clock_timestamp() - $3::interval
		THEN 1 ELSE a.attempts + 1 END,
	    window_start = CASE WHEN a.window_start <= clock_timestamp() - $3::interval
		THEN clock_timestamp() ELSE a.window_start END
	RETURNING attempts, window_start
)
SELECT c.id, c.email, c.password_hash, c.is_active, c.token_version,
    attempt.attempts > $4::int4 AS locked,
    greatest(1, ceil(extract(epoch FROM
	attempt.window_start + $3::interval - clock_timestamp())))::int8
	AS retry_after
FROM c, attempt;

-- name: password_set
-- Set the caller's new hash, retire its tokens and clear its lockout
-- count (the current password was right), if the token is still current.
-- $1 caller, $2 token version, $3 new hash. Answers 'ok'; no row: the
-- token is no longer valid.
-- Cost: the caller's probe, its new row version (HOT), and one probe of
-- login_attempts_pkey with the delete mark.
WITH upd AS (
	UPDATE users
	SET password_hash = $3, token_version = token_version + 1,
	    updated_at = clock_timestamp(), version = version + 1
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
	RETURNING email
), cleared AS (
	DELETE FROM login_attempts
	WHERE email_key = (SELECT lower(email) FROM upd)
)
SELECT 'ok' AS outcome FROM upd;

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
