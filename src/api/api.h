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

/* Answer a store failure: 401, 403, 404, 409, 412, 503, 504 or 500. */
int	users_fail(struct http_request *, enum store_status);

#endif
