/* userapi: client addresses: IPv4/IPv6 parsing, CIDR lists, X-Forwarded-For from trusted proxies. */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/netaddr.h"

static const uint8_t	v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			    0xff, 0xff };

static int	netaddr_item(const char *, size_t, struct cidr *);
static int	netaddr_in_prefix(const struct netaddr *, const struct cidr *);

int
netaddr_parse(const char *s, size_t len, struct netaddr *out)
{
	struct in_addr	 v4;
	char		 buf[64];
	const char	*end, *colon;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return (-1);

	if (s[0] == '[') {
		/* [v6] or [v6]:port */
		if ((end = memchr(s, ']', len)) == NULL)
			return (-1);
		if ((size_t)(end - s) + 1 != len && end[1] != ':')
			return (-1);
		memcpy(buf, s + 1, (size_t)(end - s) - 1);
		buf[end - s - 1] = '\0';
		return (inet_pton(AF_INET6, buf, out->a) == 1 ? 0 : -1);
	}

	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, out->a) == 1)
		return (0);

	/* a.b.c.d or a.b.c.d:port */
	if ((colon = strchr(buf, ':')) != NULL) {
		if (colon[1] == '\0' ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1))
			return (-1);
		buf[colon - buf] = '\0';
	}
	if (inet_pton(AF_INET, buf, &v4) != 1)
		return (-1);
	memcpy(out->a, v4mapped, sizeof(v4mapped));
	memcpy(out->a + 12, &v4, 4);
	return (0);
}

const char *
netaddr_str(const struct netaddr *n, char *buf, size_t len)
{
	if (!memcmp(n->a, v4mapped, sizeof(v4mapped))) {
		if (inet_ntop(AF_INET, n->a + 12, buf, (socklen_t)len) != NULL)
			return (buf);
	} else if (inet_ntop(AF_INET6, n->a, buf, (socklen_t)len) != NULL) {
		return (buf);
	}
	(void)snprintf(buf, len, "?");
	return (buf);
}

/* One "addr" or "addr/bits" item; 0 or -1. */
static int
netaddr_item(const char *s, size_t len, struct cidr *c)
{
	struct netaddr	 a;
	struct in_addr	 v4a;
	const char	*slash;
	char		 num[4], buf[64], *ep;
	size_t		 i, nlen;
	long		 bits;
	int		 v4, max;

	nlen = 0;
	if ((slash = memchr(s, '/', len)) != NULL) {
		nlen = len - (size_t)(slash - s) - 1;
		len = (size_t)(slash - s);
		if (nlen == 0 || nlen >= sizeof(num))
			return (-1);
		memcpy(num, slash + 1, nlen);
		num[nlen] = '\0';
		if (strspn(num, "0123456789") != nlen)
			return (-1);
	}
	/* An address alone: no brackets, no port. */
	if (len == 0 || len >= sizeof(buf))
		return (-1);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &v4a) == 1) {
		v4 = 1;
		memcpy(a.a, v4mapped, sizeof(v4mapped));
		memcpy(a.a + 12, &v4a, 4);
	} else if (inet_pton(AF_INET6, buf, a.a) == 1) {
		v4 = 0;
	} else {
		return (-1);
	}
	max = v4 ? 32 : 128;
	bits = max;
	if (slash != NULL) {
		bits = strtol(num, &ep, 10);
		if (*ep != '\0' || bits < 0 || bits > max)
			return (-1);
	}
	c->bits = (unsigned int)(v4 ? bits + 96 : bits);
	/* Keep only the prefix's bits, so matching can compare bytes. */
	for (i = 0; i < 16; i++) {
		if (i * 8 >= c->bits)
			c->a[i] = 0;
		else if ((i + 1) * 8 <= c->bits)
			c->a[i] = a.a[i];
		else
			c->a[i] = a.a[i] &
			    (uint8_t)(0xff << (8 - (c->bits - i * 8)));
	}
	return (0);
}

int
cidr_list_parse(const char *s, struct cidr_list *l, char *err, size_t errlen)
{
	const char	*p, *e;
	size_t		 n, cap;

	l->v = NULL;
	l->n = 0;
	cap = 0;
	for (p = s; *p != '\0'; p = e) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != ',' && *e != ' ' &&
		    *e != '\t'; e++)
			;
		n = (size_t)(e - p);
		if (l->n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((l->v = reallocarray(l->v, cap,
			    sizeof(*l->v))) == NULL)
				abort();
		}
		if (netaddr_item(p, n, &l->v[l->n]) == -1) {
			(void)snprintf(err, errlen, "%.*s", (int)(n > 64 ?
			    64 : n), p);
			cidr_list_free(l);
			return (-1);
		}
		l->n++;
	}
	return (0);
}

void
cidr_list_free(struct cidr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
netaddr_in_prefix(const struct netaddr *a, const struct cidr *c)
{
	unsigned int	full, rest;

	full = c->bits / 8;
	rest = c->bits % 8;
	if (memcmp(a->a, c->a, full))
		return (0);
	if (rest == 0)
		return (1);
	return ((a->a[full] & (uint8_t)(0xff << (8 - rest))) == c->a[full]);
}

int
cidr_list_match(const struct cidr_list *l, const struct netaddr *a)
{
	size_t	i;

	for (i = 0; i < l->n; i++) {
		if (netaddr_in_prefix(a, &l->v[i]))
			return (1);
	}
	return (0);
}

void
netaddr_client(const struct netaddr *peer, const char *const *xff, size_t n,
    const struct cidr_list *trusted, struct netaddr *out)
{
	struct netaddr	 hop;
	const char	*v, *end, *p;
	size_t		 i;

	*out = *peer;
	if (!cidr_list_match(trusted, peer))
		return;

	/* From the last header's last hop back to the first's first. */
	for (i = n; i > 0; i--) {
		v = xff[i - 1];
		end = v + strlen(v);
		while (end > v) {
			for (p = end; p > v && p[-1] != ','; p--)
				;
			if (strspn(p, " \t") < (size_t)(end - p)) {
				if (netaddr_parse(p, (size_t)(end - p),
				    &hop) == -1)
					return;
				*out = hop;
				if (!cidr_list_match(trusted, &hop))
					return;
			}
			end = p > v ? p - 1 : v;
		}
	}
}
