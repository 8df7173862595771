/* userapi: the one entry of every request: route table lookup, method, context, hooks, authentication. */

#ifndef USERAPI_HTTP_DISPATCH_H
#define USERAPI_HTTP_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

struct http_request;

/* Methods of a route: Kore's HTTP_METHOD_* bits (kore/http.h). */
#define R_GET		0x0001
#define R_POST		0x0002
#define R_PUT		0x0004
#define R_DELETE	0x0010
#define R_HEAD		0x0020
#define R_OPTIONS	0x0040
#define R_PATCH		0x0080

/*
 * Who may call: anyone; any valid bearer token; an admin's token. The
 * dispatcher checks the token (401 otherwise) and hands the caller to the
 * handler in reqctx; whether the caller is still active, still current
 * and (ADMIN) still an admin is checked by the route's own query, so a
 * demotion or a password change takes effect at once.
 */
enum route_auth {
	AUTH_NONE,
	AUTH_TOKEN,
	AUTH_ADMIN
};

/* Rate-limit classes, for the admit hook. */
enum route_rate {
	RATE_NONE,	/* never limited (probes) */
	RATE_READ,
	RATE_WRITE,
	RATE_LOGIN,	/* password checks: /token, password change */
	RATE_SIGNUP,
	RATE_NCLASSES
};

/* Route flags. */
#define ROUTE_LIVE	0x01	/* still answered while draining */
#define ROUTE_NO_HEAD	0x02	/* GET only: no HEAD (a WebSocket upgrade) */

/*
 * One row of the route table. path is exact ("/users/me"), or has
 * {name} segments matching one path segment ("/users/{id}", read with
 * reqctx_param), or ends in a star matching any rest ("/static/" then a star). The
 * first row whose path matches wins, as in Kore; rows with that same
 * path string share it, each with its own methods. A path matched with
 * a method no row allows gets 405 with Allow (parse_route_match). A row
 * with GET answers HEAD too: its handler runs as for GET, and the answer
 * goes without its body (ROUTE_NO_HEAD: not this row).
 */
struct route {
	const char	*path;
	unsigned int	 methods;
	int		(*handler)(struct http_request *);
	enum route_auth	 auth;
	enum route_rate	 rate;
	unsigned int	 flags;
	/*
	 * The query parameters the handler reads, separated by spaces, or
	 * NULL. Each may appear once: the dispatcher answers 422 at
	 * ["query", name] for every one that is repeated, before the
	 * handler runs.
	 */
	const char	*query;
};

/* Hooks for features that act on every request; NULL when unused. */
struct dispatch_hooks {
	/*
	 * Before authentication and the handler: 0 admits the request, -1
	 * refuses it with 429 and Retry-After: *retry_after seconds.
	 */
	int	(*admit)(struct http_request *, const struct route *,
		    int *retry_after);
	/*
	 * Once per answer, as it is handed to Kore: the route (NULL for an
	 * unknown path), the status and the microseconds since the request
	 * entered.
	 */
	void	(*sent)(const struct route *, int status, uint64_t usec);
};

extern struct dispatch_hooks	dispatch_hooks;

/*
 * Set: new requests get 503 with Retry-After and Connection: close,
 * except on ROUTE_LIVE routes; requests already in their handler finish.
 */
extern int			dispatch_draining;

/*
 * Kore calls this (through the entry point of the table) for every call
 * of a request: the first call finds the route, answers 404 or 405
 * itself, opens the context (request id, timing), applies drain and
 * admit, authenticates, then runs the handler; later calls (after a
 * wake-up) go straight back to the handler, or back to sleep while the
 * request still waits.
 */
int	dispatch(struct http_request *, const struct route *, size_t n);

/* "GET, HEAD, POST" for a methods mask, into buf. */
const char *dispatch_allow(unsigned int methods, char *buf, size_t len);

#endif
