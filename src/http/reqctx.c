/* userapi: the request context: id, timing, route, caller, the handler's state, waiting for work. */

#include <sys/types.h>
#include <sys/random.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "http/reply.h"
#include "http/reqctx.h"
#include "store/store.h"

static void	reqctx_free(struct http_request *);
static void	reqctx_request_id(struct http_request *, struct reqctx *);
static void	reqctx_bg_done(void *, void *);

uint64_t
reqctx_now_us(void)
{
	struct timespec		ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

struct reqctx *
reqctx_get(struct http_request *req)
{
	struct reqctx	*ctx;

	if (http_state_exists(req))
		return (http_state_get(req));
	ctx = http_state_create(req, sizeof(*ctx), reqctx_free);
	ctx->start_us = reqctx_now_us();
	reqctx_request_id(req, ctx);
	return (ctx);
}

void *
reqctx_state(struct http_request *req, size_t len, void (*cleanup)(void *))
{
	struct reqctx	*ctx;

	ctx = reqctx_get(req);
	if (ctx->state == NULL) {
		if ((ctx->state = calloc(1, len)) == NULL)
			abort();
		ctx->state_free = cleanup;
	}
	return (ctx->state);
}

const char *
reqctx_param(struct http_request *req, size_t i, char *buf, size_t len)
{
	struct reqctx	*ctx;
	size_t		 n;

	ctx = reqctx_get(req);
	n = 0;
	if (i < REQCTX_PARAMS_MAX && ctx->param[i] != NULL) {
		n = ctx->param_len[i];
		if (n >= len)
			n = len - 1;
		memcpy(buf, ctx->param[i], n);
	}
	buf[n] = '\0';
	return (buf);
}

/*
 * Called by Kore when the request is freed, also when the client went
 * away while a query or background work was in flight: the query is
 * cancelled (its callback will not run) and the work abandoned (its
 * message is freed once it ends).
 */
static void
reqctx_free(struct http_request *req)
{
	struct reqctx	*ctx;

	if ((ctx = req->hdlr_extra) == NULL)
		return;
	if (ctx->query != NULL) {
		store_cancel(ctx->query);
		ctx->query = NULL;
	}
	if (ctx->work != NULL) {
		bg_abandon(ctx->work);
		ctx->work = NULL;
	}
	free(ctx->result);
	ctx->result = NULL;
	if (ctx->state != NULL) {
		if (ctx->state_free != NULL)
			ctx->state_free(ctx->state);
		free(ctx->state);
		ctx->state = NULL;
	}
}

/*
 * A sane X-Request-ID is kept: 1..64 of [A-Za-z0-9._:-]; else a new one:
 * 64 random bits drawn once per worker, then a counter, in 32 hex
 * digits. Unique without a system call per request; it is an id, not a
 * secret.
 */
static void
reqctx_request_id(struct http_request *req, struct reqctx *ctx)
{
	const char		*v;
	size_t			 i, len;
	static u_int64_t	 prefix, seq;
	static const char	 hex[] = "0123456789abcdef";
	static pid_t		 owner;

	if (http_request_header(req, "x-request-id", &v)) {
		len = strlen(v);
		if (len > 0 && len <= REQID_MAX && strspn(v,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789._:-") == len) {
			memcpy(ctx->rid, v, len + 1);
			return;
		}
	}

	if (owner != worker->pid) {
		if (getrandom(&prefix, sizeof(prefix), 0) != sizeof(prefix))
			fatal("getrandom failed");
		owner = worker->pid;
		seq = 0;
	}
	seq++;
	for (i = 0; i < 16; i++) {
		ctx->rid[i] = hex[(prefix >> (60 - i * 4)) & 0x0f];
		ctx->rid[i + 16] = hex[(seq >> (60 - i * 4)) & 0x0f];
	}
	ctx->rid[32] = '\0';
}

int
reqctx_wait(struct http_request *req, struct store_query *q, int next)
{
	struct reqctx	*ctx;

	ctx = reqctx_get(req);
	ctx->query = q;
	ctx->waiting = 1;
	req->fsm_state = (u_int8_t)next;
	http_request_sleep(req);
	return (HTTP_STATE_RETRY);
}

void *
reqctx_resume(void *arg)
{
	struct http_request	*req = arg;
	struct reqctx		*ctx;

	ctx = http_state_get(req);
	ctx->query = NULL;
	ctx->work = NULL;
	ctx->waiting = 0;
	http_request_wakeup(req);
	return (ctx->state);
}

int
reqctx_bg(struct http_request *req, enum bg_kind kind, void (*run)(void *),
    void *msg, int next)
{
	struct reqctx	*ctx;

	ctx = reqctx_get(req);
	if ((ctx->work = bg_start(kind, run, msg, reqctx_bg_done,
	    req)) == NULL) {
		reply_unavailable(req, 1);
		return (HTTP_STATE_COMPLETE);
	}
	ctx->waiting = 1;
	req->fsm_state = (u_int8_t)next;
	http_request_sleep(req);
	return (HTTP_STATE_RETRY);
}

static void
reqctx_bg_done(void *arg, void *msg)
{
	struct http_request	*req = arg;
	struct reqctx		*ctx;

	ctx = http_state_get(req);
	free(ctx->result);
	ctx->result = msg;
	(void)reqctx_resume(req);
}

void *
reqctx_result(struct http_request *req)
{
	struct reqctx	*ctx;
	void		*msg;

	ctx = reqctx_get(req);
	msg = ctx->result;
	ctx->result = NULL;
	return (msg);
}
