/* userapi: access tokens: HS256 JWTs (libjwt) and the Bearer header. */

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jwt.h>

#include "auth/token.h"
#include "model/user.h"

#define TOKEN_MAX	4096	/* bytes: longer is not one of ours */

static unsigned char	*token_key;
static size_t		 token_keylen;
static char		*token_issuer;

void
token_setup(const unsigned char *key, size_t len, const char *issuer)
{
	free(token_key);
	free(token_issuer);
	if ((token_key = malloc(len)) == NULL ||
	    (token_issuer = strdup(issuer)) == NULL)
		abort();
	memcpy(token_key, key, len);
	token_keylen = len;
}

char *
token_issue(const char *sub, const char *email, long long tv, time_t now,
    long ttl)
{
	jwt_t	*jwt;
	char	*out;

	out = NULL;
	if (jwt_new(&jwt) != 0)
		return (NULL);
	if (jwt_add_grant(jwt, "sub", sub) == 0 &&
	    jwt_add_grant(jwt, "email", email) == 0 &&
	    jwt_add_grant(jwt, "iss", token_issuer) == 0 &&
	    jwt_add_grant_int(jwt, "iat", (long)now) == 0 &&
	    jwt_add_grant_int(jwt, "exp", (long)now + ttl) == 0 &&
	    jwt_add_grant_int(jwt, "tv", (long)tv) == 0 &&
	    jwt_set_alg(jwt, JWT_ALG_HS256, token_key, (int)token_keylen) == 0)
		out = jwt_encode_str(jwt);
	jwt_free(jwt);
	return (out);
}

int
token_check(const char *token, time_t now, struct token_claims *c,
    const char **why)
{
	jwt_t		*jwt;
	const char	*v;
	char		 uuid[UUID_STR_LEN + 1];
	long		 n;
	int		 rc;

	memset(c, 0, sizeof(*c));
	if (strlen(token) > TOKEN_MAX) {
		*why = "token too long";
		return (-1);
	}
	if (jwt_decode(&jwt, token, token_key, (int)token_keylen) != 0) {
		*why = "bad token or signature";
		return (-1);
	}

	rc = -1;
	/* libjwt verifies with the header's alg: insist on ours. */
	if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
		*why = "algorithm is not HS256";
		goto out;
	}
	if ((v = jwt_get_grant(jwt, "iss")) == NULL ||
	    strcmp(v, token_issuer)) {
		*why = "wrong issuer";
		goto out;
	}
	if ((v = jwt_get_grant(jwt, "sub")) == NULL ||
	    model_uuid_parse(v, uuid) == -1) {
		*why = "bad subject";
		goto out;
	}
	memcpy(c->sub, uuid, sizeof(c->sub));
	if ((v = jwt_get_grant(jwt, "email")) != NULL)
		(void)snprintf(c->email, sizeof(c->email), "%s", v);

	errno = 0;
	c->exp = jwt_get_grant_int(jwt, "exp");
	if (errno != 0 || c->exp <= (long)now) {
		*why = "expired";
		goto out;
	}
	/*
	 * libjwt 1.10 sets errno only for a missing grant and reads one
	 * of another type as 0: no token of ours was issued at or before 0.
	 */
	errno = 0;
	c->iat = jwt_get_grant_int(jwt, "iat");
	if (errno != 0 || c->iat <= 0 || c->iat > (long)now + TOKEN_SKEW) {
		*why = "issued in the future";
		goto out;
	}
	errno = 0;
	n = jwt_get_grant_int(jwt, "tv");
	if (errno != 0 || n < 1) {
		*why = "no token version";
		goto out;
	}
	c->tv = n;
	rc = 0;

out:
	jwt_free(jwt);
	return (rc);
}

int
token_bearer(const char *header, const char **token)
{
	if (strncasecmp(header, "bearer", 6) ||
	    (header[6] != ' ' && header[6] != '\t'))
		return (0);
	header += 6;
	while (*header == ' ' || *header == '\t')
		header++;
	if (*header == '\0')
		return (0);
	*token = header;
	return (1);
}
