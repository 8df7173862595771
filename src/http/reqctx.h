/* userapi: the request context: id, timing, route, caller, the handler's state, waiting for work. */

#ifndef USERAPI_HTTP_REQCTX_H
#define USERAPI_HTTP_REQCTX_H

#include <stddef.h>
#include <stdint.h>

#include "auth/access.h"
#include "bg/bg.h"

struct http_request;
struct store_query;
struct route;

#define REQID_MAX		64
#define REQCTX_PARAMS_MAX	2	/* {name} segments of a route path */

/*
 * Opened by the dispatcher on a request's first call (Kore's
 * http_state), freed with the request. Handlers reach it with
 * reqctx_get and keep their own state in reqctx_state.
 */
struct reqctx {
	uint64_t		 start_us;
	char			 rid[REQID_MAX + 1];
	const struct route	*route;		/* NULL: no route matched */
	int			 head;		/* a HEAD, run as a GET */
	struct caller		 caller;	/* routes with authentication */
	const char		*param[REQCTX_PARAMS_MAX];	/* in req->path */
	size_t			 param_len[REQCTX_PARAMS_MAX];
	int			 waiting;	/* a query or work in flight */
	struct store_query	*query;
	struct bg_work		*work;
	void			*result;	/* what the work left, once done */
	void			*state;		/* the handler's */
	void			(*state_free)(void *);
};

/*
 * Run a handler's named steps (an array of Kore's struct http_state)
 * with Kore's http_state_run, from req->fsm_state on.
 */
#define REQCTX_RUN(steps, req)						\
	http_state_run((steps), (u_int8_t)(sizeof(steps) / sizeof((steps)[0])), \
	    (req))

/* The request's context, created (with a request id) when absent. */
struct reqctx	*reqctx_get(struct http_request *);

/*
 * The handler's state: len zeroed bytes on the first call, the same
 * block later. cleanup (may be NULL) runs before it is freed, also when
 * the client went away.
 */
void	*reqctx_state(struct http_request *, size_t len,
	    void (*cleanup)(void *));

/*
 * The i-th {name} segment of the route's path, copied into buf (cut to
 * len - 1 bytes); "" when there is none.
 */
const char *reqctx_param(struct http_request *, size_t i, char *buf,
	    size_t len);

/*
 * Waiting, for multi-step handlers run by http_state_run: park the
 * request until query q answers, the next step being next. Returns
 * HTTP_STATE_RETRY for the step to return. The query's callback (arg:
 * the request) calls reqctx_resume, keeps what it needs, and the
 * request runs step next on a later turn.
 */
int	 reqctx_wait(struct http_request *, struct store_query *q, int next);

/*
 * The one wake-up: called by a callback whose arg is the request. Marks
 * the wait over, wakes the request and returns the handler's state.
 */
void	*reqctx_resume(void *arg);

/*
 * Run run(msg) on kind's background pool for the request, then step
 * next; that step takes msg back with reqctx_result. Returns
 * HTTP_STATE_RETRY, or HTTP_STATE_COMPLETE after answering 503 +
 * Retry-After when kind is at its cap (msg is then still the caller's).
 * If the client goes away meanwhile, msg is freed with free().
 */
int	 reqctx_bg(struct http_request *, enum bg_kind, void (*run)(void *),
	    void *msg, int next);

/* The message of the finished background work; the caller owns it. */
void	*reqctx_result(struct http_request *);

uint64_t reqctx_now_us(void);

#endif
