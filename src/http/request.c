/* userapi: reading requests: JSON bodies within limits, query strings, paths, If-Match. */

#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "config.h"
#include "http/reply.h"
#include "http/request.h"
#include "store/store.h"

static int	request_is_json(const char *);
static char	*request_decode(const char *, size_t);

/* application/json or application/<x>+json, parameters allowed. */
static int
request_is_json(const char *ctype)
{
	size_t	len;

	len = strcspn(ctype, ";");
	while (len > 0 && isspace((unsigned char)ctype[len - 1]))
		len--;
	if (len == strlen("application/json") &&
	    !strncasecmp(ctype, "application/json", len))
		return (1);
	if (len > strlen("application/+json") &&
	    !strncasecmp(ctype, "application/", strlen("application/")) &&
	    !strncasecmp(ctype + len - 5, "+json", 5))
		return (1);
	return (0);
}

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
	} else if (!request_is_json(ctype)) {
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
	return (query_lookup(req->query_string, key, out));
}

int
query_lookup(const char *qs, const char *key, char **out)
{
	const char	*p, *eq, *end;
	size_t		 klen;
	char		*k;

	*out = NULL;
	if (qs == NULL)
		return (0);

	klen = strlen(key);
	for (p = qs; *p != '\0'; p = (*end == '&') ? end + 1 : end) {
		end = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(end - p));
		k = request_decode(p, (size_t)((eq != NULL ? eq : end) - p));
		if (strlen(k) == klen && !strcmp(k, key)) {
			free(k);
			*out = eq != NULL ?
			    request_decode(eq + 1, (size_t)(end - eq - 1)) :
			    request_decode("", 0);
			return (1);
		}
		free(k);
	}
	return (0);
}

/* Percent-decode (and '+' to space); bad escapes and %00 stay as they are. */
static char *
request_decode(const char *s, size_t len)
{
	char	*out, hex[3];
	size_t	 i, o;

	if ((out = malloc(len + 1)) == NULL)
		abort();
	for (i = 0, o = 0; i < len; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < len &&
		    isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2]) &&
		    !(s[i + 1] == '0' && s[i + 2] == '0')) {
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			hex[2] = '\0';
			out[o++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return (out);
}

int
request_path_tail(const char *path, const char *prefix, char *out,
    size_t len)
{
	size_t	plen, n;

	plen = strlen(prefix);
	if (strncmp(path, prefix, plen))
		return (-1);
	n = strcspn(path + plen, "/");
	if (n >= len)
		n = len - 1;
	memcpy(out, path + plen, n);
	out[n] = '\0';
	return (0);
}

long long
request_if_match(struct http_request *req)
{
	const char	*v;

	if (!http_request_header(req, "if-match", &v))
		return (STORE_ANY_VERSION);
	return (etag_parse_if_match(v));
}

/*
 * ETags are "<version>" (strong). If-Match: * matches any; a list is
 * accepted, its first strong tag of our form is used; weak tags never
 * match (RFC 9110 13.1.1 uses the strong comparison).
 */
long long
etag_parse_if_match(const char *v)
{
	const char	*p, *end;
	char		*ep;
	long long	 ver;

	while (*v == ' ' || *v == '\t')
		v++;
	if (v[0] == '*' && (v[1] == '\0' || v[1] == ' '))
		return (STORE_ANY_VERSION);

	for (p = v; *p != '\0'; p = (*end == ',') ? end + 1 : end) {
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, ",");
		if (p[0] != '"' || end - p < 3)
			continue;
		if (!isdigit((unsigned char)p[1]))
			continue;
		ver = strtoll(p + 1, &ep, 10);
		if (*ep == '"' && ver > 0)
			return (ver);
	}
	return (-2);
}
