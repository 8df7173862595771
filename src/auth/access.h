/* userapi: who is calling: the bearer token of a request, and the 401 answers. */

#ifndef USERAPI_AUTH_ACCESS_H
#define USERAPI_AUTH_ACCESS_H

struct http_request;

/*
 * Who asks: the subject and token version of a checked bearer token, as
 * the store binds them into the request's own query (which checks that
 * the user is still active and the token still current).
 */
struct caller {
	char		id[40];
	char		tv[24];
};

/*
 * Check the request's bearer token (signature, alg, issuer, expiry) and
 * fill c with its subject and token version; whether the user is still
 * active and the token still current is checked by the request's own
 * query. Returns 0, or -1 after answering 401 itself.
 */
int	access_caller(struct http_request *, struct caller *c);

/* 401 {"detail": detail} with WWW-Authenticate: Bearer. */
void	access_deny(struct http_request *, const char *detail);

#endif
