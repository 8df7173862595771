/* userapi: HTTP responses: JSON, errors, 422 lists, the access log line. */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "http/dispatch.h"
#include "http/reply.h"
#include "json/errors.h"
#include "log.h"

static void	reply_send(struct http_request *, int, const void *, size_t);
static int	reply_has_header(struct http_request *, const char *);

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
	uint64_t	 usec;

	ctx = reqctx_get(req);
	http_response_header(req, "x-request-id", ctx->rid);

	/*
	 * Security headers on every answer. Everything but the static
	 * assets (which say how long they may be cached) may carry a token
	 * or user data: no-store. HSTS: Kore adds it on a TLS listener.
	 */
	if (!reply_has_header(req, "x-content-type-options"))
		http_response_header(req, "x-content-type-options", "nosniff");
	http_response_header(req, "referrer-policy", "no-referrer");
	if (!reply_has_header(req, "cache-control"))
		http_response_header(req, "cache-control", "no-store");

	/* A HEAD ran as a GET (dispatch): Kore sends it without the body. */
	if (ctx->head)
		req->method = HTTP_METHOD_HEAD;
	http_response(req, status, data, len);
	usec = reqctx_now_us() - ctx->start_us;
	log_access(reply_method_name(req->method), req->path, status,
	    req->method == HTTP_METHOD_HEAD ? 0 : len, usec, ctx->rid);
	if (dispatch_hooks.sent != NULL)
		dispatch_hooks.sent(ctx->route, status, usec);
}

void
reply_kore_setup(void)
{
	http_error_headers = "x-content-type-options: nosniff\r\n"
	    "referrer-policy: no-referrer\r\n"
	    "cache-control: no-store\r\n";
	http_error_json = 1;
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
	reply_raw(req, status, REPLY_JSON, s, strlen(s));
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

void
reply_too_many(struct http_request *req, int retry_after, const char *detail)
{
	char	buf[16];

	(void)snprintf(buf, sizeof(buf), "%d", retry_after);
	http_response_header(req, "retry-after", buf);
	reply_error(req, 429, detail);
}
