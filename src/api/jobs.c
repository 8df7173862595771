/* userapi: the notification routes: POST /users/{id}/notify, GET /jobs, GET /jobs/{id}, POST /jobs/{id}/retry. */

/*
 * Like the /users handlers, each is two named steps run by Kore's
 * http_state_run: the first reads and validates the request (answering
 * 4xx at once) and runs one statement of sql/jobs.sql, which also
 * decides who may do what, and sleeps; the store's callback keeps the
 * answer and wakes the request; the second step answers. The dispatcher
 * has checked the method and the token (routes.c). The query in flight
 * is the state's: cancelled when the request goes away first.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "api/api.h"
#include "config.h"
#include "http/reply.h"
#include "http/reqctx.h"
#include "http/request.h"
#include "jobs/job_json.h"
#include "json/user_json.h"
#include "model/query.h"
#include "model/user.h"
#include "model/verr.h"
#include "store/job_store.h"

enum {
	JOBS_READ,
	JOBS_ANSWER
};

#define JOBS_NOTIFY	1
#define JOBS_GET	2
#define JOBS_LIST	3
#define JOBS_RETRY	4

struct jobs_state {
	int			 op;		/* JOBS_* */
	char			 id[UUID_STR_LEN + 1];
	enum store_status	 status;
	char			 job_id[UUID_STR_LEN + 1];
	json_t			*out;
	struct store_query	*q;		/* in flight */
	int			 answered;
};

static struct jobs_state *jobs_state(struct http_request *, int);
static void	jobs_cleanup(void *);
static int	jobs_path_id(struct http_request *, const char *, char *,
		    struct verrs *);
static int	jobs_wait(struct http_request *, struct jobs_state *,
		    struct store_query *);
static struct jobs_state *jobs_woken(void *, enum store_status);
static void	jobs_got_id(void *, const struct store_job_id *);
static void	jobs_got_job(void *, const struct store_job *);
static void	jobs_got_jobs(void *, const struct store_jobs *);
static int	jobs_notify_read(struct http_request *);
static int	jobs_list_read(struct http_request *);
static int	jobs_get_read(struct http_request *);
static int	jobs_retry_read(struct http_request *);
static int	jobs_by_id(struct http_request *, int,
		    struct store_query *(*)(const struct caller *, const char *,
		    store_job_cb, void *));
static int	jobs_answer(struct http_request *);

static struct http_state	notify_steps[] = {
	{ "read",	jobs_notify_read },
	{ "answer",	jobs_answer },
};

static struct http_state	list_steps[] = {
	{ "read",	jobs_list_read },
	{ "answer",	jobs_answer },
};

static struct http_state	get_steps[] = {
	{ "read",	jobs_get_read },
	{ "answer",	jobs_answer },
};

static struct http_state	retry_steps[] = {
	{ "read",	jobs_retry_read },
	{ "answer",	jobs_answer },
};

/* POST /users/{user_id}/notify: admin, or the user itself. */
int
api_user_notify(struct http_request *req)
{
	return (REQCTX_RUN(notify_steps, req));
}

/* GET /jobs: admins only; status, skip, limit; newest first. */
int
api_jobs(struct http_request *req)
{
	return (REQCTX_RUN(list_steps, req));
}

/* GET /jobs/{job_id}: admins, or the user the job belongs to. */
int
api_job(struct http_request *req)
{
	return (REQCTX_RUN(get_steps, req));
}

/* POST /jobs/{job_id}/retry: admins only; a failed job is queued again. */
int
api_job_retry(struct http_request *req)
{
	return (REQCTX_RUN(retry_steps, req));
}

static struct jobs_state *
jobs_state(struct http_request *req, int op)
{
	struct jobs_state	*st;

	st = reqctx_state(req, sizeof(*st), jobs_cleanup);
	if (op != 0)
		st->op = op;
	return (st);
}

static void
jobs_cleanup(void *arg)
{
	struct jobs_state	*st = arg;

	json_decref(st->out);
	st->out = NULL;
	if (st->q != NULL) {
		store_cancel(st->q);
		st->q = NULL;
	}
}

static int
jobs_notify_read(struct http_request *req)
{
	struct jobs_state	*st;
	struct verrs		 errs;
	struct store_query	*q;
	json_t			*body;
	char			*buf, *subject, *message;
	size_t			 len;

	st = jobs_state(req, JOBS_NOTIFY);

	/* Path and body problems are reported together. */
	verrs_init(&errs);
	(void)jobs_path_id(req, "user_id", st->id, &errs);
	if (request_json_body(req, &buf, &len) == -1) {
		verrs_free(&errs);
		return (HTTP_STATE_COMPLETE);
	}
	body = NULL;
	subject = message = NULL;
	if (len > 0)
		body = json_body_parse(buf, len, &errs);
	free(buf);
	if (len == 0 || body != NULL)
		(void)job_input_from_json(body, &subject, &message, &errs);
	json_decref(body);
	if (errs.n > 0) {
		reply_validation(req, &errs);
		verrs_free(&errs);
		free(subject);
		free(message);
		return (HTTP_STATE_COMPLETE);
	}
	verrs_free(&errs);

	q = job_store_notify(&reqctx_get(req)->caller, st->id, subject,
	    message, cfg.job_max_attempts, jobs_got_id, req);
	free(subject);
	free(message);
	return (jobs_wait(req, st, q));
}

static int
jobs_list_read(struct http_request *req)
{
	struct jobs_state	*st;
	struct verrs		 errs;
	struct store_query	*q;
	long long		 skip, limit;
	char			*v, *status;

	st = jobs_state(req, JOBS_LIST);
	verrs_init(&errs);
	(void)request_query(req, "skip", &v);
	(void)model_query_int(v, "skip", 0, 0, INT64_MAX, &skip, &errs);
	free(v);
	(void)request_query(req, "limit", &v);
	(void)model_query_int(v, "limit", 10, 1, 100, &limit, &errs);
	free(v);
	(void)request_query(req, "status", &status);
	if (status != NULL && !job_status_valid(status))
		verrs_add(&errs, "enum", "query", "status", "Input should be "
		    "'queued', 'running', 'sent' or 'failed'");
	if (errs.n > 0) {
		reply_validation(req, &errs);
		verrs_free(&errs);
		free(status);
		return (HTTP_STATE_COMPLETE);
	}
	verrs_free(&errs);

	st->out = json_array();
	q = job_store_list(&reqctx_get(req)->caller, status, skip, limit,
	    jobs_got_jobs, req);
	free(status);
	return (jobs_wait(req, st, q));
}

static int
jobs_get_read(struct http_request *req)
{
	return (jobs_by_id(req, JOBS_GET, job_store_get));
}

static int
jobs_retry_read(struct http_request *req)
{
	return (jobs_by_id(req, JOBS_RETRY, job_store_retry));
}

/* A route on /jobs/{job_id}: read the id (422 when bad), run op's query. */
static int
jobs_by_id(struct http_request *req, int op,
    struct store_query *(*query)(const struct caller *, const char *,
    store_job_cb, void *))
{
	struct jobs_state	*st;
	struct verrs		 errs;

	st = jobs_state(req, op);
	verrs_init(&errs);
	if (jobs_path_id(req, "job_id", st->id, &errs) == -1) {
		reply_validation(req, &errs);
		verrs_free(&errs);
		return (HTTP_STATE_COMPLETE);
	}
	verrs_free(&errs);
	return (jobs_wait(req, st, query(&reqctx_get(req)->caller, st->id,
	    jobs_got_job, req)));
}

/* The route's {id} into out; or -1 with uuid_parsing at ["path", name]. */
static int
jobs_path_id(struct http_request *req, const char *name, char *out,
    struct verrs *errs)
{
	char	raw[128];

	if (model_uuid_parse(reqctx_param(req, 0, raw, sizeof(raw)),
	    out) == -1) {
		verrs_add(errs, "uuid_parsing", "path", name,
		    "Input should be a valid UUID");
		return (-1);
	}
	return (0);
}

/* Sleep until query q answers; then the answer step. */
static int
jobs_wait(struct http_request *req, struct jobs_state *st,
    struct store_query *q)
{
	st->q = q;
	req->fsm_state = JOBS_ANSWER;
	http_request_sleep(req);
	return (HTTP_STATE_RETRY);
}

/* A store callback's common part: wake the request, keep the status. */
static struct jobs_state *
jobs_woken(void *arg, enum store_status status)
{
	struct http_request	*req = arg;
	struct jobs_state	*st;

	st = reqctx_state(req, sizeof(*st), jobs_cleanup);
	st->q = NULL;
	st->answered = 1;
	st->status = status;
	http_request_wakeup(req);
	return (st);
}

static void
jobs_got_id(void *arg, const struct store_job_id *a)
{
	struct jobs_state	*st;

	st = jobs_woken(arg, a->status);
	if (a->status == STORE_OK)
		(void)snprintf(st->job_id, sizeof(st->job_id), "%s", a->id);
}

static void
jobs_got_job(void *arg, const struct store_job *a)
{
	struct jobs_state	*st;

	st = jobs_woken(arg, a->status);
	if (a->status == STORE_OK)
		st->out = job_to_json(&a->job);
}

static void
jobs_got_jobs(void *arg, const struct store_jobs *a)
{
	struct jobs_state	*st;
	size_t			 i;

	st = jobs_woken(arg, a->status);
	for (i = 0; a->status == STORE_OK && i < a->n; i++)
		(void)json_array_append_new(st->out, job_to_json(&a->jobs[i]));
}

static int
jobs_answer(struct http_request *req)
{
	struct jobs_state	*st;
	char			 buf[64];
	json_t			*out;

	st = jobs_state(req, 0);
	if (!st->answered) {
		http_request_sleep(req);
		return (HTTP_STATE_RETRY);
	}
	if (st->status == STORE_CONFLICT) {
		reply_error(req, 409, "Only a failed job can be retried");
		return (HTTP_STATE_COMPLETE);
	}
	if (st->status == STORE_NOT_FOUND) {
		reply_error(req, 404, st->op == JOBS_NOTIFY ?
		    "User not found" : "Job not found");
		return (HTTP_STATE_COMPLETE);
	}
	if (st->status != STORE_OK)
		return (users_fail(req, st->status));

	switch (st->op) {
	case JOBS_NOTIFY:
		(void)snprintf(buf, sizeof(buf), "/jobs/%s", st->job_id);
		http_response_header(req, "location", buf);
		reply_json(req, 202, json_pack("{s:s, s:s}", "message",
		    "Notification scheduled", "job_id", st->job_id));
		break;
	default:
		out = st->out;
		st->out = NULL;
		reply_json(req, 200, out);
		break;
	}
	return (HTTP_STATE_COMPLETE);
}
