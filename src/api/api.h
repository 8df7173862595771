/* userapi: the route table's entry point and handlers, and what handlers share. */

#ifndef USERAPI_API_H
#define USERAPI_API_H

#include <stddef.h>

#include "auth/password.h"
#include "http/dispatch.h"
#include "store/store.h"

struct http_request;

/* The route table (src/api/routes.c), in match order. */
extern const struct route	api_routes[];
extern const size_t		api_nroutes;

/* conf/userapi.conf sends every path here: dispatch(req, api_routes). */
int	api_dispatch(struct http_request *);

/* Handlers: reached only through the table, method and caller checked. */
int	api_healthz(struct http_request *);
int	api_readyz(struct http_request *);
int	api_users_list(struct http_request *);
int	api_users_create(struct http_request *);
int	api_user(struct http_request *);
int	api_me(struct http_request *);
int	api_me_password(struct http_request *);
int	api_protected(struct http_request *);
int	api_token(struct http_request *);
int	api_asset(struct http_request *);
int	api_user_notify(struct http_request *);
int	api_jobs(struct http_request *);
int	api_job(struct http_request *);
int	api_job_retry(struct http_request *);

/*
 * Start a password job (password_job_new's arguments) on the background
 * pool, the request going on with step next once it ends. Returns
 * HTTP_STATE_RETRY, or HTTP_STATE_COMPLETE after answering 503 when it
 * could not start (TASKS_MAX jobs in flight, or an argument too long).
 */
int	api_password_job(struct http_request *, enum password_op,
	    const char *hash, const char *pw, const char *next, int step);

/* Answer a store failure: 401, 403, 404, 409, 412, 503, 504 or 500. */
int	users_fail(struct http_request *, enum store_status);

#endif
