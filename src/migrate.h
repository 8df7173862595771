/* userapi: schema migrations (migrations/NNNN_name.sql, compiled in). */

#ifndef USERAPI_MIGRATE_H
#define USERAPI_MIGRATE_H

/*
 * Apply the pending migrations in order, each in its own transaction,
 * under an advisory lock, recorded with a checksum in schema_migrations.
 * Blocking: for the parent process and the CLI only. Returns 0 or -1
 * (the reason is printed on stderr).
 */
int		migrate_run(const char *conninfo);

/* migrate_run, trying to connect for up to wait seconds first. */
int		migrate_run_wait(const char *conninfo, int wait);

/*
 * `userapi migrate [--wait SECONDS]`: argv holds what follows "migrate".
 * Returns the exit status: 0 done, 1 failed, 2 bad usage.
 */
int		migrate_command(const char *conninfo, int argc, char **argv);

/* The version of the newest migration compiled in, e.g. "0001_users". */
const char	*migrate_latest(void);

#endif
