/* userapi: unit tests of src/model (errors, names, e-mails, uuids, ...). */

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/user.h"
#include "model/verr.h"

#define E_ACUTE		"\xc3\xa9"		/* U+00E9, 2 bytes */
#define EMOJI		"\xf0\x9f\x98\x80"	/* U+1F600, 4 bytes */
#define NBSP		"\xc2\xa0"
#define NEL		"\xc2\x85"
#define OGHAM_SPACE	"\xe1\x9a\x80"		/* U+1680 */
#define EN_QUAD		"\xe2\x80\x80"		/* U+2000 */
#define HAIR_SPACE	"\xe2\x80\x8a"		/* U+200A */
#define ZWSP		"\xe2\x80\x8b"		/* U+200B: not white space */
#define LINE_SEP	"\xe2\x80\xa8"
#define PARA_SEP	"\xe2\x80\xa9"
#define NNBSP		"\xe2\x80\xaf"
#define MMSP		"\xe2\x81\x9f"
#define IDEO_SPACE	"\xe3\x80\x80"
#define BOM		"\xef\xbb\xbf"		/* not white space */

struct email_ok {
	const char	*in;
	const char	*out;
};

struct email_bad {
	const char	*in;
	const char	*why;
};

static char	*repeat(const char *, size_t, const char *, const char *);
static void	 expect_one(struct verrs *, const char *, const char *,
		    const char *);
static void	 name_ok(const char *, const char *);
static void	 name_bad(const char *, const char *, const char *);
static void	 email_valid(const char *, const char *);
static void	 email_invalid(const char *, const char *);

/* pre + n times unit + post, malloc'd. */
static char *
repeat(const char *pre, size_t n, const char *unit, const char *post)
{
	char	*s;
	size_t	 i, ulen, len;

	ulen = strlen(unit);
	len = strlen(pre) + n * ulen + strlen(post);
	s = malloc(len + 1);
	assert_non_null(s);
	strcpy(s, pre);
	for (i = 0; i < n; i++)
		memcpy(s + strlen(pre) + i * ulen, unit, ulen);
	strcpy(s + strlen(pre) + n * ulen, post);
	assert_int_equal(strlen(s), len);
	return (s);
}

/* errs holds exactly one error: type at ["body", field] saying msg. */
static void
expect_one(struct verrs *errs, const char *type, const char *field,
    const char *msg)
{
	assert_int_equal(errs->n, 1);
	assert_string_equal(errs->v[0].type, type);
	assert_int_equal(errs->v[0].nloc, 2);
	assert_string_equal(errs->v[0].loc[0], "body");
	assert_string_equal(errs->v[0].loc[1], field);
	assert_int_equal(errs->v[0].loc_int, 0);
	assert_string_equal(errs->v[0].msg, msg);
}

/* --- verrs ---------------------------------------------------------------- */

static void
test_verrs_add(void **state)
{
	struct verrs	errs;

	verrs_init(&errs);
	assert_int_equal(errs.n, 0);
	assert_null(errs.v);

	verrs_add(&errs, "missing", "body", "name", "Field required");
	verrs_add(&errs, "missing", "body", NULL, "Field %s", "required");
	verrs_add(&errs, "less_than_equal", "query", "limit",
	    "Input should be less than or equal to %d", 100);
	verrs_add_pos(&errs, "json_invalid", "body", 17, "JSON decode error");
	verrs_add_pos(&errs, "json_invalid", "body", -3, "x");

	assert_int_equal(errs.n, 5);
	assert_string_equal(errs.v[0].type, "missing");
	assert_int_equal(errs.v[0].nloc, 2);
	assert_string_equal(errs.v[0].loc[1], "name");

	assert_int_equal(errs.v[1].nloc, 1);
	assert_string_equal(errs.v[1].loc[0], "body");
	assert_null(errs.v[1].loc[1]);
	assert_string_equal(errs.v[1].msg, "Field required");

	assert_string_equal(errs.v[2].loc[0], "query");
	assert_string_equal(errs.v[2].msg,
	    "Input should be less than or equal to 100");
	assert_int_equal(errs.v[2].loc_int, 0);

	assert_int_equal(errs.v[3].nloc, 2);
	assert_string_equal(errs.v[3].loc[1], "17");
	assert_int_equal(errs.v[3].loc_int, 2);
	assert_string_equal(errs.v[4].loc[1], "-3");

	verrs_free(&errs);
	assert_int_equal(errs.n, 0);
	assert_int_equal(errs.cap, 0);
	assert_null(errs.v);

	/* Reusable after free, and a second free is harmless. */
	verrs_add(&errs, "missing", "body", "email", "Field required");
	assert_int_equal(errs.n, 1);
	verrs_free(&errs);
	verrs_free(&errs);
}

static void
test_verrs_grow(void **state)
{
	struct verrs	errs;
	size_t		i;
	char		buf[16];

	/* The list grows to VERRS_MAX entries; the rest are counted. */
	verrs_init(&errs);
	for (i = 0; i < 1000; i++)
		verrs_add(&errs, "extra_forbidden", "body", "k", "%zu", i);
	assert_int_equal(errs.n, VERRS_MAX);
	assert_true(errs.cap >= VERRS_MAX && errs.cap < 2 * VERRS_MAX);
	assert_int_equal(errs.more, 1000 - VERRS_MAX);
	assert_string_equal(errs.more_loc, "body");
	for (i = 0; i < VERRS_MAX; i++) {
		(void)snprintf(buf, sizeof(buf), "%zu", i);
		assert_string_equal(errs.v[i].msg, buf);
	}
	verrs_free(&errs);
	assert_int_equal(errs.n, 0);
	assert_int_equal(errs.more, 0);
	assert_null(errs.more_loc);
}

/* --- UTF-8 length --------------------------------------------------------- */

static void
test_utf8_len(void **state)
{
	assert_int_equal(model_utf8_len(""), 0);
	assert_int_equal(model_utf8_len("abc"), 3);
	assert_int_equal(model_utf8_len(E_ACUTE), 1);
	assert_int_equal(model_utf8_len("\xe2\x82\xac"), 1);
	assert_int_equal(model_utf8_len(EMOJI), 1);
	assert_int_equal(model_utf8_len("a" E_ACUTE "b" EMOJI "c"), 5);
}

/* --- names ---------------------------------------------------------------- */

static void
name_ok(const char *in, const char *want)
{
	struct verrs	 errs;
	char		*out;

	verrs_init(&errs);
	out = (char *)0x1;
	assert_int_equal(model_user_name(in, &out, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void
name_bad(const char *in, const char *type, const char *msg)
{
	struct verrs	 errs;
	char		*out;

	verrs_init(&errs);
	out = (char *)0x1;
	assert_int_equal(model_user_name(in, &out, &errs), -1);
	assert_null(out);
	expect_one(&errs, type, "name", msg);
	verrs_free(&errs);
}

static void
test_name_trim(void **state)
{
	name_ok("Alice", "Alice");
	name_ok("  Alice  ", "Alice");
	name_ok("\t\n\v\f\r Alice \r\n", "Alice");
	name_ok("Alice  Liddell", "Alice  Liddell");
	name_ok(" a b ", "a b");
	name_ok("x", "x");
	name_ok(NBSP "Bob" IDEO_SPACE, "Bob");
	name_ok(NEL OGHAM_SPACE EN_QUAD HAIR_SPACE "Bob" LINE_SEP PARA_SEP
	    NNBSP MMSP, "Bob");
	name_ok("\x1c\x1d\x1e\x1f" "Bob" "\x1f", "Bob");
	/* Inside the name white space stays. */
	name_ok("Bo" NBSP "b", "Bo" NBSP "b");
	/* Not white space for Python either. */
	name_ok(ZWSP "Bob" ZWSP, ZWSP "Bob" ZWSP);
	name_ok(BOM "Bob", BOM "Bob");
	name_ok("\x01" "Bob", "\x01" "Bob");
	/* Stray bytes are not white space; the space after one goes. */
	name_ok("Bob\x80 ", "Bob\x80");
	name_ok(" \xe2\x80", "\xe2\x80");
	name_ok(E_ACUTE, E_ACUTE);
}

static void
test_name_length(void **state)
{
	char	*s, *t;

	name_bad("", "string_too_short",
	    "String should have at least 1 character");
	name_bad(" ", "string_too_short",
	    "String should have at least 1 character");
	name_bad(" \t\r\n ", "string_too_short",
	    "String should have at least 1 character");
	name_bad(NBSP IDEO_SPACE LINE_SEP, "string_too_short",
	    "String should have at least 1 character");

	s = repeat("", 100, "a", "");
	name_ok(s, s);
	free(s);
	s = repeat("", 101, "a", "");
	name_bad(s, "string_too_long",
	    "String should have at most 100 characters");
	free(s);

	/* Counted in characters, not bytes: 100 x U+00E9 is 200 bytes. */
	s = repeat("", 100, E_ACUTE, "");
	name_ok(s, s);
	free(s);
	s = repeat("", 101, E_ACUTE, "");
	name_bad(s, "string_too_long",
	    "String should have at most 100 characters");
	free(s);
	s = repeat("", 100, EMOJI, "");
	name_ok(s, s);
	free(s);
	s = repeat("", 101, EMOJI, "");
	name_bad(s, "string_too_long",
	    "String should have at most 100 characters");
	free(s);

	/* Counted after trimming. */
	s = repeat("   " NBSP, 100, "b", IDEO_SPACE "  ");
	t = repeat("", 100, "b", "");
	name_ok(s, t);
	free(s);
	free(t);
	s = repeat("   " NBSP, 101, "b", IDEO_SPACE "  ");
	name_bad(s, "string_too_long",
	    "String should have at most 100 characters");
	free(s);
}

/* --- age and password ----------------------------------------------------- */

static void
test_age(void **state)
{
	struct verrs	errs;

	verrs_init(&errs);
	assert_int_equal(model_user_age(0, &errs), 0);
	assert_int_equal(model_user_age(1, &errs), 0);
	assert_int_equal(model_user_age(150, &errs), 0);
	assert_int_equal(errs.n, 0);

	assert_int_equal(model_user_age(-1, &errs), -1);
	expect_one(&errs, "greater_than_equal", "age",
	    "Input should be greater than or equal to 0");
	verrs_free(&errs);

	assert_int_equal(model_user_age(151, &errs), -1);
	expect_one(&errs, "less_than_equal", "age",
	    "Input should be less than or equal to 150");
	verrs_free(&errs);

	assert_int_equal(model_user_age(LLONG_MIN, &errs), -1);
	expect_one(&errs, "greater_than_equal", "age",
	    "Input should be greater than or equal to 0");
	verrs_free(&errs);

	/* Would be 0 if truncated to 32 bits. */
	assert_int_equal(model_user_age(4294967296LL, &errs), -1);
	expect_one(&errs, "less_than_equal", "age",
	    "Input should be less than or equal to 150");
	verrs_free(&errs);

	assert_int_equal(model_user_age(LLONG_MAX, &errs), -1);
	assert_int_equal(errs.n, 1);
	verrs_free(&errs);
}

static void
test_password(void **state)
{
	struct verrs	 errs;
	char		*s;

	verrs_init(&errs);
	assert_int_equal(model_user_password("12345678", "password", &errs),
	    0);
	/* Not trimmed: a space is a character of a password. */
	assert_int_equal(model_user_password(" 234567 ", "password", &errs),
	    0);
	s = repeat("", 128, "p", "");
	assert_int_equal(model_user_password(s, "password", &errs), 0);
	free(s);
	s = repeat("", 8, E_ACUTE, "");
	assert_int_equal(model_user_password(s, "password", &errs), 0);
	free(s);
	s = repeat("", 128, EMOJI, "");
	assert_int_equal(model_user_password(s, "password", &errs), 0);
	free(s);
	assert_int_equal(errs.n, 0);

	assert_int_equal(model_user_password("1234567", "password", &errs),
	    -1);
	expect_one(&errs, "string_too_short", "password",
	    "String should have at least 8 characters");
	verrs_free(&errs);

	assert_int_equal(model_user_password("", "new_password", &errs), -1);
	expect_one(&errs, "string_too_short", "new_password",
	    "String should have at least 8 characters");
	verrs_free(&errs);

	/* 7 characters in 14 bytes is still too short. */
	s = repeat("", 7, E_ACUTE, "");
	assert_int_equal(model_user_password(s, "password", &errs), -1);
	expect_one(&errs, "string_too_short", "password",
	    "String should have at least 8 characters");
	verrs_free(&errs);
	free(s);

	s = repeat("", 129, "p", "");
	assert_int_equal(model_user_password(s, "password", &errs), -1);
	expect_one(&errs, "string_too_long", "password",
	    "String should have at most 128 characters");
	verrs_free(&errs);
	free(s);

	s = repeat("", 129, E_ACUTE, "");
	assert_int_equal(model_user_password(s, "new_password", &errs), -1);
	expect_one(&errs, "string_too_long", "new_password",
	    "String should have at most 128 characters");
	verrs_free(&errs);
	free(s);
}

/* --- e-mail --------------------------------------------------------------- */

static void
email_valid(const char *in, const char *want)
{
	char		*out;
	const char	*why;

	out = (char *)0x1;
	why = "unset";
	if (model_email_valid(in, &out, &why) != 0)
		fail_msg("'%s' refused: %s", in, why);
	assert_null(why);
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void
email_invalid(const char *in, const char *want)
{
	char		*out;
	const char	*why;

	out = (char *)0x1;
	why = NULL;
	if (model_email_valid(in, &out, &why) != -1)
		fail_msg("'%s' accepted", in);
	assert_null(out);
	assert_non_null(why);
	if (strcmp(why, want) != 0)
		fail_msg("'%s': want '%s', got '%s'", in, want, why);
}

static const struct email_ok emails_ok[] = {
	{ "user@example.com", "user@example.com" },
	{ "a@b.co", "a@b.co" },
	{ "User@Example.COM", "User@example.com" },
	{ "First.Last+Tag@Mail.Example.ORG", "First.Last+Tag@mail.example.org" },
	{ "MiXeD.cAsE@EXAMPLE.com", "MiXeD.cAsE@example.com" },
	{ "a.b.c.d@example.com", "a.b.c.d@example.com" },
	{ "1234567890@example.com", "1234567890@example.com" },
	{ "!#$%&'*+/=?^_`{|}~-@example.com", "!#$%&'*+/=?^_`{|}~-@example.com" },
	{ "o'brien@example.ie", "o'brien@example.ie" },
	{ "user_name@example.com", "user_name@example.com" },
	{ "-@example.com", "-@example.com" },
	{ "user@sub.domain.example.org", "user@sub.domain.example.org" },
	{ "user@a-b.example.com", "user@a-b.example.com" },
	{ "user@ex--ample.com", "user@ex--ample.com" },
	{ "user@123.example.com", "user@123.example.com" },
	{ "user@example.c0m", "user@example.c0m" },
	{ "user@example.com1", "user@example.com1" },
	{ "user@xn--bcher-kva.example", "user@xn--bcher-kva.example" },
	{ "user@a.b.c.d.e.f.g.h", "user@a.b.c.d.e.f.g.h" },
	{ "x@x.x", "x@x.x" },
	{ "Z@EXAMPLE.ZZ", "Z@example.zz" },
};

static const struct email_bad emails_bad[] = {
	{ "", "the email address must have an @-sign" },
	{ "plainaddress", "the email address must have an @-sign" },
	{ "user.example.com", "the email address must have an @-sign" },
	{ "@example.com", "there must be something before the @-sign" },
	{ "@", "there must be something before the @-sign" },
	{ "user@", "there must be something after the @-sign" },
	{ "a@b@example.com", "the email address must have only one @-sign" },
	{ "a@@example.com", "the email address must have only one @-sign" },
	{ "\"a@b\"@example.com", "the email address must have only one @-sign" },
	{ ".user@example.com", "the email address cannot start with a period" },
	{ ".@example.com", "the email address cannot start with a period" },
	{ "user.@example.com",
	    "the part before the @-sign cannot end with a period" },
	{ "us..er@example.com",
	    "the part before the @-sign cannot have two periods in a row" },
	{ "us er@example.com",
	    "the part before the @-sign contains invalid characters" },
	{ " user@example.com",
	    "the part before the @-sign contains invalid characters" },
	{ "user\t@example.com",
	    "the part before the @-sign contains invalid characters" },
	{ "\"quoted\"@example.com",
	    "the part before the @-sign contains invalid characters" },
	{ "\"john doe\"@example.com",
	    "the part before the @-sign contains invalid characters" },
	{ "user(comment)@example.com",
	    "the part before the @-sign contains invalid characters" },
	{ "a,b@example.com",
	    "the part before the @-sign contains invalid characters" },
	{ "a;b@example.com",
	    "the part before the @-sign contains invalid characters" },
	{ "a:b@example.com",
	    "the part before the @-sign contains invalid characters" },
	{ "a\\b@example.com",
	    "the part before the @-sign contains invalid characters" },
	{ "a[b]@example.com",
	    "the part before the @-sign contains invalid characters" },
	{ "<user@example.com>",
	    "the part before the @-sign contains invalid characters" },
	{ "Joe <user@example.com>",
	    "the part before the @-sign contains invalid characters" },
	{ "user@example",
	    "the part after the @-sign is not valid: it should have a period" },
	{ "user@localhost",
	    "the part after the @-sign is not valid: it should have a period" },
	{ "user@exa mple.com",
	    "the part after the @-sign contains invalid characters" },
	{ "user@exa_mple.com",
	    "the part after the @-sign contains invalid characters" },
	{ "user@example.com ",
	    "the part after the @-sign contains invalid characters" },
	{ "user@example.com\n",
	    "the part after the @-sign contains invalid characters" },
	{ "user@example.com>",
	    "the part after the @-sign contains invalid characters" },
	{ "user@exa!mple.com",
	    "the part after the @-sign contains invalid characters" },
	{ "user@[192.168.0.1]",
	    "the part after the @-sign cannot be an IP address literal" },
	{ "user@[IPv6:2001:db8::1]",
	    "the part after the @-sign cannot be an IP address literal" },
	{ "user@192.168.0.1",
	    "the part after the @-sign is not within a valid top-level domain" },
	{ "user@example.123",
	    "the part after the @-sign is not within a valid top-level domain" },
	{ "user@-example.com", "the part after the @-sign has a label that "
	    "starts or ends with a hyphen" },
	{ "user@example-.com", "the part after the @-sign has a label that "
	    "starts or ends with a hyphen" },
	{ "user@example.-com", "the part after the @-sign has a label that "
	    "starts or ends with a hyphen" },
	{ "user@example.com-", "the part after the @-sign has a label that "
	    "starts or ends with a hyphen" },
	{ "user@.example.com",
	    "the part after the @-sign cannot start with a period" },
	{ "user@example.com.",
	    "the part after the @-sign cannot end with a period" },
	{ "user@example..com",
	    "the part after the @-sign cannot have two periods in a row" },
	{ "us" E_ACUTE "r@example.com",
	    "non-ASCII characters are not supported" },
	{ "user@ex" E_ACUTE "mple.com",
	    "non-ASCII characters are not supported" },
	{ "user@example.com" NBSP,
	    "non-ASCII characters are not supported" },
	{ "user" EMOJI "@example.com",
	    "non-ASCII characters are not supported" },
	{ "user\x80@example.com",
	    "non-ASCII characters are not supported" },
};

static void
test_email_table(void **state)
{
	size_t	i;

	for (i = 0; i < sizeof(emails_ok) / sizeof(emails_ok[0]); i++)
		email_valid(emails_ok[i].in, emails_ok[i].out);
	for (i = 0; i < sizeof(emails_bad) / sizeof(emails_bad[0]); i++)
		email_invalid(emails_bad[i].in, emails_bad[i].why);
}

/* Every ASCII byte in the local part and in the domain. */
static void
test_email_ascii(void **state)
{
	static const char	 atext[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789"
				    "!#$%&'*+/=?^_`{|}~-";
	char			 local[32], domain[32], *out;
	const char		*why;
	int			 c, ok;

	for (c = 1; c < 128; c++) {
		(void)snprintf(local, sizeof(local), "a%cb@example.com", c);
		ok = c == '.' || strchr(atext, c) != NULL;
		assert_int_equal(model_email_valid(local, &out, &why),
		    ok ? 0 : -1);
		if (ok) {
			assert_string_equal(out, local);
			free(out);
		} else if (c != '@') {
			assert_string_equal(why, "the part before the @-sign "
			    "contains invalid characters");
		}

		(void)snprintf(domain, sizeof(domain), "user@a%cb.com", c);
		ok = c == '-' || c == '.' || (c >= '0' && c <= '9') ||
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		assert_int_equal(model_email_valid(domain, &out, &why),
		    ok ? 0 : -1);
		if (ok)
			free(out);
		else if (c != '@')
			assert_string_equal(why, "the part after the @-sign "
			    "contains invalid characters");
	}
}

static void
test_email_limits(void **state)
{
	char	*s, *label63;

	/* 64 bytes before the @-sign, 65 too many. */
	s = repeat("", 64, "a", "@example.com");
	email_valid(s, s);
	free(s);
	s = repeat("", 65, "a", "@example.com");
	email_invalid(s, "the part before the @-sign is too long");
	free(s);

	/* A label of 63 bytes, 64 too many. */
	s = repeat("user@", 63, "b", ".com");
	email_valid(s, s);
	free(s);
	s = repeat("user@", 64, "b", ".com");
	email_invalid(s, "the part after the @-sign has a label that is too "
	    "long");
	free(s);
	s = repeat("user@example.", 64, "c", "");
	email_invalid(s, "the part after the @-sign has a label that is too "
	    "long");
	free(s);

	/* 254 bytes in all: 64 + 1 + 189 (63 . 63 . 61); 255 too many. */
	label63 = repeat("", 63, "d", "");
	s = malloc(300);
	assert_non_null(s);
	(void)snprintf(s, 300, "%s@%s.%s.%.61s",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    label63, label63, label63);
	assert_int_equal(strlen(s), 254);
	email_valid(s, s);
	(void)snprintf(s, 300, "%s@%s.%s.%.62s",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    label63, label63, label63);
	assert_int_equal(strlen(s), 255);
	email_invalid(s, "the email address is too long");
	/* Too long in all wins over a local part that is too long too. */
	(void)snprintf(s, 300, "%s@%s.%s.%s.com",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    label63, label63, label63);
	email_invalid(s, "the email address is too long");
	free(s);
	free(label63);

	/* Long garbage is refused without reading past the end. */
	s = repeat("", 100000, "x", "");
	email_invalid(s, "the email address must have an @-sign");
	free(s);
}

static void
test_user_email(void **state)
{
	struct verrs	 errs;
	char		*out;

	verrs_init(&errs);
	assert_int_equal(model_user_email("Bob@Example.COM", &out, &errs), 0);
	assert_string_equal(out, "Bob@example.com");
	free(out);
	/* Surrounding white space goes, as with pydantic's EmailStr. */
	assert_int_equal(model_user_email(" \tBob@Example.COM" NBSP "\n",
	    &out, &errs), 0);
	assert_string_equal(out, "Bob@example.com");
	free(out);
	assert_int_equal(errs.n, 0);

	out = (char *)0x1;
	assert_int_equal(model_user_email("bob", &out, &errs), -1);
	assert_null(out);
	expect_one(&errs, "value_error", "email",
	    "value is not a valid email address: the email address must "
	    "have an @-sign");
	verrs_free(&errs);

	assert_int_equal(model_user_email("   ", &out, &errs), -1);
	expect_one(&errs, "value_error", "email",
	    "value is not a valid email address: the email address must "
	    "have an @-sign");
	verrs_free(&errs);

	assert_int_equal(model_user_email("bob@example", &out, &errs), -1);
	expect_one(&errs, "value_error", "email",
	    "value is not a valid email address: the part after the "
	    "@-sign is not valid: it should have a period");
	verrs_free(&errs);
}

/* --- uuids ---------------------------------------------------------------- */

static void
test_uuid_ok(void **state)
{
	char		out[UUID_STR_LEN + 1];
	size_t		i;
	static const struct email_ok uuids[] = {	/* in, canonical */
		{ "123e4567-e89b-12d3-a456-426614174000",
		    "123e4567-e89b-12d3-a456-426614174000" },
		{ "123E4567-E89B-12D3-A456-426614174000",
		    "123e4567-e89b-12d3-a456-426614174000" },
		{ "123e4567e89b12d3a456426614174000",
		    "123e4567-e89b-12d3-a456-426614174000" },
		{ "123E4567E89B12D3A456426614174ABC",
		    "123e4567-e89b-12d3-a456-426614174abc" },
		{ "00000000-0000-0000-0000-000000000000",
		    "00000000-0000-0000-0000-000000000000" },
		{ "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
		    "ffffffff-ffff-ffff-ffff-ffffffffffff" },
		{ "0190a6b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b",
		    "0190a6b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b" },
	};

	for (i = 0; i < sizeof(uuids) / sizeof(uuids[0]); i++) {
		memset(out, 'X', sizeof(out));
		assert_int_equal(model_uuid_parse(uuids[i].in, out), 0);
		assert_string_equal(out, uuids[i].out);
	}
}

static void
test_uuid_bad(void **state)
{
	char		out[UUID_STR_LEN + 1];
	size_t		i;
	static const char *bad[] = {
		"",
		"0",
		"123e4567-e89b-12d3-a456-42661417400",
		"123e4567-e89b-12d3-a456-4266141740000",
		"123e4567e89b12d3a45642661417400",
		"123e4567e89b12d3a4564266141740000",
		"{123e4567-e89b-12d3-a456-426614174000}",
		"{123e4567e89b12d3a456426614174000}",
		"urn:uuid:123e4567-e89b-12d3-a456-426614174000",
		" 123e4567-e89b-12d3-a456-426614174000",
		"123e4567-e89b-12d3-a456-426614174000 ",
		"123e4567-e89b-12d3-a456-426614174000\n",
		" 23e4567-e89b-12d3-a456-426614174000",
		"123e4567-e89b-12d3-a456-42661417400 ",
		"123e4567e-89b-12d3-a456-426614174000",
		"123e456-7e89b-12d3-a456-426614174000",
		"123e4567-e89b12d3-a456-426614174000-",
		"123e4567-e89b-12d3-a456_426614174000",
		"123e4567+e89b+12d3+a456+426614174000",
		"123e4567ae89ba12d3aa456a426614174000",
		"123e4567-e89b-12d3-a456-42661417400g",
		"g23e4567e89b12d3a456426614174000",
		"123e4567-89b12d3a456426614174000",
		"123e4567-e89b-12d3-a456--26614174000",
		"-123e4567e89b12d3a45642661417400",
		"123e4567-e89b-12d3-a456-4266141740" E_ACUTE,
		"12345678-1234-1234-1234-12345678901\xff",
		"../../../../etc/passwd/aaaaaaaaaaaaa",
	};

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (model_uuid_parse(bad[i], out) != -1)
			fail_msg("'%s' accepted as a uuid", bad[i]);
	}
}

/* --- the frees ------------------------------------------------------------ */

static void
test_frees(void **state)
{
	struct user		u;
	struct user_input	in;

	memset(&u, 0, sizeof(u));
	user_free(&u);
	u.name = strdup("n");
	u.email = strdup("e@x.y");
	user_free(&u);
	assert_null(u.name);
	assert_null(u.email);
	user_free(&u);

	memset(&in, 0, sizeof(in));
	user_input_free(&in);
	in.name = strdup("n");
	in.email = strdup("e@x.y");
	in.password = strdup("secret-password");
	user_input_free(&in);
	assert_null(in.name);
	assert_null(in.email);
	assert_null(in.password);
	user_input_free(&in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verrs_add),
		cmocka_unit_test(test_verrs_grow),
		cmocka_unit_test(test_utf8_len),
		cmocka_unit_test(test_name_trim),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_email_table),
		cmocka_unit_test(test_email_ascii),
		cmocka_unit_test(test_email_limits),
		cmocka_unit_test(test_user_email),
		cmocka_unit_test(test_uuid_ok),
		cmocka_unit_test(test_uuid_bad),
		cmocka_unit_test(test_frees),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
