-- userapi migration 0003: expired login counts are removed.
--
-- login_begin deletes a few rows whose window has passed on every login
-- (oldest first); this index finds them without reading the table. Rows
-- already in the table that expired long ago go now.

CREATE INDEX login_attempts_window_start ON login_attempts (window_start);

DELETE FROM login_attempts
WHERE window_start <= clock_timestamp() - interval '15 minutes';
