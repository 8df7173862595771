/* userapi: the one entry of every request: route table lookup, method, context, hooks, authentication. */

#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "auth/access.h"
#include "http/dispatch.h"
#include "http/parse.h"
#include "http/reply.h"
#include "http/reqctx.h"
#include "model/verr.h"

#if R_GET != HTTP_METHOD_GET || R_POST != HTTP_METHOD_POST || \
    R_PUT != HTTP_METHOD_PUT || R_DELETE != HTTP_METHOD_DELETE || \
    R_HEAD != HTTP_METHOD_HEAD || R_OPTIONS != HTTP_METHOD_OPTIONS || \
    R_PATCH != HTTP_METHOD_PATCH
#error "R_* must equal Kore's HTTP_METHOD_* bits"
#endif

struct dispatch_hooks	dispatch_hooks;
int			dispatch_draining;

static unsigned int	dispatch_methods_of(const struct route *);
static int		dispatch_query_once(struct http_request *,
			    const struct route *);

/* Allow lists name methods in this order. */
static const struct {
	unsigned int	 bit;
	const char	*name;
} dispatch_methods[] = {
	{ R_GET,	"GET" },
	{ R_HEAD,	"HEAD" },
	{ R_POST,	"POST" },
	{ R_PUT,	"PUT" },
	{ R_PATCH,	"PATCH" },
	{ R_DELETE,	"DELETE" },
	{ R_OPTIONS,	"OPTIONS" },
};

int
dispatch(struct http_request *req, const struct route *routes, size_t n)
{
	struct reqctx		*ctx;
	const struct route	*first, *hit;
	unsigned int		 allow, methods;
	char			 buf[64];
	int			 retry;
	size_t			 i;

	if (http_state_exists(req)) {
		ctx = http_state_get(req);
		if (ctx->waiting) {
			http_request_sleep(req);
			return (KORE_RESULT_RETRY);
		}
		return (ctx->route->handler(req));
	}

	ctx = reqctx_get(req);
	first = hit = NULL;
	allow = 0;
	for (i = 0; i < n; i++) {
		if (first == NULL) {
			if (!parse_route_match(routes[i].path, req->path,
			    ctx->param, ctx->param_len, REQCTX_PARAMS_MAX))
				continue;
			first = &routes[i];
		} else if (strcmp(routes[i].path, first->path)) {
			continue;
		}
		methods = dispatch_methods_of(&routes[i]);
		allow |= methods;
		if (hit == NULL && (methods & req->method))
			hit = &routes[i];
	}

	if (first == NULL) {
		reply_error(req, 404, "Not Found");
		return (KORE_RESULT_OK);
	}
	ctx->route = first;
	if (hit == NULL) {
		reply_not_allowed(req, dispatch_allow(allow, buf,
		    sizeof(buf)));
		return (KORE_RESULT_OK);
	}
	ctx->route = hit;

	/*
	 * HEAD runs the GET handler as a GET, so nothing it does can differ
	 * from the GET's; reply.c turns it back into HEAD for Kore, which
	 * then sends the GET's status and headers (Content-Length too) and
	 * no body (RFC 9110 9.3.2).
	 */
	if (req->method == HTTP_METHOD_HEAD && !(hit->methods & R_HEAD)) {
		ctx->head = 1;
		req->method = HTTP_METHOD_GET;
	}

	if (dispatch_draining && !(hit->flags & ROUTE_LIVE)) {
		/* Connection: close, so the client reconnects elsewhere. */
		req->owner->flags |= CONN_CLOSE_EMPTY;
		reply_unavailable(req, 1);
		return (KORE_RESULT_OK);
	}

	retry = 1;
	if (dispatch_hooks.admit != NULL &&
	    dispatch_hooks.admit(req, hit, &retry) == -1) {
		reply_too_many(req, retry, "Too Many Requests");
		return (KORE_RESULT_OK);
	}

	if (hit->auth != AUTH_NONE && access_caller(req, &ctx->caller) == -1)
		return (KORE_RESULT_OK);

	if (dispatch_query_once(req, hit) == -1)
		return (KORE_RESULT_OK);

	return (hit->handler(req));
}

/* A route's methods: HEAD wherever GET is, unless ROUTE_NO_HEAD. */
static unsigned int
dispatch_methods_of(const struct route *r)
{
	if ((r->methods & R_GET) && !(r->flags & ROUTE_NO_HEAD))
		return (r->methods | R_HEAD);
	return (r->methods);
}

/*
 * A query parameter the route reads may appear once: a repeated one
 * (limit=5&limit=500) would be read as its first value, whatever the
 * client meant. Returns 0, or -1 once the 422 naming each repeated one is
 * sent.
 */
static int
dispatch_query_once(struct http_request *req, const struct route *r)
{
	struct verrs	 errs;
	const char	*p;
	char		 name[32];
	size_t		 n;

	if (r->query == NULL || req->query_string == NULL)
		return (0);

	verrs_init(&errs);
	for (p = r->query; *p != '\0'; p += n + strspn(p + n, " ")) {
		n = strcspn(p, " ");
		(void)snprintf(name, sizeof(name), "%.*s", (int)n, p);
		if (parse_query_count(req->query_string, name) > 1)
			verrs_add(&errs, "duplicate_parameter", "query", name,
			    "Query parameter given more than once");
	}
	if (errs.n == 0) {
		verrs_free(&errs);
		return (0);
	}
	reply_validation(req, &errs);
	verrs_free(&errs);
	return (-1);
}

const char *
dispatch_allow(unsigned int methods, char *buf, size_t len)
{
	size_t	i, off;
	int	n;

	buf[0] = '\0';
	off = 0;
	for (i = 0; i < sizeof(dispatch_methods) /
	    sizeof(dispatch_methods[0]); i++) {
		if (!(methods & dispatch_methods[i].bit))
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off > 0 ? ", " : "",
		    dispatch_methods[i].name);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	return (buf);
}
