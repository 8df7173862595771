-- userapi migration 0001: the users table.
--
-- The database enforces what the service validates, so a bug in C cannot
-- store bad data: lengths, ranges, the hash format, one account per e-mail
-- address compared case-insensitively.

CREATE TABLE users (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name		text NOT NULL
			CONSTRAINT users_name_length
			CHECK (char_length(name) BETWEEN 1 AND 100),
	email		text NOT NULL
			CONSTRAINT users_email_format
			CHECK (octet_length(email) BETWEEN 3 AND 254
			    AND email LIKE '_%@_%'),
	age		integer
			CONSTRAINT users_age_range
			CHECK (age BETWEEN 0 AND 150),
	password_hash	text
			CONSTRAINT users_password_hash_format
			CHECK (password_hash LIKE '$argon2id$%'),
	is_active	boolean NOT NULL DEFAULT true,
	is_admin	boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	-- Bumped by every update: the ETag, for If-Match.
	version		bigint NOT NULL DEFAULT 1
);

CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_created_at_id ON users (created_at, id);
