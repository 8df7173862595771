/* userapi: schema migrations (migrations/NNNN_name.sql, compiled in). */

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "assets.h"
#include "migrate.h"

/* Every file of migrations/, in order. A test checks none is missing. */
static const struct migration {
	const char		*version;
	const u_int8_t		*sql;
	const u_int32_t		*len;
} migrations[] = {
	{ "0001_users", asset_0001_users_sql, &asset_len_0001_users_sql },
	{ "0002_auth", asset_0002_auth_sql, &asset_len_0002_auth_sql },
	{ "0003_login_attempts_expiry", asset_0003_login_attempts_expiry_sql,
	    &asset_len_0003_login_attempts_expiry_sql },
	{ "0004_jobs", asset_0004_jobs_sql, &asset_len_0004_jobs_sql },
	{ "0005_ws", asset_0005_ws_sql, &asset_len_0005_ws_sql },
};

#define MIGRATIONS	(sizeof(migrations) / sizeof(migrations[0]))

/* Any constant; two `userapi migrate` at once take turns on it. */
#define MIGRATE_LOCK	"7450217305"

/* --wait: at most this long, and between two attempts at most this. */
#define MIGRATE_WAIT_MAX	3600
#define MIGRATE_RETRY_MAX_MS	2000

static PGconn	*migrate_connect(const char *, int);
static int	migrate_exec(PGconn *, const char *, const char *);
static void	migrate_checksum(const struct migration *, char *, size_t);
static int	migrate_one(PGconn *, const struct migration *, PGresult *);

const char *
migrate_latest(void)
{
	return (migrations[MIGRATIONS - 1].version);
}

int
migrate_command(const char *conninfo, int argc, char **argv)
{
	char		*end;
	long		 wait;

	wait = 0;
	if (argc == 2 && !strcmp(argv[0], "--wait")) {
		errno = 0;
		wait = strtol(argv[1], &end, 10);
		if (errno != 0 || end == argv[1] || *end != '\0' || wait < 0 ||
		    wait > MIGRATE_WAIT_MAX) {
			fprintf(stderr, "userapi: migrate --wait takes seconds, "
			    "0..%d, not %s\n", MIGRATE_WAIT_MAX, argv[1]);
			return (2);
		}
	} else if (argc != 0) {
		fprintf(stderr, "usage: userapi migrate [--wait SECONDS]\n");
		return (2);
	}
	return (migrate_run_wait(conninfo, (int)wait) == 0 ? 0 : 1);
}

int
migrate_run(const char *conninfo)
{
	return (migrate_run_wait(conninfo, 0));
}

int
migrate_run_wait(const char *conninfo, int wait)
{
	PGconn		*pg;
	PGresult	*applied;
	size_t		 i;
	int		 rc;

	if ((pg = migrate_connect(conninfo, wait)) == NULL)
		return (-1);

	rc = -1;
	applied = NULL;
	if (migrate_exec(pg, "SET client_min_messages = warning",
	    "set client_min_messages") == -1)
		goto out;
	if (migrate_exec(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")",
	    "take the migration lock") == -1)
		goto out;
	if (migrate_exec(pg, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    "version text PRIMARY KEY, checksum text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now())",
	    "create schema_migrations") == -1)
		goto out;

	applied = PQexec(pg, "SELECT version, checksum FROM schema_migrations");
	if (PQresultStatus(applied) != PGRES_TUPLES_OK) {
		fprintf(stderr, "userapi: could not read schema_migrations: %s",
		    PQerrorMessage(pg));
		goto out;
	}

	for (i = 0; i < MIGRATIONS; i++) {
		if (migrate_one(pg, &migrations[i], applied) == -1)
			goto out;
	}
	rc = 0;

out:
	PQclear(applied);
	(void)migrate_exec(pg, "SELECT pg_advisory_unlock_all()", NULL);
	PQfinish(pg);
	return (rc);
}

/*
 * Connect; while the database is not reachable yet (still starting, its
 * address not resolvable yet, the server refusing), try again for up to
 * wait seconds, backing off from 100 ms to 2 s. Any failure counts: a
 * wrong password fails the same way, once the wait is over.
 */
static PGconn *
migrate_connect(const char *conninfo, int wait)
{
	const char	*keys[] = { "dbname", "application_name",
			    "connect_timeout", NULL };
	const char	*vals[] = { conninfo, "userapi migrate", "5", NULL };
	struct timespec	 now, deadline, pause;
	PGconn		*pg;
	long		 delay_ms, left_ms;
	int		 said;

	(void)clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += wait;
	delay_ms = 100;
	said = 0;

	for (;;) {
		pg = PQconnectdbParams(keys, vals, 1);
		if (PQstatus(pg) == CONNECTION_OK) {
			if (said)
				fprintf(stderr, "userapi: database reachable\n");
			return (pg);
		}

		(void)clock_gettime(CLOCK_MONOTONIC, &now);
		left_ms = (deadline.tv_sec - now.tv_sec) * 1000 +
		    (deadline.tv_nsec - now.tv_nsec) / 1000000;
		if (left_ms <= 0) {
			fprintf(stderr, "userapi: could not connect to "
			    "database: %s", PQerrorMessage(pg));
			PQfinish(pg);
			return (NULL);
		}
		if (!said) {
			fprintf(stderr, "userapi: database not reachable yet, "
			    "waiting up to %d s: %s", wait, PQerrorMessage(pg));
			said = 1;
		}
		PQfinish(pg);

		if (delay_ms > left_ms)
			delay_ms = left_ms;
		pause.tv_sec = delay_ms / 1000;
		pause.tv_nsec = (delay_ms % 1000) * 1000000;
		while (nanosleep(&pause, &pause) == -1 && errno == EINTR)
			;
		delay_ms *= 2;
		if (delay_ms > MIGRATE_RETRY_MAX_MS)
			delay_ms = MIGRATE_RETRY_MAX_MS;
	}
}

/* Apply m unless done; an applied file whose text changed is an error. */
static int
migrate_one(PGconn *pg, const struct migration *m, PGresult *applied)
{
	const char	*params[2];
	PGresult	*res;
	char		 sum[65];
	int		 row;

	migrate_checksum(m, sum, sizeof(sum));

	for (row = 0; row < PQntuples(applied); row++) {
		if (strcmp(PQgetvalue(applied, row, 0), m->version))
			continue;
		if (strcmp(PQgetvalue(applied, row, 1), sum)) {
			fprintf(stderr, "userapi: migration %s was changed "
			    "after it was applied (checksum %s, applied %s)\n",
			    m->version, sum, PQgetvalue(applied, row, 1));
			return (-1);
		}
		return (0);
	}

	if (migrate_exec(pg, "BEGIN", "begin") == -1)
		return (-1);
	if (migrate_exec(pg, (const char *)m->sql, m->version) == -1) {
		(void)migrate_exec(pg, "ROLLBACK", NULL);
		return (-1);
	}

	params[0] = m->version;
	params[1] = sum;
	res = PQexecParams(pg, "INSERT INTO schema_migrations "
	    "(version, checksum) VALUES ($1, $2)", 2, NULL, params, NULL,
	    NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "userapi: could not record migration %s: %s",
		    m->version, PQerrorMessage(pg));
		PQclear(res);
		(void)migrate_exec(pg, "ROLLBACK", NULL);
		return (-1);
	}
	PQclear(res);

	if (migrate_exec(pg, "COMMIT", "commit") == -1)
		return (-1);
	printf("applied migration %s\n", m->version);
	return (0);
}

/* Run sql; on failure say what failed (unless what is NULL). */
static int
migrate_exec(PGconn *pg, const char *sql, const char *what)
{
	PGresult	*res;
	int		 ok;

	res = PQexec(pg, sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
	    PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok && what != NULL)
		fprintf(stderr, "userapi: migration step failed (%s): %s",
		    what, PQerrorMessage(pg));
	PQclear(res);
	return (ok ? 0 : -1);
}

/* SHA-256 of the migration's text, in hex. */
static void
migrate_checksum(const struct migration *m, char *out, size_t len)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen, i;

	if (!EVP_Digest(m->sql, *m->len, md, &mdlen, EVP_sha256(), NULL))
		abort();
	for (i = 0; i < mdlen && (i * 2 + 2) < len; i++)
		(void)snprintf(out + i * 2, 3, "%02x", md[i]);
}
