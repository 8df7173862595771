/* userapi: unit tests of auth/token.c (JWTs, Bearer) and auth/password.c. */

#include <sys/types.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <kore/kore.h>

#include "auth/password.h"
#include "auth/token.h"
#include "config.h"

#define NOW		1700000000L
#define TTL		900L
#define ISSUER		"userapi-test"
#define SUB		"3f2b6c1e-8a4d-4e7b-9c0a-1d2e3f405162"
#define EMAIL		"ada@example.com"
#define TOKEN_LIMIT	4096	/* token.c refuses longer tokens */
#define PHC_SMALL	"$argon2id$v=19$m=64,t=1,p=1$"

/* Raw JSON of each claim of a hand-made token; NULL: left out. */
struct claims_in {
	const char	*sub;
	const char	*email;
	const char	*iss;
	const char	*iat;
	const char	*exp;
	const char	*tv;
};

struct bearer_case {
	const char	*header;
	const char	*want;		/* NULL: refused */
};

/* password_run reads the ARGON2_* settings from cfg (set in setup). */
struct config	cfg;

static const unsigned char	key[TOKEN_SECRET_MIN] =
    "k3y-for-the-unit-tests-012345678";
static const unsigned char	other_key[TOKEN_SECRET_MIN] =
    "another-key-of-thirty-two-bytes!";

static char	*b64url(const void *, size_t);
static char	*mint(const char *, const char *, const unsigned char *,
		    size_t);
static char	*payload(const struct claims_in *);
static void	 good_claims(struct claims_in *);
static char	*hs256(const struct claims_in *);
static char	*libjwt_token(jwt_alg_t, const unsigned char *, size_t);
static void	 accepted(const char *, time_t, struct token_claims *);
static void	 refused(const char *, time_t, const char *);
static void	 refused_claims(const struct claims_in *, const char *);
static int	 setup(void **);

void
fatal(const char *fmt, ...)
{
	fprintf(stderr, "fatal called in a unit test: %s\n", fmt);
	abort();
}

/* base64url without padding; malloc'd. */
static char *
b64url(const void *in, size_t len)
{
	char	*out;
	size_t	 i, n;

	if ((out = malloc(4 * ((len + 2) / 3) + 1)) == NULL)
		abort();
	n = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return (out);
}

/* header.payload.signature, HMAC-SHA256 with k; k NULL: empty signature. */
static char *
mint(const char *header, const char *body, const unsigned char *k,
    size_t klen)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen;
	char		*h, *p, *s, *input, *out;

	h = b64url(header, strlen(header));
	p = b64url(body, strlen(body));
	if (asprintf(&input, "%s.%s", h, p) == -1)
		abort();
	if (k != NULL) {
		if (HMAC(EVP_sha256(), k, (int)klen,
		    (const unsigned char *)input, strlen(input), mac,
		    &maclen) == NULL)
			abort();
		s = b64url(mac, maclen);
	} else if ((s = strdup("")) == NULL)
		abort();
	if (asprintf(&out, "%s.%s", input, s) == -1)
		abort();
	free(h);
	free(p);
	free(s);
	free(input);
	return (out);
}

/* The JSON object of the claims given; malloc'd. */
static char *
payload(const struct claims_in *in)
{
	const char	*names[] = {
	    "sub", "email", "iss", "iat", "exp", "tv"
	};
	const char	*vals[6];
	char		*out;
	size_t		 i, off;
	int		 n;

	vals[0] = in->sub;
	vals[1] = in->email;
	vals[2] = in->iss;
	vals[3] = in->iat;
	vals[4] = in->exp;
	vals[5] = in->tv;
	if ((out = malloc(1024)) == NULL)
		abort();
	off = 0;
	out[off++] = '{';
	for (i = 0; i < 6; i++) {
		if (vals[i] == NULL)
			continue;
		n = snprintf(out + off, 1024 - off, "%s\"%s\":%s",
		    off > 1 ? "," : "", names[i], vals[i]);
		if (n < 0 || (size_t)n >= 1024 - off - 1)
			abort();
		off += (size_t)n;
	}
	out[off++] = '}';
	out[off] = '\0';
	return (out);
}

/* Claims token_check accepts at NOW. */
static void
good_claims(struct claims_in *in)
{
	in->sub = "\"" SUB "\"";
	in->email = "\"" EMAIL "\"";
	in->iss = "\"" ISSUER "\"";
	in->iat = "1700000000";
	in->exp = "1700000900";
	in->tv = "3";
}

/* A hand-made HS256 token of those claims, signed with our key. */
static char *
hs256(const struct claims_in *in)
{
	char	*body, *out;

	body = payload(in);
	out = mint("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", body, key,
	    sizeof(key));
	free(body);
	return (out);
}

/* Good claims at NOW signed by libjwt with alg and k. */
static char *
libjwt_token(jwt_alg_t alg, const unsigned char *k, size_t klen)
{
	jwt_t	*jwt;
	char	*out;

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_add_grant(jwt, "sub", SUB), 0);
	assert_int_equal(jwt_add_grant(jwt, "email", EMAIL), 0);
	assert_int_equal(jwt_add_grant(jwt, "iss", ISSUER), 0);
	assert_int_equal(jwt_add_grant_int(jwt, "iat", NOW), 0);
	assert_int_equal(jwt_add_grant_int(jwt, "exp", NOW + TTL), 0);
	assert_int_equal(jwt_add_grant_int(jwt, "tv", 3), 0);
	assert_int_equal(jwt_set_alg(jwt, alg, k, (int)klen), 0);
	out = jwt_encode_str(jwt);
	assert_non_null(out);
	jwt_free(jwt);
	return (out);
}

static void
accepted(const char *token, time_t now, struct token_claims *c)
{
	const char	*why;

	why = NULL;
	if (token_check(token, now, c, &why) != 0)
		fail_msg("'%s' refused (%s), want accepted", token,
		    why != NULL ? why : "no reason");
}

/* token_check refuses token at now, saying want. */
static void
refused(const char *token, time_t now, const char *want)
{
	struct token_claims	 c;
	const char		*why;

	why = NULL;
	if (token_check(token, now, &c, &why) != -1)
		fail_msg("'%s' accepted, want refused: %s", token, want);
	if (why == NULL)
		fail_msg("'%s' refused with no reason", token);
	if (strcmp(why, want) != 0)
		fail_msg("'%s' refused: '%s', want '%s'", token, why, want);
}

static void
refused_claims(const struct claims_in *in, const char *want)
{
	char	*token;

	token = hs256(in);
	refused(token, NOW, want);
	free(token);
}

static int
setup(void **state)
{
	cfg.argon2_m_kib = 64;
	cfg.argon2_t = 1;
	cfg.argon2_p = 1;
	token_setup(key, sizeof(key), ISSUER);
	return (0);
}

/* --- token_issue, token_check: accepted ---------------------------------- */

/* A remembered token is forgotten with the key that verified it. */
static void
test_cache_key_change(void **state)
{
	struct token_claims	 c;
	char			*token;
	unsigned char		 other[32];

	token = token_issue(SUB, EMAIL, 3, NOW, TTL);
	assert_non_null(token);
	accepted(token, NOW, &c);
	accepted(token, NOW, &c);		/* from the cache */
	assert_int_equal(c.tv, 3);

	memset(other, 'x', sizeof(other));
	token_setup(other, sizeof(other), ISSUER);
	refused(token, NOW, "bad token or signature");
	token_setup(key, sizeof(key), ISSUER);
	accepted(token, NOW, &c);
	free(token);
}

static void
test_round_trip(void **state)
{
	struct token_claims	 c;
	jwt_t			*jwt;
	char			*token, *p;
	size_t			 dots;

	token = token_issue(SUB, EMAIL, 7, NOW, TTL);
	assert_non_null(token);
	for (dots = 0, p = token; *p != '\0'; p++)
		dots += *p == '.';
	assert_int_equal(dots, 2);

	accepted(token, NOW, &c);
	assert_string_equal(c.sub, SUB);
	assert_string_equal(c.email, EMAIL);
	assert_int_equal(c.tv, 7);
	assert_int_equal(c.iat, NOW);
	assert_int_equal(c.exp, NOW + TTL);

	/* Good until the second before exp, not at exp. */
	accepted(token, NOW + TTL - 1, &c);
	refused(token, NOW + TTL, "expired");
	refused(token, NOW + TTL + 1, "expired");
	/* iat up to TOKEN_SKEW seconds ahead of our clock. */
	accepted(token, NOW - TOKEN_SKEW, &c);
	refused(token, NOW - TOKEN_SKEW - 1, "issued in the future");

	/* What is on the wire, read by libjwt itself. */
	assert_int_equal(jwt_decode(&jwt, token, key, sizeof(key)), 0);
	assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
	assert_string_equal(jwt_get_header(jwt, "typ"), "JWT");
	assert_string_equal(jwt_get_grant(jwt, "iss"), ISSUER);
	assert_string_equal(jwt_get_grant(jwt, "sub"), SUB);
	assert_string_equal(jwt_get_grant(jwt, "email"), EMAIL);
	assert_int_equal(jwt_get_grant_int(jwt, "iat"), NOW);
	assert_int_equal(jwt_get_grant_int(jwt, "exp"), NOW + TTL);
	assert_int_equal(jwt_get_grant_int(jwt, "tv"), 7);
	jwt_free(jwt);
	free(token);

	/* Another lifetime, a large token version. */
	token = token_issue(SUB, EMAIL, 1LL << 40, NOW, 60);
	assert_non_null(token);
	accepted(token, NOW + 59, &c);
	assert_int_equal(c.tv, 1LL << 40);
	assert_int_equal(c.exp, NOW + 60);
	refused(token, NOW + 60, "expired");
	free(token);

	/* A lifetime of 0 is expired at once. */
	token = token_issue(SUB, EMAIL, 1, NOW, 0);
	assert_non_null(token);
	refused(token, NOW, "expired");
	free(token);
}

/* The hand-made tokens of the tests below are right but for one thing. */
static void
test_hand_made(void **state)
{
	struct claims_in	 in;
	struct token_claims	 c;
	char			*token;

	good_claims(&in);
	token = hs256(&in);
	accepted(token, NOW, &c);
	assert_string_equal(c.sub, SUB);
	assert_string_equal(c.email, EMAIL);
	assert_int_equal(c.tv, 3);
	assert_int_equal(c.iat, NOW);
	assert_int_equal(c.exp, NOW + TTL);
	free(token);

	/* email is optional, tv 1 is the smallest. */
	in.email = NULL;
	in.tv = "1";
	token = hs256(&in);
	accepted(token, NOW, &c);
	assert_string_equal(c.email, "");
	assert_int_equal(c.tv, 1);
	free(token);

	/* Our own HS256 through libjwt, as the HS384/HS512 tests make. */
	token = libjwt_token(JWT_ALG_HS256, key, sizeof(key));
	accepted(token, NOW, &c);
	free(token);
}

/* --- token_check: refused ------------------------------------------------- */

static void
test_expired(void **state)
{
	struct claims_in	in;

	good_claims(&in);
	in.exp = "1700000000";
	refused_claims(&in, "expired");
	in.exp = "1699999999";
	refused_claims(&in, "expired");
	in.exp = "0";
	refused_claims(&in, "expired");
	in.exp = "-1";
	refused_claims(&in, "expired");
	in.exp = NULL;
	refused_claims(&in, "expired");
	in.exp = "\"1700000900\"";
	refused_claims(&in, "expired");
	in.exp = "1700000900.5";
	refused_claims(&in, "expired");
	in.exp = "null";
	refused_claims(&in, "expired");
}

static void
test_iat_future(void **state)
{
	struct claims_in	 in;
	struct token_claims	 c;
	char			*token;

	good_claims(&in);
	in.iat = "1700000061";		/* NOW + TOKEN_SKEW + 1 */
	refused_claims(&in, "issued in the future");
	in.iat = "1700000500";
	refused_claims(&in, "issued in the future");
	in.iat = NULL;
	refused_claims(&in, "issued in the future");
	in.iat = "0";
	refused_claims(&in, "issued in the future");
	in.iat = "-1";
	refused_claims(&in, "issued in the future");
	/* Not an integer: not a time we can compare. */
	in.iat = "\"1700000000\"";
	refused_claims(&in, "issued in the future");
	in.iat = "\"1800000000\"";
	refused_claims(&in, "issued in the future");
	in.iat = "1700000000.0";
	refused_claims(&in, "issued in the future");
	in.iat = "1800000000.5";
	refused_claims(&in, "issued in the future");
	in.iat = "null";
	refused_claims(&in, "issued in the future");
	in.iat = "true";
	refused_claims(&in, "issued in the future");

	in.iat = "1700000060";		/* NOW + TOKEN_SKEW */
	token = hs256(&in);
	accepted(token, NOW, &c);
	assert_int_equal(c.iat, NOW + TOKEN_SKEW);
	free(token);
}

static void
test_issuer(void **state)
{
	struct claims_in	 in;
	char			*token;
	size_t			 i;
	static const char	*bad[] = {
		NULL, "\"\"", "\"other\"", "\"userapi-tes\"",
		"\"userapi-testx\"", "\"USERAPI-TEST\"", "\" userapi-test\"",
		"1", "null", "[\"userapi-test\"]",
	};

	good_claims(&in);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in.iss = bad[i];
		refused_claims(&in, "wrong issuer");
	}

	/* Issued by a service with our key but another name. */
	token_setup(key, sizeof(key), "other-service");
	token = token_issue(SUB, EMAIL, 3, NOW, TTL);
	assert_non_null(token);
	token_setup(key, sizeof(key), ISSUER);
	refused(token, NOW, "wrong issuer");
	free(token);
}

static void
test_bad_signature(void **state)
{
	struct claims_in	 in;
	char			*token, *body;

	/* Another key, through token_issue. */
	token_setup(other_key, sizeof(other_key), ISSUER);
	token = token_issue(SUB, EMAIL, 3, NOW, TTL);
	assert_non_null(token);
	token_setup(key, sizeof(key), ISSUER);
	refused(token, NOW, "bad token or signature");
	free(token);

	/* A key one byte shorter, a prefix of ours. */
	good_claims(&in);
	body = payload(&in);
	token = mint("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", body, key,
	    sizeof(key) - 1);
	refused(token, NOW, "bad token or signature");
	free(token);
	free(body);
}

static void
test_modified_payload(void **state)
{
	struct claims_in	 in;
	char			*token, *forged, *body, *b, *sig, *dot;

	token = token_issue(SUB, EMAIL, 3, NOW, TTL);
	assert_non_null(token);
	sig = strrchr(token, '.');
	assert_non_null(sig);

	/* Same claims but a greater token version, old signature. */
	good_claims(&in);
	in.tv = "4";
	body = payload(&in);
	b = b64url(body, strlen(body));
	dot = strchr(token, '.');
	assert_non_null(dot);
	if (asprintf(&forged, "%.*s.%s%s", (int)(dot - token), token, b,
	    sig) == -1)
		abort();
	refused(forged, NOW, "bad token or signature");
	free(forged);
	free(b);
	free(body);

	/* One character of the payload changed. */
	if ((forged = strdup(token)) == NULL)
		abort();
	dot = strchr(forged, '.');
	dot[5] = dot[5] == 'A' ? 'B' : 'A';
	refused(forged, NOW, "bad token or signature");
	free(forged);

	/* One character of the signature changed. */
	if ((forged = strdup(token)) == NULL)
		abort();
	dot = strrchr(forged, '.');
	dot[1] = dot[1] == 'A' ? 'B' : 'A';
	refused(forged, NOW, "bad token or signature");
	free(forged);

	free(token);
}

static void
test_malformed(void **state)
{
	char		*token, *cut;
	size_t		 len, i;
	static const char *bad[] = {
		"", "garbage", ".", "..", "...", "a.b.c", "a.b.",
		"Bearer abc", "e30.e30.", "e30.e30.e30", "%%%.%%%.%%%",
		"eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9.",
		"eyJhbGciOiJIUzI1NiJ9..",
	};

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i], NOW, "bad token or signature");

	token = token_issue(SUB, EMAIL, 3, NOW, TTL);
	assert_non_null(token);
	len = strlen(token);
	if ((cut = strdup(token)) == NULL)
		abort();

	/* Less of the signature, none, no signature part, no payload. */
	cut[len - 1] = '\0';
	refused(cut, NOW, "bad token or signature");
	cut[len - 10] = '\0';
	refused(cut, NOW, "bad token or signature");
	*(strrchr(cut, '.') + 1) = '\0';
	refused(cut, NOW, "bad token or signature");
	*strrchr(cut, '.') = '\0';
	refused(cut, NOW, "bad token or signature");
	*strrchr(cut, '.') = '\0';
	refused(cut, NOW, "bad token or signature");
	/* Cut inside the payload. */
	memcpy(cut, token, len + 1);
	cut[strchr(cut, '.') - cut + 10] = '\0';
	refused(cut, NOW, "bad token or signature");
	/* Something after the signature. */
	free(cut);
	if (asprintf(&cut, "%s.", token) == -1)
		abort();
	refused(cut, NOW, "bad token or signature");
	free(cut);

	free(token);
}

static void
test_alg_none(void **state)
{
	struct claims_in	 in;
	char			*body, *token;
	size_t			 i;
	static const char	*headers[] = {
		"{\"alg\":\"none\",\"typ\":\"JWT\"}",
		"{\"alg\":\"none\"}",
		"{\"alg\":\"None\",\"typ\":\"JWT\"}",
		"{\"alg\":\"NONE\",\"typ\":\"JWT\"}",
		"{\"typ\":\"JWT\"}",
		"{\"alg\":\"\",\"typ\":\"JWT\"}",
		"{\"alg\":null,\"typ\":\"JWT\"}",
	};

	good_claims(&in);
	body = payload(&in);
	for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		/* Empty signature, and a good HS256 one. */
		token = mint(headers[i], body, NULL, 0);
		assert_int_equal(token[strlen(token) - 1], '.');
		refused(token, NOW, "bad token or signature");
		free(token);
		token = mint(headers[i], body, key, sizeof(key));
		refused(token, NOW, "bad token or signature");
		free(token);
	}
	free(body);
}

/* Signed with our key by libjwt, but not HS256: the alg check only. */
static void
test_alg_hs384_hs512(void **state)
{
	char	*token;

	token = libjwt_token(JWT_ALG_HS512, key, sizeof(key));
	refused(token, NOW, "algorithm is not HS256");
	free(token);
	token = libjwt_token(JWT_ALG_HS384, key, sizeof(key));
	refused(token, NOW, "algorithm is not HS256");
	free(token);
}

/* A public-key alg in the header, an HMAC-SHA256 over our secret. */
static void
test_alg_confusion(void **state)
{
	struct claims_in	 in;
	char			*body, *token;
	size_t			 i;
	static const char	*headers[] = {
		"{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"RS384\",\"typ\":\"JWT\"}",
		"{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"PS256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS257\",\"typ\":\"JWT\"}",
	};

	good_claims(&in);
	body = payload(&in);
	for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		token = mint(headers[i], body, key, sizeof(key));
		refused(token, NOW, "bad token or signature");
		free(token);
	}
	free(body);
}

static void
test_subject(void **state)
{
	struct claims_in	in;
	size_t			i;
	static const char	*bad[] = {
		NULL, "\"\"", "\"me\"", "\"not-a-uuid\"",
		"\"3f2b6c1e-8a4d-4e7b-9c0a-1d2e3f40516\"",
		"\"3f2b6c1e-8a4d-4e7b-9c0a-1d2e3f4051620\"",
		"\"3f2b6c1e-8a4d-4e7b-9c0a-1d2e3f40516g\"",
		"\"3f2b6c1e+8a4d-4e7b-9c0a-1d2e3f405162\"",
		"\"{3f2b6c1e-8a4d-4e7b-9c0a-1d2e3f405162}\"",
		"\" 3f2b6c1e-8a4d-4e7b-9c0a-1d2e3f405162\"",
		"42", "null", "true", "[\"" SUB "\"]",
	};

	good_claims(&in);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in.sub = bad[i];
		refused_claims(&in, "bad subject");
	}
}

static void
test_token_version(void **state)
{
	struct claims_in	in;
	size_t			i;
	static const char	*bad[] = {
		NULL, "0", "-1", "-9223372036854775807", "\"3\"", "\"\"",
		"3.0", "3.5", "true", "null", "[3]", "{}",
	};

	good_claims(&in);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in.tv = bad[i];
		refused_claims(&in, "no token version");
	}
}

static void
test_too_long(void **state)
{
	struct token_claims	 c;
	char			*email, *token, *longest, *shortest;
	size_t			 n, len;

	/*
	 * Good tokens whose e-mail makes them longer and longer: the
	 * longest one of at most TOKEN_LIMIT bytes is accepted, every
	 * longer one is refused for its length alone.
	 */
	longest = shortest = NULL;
	if ((email = malloc(TOKEN_LIMIT)) == NULL)
		abort();
	for (n = 2700; n < 2950; n++) {
		memset(email, 'a', n);
		memcpy(email + n - 12, "@example.com", 13);
		token = token_issue(SUB, email, 3, NOW, TTL);
		assert_non_null(token);
		len = strlen(token);
		if (len <= TOKEN_LIMIT) {
			free(longest);
			longest = token;
		} else if (shortest == NULL)
			shortest = token;
		else {
			refused(token, NOW, "token too long");
			free(token);
		}
	}
	free(email);
	assert_non_null(longest);
	assert_non_null(shortest);
	/* These claims happen to make both sides of the limit. */
	assert_int_equal(strlen(longest), TOKEN_LIMIT);
	assert_int_equal(strlen(shortest), TOKEN_LIMIT + 1);

	accepted(longest, NOW, &c);
	assert_int_equal(strlen(c.email), sizeof(c.email) - 1);
	refused(shortest, NOW, "token too long");
	free(longest);
	free(shortest);

	/* Long and not even a token. */
	if ((token = malloc(3 * TOKEN_LIMIT)) == NULL)
		abort();
	memset(token, 'x', 3 * TOKEN_LIMIT - 1);
	token[3 * TOKEN_LIMIT - 1] = '\0';
	refused(token, NOW, "token too long");
	free(token);
}

/* --- token_bearer --------------------------------------------------------- */

static void
test_bearer(void **state)
{
	const char	*tok;
	size_t		 i;
	static const struct bearer_case cases[] = {
		{ "Bearer abc", "abc" },
		{ "bearer abc", "abc" },
		{ "BEARER   abc", "abc" },
		{ "Bearer\tabc", "abc" },
		{ "bEaReR \t abc", "abc" },
		{ "Bearer a.b.c", "a.b.c" },
		{ "Basic abc", NULL },
		{ "Bearerabc", NULL },
		{ "Bearer ", NULL },
		{ "Bearer   ", NULL },
		{ "Bearer \t", NULL },
		{ "Bearer", NULL },
		{ "", NULL },
		{ "Token abc", NULL },
		{ "Bear abc", NULL },
		{ "Bearerx abc", NULL },
		{ " Bearer abc", NULL },
		{ "Bearer:abc", NULL },
		{ "Bearer=abc", NULL },
	};

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tok = NULL;
		if (cases[i].want == NULL) {
			if (token_bearer(cases[i].header, &tok) != 0)
				fail_msg("'%s' accepted", cases[i].header);
			if (tok != NULL)
				fail_msg("'%s': token set", cases[i].header);
			continue;
		}
		if (token_bearer(cases[i].header, &tok) != 1)
			fail_msg("'%s' refused", cases[i].header);
		if (tok == NULL || strcmp(tok, cases[i].want) != 0)
			fail_msg("'%s': token '%s', want '%s'",
			    cases[i].header, tok != NULL ? tok : "(null)",
			    cases[i].want);
		/* The token is the tail of the header, not a copy. */
		assert_ptr_equal(tok, cases[i].header +
		    strlen(cases[i].header) - strlen(cases[i].want));
	}
}

/* --- password_hash, password_verify --------------------------------------- */

static void
test_password_hash(void **state)
{
	char	h1[PASSWORD_HASH_MAX], h2[PASSWORD_HASH_MAX];
	char	small[40];
	size_t	prefix;

	prefix = strlen(PHC_SMALL);
	assert_int_equal(password_hash("secret", 6, 64, 1, 1, h1,
	    sizeof(h1)), 0);
	assert_memory_equal(h1, PHC_SMALL, prefix);
	/* 16 bytes of salt, 32 of hash, base64 without padding. */
	assert_int_equal(strlen(h1), prefix + 22 + 1 + 43);
	assert_int_equal(h1[prefix + 22], '$');
	assert_null(strchr(h1 + prefix, '='));

	/* Same password, another salt, another string. */
	assert_int_equal(password_hash("secret", 6, 64, 1, 1, h2,
	    sizeof(h2)), 0);
	assert_memory_equal(h2, PHC_SMALL, prefix);
	assert_string_not_equal(h1, h2);
	assert_memory_not_equal(h1 + prefix, h2 + prefix, 22);

	/* Other costs are written down. */
	assert_int_equal(password_hash("secret", 6, 128, 2, 2, h2,
	    sizeof(h2)), 0);
	assert_memory_equal(h2, "$argon2id$v=19$m=128,t=2,p=2$",
	    strlen("$argon2id$v=19$m=128,t=2,p=2$"));
	assert_int_equal(password_verify(h2, "secret", 6), 1);

	/* Errors: no room, costs argon2 refuses. */
	assert_int_equal(password_hash("secret", 6, 64, 1, 1, small,
	    sizeof(small)), -1);
	assert_int_equal(password_hash("secret", 6, 4, 1, 1, h2,
	    sizeof(h2)), -1);
	assert_int_equal(password_hash("secret", 6, 64, 0, 1, h2,
	    sizeof(h2)), -1);
	assert_int_equal(password_hash("secret", 6, 64, 1, 0, h2,
	    sizeof(h2)), -1);
}

static void
test_password_verify(void **state)
{
	char	h[PASSWORD_HASH_MAX], e[PASSWORD_HASH_MAX];
	char	bad[PASSWORD_HASH_MAX];
	size_t	i;
	static const char *garbage[] = {
		"", "garbage", "$argon2id$", "$argon2id$v=19$m=64,t=1,p=1$",
		"$argon2id$v=19$m=64,t=1,p=1$$",
		"$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
	};

	assert_int_equal(password_hash("correct horse", 13, 64, 1, 1, h,
	    sizeof(h)), 0);
	assert_int_equal(password_verify(h, "correct horse", 13), 1);
	assert_int_equal(password_verify(h, "correct horsf", 13), 0);
	assert_int_equal(password_verify(h, "Correct horse", 13), 0);
	assert_int_equal(password_verify(h, "correct hors", 12), 0);
	assert_int_equal(password_verify(h, "correct horse ", 14), 0);
	assert_int_equal(password_verify(h, "", 0), 0);

	/* The length counts, not the NUL. */
	assert_int_equal(password_verify(h, "correct horse\0x", 15), 0);

	/* The empty password has a hash of its own. */
	assert_int_equal(password_hash("", 0, 64, 1, 1, e, sizeof(e)), 0);
	assert_int_equal(password_verify(e, "", 0), 1);
	assert_int_equal(password_verify(e, "x", 1), 0);

	/* A changed hash or salt does not verify. */
	memcpy(bad, h, sizeof(bad));
	i = strlen(bad) - 2;
	bad[i] = bad[i] == 'A' ? 'B' : 'A';
	assert_int_equal(password_verify(bad, "correct horse", 13), 0);
	memcpy(bad, h, sizeof(bad));
	i = strlen(PHC_SMALL) + 3;
	bad[i] = bad[i] == 'A' ? 'B' : 'A';
	assert_int_equal(password_verify(bad, "correct horse", 13), 0);
	/* Nor another variant's name on the same string. */
	memcpy(bad, h, sizeof(bad));
	memmove(bad + 8, bad + 9, strlen(bad + 9) + 1);	/* argon2i */
	assert_memory_equal(bad, "$argon2i$v=19$", 14);
	assert_int_equal(password_verify(bad, "correct horse", 13), 0);

	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		if (password_verify(garbage[i], "correct horse", 13) != 0)
			fail_msg("'%s' verified", garbage[i]);
		if (password_verify(garbage[i], "", 0) != 0)
			fail_msg("'%s' verified the empty password",
			    garbage[i]);
	}
}

/* --- password jobs (the background messages) ----------------------------- */

static void
test_password_job(void **state)
{
	struct password_job	*job, *v;
	char			 big[PASSWORD_INPUT_MAX + 2];
	char			 hash[PASSWORD_HASH_MAX];

	/* Hash, then verify the result, right and wrong. */
	job = password_job_new(PASSWORD_OP_HASH, NULL, "correct horse", NULL);
	assert_non_null(job);
	password_run(job);
	assert_memory_equal(job->out, "$argon2id$", 10);
	/* The inputs are cleared once used. */
	assert_int_equal(job->pw[0], '\0');
	(void)snprintf(hash, sizeof(hash), "%s", job->out);
	password_job_free(job);

	v = password_job_new(PASSWORD_OP_VERIFY, hash, "correct horse", NULL);
	password_run(v);
	assert_int_equal(v->ok, 1);
	assert_string_equal(v->out, "");
	password_job_free(v);
	v = password_job_new(PASSWORD_OP_VERIFY, hash, "correct hors", NULL);
	password_run(v);
	assert_int_equal(v->ok, 0);
	password_job_free(v);

	/* Change: the old one must match, then the new one is hashed. */
	v = password_job_new(PASSWORD_OP_CHANGE, hash, "wrong", "new one");
	password_run(v);
	assert_int_equal(v->ok, 0);
	assert_string_equal(v->out, "");
	assert_int_equal(v->next[0], '\0');
	password_job_free(v);
	v = password_job_new(PASSWORD_OP_CHANGE, hash, "correct horse",
	    "new one");
	password_run(v);
	assert_int_equal(v->ok, 1);
	assert_int_equal(password_verify(v->out, "new one", 7), 1);
	password_job_free(v);

	/* Arguments longer than a job holds are refused, the limit is not. */
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_null(password_job_new(PASSWORD_OP_HASH, NULL, big, NULL));
	assert_null(password_job_new(PASSWORD_OP_CHANGE, hash, "x", big));
	big[sizeof(big) - 2] = '\0';
	job = password_job_new(PASSWORD_OP_CHANGE, hash, big, big);
	assert_non_null(job);
	assert_int_equal(strlen(job->pw), PASSWORD_INPUT_MAX);
	password_job_free(job);
	memset(big, 'h', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_null(password_job_new(PASSWORD_OP_VERIFY, big, "x", NULL));
	password_job_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_cache_key_change),
		cmocka_unit_test(test_hand_made),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_iat_future),
		cmocka_unit_test(test_issuer),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_modified_payload),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_alg_hs384_hs512),
		cmocka_unit_test(test_alg_confusion),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_token_version),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_password_hash),
		cmocka_unit_test(test_password_verify),
		cmocka_unit_test(test_password_job),
	};

	return (cmocka_run_group_tests(tests, setup, NULL));
}
