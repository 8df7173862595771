/* userapi: liveness (/healthz), readiness (/readyz) and the JSON 404 for unknown paths. */

#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "api/api.h"
#include "http/reply.h"
#include "migrate.h"
#include "store/store.h"

struct ready_state {
	struct reqctx		ctx;		/* must be first */
	int			asked;
	enum store_status	status;
	char			version[256];
};

static void	ready_answer(void *, struct store_reply *);

/* The process is alive and its event loop turns. */
int
api_healthz(struct http_request *req)
{
	if (req->method != HTTP_METHOD_GET) {
		reply_not_allowed(req, "GET");
		return (KORE_RESULT_OK);
	}
	reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
	return (KORE_RESULT_OK);
}

/* The database answers and every migration compiled in is applied. */
int
api_readyz(struct http_request *req)
{
	struct ready_state	*st;

	if (req->method != HTTP_METHOD_GET) {
		reply_not_allowed(req, "GET");
		return (KORE_RESULT_OK);
	}

	st = reqctx_open(req, sizeof(*st));
	if (!st->asked) {
		st->asked = 1;
		return (reqctx_wait(req, health_store_schema(ready_answer,
		    req)));
	}
	if (reqctx_waiting(req))
		return (KORE_RESULT_RETRY);

	if (st->status != STORE_OK) {
		http_response_header(req, "retry-after", "1");
		reply_json(req, 503, json_pack("{s:s, s:s}", "status",
		    "unavailable", "detail", "database unavailable"));
	} else if (strcmp(st->version, migrate_latest())) {
		http_response_header(req, "retry-after", "1");
		reply_json(req, 503, json_pack("{s:s, s:s, s:s, s:s}",
		    "status", "unavailable", "detail", "migrations pending",
		    "schema", st->version, "expected", migrate_latest()));
	} else {
		reply_json(req, 200, json_pack("{s:s, s:s}", "status", "ok",
		    "schema", st->version));
	}
	return (KORE_RESULT_OK);
}

static void
ready_answer(void *arg, struct store_reply *r)
{
	struct http_request	*req = arg;
	struct ready_state	*st;

	st = reqctx_answered(req);
	st->status = r->status;
	(void)snprintf(st->version, sizeof(st->version), "%s", r->text);
	http_request_wakeup(req);
}

int
api_notfound(struct http_request *req)
{
	reply_error(req, 404, "Not Found");
	return (KORE_RESULT_OK);
}
