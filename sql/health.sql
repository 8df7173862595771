-- userapi: the readiness probe's statement.

-- name: schema_version
-- read-only
-- The newest applied migration; /readyz compares it with the newest one
-- compiled into the binary.
SELECT coalesce(max(version), '') AS version FROM schema_migrations;
