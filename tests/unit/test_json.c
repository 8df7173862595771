/* userapi: unit tests of src/json (bodies, user inputs, 422 lists, users). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "json/errors.h"
#include "json/user_json.h"
#include "model/user.h"
#include "model/verr.h"

#define MISSING_BODY \
	"{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\"]," \
	"\"msg\":\"Field required\"}]}"
#define NOT_OBJECT \
	"{\"detail\":[{\"type\":\"model_attributes_type\",\"loc\":[\"body\"]," \
	"\"msg\":\"Input should be a valid dictionary or object to extract " \
	"fields from\"}]}"
#define E_ACUTE		"\xc3\xa9"

static char	*dump(json_t *);
static void	 expect_errors(struct verrs *, const char *);
static void	 expect_invalid(const char *, size_t, long long);
static int	 input(const char *, int, int, struct user_input *,
		    struct verrs *);
static void	 input_fails(const char *, int, int, const char *);
static char	*nested(size_t, const char *, const char *, const char *);

/* Compact JSON text of v, which is released. */
static char *
dump(json_t *v)
{
	char	*s;

	assert_non_null(v);
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(s);
	json_decref(v);
	return (s);
}

/* The 422 body of errs is exactly want; errs is freed. */
static void
expect_errors(struct verrs *errs, const char *want)
{
	char	*s;

	s = dump(verrs_to_json(errs));
	if (strcmp(s, want) != 0)
		fail_msg("want %s\n got %s", want, s);
	free(s);
	verrs_free(errs);
}

/* The JSON of errs ends with tail; errs is freed. */
static void
expect_errors_tail(struct verrs *errs, const char *tail)
{
	char	*s;
	size_t	 n, t;

	s = dump(verrs_to_json(errs));
	n = strlen(s);
	t = strlen(tail);
	if (n < t || strcmp(s + n - t, tail) != 0)
		fail_msg("want ...%s\n got %s", tail, s);
	free(s);
	verrs_free(errs);
}

/* buf[0..len) does not parse: one json_invalid at ["body", pos]. */
static void
expect_invalid(const char *buf, size_t len, long long pos)
{
	struct verrs	errs;
	char		want[256];

	verrs_init(&errs);
	assert_null(json_body_parse(buf, len, &errs));
	(void)snprintf(want, sizeof(want), "{\"detail\":[{\"type\":"
	    "\"json_invalid\",\"loc\":[\"body\",%lld],\"msg\":"
	    "\"JSON decode error\"}]}", pos);
	expect_errors(&errs, want);
}

/* Parses body (which must parse) and decodes it for op. */
static int
input(const char *body, int op, int admin, struct user_input *in,
    struct verrs *errs)
{
	json_t	*v;
	int	 rc;

	v = json_body_parse(body, strlen(body), errs);
	if (v == NULL)
		fail_msg("does not parse: %s", body);
	memset(in, 0xa5, sizeof(*in));	/* garbage on entry is fine */
	rc = user_input_from_json(v, op, admin, in, errs);
	json_decref(v);
	return (rc);
}

/* body is refused for op with exactly the 422 body want; in holds nothing. */
static void
input_fails(const char *body, int op, int admin, const char *want)
{
	struct verrs		errs;
	struct user_input	in;

	verrs_init(&errs);
	assert_int_equal(input(body, op, admin, &in, &errs), -1);
	assert_true(errs.n > 0);
	assert_int_equal(in.fields, 0);
	assert_null(in.name);
	assert_null(in.email);
	assert_null(in.password);
	expect_errors(&errs, want);
}

/* pre + depth x open + mid + depth x close, malloc'd. */
static char *
nested(size_t depth, const char *open, const char *mid, const char *close)
{
	char	*s;
	size_t	 i, o, lo, lc, lm;

	lo = strlen(open);
	lc = strlen(close);
	lm = strlen(mid);
	s = malloc(depth * (lo + lc) + lm + 1);
	assert_non_null(s);
	o = 0;
	for (i = 0; i < depth; i++, o += lo)
		memcpy(s + o, open, lo);
	memcpy(s + o, mid, lm);
	o += lm;
	for (i = 0; i < depth; i++, o += lc)
		memcpy(s + o, close, lc);
	s[o] = '\0';
	return (s);
}

/* --- verrs_to_json -------------------------------------------------------- */

static void
test_verrs_to_json(void **state)
{
	struct verrs	errs;

	verrs_init(&errs);
	expect_errors(&errs, "{\"detail\":[]}");

	verrs_add(&errs, "missing", "body", "name", "Field required");
	verrs_add(&errs, "missing", "body", NULL, "Field required");
	verrs_add_pos(&errs, "json_invalid", "body", 12, "JSON decode error");
	verrs_add(&errs, "uuid_parsing", "path", "user_id",
	    "Input should be a valid UUID, %s", "invalid length");
	/* A key that looks like a number stays a string. */
	verrs_add(&errs, "extra_forbidden", "body", "12", "Extra inputs are "
	    "not permitted");
	verrs_add(&errs, "x", "body", "quote\"back\\slash\n", "m\"sg");
	expect_errors(&errs, "{\"detail\":["
	    "{\"type\":\"missing\",\"loc\":[\"body\",\"name\"],"
	    "\"msg\":\"Field required\"},"
	    "{\"type\":\"missing\",\"loc\":[\"body\"],"
	    "\"msg\":\"Field required\"},"
	    "{\"type\":\"json_invalid\",\"loc\":[\"body\",12],"
	    "\"msg\":\"JSON decode error\"},"
	    "{\"type\":\"uuid_parsing\",\"loc\":[\"path\",\"user_id\"],"
	    "\"msg\":\"Input should be a valid UUID, invalid length\"},"
	    "{\"type\":\"extra_forbidden\",\"loc\":[\"body\",\"12\"],"
	    "\"msg\":\"Extra inputs are not permitted\"},"
	    "{\"type\":\"x\",\"loc\":[\"body\",\"quote\\\"back\\\\slash\\n\"],"
	    "\"msg\":\"m\\\"sg\"}]}");
}

static void
test_verrs_to_json_bad_utf8(void **state)
{
	struct verrs	errs;

	/* A query parameter's name can be any bytes; the body stays JSON. */
	verrs_init(&errs);
	verrs_add(&errs, "extra_forbidden", "query", "a\xff" "b\xc3",
	    "bad \xe0\x80\x80 \xed\xa0\x80 ok " E_ACUTE);
	expect_errors(&errs, "{\"detail\":[{\"type\":\"extra_forbidden\","
	    "\"loc\":[\"query\",\"a\xef\xbf\xbd" "b\xef\xbf\xbd\"],"
	    "\"msg\":\"bad \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd ok " E_ACUTE "\"}]}");
}

/* --- json_body_parse ------------------------------------------------------ */

static void
test_parse_ok(void **state)
{
	struct verrs	 errs;
	json_t		*v;
	char		*s;

	verrs_init(&errs);
	v = json_body_parse("{\"name\":\"x\"}", 12, &errs);
	assert_non_null(v);
	assert_true(json_is_object(v));
	json_decref(v);

	/* Any value at the top, surrounding white space allowed. */
	v = json_body_parse(" \r\n\t42 \n", 8, &errs);
	assert_non_null(v);
	assert_int_equal(json_integer_value(v), 42);
	json_decref(v);
	v = json_body_parse("null", 4, &errs);
	assert_true(json_is_null(v));
	json_decref(v);

	/* Only len bytes are read: what follows is not looked at. */
	v = json_body_parse("{}garbage", 2, &errs);
	assert_true(json_is_object(v));
	json_decref(v);

	/* Duplicate keys: the last one wins. */
	v = json_body_parse("{\"a\":1,\"a\":2}", 13, &errs);
	assert_int_equal(json_integer_value(json_object_get(v, "a")), 2);
	json_decref(v);

	/* Deep but within the limit. */
	s = nested(2000, "[", "1", "]");
	v = json_body_parse(s, strlen(s), &errs);
	assert_non_null(v);
	json_decref(v);
	free(s);
	assert_int_equal(errs.n, 0);
}

static void
test_parse_empty(void **state)
{
	struct verrs	errs;

	verrs_init(&errs);
	assert_null(json_body_parse("", 0, &errs));
	expect_errors(&errs, MISSING_BODY);
	assert_null(json_body_parse(NULL, 0, &errs));
	expect_errors(&errs, MISSING_BODY);
}

/* buf does not parse: errs is want exactly. */
static void
expect_refused(const char *buf, const char *want)
{
	struct verrs	errs;

	verrs_init(&errs);
	assert_null(json_body_parse(buf, strlen(buf), &errs));
	expect_errors(&errs, want);
}

#define NUL_ERR(loc)							\
	"{\"type\":\"value_error\",\"loc\":[\"body\"" loc "],"		\
	"\"msg\":\"Value error, a string must not contain NUL " \
	"(\\\\u0000)\"}"

/*
 * \u0000 in a string value: value_error at the top-level field that
 * holds it, each such field once; in a key: json_invalid that says so.
 */
static void
test_parse_nul(void **state)
{
	struct verrs	errs;
	json_t		*v;

	expect_refused("{\"name\":\"a\\u0000b\"}",
	    "{\"detail\":[" NUL_ERR(",\"name\"") "]}");
	expect_refused("{\"name\":\"\\u0000\",\"age\":1,"
	    "\"email\":\"a\\u0000@example.com\",\"x\":\"y\"}",
	    "{\"detail\":[" NUL_ERR(",\"name\"") "," NUL_ERR(",\"email\"")
	    "]}");
	/* Deeper: reported at the top-level field. */
	expect_refused("{\"a\":{\"b\":[1,\"\\u0000\"]},"
	    "\"c\":[\"\\u0000\",\"\\u0000\"]}",
	    "{\"detail\":[" NUL_ERR(",\"a\"") "," NUL_ERR(",\"c\"") "]}");
	expect_refused("[\"x\",\"\\u0000\"]",
	    "{\"detail\":[" NUL_ERR(",1") "]}");
	expect_refused("\"\\u0000\"", "{\"detail\":[" NUL_ERR("") "]}");
	/* In a key. */
	expect_refused("{\"\\u0000\":1}", "{\"detail\":[{\"type\":"
	    "\"json_invalid\",\"loc\":[\"body\",9],\"msg\":\"JSON decode "
	    "error: an object key must not contain NUL (\\\\u0000)\"}]}");
	/* Other escapes of control characters are fine. */
	verrs_init(&errs);
	v = json_body_parse("{\"name\":\"a\\u0001b\\u001f\"}",
	    strlen("{\"name\":\"a\\u0001b\\u001f\"}"), &errs);
	assert_non_null(v);
	assert_int_equal(errs.n, 0);
	assert_int_equal(json_string_length(json_object_get(v, "name")), 4);
	json_decref(v);
}

static void
test_parse_invalid(void **state)
{
	char	*s;

	expect_invalid("{", 1, 1);
	expect_invalid("x", 1, 1);
	expect_invalid(" ", 1, 1);
	expect_invalid("{\"a\":1,}", 8, 8);
	expect_invalid("{\"a\" 1}", 7, 6);
	expect_invalid("{'a':1}", 7, 2);
	expect_invalid("{\"a\":01}", 8, 6);
	expect_invalid("{\"a\":NaN}", 9, 8);
	expect_invalid("{\"a\":Infinity}", 14, 13);
	/* Trailing data after the value. */
	expect_invalid("{} x", 4, 4);
	expect_invalid("{}{}", 4, 3);
	/* Bytes that are not UTF-8, raw or as an overlong form. */
	expect_invalid("{\"name\":\"\xff\"}", 12, 9);
	expect_invalid("{\"name\":\"\xc0\xaf\"}", 13, 9);
	expect_invalid("{\"n\xe9me\":\"x\"}", 13, 3);
	expect_invalid("\xef\xbb\xbf{}", 5, 3);
	/* NUL raw (a control character); escaped NUL: test_parse_nul. */
	expect_invalid("{\"name\":\"a\0b\"}", 14, 10);
	expect_invalid("{}\0", 3, 3);
	/* A lone surrogate. */
	expect_invalid("{\"name\":\"\\ud800\"}", 17, 16);
	/* Numbers beyond what the service stores. */
	expect_invalid("{\"age\":99999999999999999999}", 28, 27);
	expect_invalid("{\"age\":-9223372036854775809}", 28, 27);
	expect_invalid("{\"age\":1e400}", 13, 12);
	/* Truncated. */
	expect_invalid("{\"name\":\"abc", 12, 12);
	expect_invalid("[1,2", 4, 4);

	/* Deeper than the parser goes. */
	s = nested(3000, "[", "1", "]");
	expect_invalid(s, strlen(s), 2049);
	free(s);
	s = nested(100000, "{\"a\":", "1", "}");
	expect_invalid(s, strlen(s), 10241);
	free(s);
}

/* --- user_input_from_json: success ---------------------------------------- */

static void
test_create_ok(void **state)
{
	struct verrs		errs;
	struct user_input	in;

	verrs_init(&errs);
	assert_int_equal(input("{\"name\":\"  Alice  \",\"email\":"
	    "\"Alice@Example.COM\",\"age\":30,\"password\":\" secret pw \"}",
	    USER_INPUT_CREATE, 0, &in, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(in.fields,
	    USER_F_NAME | USER_F_EMAIL | USER_F_AGE | USER_F_PASSWORD);
	assert_string_equal(in.name, "Alice");
	assert_string_equal(in.email, "Alice@example.com");
	assert_int_equal(in.age_null, 0);
	assert_int_equal(in.age, 30);
	assert_string_equal(in.password, " secret pw ");
	user_input_free(&in);

	/* Only the required fields: no age (null), no password. */
	assert_int_equal(input("{\"email\":\"b@example.org\",\"name\":\"B\"}",
	    USER_INPUT_CREATE, 0, &in, &errs), 0);
	assert_int_equal(in.fields, USER_F_NAME | USER_F_EMAIL);
	assert_int_equal(in.age_null, 1);
	assert_null(in.password);
	user_input_free(&in);

	/* age null is given; the edges of the range. */
	assert_int_equal(input("{\"name\":\"B\",\"email\":\"b@e.io\","
	    "\"age\":null}", USER_INPUT_CREATE, 0, &in, &errs), 0);
	assert_int_equal(in.fields, USER_F_NAME | USER_F_EMAIL | USER_F_AGE);
	assert_int_equal(in.age_null, 1);
	user_input_free(&in);
	assert_int_equal(input("{\"name\":\"B\",\"email\":\"b@e.io\","
	    "\"age\":0}", USER_INPUT_CREATE, 0, &in, &errs), 0);
	assert_int_equal(in.age_null, 0);
	assert_int_equal(in.age, 0);
	user_input_free(&in);
	assert_int_equal(input("{\"name\":\"B\",\"email\":\"b@e.io\","
	    "\"age\":-0}", USER_INPUT_CREATE, 0, &in, &errs), 0);
	assert_int_equal(in.age_null, 0);
	assert_int_equal(in.age, 0);
	user_input_free(&in);
	assert_int_equal(input("{\"name\":\"B\",\"email\":\"b@e.io\","
	    "\"age\":150}", USER_INPUT_CREATE, 0, &in, &errs), 0);
	assert_int_equal(in.age, 150);
	user_input_free(&in);

	/* Escapes decode before the checks: \u00e9 x 100 is 100 characters. */
	assert_int_equal(input("{\"name\":\"\\u00e9\\u00e9\",\"email\":"
	    "\"\\u0061@b.co\"}", USER_INPUT_CREATE, 0, &in, &errs), 0);
	assert_string_equal(in.name, E_ACUTE E_ACUTE);
	assert_string_equal(in.email, "a@b.co");
	user_input_free(&in);
	assert_int_equal(errs.n, 0);
}

static void
test_replace_ok(void **state)
{
	struct verrs		errs;
	struct user_input	in;

	verrs_init(&errs);
	assert_int_equal(input("{\"name\":\"N\",\"email\":\"n@EX.com\","
	    "\"age\":7}", USER_INPUT_REPLACE, 0, &in, &errs), 0);
	assert_int_equal(in.fields, USER_F_NAME | USER_F_EMAIL | USER_F_AGE);
	assert_string_equal(in.email, "n@ex.com");
	assert_int_equal(in.age, 7);
	assert_int_equal(in.age_null, 0);
	user_input_free(&in);

	/* An absent age replaces the stored one with null. */
	assert_int_equal(input("{\"name\":\"N\",\"email\":\"n@ex.com\"}",
	    USER_INPUT_REPLACE, 1, &in, &errs), 0);
	assert_int_equal(in.fields, USER_F_NAME | USER_F_EMAIL);
	assert_int_equal(in.age_null, 1);
	user_input_free(&in);
	assert_int_equal(errs.n, 0);
}

static void
test_patch_ok(void **state)
{
	struct verrs		errs;
	struct user_input	in;

	verrs_init(&errs);
	assert_int_equal(input("{}", USER_INPUT_PATCH, 0, &in, &errs), 0);
	assert_int_equal(in.fields, 0);
	user_input_free(&in);

	assert_int_equal(input("{\"age\":null}", USER_INPUT_PATCH, 0, &in,
	    &errs), 0);
	assert_int_equal(in.fields, USER_F_AGE);
	assert_int_equal(in.age_null, 1);
	user_input_free(&in);

	assert_int_equal(input("{\"email\":\"X@Y.Z\"}", USER_INPUT_PATCH, 0,
	    &in, &errs), 0);
	assert_int_equal(in.fields, USER_F_EMAIL);
	assert_string_equal(in.email, "X@y.z");
	assert_null(in.name);
	user_input_free(&in);

	assert_int_equal(input("{\"is_active\":false,\"is_admin\":true,"
	    "\"name\":\" Root \"}", USER_INPUT_PATCH, 1, &in, &errs), 0);
	assert_int_equal(in.fields,
	    USER_F_IS_ACTIVE | USER_F_IS_ADMIN | USER_F_NAME);
	assert_int_equal(in.is_active, 0);
	assert_int_equal(in.is_admin, 1);
	assert_string_equal(in.name, "Root");
	user_input_free(&in);

	assert_int_equal(input("{\"is_active\":true,\"is_admin\":false}",
	    USER_INPUT_PATCH, 1, &in, &errs), 0);
	assert_int_equal(in.is_active, 1);
	assert_int_equal(in.is_admin, 0);
	user_input_free(&in);

	/* Duplicate keys: the last one counts. */
	assert_int_equal(input("{\"name\":\"first\",\"name\":\"last\"}",
	    USER_INPUT_PATCH, 0, &in, &errs), 0);
	assert_string_equal(in.name, "last");
	user_input_free(&in);
	assert_int_equal(errs.n, 0);
}

/* --- user_input_from_json: errors ----------------------------------------- */

static void
test_not_object(void **state)
{
	input_fails("[]", USER_INPUT_CREATE, 0, NOT_OBJECT);
	input_fails("[{\"name\":\"a\",\"email\":\"a@b.co\"}]",
	    USER_INPUT_CREATE, 0, NOT_OBJECT);
	input_fails("\"name\"", USER_INPUT_PATCH, 0, NOT_OBJECT);
	input_fails("42", USER_INPUT_REPLACE, 0, NOT_OBJECT);
	input_fails("1.5", USER_INPUT_CREATE, 0, NOT_OBJECT);
	input_fails("true", USER_INPUT_PATCH, 1, NOT_OBJECT);
	/* JSON null is no body at all, as in FastAPI. */
	input_fails("null", USER_INPUT_CREATE, 0, MISSING_BODY);
	input_fails("null", USER_INPUT_PATCH, 0, MISSING_BODY);
}

static void
test_missing(void **state)
{
	const char	*both;

	both = "{\"detail\":["
	    "{\"type\":\"missing\",\"loc\":[\"body\",\"name\"],"
	    "\"msg\":\"Field required\"},"
	    "{\"type\":\"missing\",\"loc\":[\"body\",\"email\"],"
	    "\"msg\":\"Field required\"}]}";
	input_fails("{}", USER_INPUT_CREATE, 0, both);
	input_fails("{}", USER_INPUT_REPLACE, 0, both);
	input_fails("{\"age\":3}", USER_INPUT_CREATE, 0, both);
	input_fails("{\"password\":\"12345678\"}", USER_INPUT_CREATE, 0, both);

	input_fails("{\"name\":\"a\"}", USER_INPUT_CREATE, 0,
	    "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\",\"email\"],"
	    "\"msg\":\"Field required\"}]}");
	input_fails("{\"email\":\"a@b.co\"}", USER_INPUT_REPLACE, 0,
	    "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\",\"name\"],"
	    "\"msg\":\"Field required\"}]}");
}

static void
test_extra_forbidden(void **state)
{
	/* password is not part of PUT; the flags are PATCH for admins only. */
	input_fails("{\"name\":\"a\",\"email\":\"a@b.co\",\"password\":"
	    "\"12345678\"}", USER_INPUT_REPLACE, 1,
	    "{\"detail\":[{\"type\":\"extra_forbidden\",\"loc\":[\"body\","
	    "\"password\"],\"msg\":\"Extra inputs are not permitted\"}]}");
	input_fails("{\"password\":\"12345678\"}", USER_INPUT_PATCH, 1,
	    "{\"detail\":[{\"type\":\"extra_forbidden\",\"loc\":[\"body\","
	    "\"password\"],\"msg\":\"Extra inputs are not permitted\"}]}");
	input_fails("{\"is_active\":true}", USER_INPUT_PATCH, 0,
	    "{\"detail\":[{\"type\":\"extra_forbidden\",\"loc\":[\"body\","
	    "\"is_active\"],\"msg\":\"Extra inputs are not permitted\"}]}");
	input_fails("{\"is_admin\":true}", USER_INPUT_PATCH, 0,
	    "{\"detail\":[{\"type\":\"extra_forbidden\",\"loc\":[\"body\","
	    "\"is_admin\"],\"msg\":\"Extra inputs are not permitted\"}]}");
	input_fails("{\"name\":\"a\",\"email\":\"a@b.co\",\"is_admin\":true}",
	    USER_INPUT_CREATE, 1,
	    "{\"detail\":[{\"type\":\"extra_forbidden\",\"loc\":[\"body\","
	    "\"is_admin\"],\"msg\":\"Extra inputs are not permitted\"}]}");
	input_fails("{\"name\":\"a\",\"email\":\"a@b.co\",\"is_active\":true}",
	    USER_INPUT_REPLACE, 1,
	    "{\"detail\":[{\"type\":\"extra_forbidden\",\"loc\":[\"body\","
	    "\"is_active\"],\"msg\":\"Extra inputs are not permitted\"}]}");
	/* Server-owned fields and near misses are unknown fields. */
	input_fails("{\"id\":\"x\",\"Name\":\"a\",\"\":0,\"n" E_ACUTE "\":[],"
	    "\"created_at\":null,\"hashed_password\":\"x\"}",
	    USER_INPUT_PATCH, 1, "{\"detail\":["
	    "{\"type\":\"extra_forbidden\",\"loc\":[\"body\",\"id\"],"
	    "\"msg\":\"Extra inputs are not permitted\"},"
	    "{\"type\":\"extra_forbidden\",\"loc\":[\"body\",\"Name\"],"
	    "\"msg\":\"Extra inputs are not permitted\"},"
	    "{\"type\":\"extra_forbidden\",\"loc\":[\"body\",\"\"],"
	    "\"msg\":\"Extra inputs are not permitted\"},"
	    "{\"type\":\"extra_forbidden\",\"loc\":[\"body\",\"n" E_ACUTE
	    "\"],\"msg\":\"Extra inputs are not permitted\"},"
	    "{\"type\":\"extra_forbidden\",\"loc\":[\"body\",\"created_at\"],"
	    "\"msg\":\"Extra inputs are not permitted\"},"
	    "{\"type\":\"extra_forbidden\",\"loc\":[\"body\","
	    "\"hashed_password\"],\"msg\":\"Extra inputs are not permitted\"}"
	    "]}");
}

static void
test_string_type(void **state)
{
	static const char *bad[] = {
		"null", "5", "1.5", "true", "false", "[]", "[\"a\"]", "{}",
		"{\"a\":\"b\"}",
	};
	char		 body[128], want[256];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(body, sizeof(body),
		    "{\"name\":%s,\"email\":\"a@b.co\"}", bad[i]);
		input_fails(body, USER_INPUT_CREATE, 0, "{\"detail\":["
		    "{\"type\":\"string_type\",\"loc\":[\"body\",\"name\"],"
		    "\"msg\":\"Input should be a valid string\"}]}");
		(void)snprintf(body, sizeof(body), "{\"email\":%s}", bad[i]);
		input_fails(body, USER_INPUT_PATCH, 0, "{\"detail\":["
		    "{\"type\":\"string_type\",\"loc\":[\"body\",\"email\"],"
		    "\"msg\":\"Input should be a valid string\"}]}");
		(void)snprintf(body, sizeof(body), "{\"name\":\"n\","
		    "\"email\":\"a@b.co\",\"password\":%s}", bad[i]);
		(void)snprintf(want, sizeof(want), "{\"detail\":["
		    "{\"type\":\"string_type\",\"loc\":[\"body\",\"password\"],"
		    "\"msg\":\"Input should be a valid string\"}]}");
		input_fails(body, USER_INPUT_CREATE, 0, want);
	}
}

static void
test_int_type(void **state)
{
	static const char *bad[] = {
		"\"30\"", "\"\"", "30.0", "30.5", "1e2", "-0.0", "true",
		"false", "[]", "[30]", "{}",
	};
	char		 body[128];
	size_t		 i;

	/* Strict: no string or float is taken for an integer. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(body, sizeof(body), "{\"age\":%s}", bad[i]);
		input_fails(body, USER_INPUT_PATCH, 0, "{\"detail\":["
		    "{\"type\":\"int_type\",\"loc\":[\"body\",\"age\"],"
		    "\"msg\":\"Input should be a valid integer\"}]}");
	}
}

static void
test_age_range(void **state)
{
	const char	*ge, *le;

	ge = "{\"detail\":[{\"type\":\"greater_than_equal\",\"loc\":[\"body\","
	    "\"age\"],\"msg\":\"Input should be greater than or equal to 0\"}]}";
	le = "{\"detail\":[{\"type\":\"less_than_equal\",\"loc\":[\"body\","
	    "\"age\"],\"msg\":\"Input should be less than or equal to 150\"}]}";
	input_fails("{\"age\":-1}", USER_INPUT_PATCH, 0, ge);
	input_fails("{\"age\":-9223372036854775808}", USER_INPUT_PATCH, 0, ge);
	input_fails("{\"age\":151}", USER_INPUT_PATCH, 0, le);
	/* Values that would wrap into range as a 32-bit int. */
	input_fails("{\"age\":4294967296}", USER_INPUT_PATCH, 0, le);
	input_fails("{\"age\":4294967326}", USER_INPUT_PATCH, 0, le);
	input_fails("{\"age\":9223372036854775807}", USER_INPUT_PATCH, 0, le);
}

static void
test_bool_type(void **state)
{
	static const char *bad[] = {
		"null", "1", "0", "\"true\"", "\"false\"", "[]", "{}", "1.0",
	};
	char		 body[128];
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(body, sizeof(body), "{\"is_active\":%s,"
		    "\"is_admin\":%s}", bad[i], bad[i]);
		input_fails(body, USER_INPUT_PATCH, 1, "{\"detail\":["
		    "{\"type\":\"bool_type\",\"loc\":[\"body\",\"is_active\"],"
		    "\"msg\":\"Input should be a valid boolean\"},"
		    "{\"type\":\"bool_type\",\"loc\":[\"body\",\"is_admin\"],"
		    "\"msg\":\"Input should be a valid boolean\"}]}");
	}
}

static void
test_value_errors(void **state)
{
	struct verrs		 errs;
	struct user_input	 in;
	char			*body, *name;
	int			 i;

	input_fails("{\"name\":\"   \",\"email\":\"a@b.co\"}", USER_INPUT_CREATE,
	    0, "{\"detail\":[{\"type\":\"string_too_short\",\"loc\":[\"body\","
	    "\"name\"],\"msg\":\"String should have at least 1 character\"}]}");
	input_fails("{\"name\":\"\\u3000\\u00a0\\t\"}", USER_INPUT_PATCH, 0,
	    "{\"detail\":[{\"type\":\"string_too_short\",\"loc\":[\"body\","
	    "\"name\"],\"msg\":\"String should have at least 1 character\"}]}");
	input_fails("{\"email\":\"not-an-email\"}", USER_INPUT_PATCH, 0,
	    "{\"detail\":[{\"type\":\"value_error\",\"loc\":[\"body\","
	    "\"email\"],\"msg\":\"value is not a valid email address: the "
	    "email address must have an @-sign\"}]}");
	input_fails("{\"email\":\"a@b\\u00e9.com\"}", USER_INPUT_PATCH, 0,
	    "{\"detail\":[{\"type\":\"value_error\",\"loc\":[\"body\","
	    "\"email\"],\"msg\":\"value is not a valid email address: "
	    "non-ASCII characters are not supported\"}]}");
	input_fails("{\"name\":\"n\",\"email\":\"a@b.co\",\"password\":"
	    "\"1234567\"}", USER_INPUT_CREATE, 0,
	    "{\"detail\":[{\"type\":\"string_too_short\",\"loc\":[\"body\","
	    "\"password\"],\"msg\":\"String should have at least 8 "
	    "characters\"}]}");

	/* 101 characters after unescaping. */
	name = malloc(101 * 6 + 1);
	assert_non_null(name);
	name[0] = '\0';
	for (i = 0; i < 101; i++)
		strcat(name, "\\u00e9");
	body = malloc(strlen(name) + 64);
	assert_non_null(body);
	(void)sprintf(body, "{\"name\":\"%s\"}", name);
	input_fails(body, USER_INPUT_PATCH, 0,
	    "{\"detail\":[{\"type\":\"string_too_long\",\"loc\":[\"body\","
	    "\"name\"],\"msg\":\"String should have at most 100 "
	    "characters\"}]}");
	/* 100 of them pass. */
	name[100 * 6] = '\0';
	(void)sprintf(body, "{\"name\":\"%s\"}", name);
	verrs_init(&errs);
	assert_int_equal(input(body, USER_INPUT_PATCH, 0, &in, &errs), 0);
	assert_int_equal(model_utf8_len(in.name), 100);
	assert_int_equal(strlen(in.name), 200);
	user_input_free(&in);
	free(body);
	free(name);
}

/* Every problem at once: body key order, then the missing fields. */
static void
test_many_errors(void **state)
{
	input_fails("{\"age\":\"x\",\"zzz\":1,\"email\":\"bad\",\"name\":\"\","
	    "\"password\":\"short\",\"is_admin\":true}", USER_INPUT_CREATE, 1,
	    "{\"detail\":["
	    "{\"type\":\"int_type\",\"loc\":[\"body\",\"age\"],"
	    "\"msg\":\"Input should be a valid integer\"},"
	    "{\"type\":\"extra_forbidden\",\"loc\":[\"body\",\"zzz\"],"
	    "\"msg\":\"Extra inputs are not permitted\"},"
	    "{\"type\":\"value_error\",\"loc\":[\"body\",\"email\"],"
	    "\"msg\":\"value is not a valid email address: the email address "
	    "must have an @-sign\"},"
	    "{\"type\":\"string_too_short\",\"loc\":[\"body\",\"name\"],"
	    "\"msg\":\"String should have at least 1 character\"},"
	    "{\"type\":\"string_too_short\",\"loc\":[\"body\",\"password\"],"
	    "\"msg\":\"String should have at least 8 characters\"},"
	    "{\"type\":\"extra_forbidden\",\"loc\":[\"body\",\"is_admin\"],"
	    "\"msg\":\"Extra inputs are not permitted\"}]}");

	/* Valid fields do not hide the others; missing come last. */
	input_fails("{\"extra\":1,\"name\":\"ok\",\"age\":200}",
	    USER_INPUT_REPLACE, 0, "{\"detail\":["
	    "{\"type\":\"extra_forbidden\",\"loc\":[\"body\",\"extra\"],"
	    "\"msg\":\"Extra inputs are not permitted\"},"
	    "{\"type\":\"less_than_equal\",\"loc\":[\"body\",\"age\"],"
	    "\"msg\":\"Input should be less than or equal to 150\"},"
	    "{\"type\":\"missing\",\"loc\":[\"body\",\"email\"],"
	    "\"msg\":\"Field required\"}]}");

	/* One good value and one bad one: nothing is kept (no leak either). */
	input_fails("{\"name\":\"kept?\",\"email\":\"Good@Example.com\","
	    "\"password\":\"long enough\",\"age\":-5}", USER_INPUT_CREATE, 0,
	    "{\"detail\":[{\"type\":\"greater_than_equal\",\"loc\":[\"body\","
	    "\"age\"],\"msg\":\"Input should be greater than or equal to 0\"}"
	    "]}");
}

/*
 * Past VERRS_MAX errors the list stops: one last entry counts the rest,
 * and the result does not grow with the body.
 */
static void
test_error_cap(void **state)
{
	struct verrs		 errs;
	struct user_input	 in;
	json_t			*out, *last;
	char			*body;
	size_t			 i, off, n;

	n = 20000;
	body = malloc(n * 16 + 16);
	assert_non_null(body);
	off = 0;
	body[off++] = '{';
	for (i = 0; i < n; i++)
		off += (size_t)sprintf(body + off, "%s\"k%zu\":1",
		    i > 0 ? "," : "", i);
	body[off++] = '}';
	body[off] = '\0';

	verrs_init(&errs);
	assert_int_equal(input(body, USER_INPUT_CREATE, 0, &in, &errs), -1);
	assert_int_equal(errs.n, VERRS_MAX);
	/* The two missing fields (name, email) are counted too. */
	assert_int_equal(errs.more, n - VERRS_MAX + 2);
	out = verrs_to_json(&errs);
	assert_int_equal(json_array_size(json_object_get(out, "detail")),
	    VERRS_MAX + 1);
	last = json_array_get(json_object_get(out, "detail"), VERRS_MAX);
	assert_string_equal(json_string_value(json_object_get(last, "type")),
	    "too_many_errors");
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(last, "loc"), 0)), "body");
	assert_int_equal(json_array_size(json_object_get(last, "loc")), 1);
	assert_string_equal(json_string_value(json_object_get(last, "msg")),
	    "19952 more errors not shown");
	json_decref(out);
	verrs_free(&errs);
	assert_int_equal(errs.more, 0);
	free(body);

	/* Exactly VERRS_MAX errors: no extra entry. */
	verrs_init(&errs);
	for (i = 0; i < VERRS_MAX; i++)
		verrs_add(&errs, "missing", "query", "x", "Field required");
	assert_int_equal(errs.more, 0);
	out = verrs_to_json(&errs);
	assert_int_equal(json_array_size(json_object_get(out, "detail")),
	    VERRS_MAX);
	json_decref(out);
	verrs_add_pos(&errs, "json_invalid", "query", 3, "JSON decode error");
	assert_int_equal(errs.more, 1);
	assert_int_equal(errs.n, VERRS_MAX);
	expect_errors_tail(&errs, "{\"type\":\"too_many_errors\","
	    "\"loc\":[\"query\"],\"msg\":\"1 more errors not shown\"}]}");
}

/* Errors already in errs are not this body's: the result is about new ones. */
static void
test_errs_not_empty(void **state)
{
	struct verrs		 errs;
	struct user_input	 in;
	json_t			*v;

	verrs_init(&errs);
	verrs_add(&errs, "int_parsing", "query", "skip", "earlier");
	v = json_loads("{\"name\":\"n\"}", 0, NULL);
	assert_int_equal(user_input_from_json(v, USER_INPUT_PATCH, 0, &in,
	    &errs), 0);
	assert_string_equal(in.name, "n");
	user_input_free(&in);
	assert_int_equal(errs.n, 1);
	json_decref(v);
	verrs_free(&errs);
}

static void
test_deep_values(void **state)
{
	char	*deep, *body;

	/* Nesting the parser takes is still the wrong type, not a crash. */
	deep = nested(1000, "[", "\"x\"", "]");
	body = malloc(2 * strlen(deep) + 64);
	assert_non_null(body);
	(void)sprintf(body, "{\"name\":%s,\"age\":%s}", deep, deep);
	input_fails(body, USER_INPUT_PATCH, 0, "{\"detail\":["
	    "{\"type\":\"string_type\",\"loc\":[\"body\",\"name\"],"
	    "\"msg\":\"Input should be a valid string\"},"
	    "{\"type\":\"int_type\",\"loc\":[\"body\",\"age\"],"
	    "\"msg\":\"Input should be a valid integer\"}]}");
	free(body);
	free(deep);

	deep = nested(500, "{\"k\":", "1", "}");
	body = malloc(2 * strlen(deep) + 64);
	assert_non_null(body);
	(void)sprintf(body, "{\"deep\":%s,\"email\":%s}", deep, deep);
	input_fails(body, USER_INPUT_PATCH, 0, "{\"detail\":["
	    "{\"type\":\"extra_forbidden\",\"loc\":[\"body\",\"deep\"],"
	    "\"msg\":\"Extra inputs are not permitted\"},"
	    "{\"type\":\"string_type\",\"loc\":[\"body\",\"email\"],"
	    "\"msg\":\"Input should be a valid string\"}]}");
	free(body);
	free(deep);
}

/* --- user_to_json --------------------------------------------------------- */

static void
test_user_to_json(void **state)
{
	struct user	 u;
	char		*s;

	memset(&u, 0, sizeof(u));
	(void)strcpy(u.id, "0190a6b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b");
	u.name = strdup("Zo\xc3\xab \"Z\"");
	u.email = strdup("zoe@example.com");
	u.age = 41;
	u.is_active = 1;
	u.is_admin = 0;
	u.created_us = 1795515660123456LL;	/* 2026-11-24T10:21:00.123456Z */
	u.updated_us = 1795515720000001LL;
	u.version = 7;

	s = dump(user_to_json(&u));
	assert_string_equal(s, "{\"id\":\"0190a6b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b\","
	    "\"name\":\"Zo\xc3\xab \\\"Z\\\"\",\"email\":\"zoe@example.com\","
	    "\"age\":41,\"is_active\":true,\"is_admin\":false,"
	    "\"created_at\":\"2026-11-24T10:21:00.123456Z\","
	    "\"updated_at\":\"2026-11-24T10:22:00.000001Z\"}");
	free(s);

	u.age_null = 1;
	u.is_active = 0;
	u.is_admin = 1;
	s = dump(user_to_json(&u));
	assert_string_equal(s, "{\"id\":\"0190a6b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b\","
	    "\"name\":\"Zo\xc3\xab \\\"Z\\\"\",\"email\":\"zoe@example.com\","
	    "\"age\":null,\"is_active\":false,\"is_admin\":true,"
	    "\"created_at\":\"2026-11-24T10:21:00.123456Z\","
	    "\"updated_at\":\"2026-11-24T10:22:00.000001Z\"}");
	free(s);

	/* Every key is there even when a string is missing. */
	user_free(&u);
	u.age_null = 0;
	u.age = 0;
	s = dump(user_to_json(&u));
	assert_string_equal(s, "{\"id\":\"0190a6b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b\","
	    "\"name\":null,\"email\":null,\"age\":0,\"is_active\":false,"
	    "\"is_admin\":true,\"created_at\":\"2026-11-24T10:21:00.123456Z\","
	    "\"updated_at\":\"2026-11-24T10:22:00.000001Z\"}");
	free(s);
}

/* --- json_timestamp ------------------------------------------------------ */

static void
expect_timestamp(long long us, const char *want)
{
	char	buf[JSON_TIMESTAMP_LEN];

	if (strcmp(json_timestamp(us, buf, sizeof(buf)), want) != 0)
		fail_msg("%lld: want %s got %s", us, want, buf);
}

static void
test_timestamp(void **state)
{
	expect_timestamp(0, "1970-01-01T00:00:00.000000Z");
	expect_timestamp(1, "1970-01-01T00:00:00.000001Z");
	expect_timestamp(-1, "1969-12-31T23:59:59.999999Z");
	expect_timestamp(-1000000, "1969-12-31T23:59:59.000000Z");
	expect_timestamp(-1000001, "1969-12-31T23:59:58.999999Z");
	expect_timestamp(1795515660123456LL, "2026-11-24T10:21:00.123456Z");
	/* Leap days: 2000 is a leap year, 1900 and 2100 are not. */
	expect_timestamp(951782400000000LL, "2000-02-29T00:00:00.000000Z");
	expect_timestamp(951868799999999LL, "2000-02-29T23:59:59.999999Z");
	expect_timestamp(-2203891200000000LL, "1900-03-01T00:00:00.000000Z");
	expect_timestamp(4107542400000000LL, "2100-03-01T00:00:00.000000Z");
	expect_timestamp(4107542399999999LL, "2100-02-28T23:59:59.999999Z");
	/* PostgreSQL's epoch, and the ends of four-digit years. */
	expect_timestamp(946684800000000LL, "2000-01-01T00:00:00.000000Z");
	expect_timestamp(-62135596800000000LL, "0001-01-01T00:00:00.000000Z");
	expect_timestamp(253402300799999999LL, "9999-12-31T23:59:59.999999Z");
}

/* Every day of years 1..9999 (and a second of each) agrees with gmtime_r. */
static void
test_timestamp_gmtime(void **state)
{
	char		 buf[JSON_TIMESTAMP_LEN], want[64];
	struct tm	 tm;
	time_t		 t;
	long long	 us, frac;

	for (t = -62135596800LL; t <= 253402300799LL; t += 86400 + 7919) {
		frac = ((long long)t % 1000000 + 1000000) % 1000000;
		us = (long long)t * 1000000 + frac;
		if (gmtime_r(&t, &tm) == NULL)
			fail_msg("gmtime_r failed on %lld", (long long)t);
		(void)snprintf(want, sizeof(want),
		    "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, frac);
		if (strcmp(json_timestamp(us, buf, sizeof(buf)), want) != 0)
			fail_msg("%lld: want %s got %s", us, want, buf);
	}
}

/* json_text_user writes exactly what jansson writes for user_to_json. */
static void
expect_same_text(const struct user *u)
{
	struct json_text	 t;
	char			*want;

	memset(&t, 0, sizeof(t));
	want = dump(user_to_json(u));
	json_text_user(&t, u);
	assert_non_null(t.s);
	assert_int_equal(t.len, strlen(t.s));
	if (strcmp(t.s, want) != 0)
		fail_msg("want %s\n got %s", want, t.s);
	free(want);
	json_text_free(&t);
}

static void
test_user_text(void **state)
{
	struct user	 u;
	char		 name[200];
	int		 i;

	memset(&u, 0, sizeof(u));
	(void)strcpy(u.id, "0190a6b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b");
	u.name = strdup("Zo\xc3\xab \"Z\" \\ / \xe2\x80\xa8 \xf0\x9f\x98\x80");
	u.email = strdup("zoe@example.com");
	u.age = 41;
	u.is_active = 1;
	u.created_us = 1795515660123456LL;
	u.updated_us = -1;
	expect_same_text(&u);

	/* Every ASCII byte, control characters included. */
	for (i = 1; i < 128; i++)
		name[i - 1] = (char)i;
	name[127] = '\0';
	free(u.name);
	u.name = strdup(name);
	u.age_null = 1;
	u.is_admin = 1;
	expect_same_text(&u);

	/* Missing strings are null, as in user_to_json. */
	user_free(&u);
	expect_same_text(&u);

	/* A page: the text grows past its first allocation. */
	{
		struct json_text	t;

		memset(&t, 0, sizeof(t));
		u.name = strdup("n");
		u.email = strdup("e@x.io");
		json_text_append(&t, "[", 1);
		for (i = 0; i < 100; i++) {
			if (i > 0)
				json_text_append(&t, ",", 1);
			json_text_user(&t, &u);
		}
		json_text_append(&t, "]", 1);
		assert_int_equal(t.len, strlen(t.s));
		assert_true(t.len > 100 * 200);
		assert_int_equal(t.s[t.len - 1], ']');
		json_text_free(&t);
		user_free(&u);
	}
}

/* A short buffer is never overrun: the text is cut. */
static void
test_timestamp_short(void **state)
{
	char	buf[11];

	assert_string_equal(json_timestamp(1795515660123456LL, buf,
	    sizeof(buf)), "2026-11-24");
}

/* Parse, decode, answer: the 422 body a client sees. */
static void
test_round_trip(void **state)
{
	struct verrs		 errs;
	struct user_input	 in;
	json_t			*v;
	const char		*body = "{\"name\": 1, \"email\": \"a@b.co\"";

	verrs_init(&errs);
	v = json_body_parse(body, strlen(body), &errs);
	assert_null(v);
	expect_errors(&errs, "{\"detail\":[{\"type\":\"json_invalid\","
	    "\"loc\":[\"body\",29],\"msg\":\"JSON decode error\"}]}");

	body = "{\"name\": 1, \"email\": \"a@b.co\"}";
	v = json_body_parse(body, strlen(body), &errs);
	assert_non_null(v);
	assert_int_equal(user_input_from_json(v, USER_INPUT_CREATE, 0, &in,
	    &errs), -1);
	json_decref(v);
	expect_errors(&errs, "{\"detail\":[{\"type\":\"string_type\","
	    "\"loc\":[\"body\",\"name\"],"
	    "\"msg\":\"Input should be a valid string\"}]}");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verrs_to_json),
		cmocka_unit_test(test_verrs_to_json_bad_utf8),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_empty),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_create_ok),
		cmocka_unit_test(test_replace_ok),
		cmocka_unit_test(test_patch_ok),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_extra_forbidden),
		cmocka_unit_test(test_string_type),
		cmocka_unit_test(test_int_type),
		cmocka_unit_test(test_age_range),
		cmocka_unit_test(test_bool_type),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_errs_not_empty),
		cmocka_unit_test(test_deep_values),
		cmocka_unit_test(test_user_to_json),
		cmocka_unit_test(test_timestamp),
		cmocka_unit_test(test_timestamp_gmtime),
		cmocka_unit_test(test_timestamp_short),
		cmocka_unit_test(test_user_text),
		cmocka_unit_test(test_round_trip),
	};

	json_setup();
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
