/* userapi: liveness (/healthz) and readiness (/readyz). */

#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "api/api.h"
#include "http/dispatch.h"
#include "http/reply.h"
#include "migrate.h"
#include "store/store.h"

/* readyz: ask the database -> answer. */
enum {
	READY_ASK,
	READY_ANSWER
};

struct ready_state {
	enum store_status	status;
	char			version[256];
};

static int	ready_ask(struct http_request *);
static void	ready_kept(void *, const struct store_schema *);
static int	ready_answer(struct http_request *);

static struct http_state	ready_steps[] = {
	{ "ask",	ready_ask },
	{ "answer",	ready_answer },
};

/* The process is alive and its event loop turns. */
int
api_healthz(struct http_request *req)
{
	reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
	return (KORE_RESULT_OK);
}

/*
 * The database answers and every migration compiled in is applied; not
 * while the instance drains (SIGTERM), whatever the database says.
 */
int
api_readyz(struct http_request *req)
{
	return (REQCTX_RUN(ready_steps, req));
}

static int
ready_ask(struct http_request *req)
{
	if (dispatch_draining) {
		http_response_header(req, "retry-after", "1");
		reply_json(req, 503, json_pack("{s:s, s:s}", "status",
		    "unavailable", "detail", "shutting down"));
		return (HTTP_STATE_COMPLETE);
	}
	(void)reqctx_state(req, sizeof(struct ready_state), NULL);
	return (reqctx_wait(req, health_store_schema(ready_kept, req),
	    READY_ANSWER));
}

static void
ready_kept(void *arg, const struct store_schema *r)
{
	struct ready_state	*st;

	st = reqctx_resume(arg);
	st->status = r->status;
	(void)snprintf(st->version, sizeof(st->version), "%s", r->version);
}

static int
ready_answer(struct http_request *req)
{
	struct ready_state	*st;

	st = reqctx_state(req, sizeof(*st), NULL);
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
	return (HTTP_STATE_COMPLETE);
}
