/* userapi: unit tests of http/parse.c and model/query.c (request parts). */

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/parse.h"
#include "model/query.h"
#include "model/user.h"
#include "model/verr.h"

#define INT_PARSING \
	"Input should be a valid integer, unable to parse string as an integer"

struct json_case {
	const char	*ctype;
	int		 want;
};

struct query_case {
	const char	*qs;
	const char	*key;
	const char	*want;		/* NULL: absent */
};

struct match_case {
	const char	*in;
	long long	 want;
};

static void	query_is(const char *, const char *, const char *);
static void	route_is(const char *, const char *, int, const char *);
static void	expect_one(struct verrs *, const char *, const char *,
		    const char *, const char *);
static void	int_ok(const char *, long long, long long, long long,
		    long long);
static void	int_bad(const char *, const char *, long long, long long,
		    const char *, const char *);

/* errs holds exactly one error: type at [loc0, loc1] saying msg. */
static void
expect_one(struct verrs *errs, const char *type, const char *loc0,
    const char *loc1, const char *msg)
{
	assert_int_equal(errs->n, 1);
	assert_string_equal(errs->v[0].type, type);
	assert_int_equal(errs->v[0].nloc, 2);
	assert_string_equal(errs->v[0].loc[0], loc0);
	assert_string_equal(errs->v[0].loc[1], loc1);
	assert_int_equal(errs->v[0].loc_int, 0);
	assert_string_equal(errs->v[0].msg, msg);
}

/* --- parse_is_json -------------------------------------------------------- */

static void
test_is_json(void **state)
{
	size_t		i;
	static const struct json_case cases[] = {
		{ "application/json", 1 },
		{ "application/json; charset=utf-8", 1 },
		{ "application/json;charset=UTF-8", 1 },
		{ "application/json ; charset=utf-8", 1 },
		{ "application/json\t;charset=utf-8", 1 },
		{ "application/json;", 1 },
		{ "application/json ", 1 },
		{ "APPLICATION/JSON", 1 },
		{ "Application/Json; Charset=utf-8", 1 },
		{ "application/problem+json", 1 },
		{ "application/vnd.api+json; charset=utf-8", 1 },
		{ "application/merge-patch+json", 1 },
		{ "application/a+json", 1 },
		{ "application/X+JSON", 1 },
		{ "text/json", 0 },
		{ "text/plain", 0 },
		{ "text/plain; a=application/json", 0 },
		{ "application/jsonx", 0 },
		{ "application/json5", 0 },
		{ "application/json-seq", 0 },
		{ "application/xjson", 0 },
		{ "application/x-json", 0 },
		{ "application/+json", 0 },
		{ "application/x+jsonx", 0 },
		{ "application/x+json5", 0 },
		{ "application/x-www-form-urlencoded", 0 },
		{ "multipart/form-data; boundary=x", 0 },
		{ "application/", 0 },
		{ "application", 0 },
		{ "json", 0 },
		{ "+json", 0 },
		{ "/json", 0 },
		{ "xapplication/json", 0 },
		{ "application/jso", 0 },
		{ "application/json x", 0 },
		{ "text/x+json", 0 },
		{ ";application/json", 0 },
		{ "", 0 },
		{ " ", 0 },
		{ ";", 0 },
	};

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse_is_json(cases[i].ctype) != cases[i].want)
			fail_msg("'%s': want %d", cases[i].ctype,
			    cases[i].want);
	}
}

/* --- parse_query ---------------------------------------------------------- */

static void
query_is(const char *qs, const char *key, const char *want)
{
	char	*out;
	int	 r;

	out = (char *)0x1;
	r = parse_query(qs, key, &out);
	if (want == NULL) {
		if (r != 0 || out != NULL)
			fail_msg("'%s' key '%s': want absent, got %d", qs ?
			    qs : "(null)", key, r);
		return;
	}
	if (r != 1 || out == NULL)
		fail_msg("'%s' key '%s': want '%s', got %d", qs, key, want, r);
	if (strcmp(out, want) != 0)
		fail_msg("'%s' key '%s': want '%s', got '%s'", qs, key, want,
		    out);
	free(out);
}

static void
test_query(void **state)
{
	size_t		i;
	static const struct query_case cases[] = {
		/* Present, absent, first value wins. */
		{ "a=1", "a", "1" },
		{ "a=1&b=2", "b", "2" },
		{ "a=1&b=2", "c", NULL },
		{ "a=1&a=2", "a", "1" },
		{ "b=0&a=1&a=2&a=3", "a", "1" },
		{ "", "a", NULL },
		{ "&", "a", NULL },
		{ "&&a=1&&", "a", "1" },
		/* Empty value, key without '='. */
		{ "a=", "a", "" },
		{ "a=&a=2", "a", "" },
		{ "a", "a", "" },
		{ "x=1&a", "a", "" },
		{ "a&a=2", "a", "" },
		{ "ab", "a", NULL },
		{ "a=b=c", "a", "b=c" },
		{ "a==", "a", "=" },
		{ "=1", "a", NULL },
		/* Keys that are prefixes of others, and case. */
		{ "limitx=5&limit=3", "limit", "3" },
		{ "limit=3&limitx=5", "limitx", "5" },
		{ "limitx=5", "limit", NULL },
		{ "limi=5", "limit", NULL },
		{ "xlimit=5", "limit", NULL },
		{ "limit=5", "limi", NULL },
		{ "Limit=5", "limit", NULL },
		{ "limit =5", "limit", NULL },
		{ "limit=5", "limit=5", NULL },
		/* ';' does not separate. */
		{ "a=1;b=2", "a", "1;b=2" },
		{ "a=1;b=2", "b", NULL },
		/* Percent decoding and '+'. */
		{ "a=%41%42", "a", "AB" },
		{ "a=%41", "a", "A" },
		{ "a=x%41", "a", "xA" },
		{ "a=%2b", "a", "+" },
		{ "a=%2B", "a", "+" },
		{ "a=hello+world", "a", "hello world" },
		{ "a=+", "a", " " },
		{ "a=%20", "a", " " },
		{ "a=%26&b=2", "a", "&" },
		{ "a=1%262", "a", "1&2" },
		{ "a=%3D", "a", "=" },
		{ "a=caf%C3%A9", "a", "caf\xc3\xa9" },
		{ "a=%e2%82%ac", "a", "\xe2\x82\xac" },
		{ "a=%ff", "a", "\xef\xbf\xbd" },	/* not UTF-8: U+FFFD */
		{ "a=%2541", "a", "%41" },
		/* The key is decoded too. */
		{ "lim%69t=5", "limit", "5" },
		{ "a+b=1", "a b", "1" },
		{ "a%20b=1", "a b", "1" },
		{ "a%3Db=1", "a=b", "1" },
		{ "a%26b=1", "a&b", "1" },
		{ "a%3Db=1", "a", NULL },
		/* Bad escapes stay as they are. */
		{ "a=%", "a", "%" },
		{ "a=%4", "a", "%4" },
		{ "a=%4&b=1", "a", "%4" },
		{ "a=%zz", "a", "%zz" },
		{ "a=%4g", "a", "%4g" },
		{ "a=%g4", "a", "%g4" },
		{ "a=%%41", "a", "%A" },
		{ "a=100%", "a", "100%" },
		{ "a=%+1", "a", "% 1" },
		{ "%=1", "%", "1" },
		/* %00 stays, so no value has a NUL in it. */
		{ "a=%00", "a", "%00" },
		{ "a=x%00y", "a", "x%00y" },
		{ "a=%000", "a", "%000" },
		{ "a=%0%00", "a", "%0%00" },
		{ "a%00=1", "a", NULL },
		{ "a%00=1", "a%00", "1" },
		{ "a=%01", "a", "\x01" },
	};

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		query_is(cases[i].qs, cases[i].key, cases[i].want);
	query_is(NULL, "a", NULL);
	query_is(NULL, "", NULL);
}

/* How many times a key appears: names compared percent-decoded. */
static void
test_query_count(void **state)
{
	size_t		i;
	static const struct {
		const char	*qs;
		const char	*key;
		size_t		 want;
	} cases[] = {
		{ "", "a", 0 },
		{ "a=1", "a", 1 },
		{ "a=1&a=2", "a", 2 },
		{ "a=1&a=1", "a", 2 },		/* the same value too */
		{ "a&a", "a", 2 },
		{ "a=&a=", "a", 2 },
		{ "a=1&b=2&a=3&a=4", "a", 3 },
		{ "a=1&b=2&a=3&a=4", "b", 1 },
		{ "a=1&ab=2&ba=3", "a", 1 },
		{ "limit=5&lim%69t=500", "limit", 2 },
		{ "limit=5&LIMIT=500", "limit", 1 },
		{ "a=1&a%00=2", "a", 1 },
		{ "x=a%26a=1", "a", 0 },	/* inside a value */
		{ "&&a=1&&a=2&&", "a", 2 },
		{ "a=1;a=2", "a", 1 },
	};

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse_query_count(cases[i].qs, cases[i].key) !=
		    cases[i].want)
			fail_msg("'%s' key '%s': want %zu, got %zu",
			    cases[i].qs, cases[i].key, cases[i].want,
			    parse_query_count(cases[i].qs, cases[i].key));
	}
	assert_int_equal(parse_query_count(NULL, "a"), 0);
}

/* A long query is read without running past its end (ASan). */
static void
test_query_long(void **state)
{
	char	*qs, *out;
	size_t	 n;

	n = 100000;
	assert_non_null(qs = malloc(n + 16));
	memset(qs, '&', n);
	memcpy(qs + n, "a=%4", 5);
	query_is(qs, "a", "%4");
	memset(qs, 'x', n);
	memcpy(qs, "a=", 2);
	qs[n] = '\0';
	assert_int_equal(parse_query(qs, "a", &out), 1);
	assert_int_equal(strlen(out), n - 2);
	free(out);
	free(qs);
}

/* --- parse_route_match ---------------------------------------------------- */

/* pattern against path: rc, and the params as "a|b" ("" for none). */
static void
route_is(const char *pattern, const char *path, int rc, const char *want)
{
	const char	*param[2];
	size_t		 len[2], i;
	char		 got[256];

	if (parse_route_match(pattern, path, param, len, 2) != rc)
		fail_msg("'%s' on '%s': want %d", pattern, path, rc);
	if (rc == 0)
		return;
	got[0] = '\0';
	for (i = 0; i < 2 && param[i] != NULL; i++) {
		(void)snprintf(got + strlen(got), sizeof(got) - strlen(got),
		    "%s%.*s", i > 0 ? "|" : "", (int)len[i], param[i]);
		/* Params point into the path. */
		assert_true(param[i] >= path &&
		    param[i] + len[i] <= path + strlen(path));
	}
	if (strcmp(got, want) != 0)
		fail_msg("'%s' on '%s': want '%s', got '%s'", pattern, path,
		    want, got);
}

static void
test_route_match(void **state)
{
	route_is("/users", "/users", 1, "");
	route_is("/users", "/users/", 0, NULL);
	route_is("/users", "/user", 0, NULL);
	route_is("/users", "/Users", 0, NULL);
	route_is("/", "/", 1, "");
	route_is("/", "/x", 0, NULL);
	route_is("/", "", 0, NULL);

	route_is("/users/{id}", "/users/abc", 1, "abc");
	route_is("/users/{id}", "/users/", 1, "");
	route_is("/users/{id}", "/users/abc/", 0, NULL);
	route_is("/users/{id}", "/users/abc/def", 0, NULL);
	route_is("/users/{id}", "/users", 0, NULL);
	route_is("/users/{id}", "/users/a%2Fb", 1, "a%2Fb");
	route_is("/users/{id}", "/users/me", 1, "me");
	route_is("/jobs/{id}/retry", "/jobs/7/retry", 1, "7");
	route_is("/jobs/{id}/retry", "/jobs/7/retr", 0, NULL);
	route_is("/jobs/{id}/retry", "/jobs//retry", 1, "");
	route_is("/a/{x}/b/{y}", "/a/1/b/22", 1, "1|22");
	route_is("/a/{x}/b/{y}/{z}", "/a/1/b/22/333", 1, "1|22");

	route_is("/static/*", "/static/", 1, "");
	route_is("/static/*", "/static/a/b.js", 1, "");
	route_is("/static/*", "/static", 0, NULL);
	route_is("/static/*", "/staticx", 0, NULL);
	/* A star elsewhere is a plain character. */
	route_is("/a*b", "/a*b", 1, "");
	route_is("/a*b", "/axb", 0, NULL);
}

/* Decoded values are valid UTF-8: what is not becomes U+FFFD. */
static void
test_query_utf8(void **state)
{
	char	*v;

	assert_int_equal(parse_query("e=%FF%40x.io", "e", &v), 1);
	assert_string_equal(v, "\xef\xbf\xbd@x.io");
	free(v);
	assert_int_equal(parse_query("e=a%C3%28b", "e", &v), 1);
	assert_string_equal(v, "a\xef\xbf\xbd(b");
	free(v);
	/* A surrogate (ED A0 80) and an overlong '/' (C0 AF). */
	assert_int_equal(parse_query("e=%ED%A0%80&f=%C0%AF", "e", &v), 1);
	assert_string_equal(v, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	free(v);
	assert_int_equal(parse_query("e=%ED%A0%80&f=%C0%AF", "f", &v), 1);
	assert_string_equal(v, "\xef\xbf\xbd\xef\xbf\xbd");
	free(v);
	/* Valid sequences of each length pass untouched. */
	assert_int_equal(parse_query("e=a%C3%A9%E2%82%AC%F0%9F%98%80", "e",
	    &v), 1);
	assert_string_equal(v, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	free(v);
	/* Above U+10FFFF, and a sequence cut short. */
	assert_int_equal(parse_query("e=%F4%90%80%80x&g=%E2%82", "e", &v), 1);
	assert_string_equal(v,
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
	free(v);
	assert_int_equal(parse_query("e=%F4%90%80%80x&g=%E2%82", "g", &v), 1);
	assert_string_equal(v, "\xef\xbf\xbd\xef\xbf\xbd");
	free(v);
}

/* --- parse_if_match ------------------------------------------------------- */

/* Every listed strong tag counts (RFC 9110 13.1.1), as an array literal. */
static void
test_if_match_list(void **state)
{
	char	list[PARSE_IF_MATCH_MAX], small[8];

	assert_int_equal(parse_if_match("\"3\", \"5\"", list, sizeof(list)), 3);
	assert_string_equal(list, "{3,5}");
	assert_int_equal(parse_if_match("W/\"1\", \"7\",x,\"9\"", list,
	    sizeof(list)), 7);
	assert_string_equal(list, "{7,9}");
	assert_int_equal(parse_if_match("\"42\"", list, sizeof(list)), 42);
	assert_string_equal(list, "{42}");
	assert_int_equal(parse_if_match("*", list, sizeof(list)),
	    PARSE_ANY_VERSION);
	assert_string_equal(list, "");
	assert_int_equal(parse_if_match("W/\"1\"", list, sizeof(list)),
	    PARSE_NO_MATCH);
	assert_string_equal(list, "");
	/* What does not fit is left out, the literal stays well formed. */
	assert_int_equal(parse_if_match("\"123\", \"456\", \"789\"", small,
	    sizeof(small)), 123);
	assert_string_equal(small, "{123}");
	assert_int_equal(parse_if_match("\"5\"", small, 2), PARSE_NO_MATCH);
}


static void
test_if_match(void **state)
{
	char		list[PARSE_IF_MATCH_MAX];
	long long	got;
	size_t		i;
	static const struct match_case cases[] = {
		/* Any version. */
		{ "*", PARSE_ANY_VERSION },
		{ " *", PARSE_ANY_VERSION },
		{ "\t* ", PARSE_ANY_VERSION },
		{ "*\t", PARSE_ANY_VERSION },
		{ "**", PARSE_NO_MATCH },
		{ "*x", PARSE_NO_MATCH },
		{ "* x", PARSE_NO_MATCH },
		{ "* \"5\"", PARSE_NO_MATCH },
		{ "\"*\"", PARSE_NO_MATCH },
		/* A strong tag of ours. */
		{ "\"5\"", 5 },
		{ " \"5\" ", 5 },
		{ "\t\"5\"\t", 5 },
		{ "\"1\"", 1 },
		{ "\"123456789012\"", 123456789012LL },
		{ "\"9223372036854775807\"", LLONG_MAX },
		/* Weak tags never match. */
		{ "W/\"5\"", PARSE_NO_MATCH },
		{ "w/\"5\"", PARSE_NO_MATCH },
		{ "W/ \"5\"", PARSE_NO_MATCH },
		{ "W/\"5\", \"6\"", 6 },
		/* Lists: the first strong tag of ours. */
		{ "\"3\", \"5\"", 3 },
		{ "\"3\",\"5\"", 3 },
		{ "\"3\" ,\t\"5\"", 3 },
		{ "\"x\", \"5\"", 5 },
		{ "\"\", \"5\"", 5 },
		{ "\"0\", \"5\"", 5 },
		{ "\"05\", \"7\"", 7 },
		{ "\"5\"x, \"7\"", 7 },
		{ ", , \"5\"", 5 },
		{ "\"5\",", 5 },
		{ "W/\"1\", W/\"2\"", PARSE_NO_MATCH },
		/* Garbage. */
		{ "", PARSE_NO_MATCH },
		{ " ", PARSE_NO_MATCH },
		{ ",", PARSE_NO_MATCH },
		{ ",,,", PARSE_NO_MATCH },
		{ "5", PARSE_NO_MATCH },
		{ "\"5", PARSE_NO_MATCH },
		{ "\"55", PARSE_NO_MATCH },
		{ "5\"", PARSE_NO_MATCH },
		{ "\"", PARSE_NO_MATCH },
		{ "\"\"", PARSE_NO_MATCH },
		{ "\"\"\"", PARSE_NO_MATCH },
		{ "\"5x\"", PARSE_NO_MATCH },
		{ "\"x5\"", PARSE_NO_MATCH },
		{ "\"abc\"", PARSE_NO_MATCH },
		{ "\"5 \"", PARSE_NO_MATCH },
		{ "\" 5\"", PARSE_NO_MATCH },
		{ "\"+5\"", PARSE_NO_MATCH },
		{ "\"5.0\"", PARSE_NO_MATCH },
		{ "\"0x5\"", PARSE_NO_MATCH },
		{ "\"5\"x", PARSE_NO_MATCH },
		{ "\"5\"\"", PARSE_NO_MATCH },
		{ "\"5\";", PARSE_NO_MATCH },
		{ "\"5\" \"6\"", PARSE_NO_MATCH },
		{ "'5'", PARSE_NO_MATCH },
		{ "\"5,6\"", PARSE_NO_MATCH },
		/* Versions start at 1 and are written without leading zeros. */
		{ "\"0\"", PARSE_NO_MATCH },
		{ "\"00\"", PARSE_NO_MATCH },
		{ "\"05\"", PARSE_NO_MATCH },
		{ "\"-1\"", PARSE_NO_MATCH },
		{ "\"-5\"", PARSE_NO_MATCH },
		/* Overflow is no match, not LLONG_MAX. */
		{ "\"9223372036854775808\"", PARSE_NO_MATCH },
		{ "\"99999999999999999999\"", PARSE_NO_MATCH },
		{ "\"18446744073709551621\"", PARSE_NO_MATCH },
		{ "\"99999999999999999999\", \"4\"", 4 },
	};

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = parse_if_match(cases[i].in, list, sizeof(list));
		if (got != cases[i].want)
			fail_msg("If-Match '%s': want %lld, got %lld",
			    cases[i].in, cases[i].want, got);
	}
	/* The two markers are not versions. */
	assert_true(PARSE_ANY_VERSION < 0);
	assert_true(PARSE_NO_MATCH < 0);
	assert_true(PARSE_ANY_VERSION != PARSE_NO_MATCH);
}

/* --- model_query_int ------------------------------------------------------ */

static void
int_ok(const char *val, long long def, long long min, long long max,
    long long want)
{
	struct verrs	errs;
	long long	out;

	verrs_init(&errs);
	out = 424242;
	if (model_query_int(val, "n", def, min, max, &out, &errs) != 0)
		fail_msg("'%s' refused: %s", val ? val : "(null)",
		    errs.n > 0 ? errs.v[0].msg : "?");
	assert_int_equal(errs.n, 0);
	assert_int_equal(out, want);
}

static void
int_bad(const char *val, const char *name, long long min, long long max,
    const char *type, const char *msg)
{
	struct verrs	errs;
	long long	out;

	verrs_init(&errs);
	out = 424242;
	if (model_query_int(val, name, 7, min, max, &out, &errs) != -1)
		fail_msg("'%s' accepted as %lld", val, out);
	assert_int_equal(out, 424242);
	expect_one(&errs, type, "query", name, msg);
	verrs_free(&errs);
}

static void
test_query_int(void **state)
{
	struct verrs	 errs;
	long long	 out;
	size_t		 i;
	static const char *unparsable[] = {
		"", "abc", "5x", "x5", "5 5", "0x10", "1e3", "--1", "-", "+",
		"\xd9\xa5",		/* ARABIC-INDIC DIGIT FIVE */
		"99999999999999999999", "-99999999999999999999",
		"9223372036854775808",
		/* Strict: pydantic's lax mode would take these. */
		" 5", "5 ", "+5", "5.0", "1_000", "\t5", "5\n",
	};

	int_ok(NULL, 10, 1, 100, 10);
	int_ok(NULL, 0, 0, INT64_MAX, 0);
	int_ok("1", 10, 1, 100, 1);
	int_ok("100", 10, 1, 100, 100);
	int_ok("42", 10, 1, 100, 42);
	int_ok("007", 10, 1, 100, 7);
	int_ok("0", 0, 0, INT64_MAX, 0);
	int_ok("-0", 0, 0, INT64_MAX, 0);
	int_ok("-5", 0, -10, 10, -5);
	int_ok("9223372036854775807", 0, 0, INT64_MAX, INT64_MAX);
	int_ok("-9223372036854775808", 0, INT64_MIN, 0, INT64_MIN);

	for (i = 0; i < sizeof(unparsable) / sizeof(unparsable[0]); i++)
		int_bad(unparsable[i], "limit", 1, 100, "int_parsing",
		    INT_PARSING);

	int_bad("0", "limit", 1, 100, "greater_than_equal",
	    "Input should be greater than or equal to 1");
	int_bad("-1", "skip", 0, INT64_MAX, "greater_than_equal",
	    "Input should be greater than or equal to 0");
	int_bad("-9223372036854775808", "skip", 0, INT64_MAX,
	    "greater_than_equal",
	    "Input should be greater than or equal to 0");
	int_bad("101", "limit", 1, 100, "less_than_equal",
	    "Input should be less than or equal to 100");
	int_bad("4294967297", "limit", 1, 100, "less_than_equal",
	    "Input should be less than or equal to 100");
	int_bad("-11", "n", -10, 10, "greater_than_equal",
	    "Input should be greater than or equal to -10");

	/* Errors add up, so skip and limit are reported together. */
	verrs_init(&errs);
	assert_int_equal(model_query_int("x", "skip", 0, 0, INT64_MAX, &out,
	    &errs), -1);
	assert_int_equal(model_query_int("0", "limit", 10, 1, 100, &out,
	    &errs), -1);
	assert_int_equal(model_query_int("5", "limit", 10, 1, 100, &out,
	    &errs), 0);
	assert_int_equal(out, 5);
	assert_int_equal(errs.n, 2);
	assert_string_equal(errs.v[0].type, "int_parsing");
	assert_string_equal(errs.v[0].loc[1], "skip");
	assert_string_equal(errs.v[1].type, "greater_than_equal");
	assert_string_equal(errs.v[1].loc[1], "limit");
	verrs_free(&errs);
}

/* --- model_path_uuid ------------------------------------------------------ */

static void
test_path_uuid(void **state)
{
	struct verrs	errs;
	char		out[UUID_STR_LEN + 1];
	size_t		i;
	static const char *bad[] = {
		"", "abc", "me", "123e4567-e89b-12d3-a456-42661417400",
		"123e4567-e89b-12d3-a456-4266141740000",
		"123e4567-e89b-12d3-a456-42661417400g",
		"{123e4567-e89b-12d3-a456-426614174000}",
		" 123e4567-e89b-12d3-a456-426614174000",
		"123e4567-e89b-12d3-a456-426614174000/",
		"123e4567-e89b-12d3-a456-426614174000%20",
		"..",
	};

	verrs_init(&errs);
	assert_int_equal(model_path_uuid("123E4567-E89B-12D3-A456-426614174000",
	    out, &errs), 0);
	assert_string_equal(out, "123e4567-e89b-12d3-a456-426614174000");
	assert_int_equal(model_path_uuid("123e4567e89b12d3a456426614174000",
	    out, &errs), 0);
	assert_string_equal(out, "123e4567-e89b-12d3-a456-426614174000");
	assert_int_equal(errs.n, 0);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (model_path_uuid(bad[i], out, &errs) != -1)
			fail_msg("'%s' accepted as a user id", bad[i]);
		expect_one(&errs, "uuid_parsing", "path", "user_id",
		    "Input should be a valid UUID");
		verrs_free(&errs);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_json),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_query_long),
		cmocka_unit_test(test_query_count),
		cmocka_unit_test(test_route_match),
		cmocka_unit_test(test_query_utf8),
		cmocka_unit_test(test_if_match),
		cmocka_unit_test(test_if_match_list),
		cmocka_unit_test(test_query_int),
		cmocka_unit_test(test_path_uuid),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
