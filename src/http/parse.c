/* userapi: pure parsing of request parts: media types, query strings, route paths, If-Match. */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/parse.h"

static char	*parse_decode(const char *, size_t);
static size_t	parse_query_scan(const char *, const char *, char **);
static size_t	parse_utf8_seq(const unsigned char *);

/* application/json or application/<x>+json, parameters allowed. */
int
parse_is_json(const char *ctype)
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
parse_query(const char *qs, const char *key, char **out)
{
	*out = NULL;
	return (parse_query_scan(qs, key, out) > 0);
}

size_t
parse_query_count(const char *qs, const char *key)
{
	return (parse_query_scan(qs, key, NULL));
}

/*
 * How many times key appears in qs, its names percent-decoded. With
 * first, stop at the first and give its value there (decoded, malloc'd).
 */
static size_t
parse_query_scan(const char *qs, const char *key, char **first)
{
	const char	*p, *eq, *end;
	size_t		 klen, n;
	char		*k;

	if (qs == NULL)
		return (0);

	n = 0;
	klen = strlen(key);
	for (p = qs; *p != '\0'; p = (*end == '&') ? end + 1 : end) {
		end = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(end - p));
		k = parse_decode(p, (size_t)((eq != NULL ? eq : end) - p));
		if (strlen(k) == klen && !strcmp(k, key)) {
			n++;
			if (first != NULL) {
				*first = eq != NULL ?
				    parse_decode(eq + 1,
				    (size_t)(end - eq - 1)) :
				    parse_decode("", 0);
				free(k);
				break;
			}
		}
		free(k);
	}
	return (n);
}

/* Percent-decode (and '+' to space); bad escapes and %00 stay as they are. */
static char *
parse_decode(const char *s, size_t len)
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
	return (parse_utf8(out));
}

/*
 * The length of the valid UTF-8 sequence at p (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0.
 */
static size_t
parse_utf8_seq(const unsigned char *p)
{
	unsigned char	lo, hi;
	size_t		n, i;

	if (p[0] < 0x80)
		return (1);
	lo = 0x80;
	hi = 0xbf;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else {
		return (0);
	}
	if (p[1] < lo || p[1] > hi)
		return (0);
	for (i = 2; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return (0);
	}
	return (n);
}

/*
 * Valid UTF-8 from in (freed): each byte that starts no valid sequence
 * becomes U+FFFD, as a browser or Python's errors="replace" would do.
 */
char *
parse_utf8(char *in)
{
	const unsigned char	*p;
	char			*out;
	size_t			 n, o;

	for (p = (const unsigned char *)in; *p != '\0'; p += n) {
		if ((n = parse_utf8_seq(p)) == 0)
			break;
	}
	if (*p == '\0')
		return (in);

	if ((out = malloc(strlen(in) * 3 + 1)) == NULL)
		abort();
	for (p = (const unsigned char *)in, o = 0; *p != '\0'; p += n) {
		if ((n = parse_utf8_seq(p)) == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			n = 1;
		} else {
			memcpy(out + o, p, n);
			o += n;
		}
	}
	out[o] = '\0';
	free(in);
	return (out);
}

int
parse_route_match(const char *pattern, const char *path, const char **param,
    size_t *len, size_t nparam)
{
	const char	*p, *s;
	size_t		 k, n;

	for (k = 0; k < nparam; k++) {
		param[k] = NULL;
		len[k] = 0;
	}
	p = pattern;
	s = path;
	k = 0;
	while (*p != '\0') {
		if (p[0] == '*' && p[1] == '\0')
			return (1);
		if (*p == '{') {
			while (*p != '\0' && *p != '}')
				p++;
			if (*p == '}')
				p++;
			n = strcspn(s, "/");
			if (k < nparam) {
				param[k] = s;
				len[k] = n;
			}
			k++;
			s += n;
			continue;
		}
		if (*p != *s)
			return (0);
		p++;
		s++;
	}
	return (*s == '\0');
}

/*
 * ETags are "<version>" (strong, no leading zeros). If-Match: * matches
 * any; a list is accepted, its first strong tag of our form is used; weak
 * tags never match (RFC 9110 13.1.1 uses the strong comparison).
 */
long long
parse_if_match(const char *v, char *list, size_t len)
{
	const char	*p, *end;
	char		*ep, num[24];
	long long	 ver, first;
	size_t		 off;

	if (len < 3)
		return (PARSE_NO_MATCH);
	list[0] = '\0';
	while (*v == ' ' || *v == '\t')
		v++;
	if (v[0] == '*' && v[1 + strspn(v + 1, " \t")] == '\0')
		return (PARSE_ANY_VERSION);

	/* Every strong tag of our form, as a PostgreSQL array literal. */
	first = PARSE_NO_MATCH;
	list[0] = '{';
	off = 1;
	for (p = v; *p != '\0'; p = (*end == ',') ? end + 1 : end) {
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, ",");
		if (p[0] != '"' || p[1] < '1' || p[1] > '9')
			continue;
		errno = 0;
		ver = strtoll(p + 1, &ep, 10);
		if (errno != 0 || *ep != '"')
			continue;
		ep++;
		if (ep + strspn(ep, " \t") != end)
			continue;
		(void)snprintf(num, sizeof(num), "%s%lld",
		    first == PARSE_NO_MATCH ? "" : ",", ver);
		if (off + strlen(num) + 2 > len)
			break;
		memcpy(list + off, num, strlen(num));
		off += strlen(num);
		if (first == PARSE_NO_MATCH)
			first = ver;
	}
	list[off++] = '}';
	list[off] = '\0';
	if (first == PARSE_NO_MATCH)
		list[0] = '\0';
	return (first);
}
