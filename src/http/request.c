/* userapi: reading requests: JSON bodies within limits, query parameters, If-Match. */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "config.h"
#include "http/reply.h"
#include "http/parse.h"
#include "http/request.h"

int
request_json_body(struct http_request *req, char **buf, size_t *len)
{
	const char	*ctype;
	char		*p;
	size_t		 off;
	ssize_t		 n;

	*buf = NULL;
	*len = 0;

	if (req->content_length > cfg.body_max) {
		reply_error(req, 413, "Request body too large");
		return (-1);
	}

	if (!http_request_header(req, "content-type", &ctype)) {
		if (req->content_length > 0) {
			reply_error(req, 415,
			    "Content-Type must be application/json");
			return (-1);
		}
	} else if (!parse_is_json(ctype)) {
		reply_error(req, 415, "Content-Type must be application/json");
		return (-1);
	}

	if ((p = malloc(req->content_length + 1)) == NULL)
		abort();
	off = 0;
	for (;;) {
		n = http_body_read(req, p + off, req->content_length - off);
		if (n == -1) {
			free(p);
			reply_error(req, 400, "Could not read the body");
			return (-1);
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off == req->content_length)
			break;
	}
	p[off] = '\0';
	*buf = p;
	*len = off;
	return (0);
}

int
request_query(struct http_request *req, const char *key, char **out)
{
	return (parse_query(req->query_string, key, out));
}

long long
request_if_match(struct http_request *req, char *list, size_t len)
{
	const char	*v;

	list[0] = '\0';
	if (!http_request_header(req, "if-match", &v))
		return (PARSE_ANY_VERSION);
	return (parse_if_match(v, list, len));
}
