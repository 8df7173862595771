/* userapi: HTTP responses: JSON, errors, 422 lists, the access log line. */

#ifndef USERAPI_HTTP_REPLY_H
#define USERAPI_HTTP_REPLY_H

#include <stddef.h>

#include <jansson.h>

#include "http/reqctx.h"

struct http_request;
struct verrs;

/* The Content-Type of every JSON answer. */
#define REPLY_JSON	"application/json; charset=utf-8"

/*
 * Every answer goes through these: X-Request-ID is set, the access line
 * logged and the dispatcher's `sent` hook called, then Kore sends it.
 */
void	reply_json(struct http_request *, int status, json_t *body);
void	reply_error(struct http_request *, int status, const char *detail);
void	reply_validation(struct http_request *, struct verrs *);
void	reply_empty(struct http_request *, int status);
void	reply_raw(struct http_request *, int status, const char *ctype,
	    const void *data, size_t len);
void	reply_not_allowed(struct http_request *, const char *allow);
void	reply_unavailable(struct http_request *, int retry_after);
/* 429 with Retry-After: seconds. */
void	reply_too_many(struct http_request *, int retry_after,
	    const char *detail);

const char *reply_method_name(int);

/*
 * In the parent, before the workers start: the answers Kore makes itself
 * (a request refused before any handler: 400, 408, 411, 413, 414, 431,
 * 505) carry the same security headers and a JSON body
 * {"detail": "<reason phrase>"} (patches/kore/0041).
 */
void	reply_kore_setup(void);

#endif
