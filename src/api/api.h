/* userapi: the route handlers named in conf/userapi.conf, and what they share. */

#ifndef USERAPI_API_H
#define USERAPI_API_H

#include "store/store.h"

struct http_request;

int	api_healthz(struct http_request *);
int	api_readyz(struct http_request *);
int	api_notfound(struct http_request *);
int	api_users(struct http_request *);
int	api_user(struct http_request *);
int	api_me(struct http_request *);
int	api_me_password(struct http_request *);
int	api_protected(struct http_request *);
int	api_token(struct http_request *);
int	api_asset(struct http_request *);

/*
 * Run a password task (PASSWORD_OP_* and its arguments, as password_msg
 * takes them) for the request. Returns KORE_RESULT_RETRY once it runs,
 * or KORE_RESULT_OK after answering 503 when it could not start
 * (TASKS_MAX tasks in flight, or arguments too long).
 */
int	api_password_task(struct http_request *, int op, const char *a,
	    const char *b, const char *c);

/* Answer a store failure: 401, 403, 404, 409, 412, 503, 504 or 500. */
int	users_fail(struct http_request *, enum store_status);

#endif
