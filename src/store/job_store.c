/* userapi: the queries on background jobs: parameters in, structs out; no HTTP. */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>

#include "assets.h"
#include "db/db.h"
#include "log.h"
#include "store/job_store.h"

/* How to read a result, per statement. */
#define READ_NOTIFY	0	/* outcome, job id */
#define READ_JOBS	1	/* outcome, job columns (sql/jobs.sql) */
#define READ_CLAIMS	2	/* claimed jobs */
#define READ_IDS	3	/* ids */
#define READ_FAIL	4	/* new status, delay */
#define READ_COUNT	5	/* one count */
#define READ_COUNTS	6	/* (status, count) rows */

struct job_call {
	job_store_cb	 cb;
	void		*arg;
	int		 how;
};

static struct db_query	*job_store_run(int, int, const char * const *, int,
			    job_store_cb, void *);
static void		 job_store_done(void *, struct db_result *);
static void		 job_store_read(int, PGresult *, struct job_reply *);
static int		 job_store_outcome(const char *, struct job_reply *);
static char		*job_strdup(const char *);

static int	st_notify, st_get, st_list, st_retry;
static int	st_claim, st_heartbeat, st_finish, st_fail, st_reclaim;
static int	st_prune, st_count;

void
job_store_load(void)
{
	db_statements_add((const char *)asset_jobs_sql);

	st_notify = db_stmt("job_notify");
	st_get = db_stmt("job_get");
	st_list = db_stmt("job_list");
	st_retry = db_stmt("job_retry");
	st_claim = db_stmt("job_claim");
	st_heartbeat = db_stmt("job_heartbeat");
	st_finish = db_stmt("job_finish");
	st_fail = db_stmt("job_fail");
	st_reclaim = db_stmt("job_reclaim");
	st_prune = db_stmt("job_prune");
	st_count = db_stmt("job_count");
}

struct db_query *
job_store_notify(const struct caller *c, const char *user_id,
    const char *subject, const char *message, int max_attempts,
    job_store_cb cb, void *arg)
{
	const char	*p[6];
	char		 max[16];

	(void)snprintf(max, sizeof(max), "%d", max_attempts);
	p[0] = c->id;
	p[1] = c->tv;
	p[2] = user_id;
	p[3] = subject;
	p[4] = message;
	p[5] = max;
	return (job_store_run(st_notify, 6, p, READ_NOTIFY, cb, arg));
}

struct db_query *
job_store_get(const struct caller *c, const char *id, job_store_cb cb,
    void *arg)
{
	const char	*p[3];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = id;
	return (job_store_run(st_get, 3, p, READ_JOBS, cb, arg));
}

struct db_query *
job_store_list(const struct caller *c, const char *status, long long skip,
    long long limit, job_store_cb cb, void *arg)
{
	const char	*p[5];
	char		 s[24], l[24];

	(void)snprintf(s, sizeof(s), "%lld", skip);
	(void)snprintf(l, sizeof(l), "%lld", limit);
	p[0] = c->id;
	p[1] = c->tv;
	p[2] = status;
	p[3] = s;
	p[4] = l;
	return (job_store_run(st_list, 5, p, READ_JOBS, cb, arg));
}

struct db_query *
job_store_retry(const struct caller *c, const char *id, job_store_cb cb,
    void *arg)
{
	const char	*p[3];

	p[0] = c->id;
	p[1] = c->tv;
	p[2] = id;
	return (job_store_run(st_retry, 3, p, READ_JOBS, cb, arg));
}

struct db_query *
job_store_claim(const char *owner, int n, int lease_s, job_store_cb cb,
    void *arg)
{
	const char	*p[3];
	char		 num[16], lease[16];

	(void)snprintf(num, sizeof(num), "%d", n);
	(void)snprintf(lease, sizeof(lease), "%d", lease_s);
	p[0] = owner;
	p[1] = num;
	p[2] = lease;
	return (job_store_run(st_claim, 3, p, READ_CLAIMS, cb, arg));
}

struct db_query *
job_store_heartbeat(const char *owner, const char *ids, int lease_s,
    job_store_cb cb, void *arg)
{
	const char	*p[3];
	char		 lease[16];

	(void)snprintf(lease, sizeof(lease), "%d", lease_s);
	p[0] = owner;
	p[1] = ids;
	p[2] = lease;
	return (job_store_run(st_heartbeat, 3, p, READ_IDS, cb, arg));
}

struct db_query *
job_store_finish(const char *owner, const char *id, job_store_cb cb,
    void *arg)
{
	const char	*p[2];

	p[0] = id;
	p[1] = owner;
	return (job_store_run(st_finish, 2, p, READ_IDS, cb, arg));
}

struct db_query *
job_store_fail(const char *owner, const char *id, const char *error,
    int permanent, double delay, job_store_cb cb, void *arg)
{
	const char	*p[5];
	char		 d[32];

	(void)snprintf(d, sizeof(d), "%.3f", delay);
	p[0] = id;
	p[1] = owner;
	p[2] = error;
	p[3] = permanent ? "true" : "false";
	p[4] = d;
	return (job_store_run(st_fail, 5, p, READ_FAIL, cb, arg));
}

struct db_query *
job_store_reclaim(job_store_cb cb, void *arg)
{
	return (job_store_run(st_reclaim, 0, NULL, READ_COUNT, cb, arg));
}

struct db_query *
job_store_prune(int hours, int max, job_store_cb cb, void *arg)
{
	const char	*p[2];
	char		 h[16], m[16];

	(void)snprintf(h, sizeof(h), "%d", hours);
	(void)snprintf(m, sizeof(m), "%d", max);
	p[0] = h;
	p[1] = m;
	return (job_store_run(st_prune, 2, p, READ_COUNT, cb, arg));
}

struct db_query *
job_store_count(job_store_cb cb, void *arg)
{
	return (job_store_run(st_count, 0, NULL, READ_COUNTS, cb, arg));
}

static struct db_query *
job_store_run(int stmt, int n, const char * const *p, int how,
    job_store_cb cb, void *arg)
{
	struct job_call		*call;

	if ((call = malloc(sizeof(*call))) == NULL)
		abort();
	call->cb = cb;
	call->arg = arg;
	call->how = how;
	return (db_run(stmt, n, p, job_store_done, call));
}

static void
job_store_done(void *arg, struct db_result *r)
{
	struct job_call		*call = arg;
	struct job_reply	 reply;
	size_t			 i;

	if (r->cancelled || call->cb == NULL) {
		free(call);
		return;
	}

	memset(&reply, 0, sizeof(reply));
	switch (r->status) {
	case DB_OK:
		reply.status = STORE_OK;
		job_store_read(call->how, r->res, &reply);
		break;
	case DB_UNAVAILABLE:
	case DB_BUSY:
		reply.status = STORE_UNAVAILABLE;
		break;
	case DB_TIMEOUT:
		reply.status = STORE_TIMEOUT;
		break;
	case DB_CHECK:
		log_error("constraint %s refused a job the service accepted",
		    r->constraint ? r->constraint : "?");
		reply.status = STORE_ERROR;
		break;
	default:
		reply.status = STORE_ERROR;
		break;
	}

	call->cb(call->arg, &reply);

	for (i = 0; reply.jobs != NULL && i < reply.n; i++)
		free(reply.jobs[i].last_error);
	free(reply.jobs);
	for (i = 0; reply.claims != NULL && i < reply.n; i++) {
		free(reply.claims[i].to);
		free(reply.claims[i].subject);
		free(reply.claims[i].body);
	}
	free(reply.claims);
	for (i = 0; reply.ids != NULL && i < reply.n; i++)
		free(reply.ids[i]);
	free(reply.ids);
	free(call);
}

/* Read an answer per how into reply (status already STORE_OK). */
static void
job_store_read(int how, PGresult *res, struct job_reply *reply)
{
	struct job		*j;
	struct job_claim	*c;
	int			 i, rows;

	rows = PQntuples(res);
	switch (how) {
	case READ_NOTIFY:
		if (rows != 1 || PQnfields(res) < 2) {
			reply->status = STORE_ERROR;
			return;
		}
		if (job_store_outcome(PQgetvalue(res, 0, 0), reply) == 0)
			(void)snprintf(reply->id, sizeof(reply->id), "%s",
			    PQgetvalue(res, 0, 1));
		return;
	case READ_JOBS:
		if (rows == 0) {
			reply->status = STORE_OK;
			return;
		}
		if (PQnfields(res) < 8) {
			reply->status = STORE_ERROR;
			return;
		}
		if (job_store_outcome(PQgetvalue(res, 0, 0), reply) != 0)
			return;
		if ((reply->jobs = calloc((size_t)rows, sizeof(*j))) == NULL)
			abort();
		for (i = 0; i < rows; i++) {
			j = &reply->jobs[reply->n++];
			(void)snprintf(j->id, sizeof(j->id), "%s",
			    PQgetvalue(res, i, 1));
			(void)snprintf(j->kind, sizeof(j->kind), "%s",
			    PQgetvalue(res, i, 2));
			(void)snprintf(j->status, sizeof(j->status), "%s",
			    PQgetvalue(res, i, 3));
			j->attempts = atoi(PQgetvalue(res, i, 4));
			j->last_error = PQgetisnull(res, i, 5) ? NULL :
			    job_strdup(PQgetvalue(res, i, 5));
			(void)snprintf(j->created_at, sizeof(j->created_at),
			    "%s", PQgetvalue(res, i, 6));
			(void)snprintf(j->updated_at, sizeof(j->updated_at),
			    "%s", PQgetvalue(res, i, 7));
		}
		return;
	case READ_CLAIMS:
		if (rows == 0)
			return;
		if (PQnfields(res) != 7) {
			reply->status = STORE_ERROR;
			return;
		}
		if ((reply->claims = calloc((size_t)rows, sizeof(*c))) == NULL)
			abort();
		for (i = 0; i < rows; i++) {
			c = &reply->claims[reply->n++];
			(void)snprintf(c->id, sizeof(c->id), "%s",
			    PQgetvalue(res, i, 0));
			c->to = job_strdup(PQgetvalue(res, i, 1));
			c->subject = job_strdup(PQgetvalue(res, i, 2));
			c->body = job_strdup(PQgetvalue(res, i, 3));
			c->attempts = atoi(PQgetvalue(res, i, 4));
			c->max_attempts = atoi(PQgetvalue(res, i, 5));
			c->deleted = strcmp(PQgetvalue(res, i, 6), "running") != 0;
		}
		return;
	case READ_IDS:
		if (rows == 0)
			return;
		if ((reply->ids = calloc((size_t)rows, sizeof(char *))) ==
		    NULL)
			abort();
		for (i = 0; i < rows; i++)
			reply->ids[reply->n++] =
			    job_strdup(PQgetvalue(res, i, 0));
		return;
	case READ_FAIL:
		if (rows == 1 && PQnfields(res) == 2) {
			(void)snprintf(reply->text, sizeof(reply->text), "%s",
			    PQgetvalue(res, 0, 0));
			reply->delay = strtod(PQgetvalue(res, 0, 1), NULL);
		}
		return;
	case READ_COUNTS:
		for (i = 0; i < rows && i < 4; i++)
			reply->counts[i] = strtoll(PQgetvalue(res, i, 1),
			    NULL, 10);
		return;
	case READ_COUNT:
		if (rows > 0)
			reply->n = (size_t)strtoull(PQgetvalue(res, 0, 0),
			    NULL, 10);
		return;
	default:
		return;
	}
}

/* The first column of request statements: 0 for ok, else -1. */
static int
job_store_outcome(const char *v, struct job_reply *reply)
{
	if (!strcmp(v, "ok")) {
		reply->status = STORE_OK;
		return (0);
	}
	if (!strcmp(v, "unauthorized"))
		reply->status = STORE_UNAUTHORIZED;
	else if (!strcmp(v, "forbidden"))
		reply->status = STORE_FORBIDDEN;
	else if (!strcmp(v, "missing"))
		reply->status = STORE_NOT_FOUND;
	else if (!strcmp(v, "conflict")) {
		reply->status = STORE_ERROR;
		reply->conflict = 1;
	} else {
		log_error("unknown outcome %s", v);
		reply->status = STORE_ERROR;
	}
	return (-1);
}

static char *
job_strdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		abort();
	return (p);
}
