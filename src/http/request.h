/* userapi: reading requests: JSON bodies within limits, query parameters, If-Match. */

#ifndef USERAPI_HTTP_REQUEST_H
#define USERAPI_HTTP_REQUEST_H

#include <stddef.h>

struct http_request;

/*
 * Read the JSON body into *buf (malloc'd, NUL-terminated, *len bytes).
 * Returns 0, or -1 after answering 415 (not JSON) or 413 (over
 * BODY_LIMIT) itself.
 */
int	request_json_body(struct http_request *, char **buf, size_t *len);

/*
 * The first value of key in the query string, percent-decoded into a
 * malloc'd string (*out); 1 when present, 0 when not.
 */
int	request_query(struct http_request *, const char *key, char **out);

/*
 * If-Match: PARSE_ANY_VERSION (absent or "*"), PARSE_NO_MATCH, or a
 * version with all listed versions in list (see parse_if_match).
 */
long long request_if_match(struct http_request *, char *list, size_t len);

#endif
