-- userapi: psql helpers for operators: `make psql` loads this file; type :users, :admins, :lockouts, :migrations.
--
-- Each helper is a psql variable holding one read-only query; typing its
-- name runs it. Elsewhere: psql "$DATABASE_URL" then \i sql/inspect.sql.
-- Nothing here shows a password hash. A capability that keeps state adds
-- its helper here (:jobs with the notification jobs) and to :inspect.
-- This file is psql input, not one of the service's statements.

-- :inspect  the list of helpers
\set inspect 'SELECT * FROM (VALUES (''users'', ''the 20 newest users (no hashes)''), (''admins'', ''every admin''), (''lockouts'', ''accounts with failed logins in the lockout window''), (''migrations'', ''the applied migrations'')) AS helpers(helper, shows);'

-- :users  the 20 newest users, without their hashes
\set users 'SELECT id, name, email, age, is_active, is_admin, password_hash IS NOT NULL AS has_password, created_at, updated_at FROM users ORDER BY created_at DESC, id DESC LIMIT 20;'

-- :admins  every admin, active or not
\set admins 'SELECT id, name, email, is_active, password_hash IS NOT NULL AS has_password, created_at, updated_at FROM users WHERE is_admin ORDER BY created_at, id;'

-- :lockouts  accounts (by lower-cased e-mail, known or not) with logins
-- counted in the current window; a successful login clears its count.
-- locked: the account's logins answer 429 until locked_until. The numbers are LOGIN_ATTEMPTS (5) and LOGIN_WINDOW
-- (15 minutes) of src/store/store.c.
\set lockouts 'SELECT a.email_key AS email, u.id AS user_id, a.attempts, a.attempts >= 5 AS locked, a.window_start, CASE WHEN a.attempts >= 5 THEN a.window_start + interval ''15 minutes'' END AS locked_until FROM login_attempts a LEFT JOIN users u ON lower(u.email) = a.email_key WHERE a.window_start > clock_timestamp() - interval ''15 minutes'' ORDER BY a.attempts DESC, a.window_start, a.email_key;'

-- :migrations  what `userapi migrate` applied, in order
\set migrations 'SELECT version, applied_at, checksum FROM schema_migrations ORDER BY version;'
