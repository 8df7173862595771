/* userapi: HTTP responses (JSON, errors, 422 lists), request ids, access log. */

#include <sys/types.h>
#include <sys/random.h>

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "config.h"
#include "db/db.h"
#include "http/reply.h"
#include "json/errors.h"
#include "log.h"

static void	reqctx_free(struct http_request *);
static void	reqctx_task_release(struct reqctx *);

static int	tasks_in_flight;
static int	tasks_ran;
static void	reqctx_request_id(struct http_request *, struct reqctx *);
static void	reply_send(struct http_request *, int, const void *, size_t);
static int	reply_has_header(struct http_request *, const char *);

uint64_t
reply_now_us(void)
{
	struct timespec		ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

void *
reqctx_open(struct http_request *req, size_t len)
{
	struct reqctx	*ctx;

	if (http_state_exists(req))
		return (http_state_get(req));

	if (len < sizeof(*ctx))
		len = sizeof(*ctx);
	ctx = http_state_create(req, len, reqctx_free);
	ctx->start_us = reply_now_us();
	reqctx_request_id(req, ctx);
	return (ctx);
}

struct reqctx *
reqctx_get(struct http_request *req)
{
	return (reqctx_open(req, sizeof(struct reqctx)));
}

/*
 * Called by Kore when the request is freed, also when the client went
 * away while a query or a task was in flight: the query is detached so
 * its result is dropped instead of touching freed memory.
 */
static void
reqctx_free(struct http_request *req)
{
	struct reqctx	*ctx;

	if ((ctx = req->hdlr_extra) == NULL)
		return;
	if (ctx->query != NULL) {
		db_cancel(ctx->query);
		ctx->query = NULL;
	}
	/* Kore calls this again on every turn until the task ended. */
	if (ctx->task_on) {
		if (!kore_task_finished(&ctx->task))
			return;
		reqctx_task_release(ctx);
	}
	if (ctx->cleanup != NULL)
		ctx->cleanup(ctx);
	ctx->cleanup = NULL;
}

/* A sane X-Request-ID is kept: 1..64 of [A-Za-z0-9._:-]; else a new one. */
static void
reqctx_request_id(struct http_request *req, struct reqctx *ctx)
{
	const char	*v;
	u_int8_t	 rnd[16];
	size_t		 i, len;
	static const char hex[] = "0123456789abcdef";

	if (http_request_header(req, "x-request-id", &v)) {
		len = strlen(v);
		if (len > 0 && len <= REQID_MAX && strspn(v,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789._:-") == len) {
			memcpy(ctx->rid, v, len + 1);
			return;
		}
	}

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		fatal("getrandom failed");
	for (i = 0; i < sizeof(rnd); i++) {
		ctx->rid[i * 2] = hex[rnd[i] >> 4];
		ctx->rid[i * 2 + 1] = hex[rnd[i] & 0x0f];
	}
	ctx->rid[sizeof(rnd) * 2] = '\0';
}

int
reqctx_wait(struct http_request *req, struct db_query *q)
{
	reqctx_get(req)->query = q;
	http_request_sleep(req);
	return (KORE_RESULT_RETRY);
}

int
reqctx_waiting(struct http_request *req)
{
	if (reqctx_get(req)->query == NULL)
		return (0);
	http_request_sleep(req);
	return (1);
}

void *
reqctx_answered(struct http_request *req)
{
	struct reqctx	*ctx;

	ctx = http_state_get(req);
	ctx->query = NULL;
	return (ctx);
}

int
reqctx_task_start(struct http_request *req, int (*fn)(struct kore_task *),
    const void *data, size_t len)
{
	struct reqctx	*ctx;

	ctx = reqctx_get(req);
	if (ctx->task_on)
		fatal("reqctx_task_start: a task is already running");
	if (tasks_in_flight >= cfg.tasks_max)
		return (-1);

	tasks_in_flight++;
	tasks_ran = 1;
	ctx->task_on = 1;
	kore_task_create(&ctx->task, fn);
	kore_task_bind_request(&ctx->task, req);
	kore_task_run(&ctx->task);
	kore_task_channel_write(&ctx->task, (void *)(uintptr_t)data,
	    (u_int32_t)len);
	return (0);
}

int
reqctx_task_result(struct http_request *req, void *buf, size_t *len)
{
	struct reqctx	*ctx;
	u_int32_t	 n;

	ctx = reqctx_get(req);
	if (!ctx->task_on || !kore_task_finished(&ctx->task)) {
		http_request_sleep(req);
		return (0);
	}

	/* The return value is the message's full length: clamp it. */
	n = kore_task_channel_read(&ctx->task, buf, (u_int32_t)*len);
	if (n > *len)
		n = 0;
	*len = n;
	reqctx_task_release(ctx);
	return (1);
}

static void
reqctx_task_release(struct reqctx *ctx)
{
	/* Kore destroys a finished task of a deleted request itself. */
	if (ctx->task.req != NULL)
		kore_task_destroy(&ctx->task);
	ctx->task_on = 0;
	tasks_in_flight--;
}

void
reqctx_tasks_trim(void)
{
	if (tasks_in_flight > 0 || !tasks_ran)
		return;
	tasks_ran = 0;
	(void)malloc_trim(0);
}

const char *
reply_method_name(int method)
{
	switch (method) {
	case HTTP_METHOD_GET:
		return ("GET");
	case HTTP_METHOD_POST:
		return ("POST");
	case HTTP_METHOD_PUT:
		return ("PUT");
	case HTTP_METHOD_PATCH:
		return ("PATCH");
	case HTTP_METHOD_DELETE:
		return ("DELETE");
	case HTTP_METHOD_HEAD:
		return ("HEAD");
	case HTTP_METHOD_OPTIONS:
		return ("OPTIONS");
	default:
		return ("OTHER");
	}
}

static void
reply_send(struct http_request *req, int status, const void *data, size_t len)
{
	struct reqctx	*ctx;

	ctx = reqctx_get(req);
	http_response_header(req, "x-request-id", ctx->rid);

	/*
	 * Security headers on every answer. Everything but the static
	 * assets (which say how long they may be cached) may carry a token
	 * or user data: no-store. No HSTS: it belongs to a TLS listener.
	 */
	if (!reply_has_header(req, "x-content-type-options"))
		http_response_header(req, "x-content-type-options", "nosniff");
	http_response_header(req, "referrer-policy", "no-referrer");
	if (!reply_has_header(req, "cache-control"))
		http_response_header(req, "cache-control", "no-store");

	http_response(req, status, data, len);
	log_access(reply_method_name(req->method), req->path, status, len,
	    reply_now_us() - ctx->start_us, ctx->rid);
}

/* 1 when the answer already has header name (lower case), else 0. */
static int
reply_has_header(struct http_request *req, const char *name)
{
	struct http_header	*hdr;

	TAILQ_FOREACH(hdr, &req->resp_headers, list) {
		if (!strcasecmp(hdr->header, name))
			return (1);
	}
	return (0);
}

void
reply_raw(struct http_request *req, int status, const char *ctype,
    const void *data, size_t len)
{
	if (ctype != NULL)
		http_response_header(req, "content-type", ctype);
	reply_send(req, status, data, len);
}

void
reply_json(struct http_request *req, int status, json_t *body)
{
	char	*s;

	if ((s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		fatal("json_dumps failed");
	json_decref(body);
	reply_raw(req, status, "application/json; charset=utf-8", s, strlen(s));
	free(s);
}

void
reply_error(struct http_request *req, int status, const char *detail)
{
	reply_json(req, status, json_pack("{s:s}", "detail", detail));
}

void
reply_validation(struct http_request *req, struct verrs *errs)
{
	reply_json(req, 422, verrs_to_json(errs));
}

void
reply_empty(struct http_request *req, int status)
{
	reply_send(req, status, NULL, 0);
}

void
reply_not_allowed(struct http_request *req, const char *allow)
{
	http_response_header(req, "allow", allow);
	reply_error(req, 405, "Method Not Allowed");
}

void
reply_unavailable(struct http_request *req, int retry_after)
{
	char	buf[16];

	(void)snprintf(buf, sizeof(buf), "%d", retry_after);
	http_response_header(req, "retry-after", buf);
	reply_error(req, 503, "Service Unavailable");
}
