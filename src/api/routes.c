/* userapi: the route table: every path, its methods, handler, authentication and rate class. */

#include <sys/types.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "api/api.h"
#include "http/dispatch.h"
#include "ops/ops.h"
#include "ws/ws.h"

/*
 * Every route of the service, in match order (the first matching path
 * wins, so exact paths come before patterns that would also match).
 * Adding a route is one row here; conf/userapi.conf sends every path to
 * api_dispatch. Unknown paths get the JSON 404, known paths with another
 * method 405 with Allow. GET rows answer HEAD too (dispatch.c).
 */
const struct route api_routes[] = {
	/* path			methods		handler		auth		rate		flags, query */
	{ "/healthz",		R_GET,		api_healthz,	AUTH_NONE,	RATE_NONE,	ROUTE_LIVE, NULL },
	{ "/metrics",		R_GET,		api_metrics,	AUTH_NONE,	RATE_NONE,	ROUTE_LIVE, NULL },
	{ "/readyz",		R_GET,		api_readyz,	AUTH_NONE,	RATE_NONE,	ROUTE_LIVE, NULL },
	{ "/token",		R_POST,		api_token,	AUTH_NONE,	RATE_LOGIN,	0, NULL },
	{ "/protected",		R_GET,		api_protected,	AUTH_TOKEN,	RATE_READ,	0, NULL },
	{ "/users",		R_GET,		api_users_list,	AUTH_ADMIN,	RATE_READ,	0, "skip limit email" },
	{ "/users",		R_POST,		api_users_create, AUTH_NONE,	RATE_SIGNUP,	0, NULL },
	{ "/users/me",		R_GET,		api_me,		AUTH_TOKEN,	RATE_READ,	0, NULL },
	{ "/users/me/password",	R_POST,		api_me_password, AUTH_TOKEN,	RATE_LOGIN,	0, NULL },
	/*
	 * The token of /ws may be in the query: the handler reads it. A
	 * WebSocket upgrade is a GET (RFC 6455 4.1): no HEAD.
	 */
	{ "/ws",		R_GET,		api_ws,		AUTH_NONE,	RATE_READ,	ROUTE_NO_HEAD, "access_token last_id" },
	{ "/users/{id}",	R_GET,		api_user,	AUTH_TOKEN,	RATE_READ,	0, NULL },
	{ "/users/{id}",	R_PUT | R_PATCH | R_DELETE, api_user, AUTH_TOKEN, RATE_WRITE,	0, NULL },
	/* Notification jobs (jobs.c). */
	{ "/users/{id}/notify",	R_POST,		api_user_notify, AUTH_TOKEN,	RATE_WRITE,	0, NULL },
	{ "/jobs",		R_GET,		api_jobs,	AUTH_ADMIN,	RATE_READ,	0, "status skip limit" },
	{ "/jobs/{id}",		R_GET,		api_job,	AUTH_TOKEN,	RATE_READ,	0, NULL },
	{ "/jobs/{id}/retry",	R_POST,		api_job_retry,	AUTH_ADMIN,	RATE_WRITE,	0, NULL },
	/* The web pages, their files and the OpenAPI document (assets.c). */
	{ "/",			R_GET,		api_asset,	AUTH_NONE,	RATE_READ,	0, NULL },
	{ "/openapi.json",	R_GET,		api_asset,	AUTH_NONE,	RATE_READ,	0, NULL },
	{ "/asyncapi.json",	R_GET,		api_asset,	AUTH_NONE,	RATE_READ,	0, NULL },
	{ "/docs",		R_GET,		api_asset,	AUTH_NONE,	RATE_READ,	0, NULL },
	{ "/redoc",		R_GET,		api_asset,	AUTH_NONE,	RATE_READ,	0, NULL },
	{ "/conventions",	R_GET,		api_asset,	AUTH_NONE,	RATE_READ,	0, NULL },
	{ "/static/*",		R_GET,		api_asset,	AUTH_NONE,	RATE_READ,	0, "v" },
};

const size_t	api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

int
api_dispatch(struct http_request *req)
{
	return (dispatch(req, api_routes, api_nroutes));
}
