/* userapi: reading requests: JSON bodies within limits, query strings, paths, If-Match. */

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
int	query_lookup(const char *qs, const char *key, char **out);

/* The path segment after prefix ("/users/"), up to the next '/'. */
int	request_path_tail(const char *path, const char *prefix, char *out,
	    size_t len);

/*
 * If-Match: returns STORE_ANY_VERSION (no header, or "*"), a version,
 * or -2 when the header can match no version (412 follows).
 */
long long request_if_match(struct http_request *);
long long etag_parse_if_match(const char *);

#endif
