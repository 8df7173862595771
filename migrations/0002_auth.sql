-- userapi migration 0002: what authentication keeps in the database.
--
-- token_version is written into every token (claim "tv") and compared on
-- every request in the same statement as the request's own query; a
-- password change or a deactivation bumps it, so older tokens stop working
-- on every instance at once, and reactivation does not bring them back.
--
-- login_attempts counts the logins of one account (by lower-cased e-mail,
-- known or not, so a lockout does not tell which accounts exist) in a
-- window; the count lives here so it holds across instances.

ALTER TABLE users
	ADD COLUMN token_version bigint NOT NULL DEFAULT 1;

CREATE TABLE login_attempts (
	email_key	text PRIMARY KEY,
	attempts	integer NOT NULL,
	window_start	timestamptz NOT NULL
);
