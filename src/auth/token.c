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
#define TOKEN_CACHE	256	/* verified tokens remembered per process */

/*
 * Clients send the same token with many requests, and decoding one with
 * libjwt (base64, JSON, HMAC) costs more than the rest of a GET. A
 * token whose signature and claims were verified once is remembered,
 * keyed by its full text; only the time checks are made again. Whether
 * its user is still active and its token version current is checked by
 * every request's query, so remembering cannot outlive a revocation.
 */
struct token_seen {
	char			*token;
	struct token_claims	 claims;
};

static unsigned char	*token_key;
static size_t		 token_keylen;
static char		*token_issuer;
static struct token_seen token_cache[TOKEN_CACHE];

static u_int64_t	token_hash(const char *);
static void		token_forget(void);
static int		token_times(const struct token_claims *, time_t,
			    const char **);

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
	token_forget();
}

static void
token_forget(void)
{
	size_t	i;

	for (i = 0; i < TOKEN_CACHE; i++) {
		free(token_cache[i].token);
		token_cache[i].token = NULL;
	}
}

/* FNV-1a: picks the cache slot; the full text is compared on a hit. */
static u_int64_t
token_hash(const char *s)
{
	u_int64_t	h;

	h = 14695981039346656037ULL;
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (h);
}

static int
token_times(const struct token_claims *c, time_t now, const char **why)
{
	if (c->exp <= (long)now) {
		*why = "expired";
		return (-1);
	}
	if (c->iat <= 0 || c->iat > (long)now + TOKEN_SKEW) {
		*why = "issued in the future";
		return (-1);
	}
	return (0);
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
	struct token_seen	*seen;
	jwt_t			*jwt;
	const char		*v;
	char			 uuid[UUID_STR_LEN + 1];
	long			 n;
	int			 rc;

	memset(c, 0, sizeof(*c));
	if (strlen(token) > TOKEN_MAX) {
		*why = "token too long";
		return (-1);
	}

	seen = &token_cache[token_hash(token) % TOKEN_CACHE];
	if (seen->token != NULL && !strcmp(seen->token, token)) {
		if (token_times(&seen->claims, now, why) == -1)
			return (-1);
		*c = seen->claims;
		return (0);
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

	free(seen->token);
	if ((seen->token = strdup(token)) == NULL)
		abort();
	seen->claims = *c;

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
