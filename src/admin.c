/* userapi: the first admin: ADMIN_EMAIL at start-up and `userapi create-admin`. */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "admin.h"
#include "auth/password.h"
#include "config.h"
#include "db/db.h"
#include "log.h"
#include "model/user.h"
#include "model/verr.h"

static int	admin_run(const char *, const char *, const char *,
		    const char *, char *, size_t);
static int	admin_read_password(char *, size_t);
static int	admin_check(const char *, const char *, char **);

/*
 * Validate the address and the password as a sign-up would; returns 0
 * with the normalised address in *norm, or -1 after saying why.
 */
static int
admin_check(const char *email, const char *password, char **norm)
{
	struct verrs	errs;
	int		rc;

	verrs_init(&errs);
	rc = 0;
	if (model_user_email(email, norm, &errs) == -1) {
		fprintf(stderr, "userapi: invalid admin e-mail: %s\n",
		    errs.v[0].msg);
		rc = -1;
	} else if (model_user_password(password, "password", &errs) == -1) {
		fprintf(stderr, "userapi: invalid admin password: %s\n",
		    errs.v[0].msg);
		rc = -1;
	}
	verrs_free(&errs);
	return (rc);
}

/* Hash, then run statement stmt; its one-word answer lands in out. */
static int
admin_run(const char *conninfo, const char *stmt, const char *email,
    const char *password, char *out, size_t outlen)
{
	const char	*keys[] = { "dbname", "application_name",
			    "connect_timeout", NULL };
	const char	*vals[] = { conninfo, "userapi admin", "5", NULL };
	const char	*params[3];
	char		 hash[PASSWORD_HASH_MAX], *norm;
	PGconn		*pg;
	PGresult	*res;
	int		 rc;

	if (admin_check(email, password, &norm) == -1)
		return (-1);
	if (password_hash(password, strlen(password), cfg.argon2_m_kib,
	    cfg.argon2_t, cfg.argon2_p, hash, sizeof(hash)) == -1) {
		fprintf(stderr, "userapi: could not hash the password\n");
		free(norm);
		return (-1);
	}

	pg = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "userapi: could not connect to database: %s",
		    PQerrorMessage(pg));
		PQfinish(pg);
		free(norm);
		return (-1);
	}

	/* The local part names the admin until it picks a name. */
	params[0] = "Administrator";
	params[1] = norm;
	params[2] = hash;
	res = PQexecParams(pg, db_stmt_sql(db_stmt(stmt)), 3, NULL, params,
	    NULL, NULL, 0);
	rc = -1;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		(void)snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
		rc = 0;
	} else {
		fprintf(stderr, "userapi: could not store the admin: %s",
		    PQerrorMessage(pg));
	}
	PQclear(res);
	PQfinish(pg);
	explicit_bzero(hash, sizeof(hash));
	free(norm);
	return (rc);
}

int
admin_bootstrap(const char *conninfo, const char *email, const char *password)
{
	char	outcome[32];

	if (admin_run(conninfo, "admin_ensure", email, password, outcome,
	    sizeof(outcome)) == -1)
		return (-1);
	if (!strcmp(outcome, "created"))
		log_info("created admin %s (ADMIN_EMAIL)", email);
	else if (!strcmp(outcome, "not_admin"))
		log_warn("ADMIN_EMAIL %s is an existing account that is not "
		    "an admin; left unchanged (use userapi create-admin)",
		    email);
	return (0);
}

int
admin_command(const char *conninfo, const char *email)
{
	char	 buf[PASSWORD_INPUT_MAX + 2], outcome[32];
	int	 rc;

	if (cfg.admin_password != NULL) {
		(void)snprintf(buf, sizeof(buf), "%s", cfg.admin_password);
	} else if (admin_read_password(buf, sizeof(buf)) == -1) {
		fprintf(stderr, "userapi: no password: set ADMIN_PASSWORD or "
		    "type it on stdin\n");
		return (2);
	}

	rc = admin_run(conninfo, "admin_promote", email, buf, outcome,
	    sizeof(outcome));
	explicit_bzero(buf, sizeof(buf));
	if (rc == -1)
		return (1);
	printf("%s admin %s\n", !strcmp(outcome, "created") ?
	    "created" : "promoted", email);
	return (0);
}

/* One line from stdin, without echo when it is a terminal. */
static int
admin_read_password(char *buf, size_t len)
{
	struct termios	old, quiet;
	int		tty;
	size_t		n;

	tty = isatty(STDIN_FILENO);
	if (tty) {
		fprintf(stderr, "password: ");
		if (tcgetattr(STDIN_FILENO, &old) == -1)
			return (-1);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (fgets(buf, (int)len, stdin) == NULL)
		buf[0] = '\0';
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return (n == 0 ? -1 : 0);
}
