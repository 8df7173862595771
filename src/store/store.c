/* userapi: the queries on users, logins and health: parameters in, typed results out; no HTTP. */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>

#include "assets.h"
#include "auth/access.h"
#include "db/db.h"
#include "log.h"
#include "model/user.h"
#include "store/store.h"
#include "store/store_int.h"

/* Columns of a user (sql/users.sql), by name. */
enum { U_OUTCOME, U_ID, U_NAME, U_EMAIL, U_AGE, U_IS_ACTIVE, U_IS_ADMIN,
	U_CREATED, U_UPDATED, U_VERSION, U_NCOLS };
/* Columns of a login row (sql/auth.sql). */
enum { L_ID, L_EMAIL, L_HASH, L_IS_ACTIVE, L_TOKEN_VERSION, L_LOCKED,
	L_RETRY_AFTER, L_NCOLS };

static const char *const user_columns[U_NCOLS + 1] = { "outcome", "id",
	"name", "email", "age", "is_active", "is_admin", "created_us",
	"updated_us", "version", NULL };
static const char *const login_columns[L_NCOLS + 1] = { "id", "email",
	"password_hash", "is_active", "token_version", "locked", "retry_after",
	NULL };
static const char *const outcome_columns[] = { "outcome", NULL };
static const char *const schema_columns[] = { "version", NULL };

static void		 store_answer_user(struct store_query *, PGresult *,
			    enum store_status);
static void		 store_answer_users(struct store_query *, PGresult *,
			    enum store_status);
static void		 store_answer_login(struct store_query *, PGresult *,
			    enum store_status);
static void		 store_answer_outcome(struct store_query *, PGresult *,
			    enum store_status);
static void		 store_answer_schema(struct store_query *, PGresult *,
			    enum store_status);

enum {
	S_USER_CREATE, S_USER_ME, S_USER_GET, S_USER_LIST, S_USER_LIST_EMAIL,
	S_USER_REPLACE, S_USER_PATCH, S_USER_DELETE, S_LOGIN_BEGIN,
	S_LOGIN_RESET, S_PASSWORD_BEGIN, S_PASSWORD_SET, S_SCHEMA_VERSION,
	S_COUNT
};

static struct store_stmt stmts[S_COUNT] = {
	[S_USER_CREATE] = { "user_create", user_columns, store_answer_user },
	[S_USER_ME] = { "user_me", user_columns, store_answer_user },
	[S_USER_GET] = { "user_get", user_columns, store_answer_user },
	[S_USER_LIST] = { "user_list", user_columns, store_answer_users },
	[S_USER_LIST_EMAIL] = { "user_list_email", user_columns,
	    store_answer_users },
	[S_USER_REPLACE] = { "user_replace", user_columns, store_answer_user },
	[S_USER_PATCH] = { "user_patch", user_columns, store_answer_user },
	[S_USER_DELETE] = { "user_delete", outcome_columns,
	    store_answer_outcome },
	[S_LOGIN_BEGIN] = { "login_begin", login_columns, store_answer_login },
	[S_LOGIN_RESET] = { "login_reset", outcome_columns,
	    store_answer_outcome },
	[S_PASSWORD_BEGIN] = { "password_begin", login_columns,
	    store_answer_login },
	[S_PASSWORD_SET] = { "password_set", outcome_columns,
	    store_answer_outcome },
	[S_SCHEMA_VERSION] = { "schema_version", schema_columns,
	    store_answer_schema },
};

/*
 * The lockout, as login_begin and password_begin bind it: this many
 * logins (and password-change tries) of one account per window.
 */
#define LOGIN_ATTEMPTS	"5"
#define LOGIN_WINDOW	"15 minutes"

static void		 store_done(void *, struct db_result *);
static enum store_status store_status_of(const struct db_result *);
static int		 store_columns(struct store_stmt *, PGresult *);
static enum store_status store_row_outcome(struct store_stmt *, PGresult *);
static void		 store_read_user(struct store_stmt *, PGresult *, int,
			    struct user *);
static const char	*store_age(const struct user_input *, char *, size_t);
static const char	*store_versions(const char *);

void
store_load(void)
{
	db_statements_add((const char *)asset_users_sql);
	db_statements_add((const char *)asset_health_sql);
	db_statements_add((const char *)asset_auth_sql);
	store_stmts_load(stmts, S_COUNT);
}

void
store_stmts_load(struct store_stmt *st, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		st[i].id = db_stmt(st[i].name);
		st[i].nfields = -1;
	}
}

void
store_cancel(struct store_query *sq)
{
	/* store_done runs later with cancelled set, and frees sq. */
	db_cancel(sq->q);
}

struct store_query *
user_store_create(const struct user_input *in, const char *hash,
    store_user_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[4];
	char			 age[16];

	p[0] = in->name;
	p[1] = in->email;
	p[2] = store_age(in, age, sizeof(age));
	p[3] = hash;
	sq = store_new(&stmts[S_USER_CREATE], arg);
	sq->cb.user = cb;
	return (store_start(sq, 4, p));
}

struct store_query *
user_store_me(const struct caller *c, store_user_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[2];

	p[0] = c->id;
	p[1] = c->tv;
	sq = store_new(&stmts[S_USER_ME], arg);
	sq->cb.user = cb;
	return (store_start(sq, 2, p));
}

struct store_query *
user_store_get(const struct caller *c, const char *id, store_user_cb cb,
    void *arg)
{
	struct store_query	*sq;
	const char		*p[3];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = id;
	sq = store_new(&stmts[S_USER_GET], arg);
	sq->cb.user = cb;
	return (store_start(sq, 3, p));
}

struct store_query *
user_store_list(const struct caller *c, long long skip, long long limit,
    const char *email, store_users_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[5];
	char			 s[24], l[24];

	(void)snprintf(s, sizeof(s), "%lld", skip);
	(void)snprintf(l, sizeof(l), "%lld", limit);
	p[0] = c->id;
	p[1] = c->tv;
	p[2] = s;
	p[3] = l;
	p[4] = email;
	sq = store_new(&stmts[email == NULL ? S_USER_LIST : S_USER_LIST_EMAIL],
	    arg);
	sq->cb.users = cb;
	return (store_start(sq, email == NULL ? 4 : 5, p));
}

struct store_query *
user_store_replace(const struct caller *c, const char *id,
    const struct user_input *in, const char *versions, store_user_cb cb,
    void *arg)
{
	struct store_query	*sq;
	const char		*p[7];
	char			 age[16];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = id;
	p[3] = in->name;
	p[4] = in->email;
	p[5] = store_age(in, age, sizeof(age));
	p[6] = store_versions(versions);
	sq = store_new(&stmts[S_USER_REPLACE], arg);
	sq->cb.user = cb;
	return (store_start(sq, 7, p));
}

struct store_query *
user_store_patch(const struct caller *c, const char *id,
    const struct user_input *in, const char *versions, store_user_cb cb,
    void *arg)
{
	struct store_query	*sq;
	const char		*p[10];
	char			 age[16];

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
	sq = store_new(&stmts[S_USER_PATCH], arg);
	sq->cb.user = cb;
	return (store_start(sq, 10, p));
}

struct store_query *
user_store_delete(const struct caller *c, const char *id,
    const char *versions, store_outcome_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[4];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = id;
	p[3] = store_versions(versions);
	sq = store_new(&stmts[S_USER_DELETE], arg);
	sq->cb.outcome = cb;
	return (store_start(sq, 4, p));
}

struct store_query *
login_store_begin(const char *email, store_login_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[3];

	p[0] = email;
	p[1] = LOGIN_WINDOW;
	p[2] = LOGIN_ATTEMPTS;
	sq = store_new(&stmts[S_LOGIN_BEGIN], arg);
	sq->cb.login = cb;
	return (store_start(sq, 3, p));
}

struct store_query *
login_store_reset(const char *email, store_outcome_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[1];

	p[0] = email;
	sq = store_new(&stmts[S_LOGIN_RESET], arg);
	sq->cb.outcome = cb;
	return (store_start(sq, 1, p));
}

struct store_query *
password_store_begin(const struct caller *c, store_login_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[4];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = LOGIN_WINDOW;
	p[3] = LOGIN_ATTEMPTS;
	sq = store_new(&stmts[S_PASSWORD_BEGIN], arg);
	sq->cb.login = cb;
	return (store_start(sq, 4, p));
}

struct store_query *
password_store_set(const struct caller *c, const char *hash,
    store_outcome_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[3];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = hash;
	sq = store_new(&stmts[S_PASSWORD_SET], arg);
	sq->cb.outcome = cb;
	return (store_start(sq, 3, p));
}

struct store_query *
health_store_schema(store_schema_cb cb, void *arg)
{
	struct store_query	*sq;

	sq = store_new(&stmts[S_SCHEMA_VERSION], arg);
	sq->cb.schema = cb;
	return (store_start(sq, 0, NULL));
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

struct store_query *
store_new(struct store_stmt *st, void *arg)
{
	struct store_query	*sq;

	if ((sq = calloc(1, sizeof(*sq))) == NULL)
		abort();
	sq->stmt = st;
	sq->arg = arg;
	return (sq);
}

struct store_query *
store_start(struct store_query *sq, int n, const char * const *p)
{
	sq->q = db_run(sq->stmt->id, n, p, store_done, sq);
	return (sq);
}

static void
store_done(void *arg, struct db_result *r)
{
	struct store_query	*sq = arg;
	enum store_status	 status;
	PGresult		*res;

	if (r->cancelled) {
		free(sq);
		return;
	}

	res = NULL;
	if ((status = store_status_of(r)) == STORE_OK) {
		res = r->res;
		if (store_columns(sq->stmt, res) == -1)
			status = STORE_ERROR;
	}
	sq->stmt->answer(sq, res, status);
	free(sq);
}

static enum store_status
store_status_of(const struct db_result *r)
{
	switch (r->status) {
	case DB_OK:
		return (STORE_OK);
	case DB_UNIQUE:
		return (STORE_DUPLICATE);
	case DB_UNAVAILABLE:
	case DB_BUSY:
		return (STORE_UNAVAILABLE);
	case DB_TIMEOUT:
		return (STORE_TIMEOUT);
	case DB_CHECK:
		log_error("constraint %s refused a write the service "
		    "accepted", r->constraint ? r->constraint : "?");
		return (STORE_ERROR);
	default:
		return (STORE_ERROR);
	}
}

/*
 * Check res's columns against its statement's kind: by name the first
 * time, then by count. A statement without result columns (login_reset)
 * has nothing to check. Returns 0, or -1 (logged).
 */
static int
store_columns(struct store_stmt *st, PGresult *res)
{
	const char *const	*names;
	int			 i, nf;

	nf = PQnfields(res);
	if (nf == 0 && st->answer == store_answer_outcome)
		return (0);
	if (st->nfields != -1) {
		if (nf == st->nfields)
			return (0);
		log_error("statement %s answered %d columns, not %d",
		    st->name, nf, st->nfields);
		return (-1);
	}

	names = st->columns;
	for (i = 0; names[i] != NULL && i < STORE_COLS_MAX; i++) {
		if ((st->col[i] = PQfnumber(res, names[i])) == -1) {
			log_error("statement %s answers no column %s",
			    st->name, names[i]);
			return (-1);
		}
	}
	st->nfields = nf;
	return (0);
}

enum store_status
store_outcome(const char *v)
{
	if (!strcmp(v, "ok"))
		return (STORE_OK);
	if (!strcmp(v, "unauthorized"))
		return (STORE_UNAUTHORIZED);
	if (!strcmp(v, "conflict"))
		return (STORE_CONFLICT);
	if (!strcmp(v, "forbidden"))
		return (STORE_FORBIDDEN);
	if (!strcmp(v, "missing"))
		return (STORE_NOT_FOUND);
	if (!strcmp(v, "stale"))
		return (STORE_STALE);
	log_error("unknown outcome %s", v);
	return (STORE_ERROR);
}

/* No row: the caller's token is no longer valid; else the first row's. */
static enum store_status
store_row_outcome(struct store_stmt *st, PGresult *res)
{
	if (PQntuples(res) == 0)
		return (STORE_UNAUTHORIZED);
	return (store_outcome(PQgetvalue(res, 0, st->col[U_OUTCOME])));
}

static void
store_answer_user(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_user	a;

	memset(&a, 0, sizeof(a));
	if (status == STORE_OK &&
	    (status = store_row_outcome(sq->stmt, res)) == STORE_OK)
		store_read_user(sq->stmt, res, 0, &a.user);
	a.status = status;
	sq->cb.user(sq->arg, &a);
	user_free(&a.user);
}

/*
 * user_list: one row per user; a single row without id is an empty page
 * (the caller's row joined to nothing).
 */
static void
store_answer_users(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_users	a;
	size_t			i;
	int			rows;

	memset(&a, 0, sizeof(a));
	if (status == STORE_OK &&
	    (status = store_row_outcome(sq->stmt, res)) == STORE_OK) {
		rows = PQntuples(res);
		if (PQgetisnull(res, 0, sq->stmt->col[U_ID]))
			rows = 0;
		if (rows > 0 && (a.users = calloc((size_t)rows,
		    sizeof(*a.users))) == NULL)
			abort();
		for (a.n = 0; a.n < (size_t)rows; a.n++)
			store_read_user(sq->stmt, res, (int)a.n,
			    &a.users[a.n]);
	}
	a.status = status;
	sq->cb.users(sq->arg, &a);
	for (i = 0; i < a.n; i++)
		user_free(&a.users[i]);
	free(a.users);
}

/* login_begin (always one row), password_begin (no row: 401). */
static void
store_answer_login(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_login	 a;
	const int		*col = sq->stmt->col;

	memset(&a, 0, sizeof(a));
	if (status == STORE_OK && PQntuples(res) == 0)
		status = STORE_UNAUTHORIZED;
	if (status == STORE_OK) {
		a.found = !PQgetisnull(res, 0, col[L_ID]);
		(void)snprintf(a.id, sizeof(a.id), "%s",
		    PQgetvalue(res, 0, col[L_ID]));
		(void)snprintf(a.email, sizeof(a.email), "%s",
		    PQgetvalue(res, 0, col[L_EMAIL]));
		(void)snprintf(a.hash, sizeof(a.hash), "%s",
		    PQgetvalue(res, 0, col[L_HASH]));
		a.is_active = PQgetvalue(res, 0, col[L_IS_ACTIVE])[0] == 't';
		a.token_version = store_ll(res, 0, col[L_TOKEN_VERSION]);
		a.locked = PQgetvalue(res, 0, col[L_LOCKED])[0] == 't';
		a.retry_after = store_ll(res, 0, col[L_RETRY_AFTER]);
	}
	a.status = status;
	sq->cb.login(sq->arg, &a);
	explicit_bzero(&a, sizeof(a));
}

/* A statement without result columns succeeded when it ran. */
static void
store_answer_outcome(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_outcome	a;

	if (status == STORE_OK && PQnfields(res) > 0)
		status = store_row_outcome(sq->stmt, res);
	a.status = status;
	sq->cb.outcome(sq->arg, &a);
}

static void
store_answer_schema(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_schema	a;

	memset(&a, 0, sizeof(a));
	if (status == STORE_OK && PQntuples(res) == 1)
		(void)snprintf(a.version, sizeof(a.version), "%s",
		    PQgetvalue(res, 0, sq->stmt->col[0]));
	else if (status == STORE_OK)
		status = STORE_ERROR;
	a.status = status;
	sq->cb.schema(sq->arg, &a);
}

/* Row row of res as a user, by the statement's columns. */
static void
store_read_user(struct store_stmt *st, PGresult *res, int row,
    struct user *u)
{
	const int	*col = st->col;

	memset(u, 0, sizeof(*u));
	(void)snprintf(u->id, sizeof(u->id), "%s",
	    PQgetvalue(res, row, col[U_ID]));
	u->name = store_strdup(res, row, col[U_NAME]);
	u->email = store_strdup(res, row, col[U_EMAIL]);
	if (PQgetisnull(res, row, col[U_AGE])) {
		u->age_null = 1;
	} else {
		u->age = (int)store_ll(res, row, col[U_AGE]);
	}
	u->is_active = PQgetvalue(res, row, col[U_IS_ACTIVE])[0] == 't';
	u->is_admin = PQgetvalue(res, row, col[U_IS_ADMIN])[0] == 't';
	u->created_us = store_ll(res, row, col[U_CREATED]);
	u->updated_us = store_ll(res, row, col[U_UPDATED]);
	u->version = store_ll(res, row, col[U_VERSION]);
}

long long
store_ll(PGresult *res, int row, int col)
{
	return (strtoll(PQgetvalue(res, row, col), NULL, 10));
}

char *
store_strdup(PGresult *res, int row, int col)
{
	char	*p;

	if ((p = strdup(PQgetvalue(res, row, col))) == NULL)
		abort();
	return (p);
}
