/* userapi: client addresses: IPv4/IPv6 parsing, CIDR lists, X-Forwarded-For from trusted proxies. */

#ifndef USERAPI_OPS_NETADDR_H
#define USERAPI_OPS_NETADDR_H

#include <stddef.h>
#include <stdint.h>

/* An address in IPv6 form; IPv4 is mapped (::ffff:a.b.c.d). */
struct netaddr {
	uint8_t		a[16];
};

/* A prefix over the 128-bit form (an IPv4 /24 is bits 96 + 24). */
struct cidr {
	uint8_t		a[16];
	unsigned int	bits;
};

struct cidr_list {
	struct cidr	*v;
	size_t		 n;
};

/*
 * One address: "192.0.2.1", "2001:db8::1", "[2001:db8::1]", optionally
 * with a port after an IPv4 address or a bracketed IPv6 one
 * ("192.0.2.1:443", "[::1]:80"); len bytes of s, spaces around allowed.
 * Returns 0, or -1 when it is not an address.
 */
int	netaddr_parse(const char *s, size_t len, struct netaddr *out);

/* The text of an address (IPv4 mapped ones as IPv4) into buf. */
const char *netaddr_str(const struct netaddr *, char *buf, size_t len);

/*
 * A list of CIDRs separated by commas and/or spaces ("10.0.0.0/8,
 * ::1/128"); an address without a prefix is a single host. An empty
 * string is an empty list. Returns 0 (l->v malloc'd), or -1 with the
 * offending item in err.
 */
int	cidr_list_parse(const char *s, struct cidr_list *l, char *err,
	    size_t errlen);
void	cidr_list_free(struct cidr_list *);

/* 1 when a is inside one of the list's prefixes, else 0. */
int	cidr_list_match(const struct cidr_list *, const struct netaddr *a);

/*
 * The client of a request that came from peer with the X-Forwarded-For
 * values xff[0..n-1] (each a comma-separated list, in header order).
 * Only a peer in trusted is believed: then the hops are read from the
 * right, skipping trusted proxies, and the first untrusted one is the
 * client. A hop that is not an address stops the walk: the client is
 * the trusted hop that handed it over. When every hop is trusted, the
 * left-most one is the client. Anything else: the peer itself.
 */
void	netaddr_client(const struct netaddr *peer, const char *const *xff,
	    size_t n, const struct cidr_list *trusted, struct netaddr *out);

#endif
