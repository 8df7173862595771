/* userapi: the queries on users and friends: parameters in, structs out; no HTTP. */

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

/* How to read a result, per statement. */
#define READ_ONE	0	/* one user; no row: not found */
#define READ_USERS	1	/* rows of users */
#define READ_OUTCOME	2	/* 'ok'|'stale'|'missing', then a user */
#define READ_TEXT	3	/* one value */

struct store_call {
	store_cb	 cb;
	void		*arg;
	int		 how;
};

static struct db_query	*store_run(int, int, const char * const *, int,
			    store_cb, void *);
static void		 store_done(void *, struct db_result *);
static int		 store_read_user(PGresult *, int, int, struct user *);
static const char	*store_age(const struct user_input *, char *, size_t);
static const char	*store_version(long long, char *, size_t);

static int	st_user_create, st_user_get, st_user_list, st_user_replace;
static int	st_user_patch, st_user_delete, st_schema_version;

void
store_load(void)
{
	db_statements_add((const char *)asset_users_sql);
	db_statements_add((const char *)asset_health_sql);

	st_user_create = db_stmt("user_create");
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
user_store_get(const char *id, store_cb cb, void *arg)
{
	const char	*p[1];

	p[0] = id;
	return (store_run(st_user_get, 1, p, READ_ONE, cb, arg));
}

struct db_query *
user_store_list(long long skip, long long limit, const char *email,
    store_cb cb, void *arg)
{
	const char	*p[3];
	char		 s[24], l[24];

	(void)snprintf(s, sizeof(s), "%lld", skip);
	(void)snprintf(l, sizeof(l), "%lld", limit);
	p[0] = s;
	p[1] = l;
	p[2] = email;
	return (store_run(st_user_list, 3, p, READ_USERS, cb, arg));
}

struct db_query *
user_store_replace(const char *id, const struct user_input *in,
    long long version, store_cb cb, void *arg)
{
	const char	*p[5];
	char		 age[16], ver[24];

	p[0] = id;
	p[1] = in->name;
	p[2] = in->email;
	p[3] = store_age(in, age, sizeof(age));
	p[4] = store_version(version, ver, sizeof(ver));
	return (store_run(st_user_replace, 5, p, READ_OUTCOME, cb, arg));
}

struct db_query *
user_store_patch(const char *id, const struct user_input *in,
    long long version, store_cb cb, void *arg)
{
	const char	*p[8];
	char		 age[16], ver[24];

	p[0] = id;
	p[1] = (in->fields & USER_F_NAME) ? in->name : NULL;
	p[2] = (in->fields & USER_F_EMAIL) ? in->email : NULL;
	p[3] = (in->fields & USER_F_AGE) ? "true" : "false";
	p[4] = (in->fields & USER_F_AGE) ? store_age(in, age, sizeof(age)) :
	    NULL;
	p[5] = (in->fields & USER_F_IS_ACTIVE) ?
	    (in->is_active ? "true" : "false") : NULL;
	p[6] = (in->fields & USER_F_IS_ADMIN) ?
	    (in->is_admin ? "true" : "false") : NULL;
	p[7] = store_version(version, ver, sizeof(ver));
	return (store_run(st_user_patch, 8, p, READ_OUTCOME, cb, arg));
}

struct db_query *
user_store_delete(const char *id, long long version, store_cb cb, void *arg)
{
	const char	*p[2];
	char		 ver[24];

	p[0] = id;
	p[1] = store_version(version, ver, sizeof(ver));
	return (store_run(st_user_delete, 2, p, READ_OUTCOME, cb, arg));
}

struct db_query *
health_store_schema(store_cb cb, void *arg)
{
	return (store_run(st_schema_version, 0, NULL, READ_TEXT, cb, arg));
}

static const char *
store_age(const struct user_input *in, char *buf, size_t len)
{
	if (in->age_null)
		return (NULL);
	(void)snprintf(buf, len, "%d", in->age);
	return (buf);
}

static const char *
store_version(long long version, char *buf, size_t len)
{
	if (version == STORE_ANY_VERSION)
		return (NULL);
	(void)snprintf(buf, len, "%lld", version);
	return (buf);
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
	const char		*outcome;
	int			 i, rows, col;

	memset(&reply, 0, sizeof(reply));
	if (r->cancelled) {
		free(call);
		return;
	}

	switch (r->status) {
	case DB_OK:
		reply.status = STORE_OK;
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

	if (reply.status == STORE_OK) {
		rows = PQntuples(r->res);
		col = 0;
		switch (call->how) {
		case READ_TEXT:
			if (rows > 0)
				(void)snprintf(reply.text, sizeof(reply.text),
				    "%s", PQgetvalue(r->res, 0, 0));
			break;
		case READ_OUTCOME:
			outcome = rows > 0 ? PQgetvalue(r->res, 0, 0) : "";
			if (!strcmp(outcome, "stale")) {
				reply.status = STORE_STALE;
				rows = 0;
			} else if (!strcmp(outcome, "missing")) {
				reply.status = STORE_NOT_FOUND;
				rows = 0;
			} else if (PQnfields(r->res) == 1) {
				rows = 0;	/* delete: nothing to read */
			}
			col = 1;
			/* FALLTHROUGH */
		case READ_ONE:
		case READ_USERS:
			if (rows > 0 && (reply.users = calloc((size_t)rows,
			    sizeof(struct user))) == NULL)
				abort();
			for (i = 0; i < rows; i++) {
				if (store_read_user(r->res, i, col,
				    &reply.users[reply.n]) == -1) {
					reply.status = STORE_ERROR;
					break;
				}
				reply.n++;
			}
			if (call->how == READ_ONE && rows == 0 &&
			    reply.status == STORE_OK)
				reply.status = STORE_NOT_FOUND;
			break;
		}
	}

	call->cb(call->arg, &reply);

	for (i = 0; (size_t)i < reply.n; i++)
		user_free(&reply.users[i]);
	free(reply.users);
	free(call);
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
