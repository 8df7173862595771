/* userapi: the queries on background jobs: parameters in, typed results out; no HTTP. */

/*
 * The statements of sql/jobs.sql on the machinery of store.c
 * (store_int.h): a query is a struct store_query whose statement names
 * the columns it reads, and whose answer function fills one typed shape
 * and calls the typed callback.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>

#include "assets.h"
#include "auth/access.h"
#include "db/db.h"
#include "store/job_store.h"
#include "store/store_int.h"

/* Columns of a job (request statements), of a claimed job, and the rest. */
enum { J_OUTCOME, J_ID, J_KIND, J_STATUS, J_ATTEMPTS, J_LAST_ERROR,
	J_CREATED, J_UPDATED, J_NCOLS };
enum { C_ID, C_TO, C_SUBJECT, C_BODY, C_ATTEMPTS, C_MAX_ATTEMPTS,
	C_STATUS, C_NCOLS };

static const char *const job_columns[J_NCOLS + 1] = { "outcome", "id",
	"kind", "status", "attempts", "last_error", "created_us", "updated_us",
	NULL };
static const char *const claim_columns[C_NCOLS + 1] = { "id", "mail_to",
	"subject", "body", "attempts", "max_attempts", "status", NULL };
static const char *const job_id_columns[] = { "outcome", "id", NULL };
static const char *const id_columns[] = { "id", NULL };
static const char *const fail_columns[] = { "status", "delay", NULL };
static const char *const count_columns[] = { "n", NULL };
static const char *const counts_columns[] = { "status", "n", NULL };

static void	job_answer_job(struct store_query *, PGresult *,
		    enum store_status);
static void	job_answer_jobs(struct store_query *, PGresult *,
		    enum store_status);
static void	job_answer_job_id(struct store_query *, PGresult *,
		    enum store_status);
static void	job_answer_take(struct store_query *, PGresult *,
		    enum store_status);
static void	job_answer_ids(struct store_query *, PGresult *,
		    enum store_status);
static void	job_answer_fail(struct store_query *, PGresult *,
		    enum store_status);
static void	job_answer_count(struct store_query *, PGresult *,
		    enum store_status);
static void	job_answer_counts(struct store_query *, PGresult *,
		    enum store_status);
static enum store_status job_rows(struct store_query *, PGresult *,
		    enum store_status, int *);
static void	job_read(const int *, PGresult *, int, struct job *);
static struct store_query *job_store_by_id(int, const struct caller *,
	    const char *, store_job_cb, void *);

enum {
	S_NOTIFY, S_GET, S_LIST, S_RETRY, S_TAKE, S_HEARTBEAT, S_FAIL,
	S_RECLAIM, S_PRUNE, S_COUNT_JOBS, S_COUNT
};

static struct store_stmt stmts[S_COUNT] = {
	[S_NOTIFY] = { "job_notify", job_id_columns, job_answer_job_id },
	[S_GET] = { "job_get", job_columns, job_answer_job },
	[S_LIST] = { "job_list", job_columns, job_answer_jobs },
	[S_RETRY] = { "job_retry", job_columns, job_answer_job },
	[S_TAKE] = { "job_take", claim_columns, job_answer_take },
	[S_HEARTBEAT] = { "job_heartbeat", id_columns, job_answer_ids },
	[S_FAIL] = { "job_fail", fail_columns, job_answer_fail },
	[S_RECLAIM] = { "job_reclaim", count_columns, job_answer_count },
	[S_PRUNE] = { "job_prune", count_columns, job_answer_count },
	[S_COUNT_JOBS] = { "job_count", counts_columns, job_answer_counts },
};

void
job_store_load(void)
{
	db_statements_add((const char *)asset_jobs_sql);
	store_stmts_load(stmts, S_COUNT);
}

struct store_query *
job_store_notify(const struct caller *c, const char *user_id,
    const char *subject, const char *message, int max_attempts,
    store_job_id_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[6];
	char			 max[16];

	(void)snprintf(max, sizeof(max), "%d", max_attempts);
	p[0] = c->id;
	p[1] = c->tv;
	p[2] = user_id;
	p[3] = subject;
	p[4] = message;
	p[5] = max;
	sq = store_new(&stmts[S_NOTIFY], arg);
	sq->cb.job_id = cb;
	return (store_start(sq, 6, p));
}

struct store_query *
job_store_get(const struct caller *c, const char *id, store_job_cb cb,
    void *arg)
{
	return (job_store_by_id(S_GET, c, id, cb, arg));
}

struct store_query *
job_store_list(const struct caller *c, const char *status, long long skip,
    long long limit, store_jobs_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[5];
	char			 s[24], l[24];

	(void)snprintf(s, sizeof(s), "%lld", skip);
	(void)snprintf(l, sizeof(l), "%lld", limit);
	p[0] = c->id;
	p[1] = c->tv;
	p[2] = status;
	p[3] = s;
	p[4] = l;
	sq = store_new(&stmts[S_LIST], arg);
	sq->cb.jobs = cb;
	return (store_start(sq, 5, p));
}

struct store_query *
job_store_retry(const struct caller *c, const char *id, store_job_cb cb,
    void *arg)
{
	return (job_store_by_id(S_RETRY, c, id, cb, arg));
}

/* Statement s on job id, as caller c, answered with one job. */
static struct store_query *
job_store_by_id(int s, const struct caller *c, const char *id,
    store_job_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[3];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = id;
	sq = store_new(&stmts[s], arg);
	sq->cb.job = cb;
	return (store_start(sq, 3, p));
}

struct store_query *
job_store_take(const char *owner, const char *sent, int n, int lease_s,
    store_take_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[4];
	char			 num[16], lease[16];

	(void)snprintf(num, sizeof(num), "%d", n);
	(void)snprintf(lease, sizeof(lease), "%d", lease_s);
	p[0] = owner;
	p[1] = sent;
	p[2] = num;
	p[3] = lease;
	sq = store_new(&stmts[S_TAKE], arg);
	sq->cb.take = cb;
	return (store_start(sq, 4, p));
}

struct store_query *
job_store_heartbeat(const char *owner, const char *ids, int lease_s,
    store_ids_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[3];
	char			 lease[16];

	(void)snprintf(lease, sizeof(lease), "%d", lease_s);
	p[0] = owner;
	p[1] = ids;
	p[2] = lease;
	sq = store_new(&stmts[S_HEARTBEAT], arg);
	sq->cb.ids = cb;
	return (store_start(sq, 3, p));
}

struct store_query *
job_store_fail(const char *owner, const char *id, const char *error,
    int permanent, double delay, store_fail_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[5];
	char			 d[32];

	(void)snprintf(d, sizeof(d), "%.3f", delay);
	p[0] = id;
	p[1] = owner;
	p[2] = error;
	p[3] = permanent ? "true" : "false";
	p[4] = d;
	sq = store_new(&stmts[S_FAIL], arg);
	sq->cb.fail = cb;
	return (store_start(sq, 5, p));
}

struct store_query *
job_store_reclaim(store_count_cb cb, void *arg)
{
	struct store_query	*sq;

	sq = store_new(&stmts[S_RECLAIM], arg);
	sq->cb.count = cb;
	return (store_start(sq, 0, NULL));
}

struct store_query *
job_store_prune(int hours, int max, store_count_cb cb, void *arg)
{
	struct store_query	*sq;
	const char		*p[2];
	char			 h[16], m[16];

	(void)snprintf(h, sizeof(h), "%d", hours);
	(void)snprintf(m, sizeof(m), "%d", max);
	p[0] = h;
	p[1] = m;
	sq = store_new(&stmts[S_PRUNE], arg);
	sq->cb.count = cb;
	return (store_start(sq, 2, p));
}

struct store_query *
job_store_count(store_job_counts_cb cb, void *arg)
{
	struct store_query	*sq;

	sq = store_new(&stmts[S_COUNT_JOBS], arg);
	sq->cb.job_counts = cb;
	return (store_start(sq, 0, NULL));
}

/*
 * A request statement's rows: its first row's outcome decides; *rows is
 * the number of job rows (0 unless STORE_OK, and for an ok row without
 * a job).
 */
static enum store_status
job_rows(struct store_query *sq, PGresult *res, enum store_status status,
    int *rows)
{
	const int	*col = sq->stmt->col;

	*rows = 0;
	if (status != STORE_OK)
		return (status);
	if (PQntuples(res) == 0)
		return (STORE_ERROR);
	if ((status = store_outcome(PQgetvalue(res, 0, col[J_OUTCOME]))) !=
	    STORE_OK)
		return (status);
	*rows = PQntuples(res);
	if (PQgetisnull(res, 0, col[J_ID]))
		*rows = 0;
	return (STORE_OK);
}

/* get (ok with no job: not found), retry. */
static void
job_answer_job(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_job	a;
	int			rows;

	memset(&a, 0, sizeof(a));
	status = job_rows(sq, res, status, &rows);
	if (status == STORE_OK && rows == 0)
		status = STORE_NOT_FOUND;
	if (status == STORE_OK)
		job_read(sq->stmt->col, res, 0, &a.job);
	a.status = status;
	sq->cb.job(sq->arg, &a);
	free(a.job.last_error);
}

/* list: no row is an empty page (job_list answers only jobs when ok). */
static void
job_answer_jobs(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_jobs	a;
	size_t			i;
	int			rows;

	memset(&a, 0, sizeof(a));
	if (status == STORE_OK && PQntuples(res) == 0)
		rows = 0;
	else
		status = job_rows(sq, res, status, &rows);
	if (rows > 0 && (a.jobs = calloc((size_t)rows, sizeof(*a.jobs))) ==
	    NULL)
		abort();
	for (a.n = 0; a.n < (size_t)rows; a.n++)
		job_read(sq->stmt->col, res, (int)a.n, &a.jobs[a.n]);
	a.status = status;
	sq->cb.jobs(sq->arg, &a);
	for (i = 0; i < a.n; i++)
		free(a.jobs[i].last_error);
	free(a.jobs);
}

/* notify: ok with the new job's id, or why not. */
static void
job_answer_job_id(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_job_id	a;
	int			rows;

	memset(&a, 0, sizeof(a));
	status = job_rows(sq, res, status, &rows);
	if (status == STORE_OK && rows == 0)
		status = STORE_ERROR;
	if (status == STORE_OK)
		(void)snprintf(a.id, sizeof(a.id), "%s",
		    PQgetvalue(res, 0, sq->stmt->col[J_ID]));
	a.status = status;
	sq->cb.job_id(sq->arg, &a);
}

/* Claimed jobs (status running, or failed: user deleted), then sent ids. */
static void
job_answer_take(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_take	 a;
	struct job_claim	*c;
	const int		*col = sq->stmt->col;
	size_t			 i;
	int			 row, rows;

	memset(&a, 0, sizeof(a));
	rows = status == STORE_OK ? PQntuples(res) : 0;
	if (rows > 0 && ((a.claims = calloc((size_t)rows,
	    sizeof(*a.claims))) == NULL || (a.sent = calloc((size_t)rows,
	    sizeof(*a.sent))) == NULL))
		abort();
	for (row = 0; row < rows; row++) {
		if (!strcmp(PQgetvalue(res, row, col[C_STATUS]), "sent")) {
			(void)snprintf(a.sent[a.nsent], sizeof(a.sent[0]), "%s",
			    PQgetvalue(res, row, col[C_ID]));
			a.nsent++;
			continue;
		}
		c = &a.claims[a.n++];
		(void)snprintf(c->id, sizeof(c->id), "%s",
		    PQgetvalue(res, row, col[C_ID]));
		c->to = store_strdup(res, row, col[C_TO]);
		c->subject = store_strdup(res, row, col[C_SUBJECT]);
		c->body = store_strdup(res, row, col[C_BODY]);
		c->attempts = (int)store_ll(res, row, col[C_ATTEMPTS]);
		c->max_attempts = (int)store_ll(res, row, col[C_MAX_ATTEMPTS]);
		c->deleted = strcmp(PQgetvalue(res, row, col[C_STATUS]),
		    "running") != 0;
	}
	a.status = status;
	sq->cb.take(sq->arg, &a);
	for (i = 0; i < a.n; i++) {
		free(a.claims[i].to);
		free(a.claims[i].subject);
		free(a.claims[i].body);
	}
	free(a.claims);
	free(a.sent);
}

static void
job_answer_ids(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_ids	a;
	int			rows;

	memset(&a, 0, sizeof(a));
	rows = status == STORE_OK ? PQntuples(res) : 0;
	if (rows > 0 && (a.ids = calloc((size_t)rows, sizeof(*a.ids))) ==
	    NULL)
		abort();
	for (a.n = 0; a.n < (size_t)rows; a.n++)
		(void)snprintf(a.ids[a.n], sizeof(a.ids[a.n]), "%s",
		    PQgetvalue(res, (int)a.n, sq->stmt->col[0]));
	a.status = status;
	sq->cb.ids(sq->arg, &a);
	free(a.ids);
}

/* No row: the job was no longer held; job_status stays "". */
static void
job_answer_fail(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_fail	a;

	memset(&a, 0, sizeof(a));
	if (status == STORE_OK && PQntuples(res) == 1) {
		(void)snprintf(a.job_status, sizeof(a.job_status), "%s",
		    PQgetvalue(res, 0, sq->stmt->col[0]));
		a.delay = strtod(PQgetvalue(res, 0, sq->stmt->col[1]), NULL);
	}
	a.status = status;
	sq->cb.fail(sq->arg, &a);
}

static void
job_answer_count(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_count	a;

	memset(&a, 0, sizeof(a));
	if (status == STORE_OK && PQntuples(res) > 0)
		a.n = store_ll(res, 0, sq->stmt->col[0]);
	a.status = status;
	sq->cb.count(sq->arg, &a);
}

/* Rows (status, n) in the order queued, running, sent, failed. */
static void
job_answer_counts(struct store_query *sq, PGresult *res,
    enum store_status status)
{
	struct store_job_counts	a;
	int			i;

	memset(&a, 0, sizeof(a));
	for (i = 0; status == STORE_OK && i < PQntuples(res) && i < 4; i++)
		a.counts[i] = store_ll(res, i, sq->stmt->col[1]);
	a.status = status;
	sq->cb.job_counts(sq->arg, &a);
}

/* Row row of res as a job, by the statement's columns. */
static void
job_read(const int *col, PGresult *res, int row, struct job *j)
{
	memset(j, 0, sizeof(*j));
	(void)snprintf(j->id, sizeof(j->id), "%s",
	    PQgetvalue(res, row, col[J_ID]));
	(void)snprintf(j->kind, sizeof(j->kind), "%s",
	    PQgetvalue(res, row, col[J_KIND]));
	(void)snprintf(j->status, sizeof(j->status), "%s",
	    PQgetvalue(res, row, col[J_STATUS]));
	j->attempts = (int)store_ll(res, row, col[J_ATTEMPTS]);
	if (!PQgetisnull(res, row, col[J_LAST_ERROR]))
		j->last_error = store_strdup(res, row, col[J_LAST_ERROR]);
	j->created_us = store_ll(res, row, col[J_CREATED]);
	j->updated_us = store_ll(res, row, col[J_UPDATED]);
}
