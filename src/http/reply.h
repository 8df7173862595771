/* userapi: HTTP responses (JSON, errors, 422 lists), request ids, access log. */

#ifndef USERAPI_HTTP_REPLY_H
#define USERAPI_HTTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <kore/kore.h>
#include <kore/tasks.h>

struct http_request;
struct verrs;
struct db_query;

#define REQID_MAX	64

/*
 * Per-request state every handler starts with: created on the first call
 * of a handler (reqctx_open) and freed with the request. A handler's own
 * state struct embeds it as its first member.
 */
struct reqctx {
	uint64_t	 start_us;
	char		 rid[REQID_MAX + 1];
	struct db_query	*query;		/* in flight; cancelled on free */
	struct kore_task task;		/* blocking work off the loop */
	int		 task_on;	/* task holds one of TASKS_MAX slots */
	void		(*cleanup)(struct reqctx *);
};

/* Returns the request's state, creating it (zeroed, len bytes) once. */
void	*reqctx_open(struct http_request *, size_t len);
struct reqctx *reqctx_get(struct http_request *);

/*
 * Waiting on the database: reqctx_wait parks the request on query q and
 * returns KORE_RESULT_RETRY for the handler to return; the query's
 * callback takes the state with reqctx_answered, keeps what it needs and
 * calls http_request_wakeup. On later calls reqctx_waiting is 1 (and the
 * request sleeps again) while the answer has not come.
 */
int	reqctx_wait(struct http_request *, struct db_query *q);
int	reqctx_waiting(struct http_request *);
void	*reqctx_answered(struct http_request *);

/*
 * Run fn on a task thread bound to the request, data written to its
 * channel. Returns 0, or -1 when TASKS_MAX tasks are in flight in this
 * worker (the caller answers 503). The request sleeps until it ends.
 */
int	reqctx_task_start(struct http_request *, int (*fn)(struct kore_task *),
	    const void *data, size_t len);
/* 1 once the task finished (its answer read into buf, *len), else 0. */
int	reqctx_task_result(struct http_request *, void *buf, size_t *len);

/*
 * Once no task runs after some did, give the free memory of the task
 * threads' malloc arenas back to the system (argon2id's 19 MiB blocks):
 * under login load the blocks are reused, idle they cost nothing.
 */
void	reqctx_tasks_trim(void);

/* All replies: set X-Request-ID, log the access line, send. */
void	reply_json(struct http_request *, int status, json_t *body);
void	reply_error(struct http_request *, int status, const char *detail);
void	reply_validation(struct http_request *, struct verrs *);
void	reply_empty(struct http_request *, int status);
void	reply_raw(struct http_request *, int status, const char *ctype,
	    const void *data, size_t len);
void	reply_not_allowed(struct http_request *, const char *allow);
void	reply_unavailable(struct http_request *, int retry_after);

const char *reply_method_name(int);
uint64_t reply_now_us(void);

#endif
