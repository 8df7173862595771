/* userapi: access tokens: HS256 JWTs (libjwt) and the Bearer header. */

#ifndef USERAPI_AUTH_TOKEN_H
#define USERAPI_AUTH_TOKEN_H

#include <stddef.h>
#include <time.h>

#define TOKEN_SECRET_MIN	32	/* bytes */
#define TOKEN_SKEW		60	/* seconds of clock skew allowed on iat */

struct token_claims {
	char		sub[37];	/* the user's id */
	char		email[256];
	long long	tv;		/* the user's token_version */
	long		iat;
	long		exp;
};

/* The key and issuer for the process; the key is copied. */
void	token_setup(const unsigned char *key, size_t len, const char *issuer);

/*
 * Sign a token for the user, valid ttl seconds from now. Returns a
 * malloc'd string, or NULL when libjwt failed.
 */
char	*token_issue(const char *sub, const char *email, long long tv,
	    time_t now, long ttl);

/*
 * Check a token: HS256 only (the header's alg must say so, whatever the
 * signature), our key, our issuer, not expired, iat not in the future, a
 * UUID sub and an integer tv. Returns 0 and fills *c, or -1 with a short
 * reason for the log in *why.
 */
int	token_check(const char *token, time_t now, struct token_claims *c,
	    const char **why);

/*
 * The token of an Authorization header: scheme Bearer (any case), one
 * space or more, then the token. Returns 1 and sets *token, or 0.
 */
int	token_bearer(const char *header, const char **token);

#endif
