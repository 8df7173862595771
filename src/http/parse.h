/* userapi: pure parsing of request parts: media types, query strings, route paths, If-Match. */

#ifndef USERAPI_HTTP_PARSE_H
#define USERAPI_HTTP_PARSE_H

#include <stddef.h>

/* If-Match absent or "*": any version. Never matches: PARSE_NO_MATCH. */
#define PARSE_ANY_VERSION	(-1LL)
#define PARSE_NO_MATCH		(-2LL)

/* 1 for application/json or application/<x>+json (parameters allowed). */
int		parse_is_json(const char *ctype);

/*
 * The first value of key in the raw query string qs (may be NULL),
 * percent-decoded ('+' is a space; bad escapes and %00 stay as they are)
 * into a malloc'd *out, made valid UTF-8 (parse_utf8). 1 when present,
 * 0 when not.
 */
int		parse_query(const char *qs, const char *key, char **out);

/*
 * How many times key appears in qs (may be NULL), names compared once
 * percent-decoded ("lim%69t" is "limit").
 */
size_t		parse_query_count(const char *qs, const char *key);

/* in (malloc'd, freed) as valid UTF-8: bad bytes become U+FFFD. */
char		*parse_utf8(char *in);

/*
 * 1 when path matches a route pattern: exact characters, {name} for one
 * segment (any bytes but '/', possibly none), a final '*' for any rest.
 * The {name} segments' starts and lengths go to param/len (nparam at
 * most; the others are NULL/0).
 */
int		parse_route_match(const char *pattern, const char *path,
		    const char **param, size_t *len, size_t nparam);

/*
 * An If-Match value: PARSE_ANY_VERSION ("*"), PARSE_NO_MATCH (no strong
 * tag of ours), or the first listed version, with every listed version in
 * list as a PostgreSQL array literal ("{3,5}"); RFC 9110 13.1.1: the
 * condition holds when any of them is current.
 */
#define PARSE_IF_MATCH_MAX	512
long long	parse_if_match(const char *v, char *list, size_t len);

#endif
