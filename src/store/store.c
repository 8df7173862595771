/* userapi: the queries on users, logins and health: parameters in, structs out; no HTTP. */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "assets.h"
#include "db/db.h"
#include "log.h"
#include "model/user.h"
#include "store/store.h"

/*
 * How to read a result, per statement. Most answer rows of (outcome,
 * user columns...): see sql/users.sql.
 */
#define READ_ONE	0	/* one user */
#define READ_USERS	1	/* a list of users */
#define READ_OUTCOME	2	/* just the outcome */
#define READ_TEXT	3	/* outcome, then one value into text */
#define READ_LOGIN	4	/* login_begin's row */
#define READ_NOTHING	5	/* nothing to read */
#define READ_SCHEMA	6	/* one value, no outcome column */

/* The lockout: this many logins of one account per window. */
#define LOGIN_ATTEMPTS	"5"
#define LOGIN_WINDOW	"15 minutes"

struct store_call {
	store_cb	 cb;
	void		*arg;
	int		 how;
};

static struct db_query	*store_run(int, int, const char * const *, int,
			    store_cb, void *);
static void		 store_done(void *, struct db_result *);
static void		 store_read(struct store_call *, PGresult *,
			    struct store_reply *);
static enum store_status store_outcome(const char *);
static int		 store_read_user(PGresult *, int, int, struct user *);
static void		 store_read_login(PGresult *, struct store_login *);
static const char	*store_age(const struct user_input *, char *, size_t);
static const char	*store_versions(const char *);

static int	st_user_create, st_user_me, st_user_get, st_user_list;
static int	st_user_replace, st_user_patch, st_user_delete;
static int	st_schema_version, st_login_begin, st_login_reset;
static int	st_password_current, st_password_set;

void
store_load(void)
{
	db_statements_add((const char *)asset_users_sql);
	db_statements_add((const char *)asset_health_sql);
	db_statements_add((const char *)asset_auth_sql);

	st_user_create = db_stmt("user_create");
	st_user_me = db_stmt("user_me");
	st_login_begin = db_stmt("login_begin");
	st_login_reset = db_stmt("login_reset");
	st_password_current = db_stmt("password_current");
	st_password_set = db_stmt("password_set");
	st_user_get = db_stmt("user_get");
	st_user_list = db_stmt("user_list");
	st_user_replace = db_stmt("user_replace");
	st_user_patch = db_stmt("user_patch");
	st_user_delete = db_stmt("user_delete");
	st_schema_version = db_stmt("schema_version");
}

struct db_query *
user_store_create(const struct user_input *in, const char *hash,
    store_cb cb, void *arg)
{
	const char	*p[4];
	char		 age[16];

	p[0] = in->name;
	p[1] = in->email;
	p[2] = store_age(in, age, sizeof(age));
	p[3] = hash;
	return (store_run(st_user_create, 4, p, READ_ONE, cb, arg));
}

struct db_query *
user_store_me(const struct caller *c, store_cb cb, void *arg)
{
	const char	*p[2];

	p[0] = c->id;
	p[1] = c->tv;
	return (store_run(st_user_me, 2, p, READ_ONE, cb, arg));
}

struct db_query *
user_store_get(const struct caller *c, const char *id, store_cb cb,
    void *arg)
{
	const char	*p[3];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = id;
	return (store_run(st_user_get, 3, p, READ_ONE, cb, arg));
}

struct db_query *
user_store_list(const struct caller *c, long long skip, long long limit,
    const char *email, store_cb cb, void *arg)
{
	const char	*p[5];
	char		 s[24], l[24];

	(void)snprintf(s, sizeof(s), "%lld", skip);
	(void)snprintf(l, sizeof(l), "%lld", limit);
	p[0] = c->id;
	p[1] = c->tv;
	p[2] = s;
	p[3] = l;
	p[4] = email;
	return (store_run(st_user_list, 5, p, READ_USERS, cb, arg));
}

struct db_query *
user_store_replace(const struct caller *c, const char *id,
    const struct user_input *in, const char *versions, store_cb cb, void *arg)
{
	const char	*p[7];
	char		 age[16];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = id;
	p[3] = in->name;
	p[4] = in->email;
	p[5] = store_age(in, age, sizeof(age));
	p[6] = store_versions(versions);
	return (store_run(st_user_replace, 7, p, READ_ONE, cb, arg));
}

struct db_query *
user_store_patch(const struct caller *c, const char *id,
    const struct user_input *in, const char *versions, store_cb cb, void *arg)
{
	const char	*p[10];
	char		 age[16];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = id;
	p[3] = (in->fields & USER_F_NAME) ? in->name : NULL;
	p[4] = (in->fields & USER_F_EMAIL) ? in->email : NULL;
	p[5] = (in->fields & USER_F_AGE) ? "true" : "false";
	p[6] = (in->fields & USER_F_AGE) ? store_age(in, age, sizeof(age)) :
	    NULL;
	p[7] = (in->fields & USER_F_IS_ACTIVE) ?
	    (in->is_active ? "true" : "false") : NULL;
	p[8] = (in->fields & USER_F_IS_ADMIN) ?
	    (in->is_admin ? "true" : "false") : NULL;
	p[9] = store_versions(versions);
	return (store_run(st_user_patch, 10, p, READ_ONE, cb, arg));
}

struct db_query *
user_store_delete(const struct caller *c, const char *id,
    const char *versions, store_cb cb, void *arg)
{
	const char	*p[4];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = id;
	p[3] = store_versions(versions);
	return (store_run(st_user_delete, 4, p, READ_OUTCOME, cb, arg));
}

struct db_query *
login_store_begin(const char *email, store_cb cb, void *arg)
{
	const char	*p[3];

	p[0] = email;
	p[1] = LOGIN_WINDOW;
	p[2] = LOGIN_ATTEMPTS;
	return (store_run(st_login_begin, 3, p, READ_LOGIN, cb, arg));
}

struct db_query *
login_store_reset(const char *email, store_cb cb, void *arg)
{
	const char	*p[1];

	p[0] = email;
	return (store_run(st_login_reset, 1, p, READ_NOTHING, cb, arg));
}

struct db_query *
password_store_current(const struct caller *c, store_cb cb, void *arg)
{
	const char	*p[2];

	p[0] = c->id;
	p[1] = c->tv;
	return (store_run(st_password_current, 2, p, READ_TEXT, cb, arg));
}

struct db_query *
password_store_set(const struct caller *c, const char *hash, store_cb cb,
    void *arg)
{
	const char	*p[3];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = hash;
	return (store_run(st_password_set, 3, p, READ_OUTCOME, cb, arg));
}

struct db_query *
health_store_schema(store_cb cb, void *arg)
{
	return (store_run(st_schema_version, 0, NULL, READ_SCHEMA, cb, arg));
}

static const char *
store_age(const struct user_input *in, char *buf, size_t len)
{
	if (in->age_null)
		return (NULL);
	(void)snprintf(buf, len, "%d", in->age);
	return (buf);
}

/* If-Match's versions, or NULL (SQL NULL: any version) when none given. */
static const char *
store_versions(const char *versions)
{
	return (versions[0] == '\0' ? NULL : versions);
}

static struct db_query *
store_run(int stmt, int n, const char * const *p, int how, store_cb cb,
    void *arg)
{
	struct store_call	*call;

	if ((call = malloc(sizeof(*call))) == NULL)
		abort();
	call->cb = cb;
	call->arg = arg;
	call->how = how;
	return (db_run(stmt, n, p, store_done, call));
}

static void
store_done(void *arg, struct db_result *r)
{
	struct store_call	*call = arg;
	struct store_reply	 reply;
	size_t			 i;

	if (r->cancelled || call->cb == NULL) {
		free(call);
		return;
	}

	memset(&reply, 0, sizeof(reply));
	switch (r->status) {
	case DB_OK:
		reply.status = STORE_OK;
		store_read(call, r->res, &reply);
		break;
	case DB_UNIQUE:
		reply.status = STORE_DUPLICATE;
		break;
	case DB_UNAVAILABLE:
	case DB_BUSY:
		reply.status = STORE_UNAVAILABLE;
		break;
	case DB_TIMEOUT:
		reply.status = STORE_TIMEOUT;
		break;
	case DB_CHECK:
		log_error("constraint %s refused a write the service "
		    "accepted", r->constraint ? r->constraint : "?");
		reply.status = STORE_ERROR;
		break;
	default:
		reply.status = STORE_ERROR;
		break;
	}

	call->cb(call->arg, &reply);

	for (i = 0; i < reply.n; i++)
		user_free(&reply.users[i]);
	free(reply.users);
	free(call);
}

/* Read an answer per call->how into reply (status already STORE_OK). */
static void
store_read(struct store_call *call, PGresult *res, struct store_reply *reply)
{
	int	i, rows;

	rows = PQntuples(res);
	switch (call->how) {
	case READ_NOTHING:
		return;
	case READ_SCHEMA:
		if (rows > 0)
			(void)snprintf(reply->text, sizeof(reply->text), "%s",
			    PQgetvalue(res, 0, 0));
		return;
	case READ_LOGIN:
		if (rows != 1 || PQnfields(res) != 7) {
			reply->status = STORE_ERROR;
			return;
		}
		store_read_login(res, &reply->login);
		return;
	default:
		break;
	}

	/* The first row's outcome speaks for all: see sql/users.sql. */
	if (rows == 0) {
		reply->status = call->how == READ_USERS ? STORE_OK :
		    STORE_NOT_FOUND;
		return;
	}
	if ((reply->status = store_outcome(PQgetvalue(res, 0, 0))) !=
	    STORE_OK)
		return;

	switch (call->how) {
	case READ_TEXT:
		if (PQnfields(res) > 1)
			(void)snprintf(reply->text, sizeof(reply->text), "%s",
			    PQgetvalue(res, 0, 1));
		break;
	case READ_ONE:
	case READ_USERS:
		if ((reply->users = calloc((size_t)rows,
		    sizeof(struct user))) == NULL)
			abort();
		for (i = 0; i < rows; i++) {
			if (store_read_user(res, i, 1,
			    &reply->users[reply->n]) == -1) {
				reply->status = STORE_ERROR;
				return;
			}
			reply->n++;
		}
		break;
	default:
		break;
	}
}

static enum store_status
store_outcome(const char *v)
{
	if (!strcmp(v, "ok"))
		return (STORE_OK);
	if (!strcmp(v, "unauthorized"))
		return (STORE_UNAUTHORIZED);
	if (!strcmp(v, "forbidden"))
		return (STORE_FORBIDDEN);
	if (!strcmp(v, "missing"))
		return (STORE_NOT_FOUND);
	if (!strcmp(v, "stale"))
		return (STORE_STALE);
	log_error("unknown outcome %s", v);
	return (STORE_ERROR);
}

/* login_begin: id, email, hash, is_active, token_version, locked, retry. */
static void
store_read_login(PGresult *res, struct store_login *l)
{
	l->found = !PQgetisnull(res, 0, 0);
	(void)snprintf(l->id, sizeof(l->id), "%s", PQgetvalue(res, 0, 0));
	(void)snprintf(l->email, sizeof(l->email), "%s",
	    PQgetvalue(res, 0, 1));
	(void)snprintf(l->hash, sizeof(l->hash), "%s", PQgetvalue(res, 0, 2));
	l->is_active = PQgetvalue(res, 0, 3)[0] == 't';
	l->token_version = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	l->locked = PQgetvalue(res, 0, 5)[0] == 't';
	l->retry_after = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
}

/* Columns from col: id, name, email, age, is_active, is_admin, created, updated, version. */
static int
store_read_user(PGresult *res, int row, int col, struct user *u)
{
	const char	*v;

	memset(u, 0, sizeof(*u));
	if (PQnfields(res) < col + 9)
		return (-1);

	(void)snprintf(u->id, sizeof(u->id), "%s", PQgetvalue(res, row, col));
	if ((u->name = strdup(PQgetvalue(res, row, col + 1))) == NULL ||
	    (u->email = strdup(PQgetvalue(res, row, col + 2))) == NULL)
		abort();
	if (PQgetisnull(res, row, col + 3)) {
		u->age_null = 1;
	} else {
		u->age = atoi(PQgetvalue(res, row, col + 3));
	}
	v = PQgetvalue(res, row, col + 4);
	u->is_active = v[0] == 't';
	v = PQgetvalue(res, row, col + 5);
	u->is_admin = v[0] == 't';
	(void)snprintf(u->created_at, sizeof(u->created_at), "%s",
	    PQgetvalue(res, row, col + 6));
	(void)snprintf(u->updated_at, sizeof(u->updated_at), "%s",
	    PQgetvalue(res, row, col + 7));
	u->version = strtoll(PQgetvalue(res, row, col + 8), NULL, 10);
	return (0);
}
