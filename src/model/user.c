/* userapi: the user model: checks of names, e-mails, ages, passwords, ids. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/user.h"
#include "model/verr.h"

static size_t	utf8_decode(const unsigned char *, size_t, uint32_t *);
static int	uni_is_space(uint32_t);
static size_t	space_at(const unsigned char *, size_t);
static size_t	space_before(const unsigned char *, size_t);
static char	*strip_copy(const char *);
static int	hexval(int);

void
user_free(struct user *u)
{
	free(u->name);
	free(u->email);
	u->name = NULL;
	u->email = NULL;
}

void
user_input_free(struct user_input *in)
{
	free(in->name);
	free(in->email);
	if (in->password != NULL) {
		explicit_bzero(in->password, strlen(in->password));
		free(in->password);
	}
	in->name = NULL;
	in->email = NULL;
	in->password = NULL;
}

/*
 * The name without leading and trailing white space (what Python's
 * str.strip() removes), 1..100 characters. On success *out is a malloc'd
 * copy; on failure *out is NULL and errs has one entry.
 */
int
model_user_name(const char *in, char **out, struct verrs *errs)
{
	char	*s;
	size_t	 len;

	*out = NULL;
	s = strip_copy(in);
	len = model_utf8_len(s);
	if (len < USER_NAME_MIN) {
		verrs_add(errs, "string_too_short", "body", "name",
		    "String should have at least %d character%s",
		    USER_NAME_MIN, USER_NAME_MIN == 1 ? "" : "s");
		free(s);
		return (-1);
	}
	if (len > USER_NAME_MAX) {
		verrs_add(errs, "string_too_long", "body", "name",
		    "String should have at most %d character%s",
		    USER_NAME_MAX, USER_NAME_MAX == 1 ? "" : "s");
		free(s);
		return (-1);
	}
	*out = s;
	return (0);
}

/*
 * Surrounding white space is dropped (as pydantic's EmailStr does), the
 * rest must pass model_email_valid. *out is the normalised copy or NULL.
 */
int
model_user_email(const char *in, char **out, struct verrs *errs)
{
	char		*s;
	const char	*why;

	*out = NULL;
	s = strip_copy(in);
	if (model_email_valid(s, out, &why) == -1) {
		verrs_add(errs, "value_error", "body", "email",
		    "value is not a valid email address: %s", why);
		free(s);
		return (-1);
	}
	free(s);
	return (0);
}

int
model_user_age(long long in, struct verrs *errs)
{
	if (in < USER_AGE_MIN) {
		verrs_add(errs, "greater_than_equal", "body", "age",
		    "Input should be greater than or equal to %d",
		    USER_AGE_MIN);
		return (-1);
	}
	if (in > USER_AGE_MAX) {
		verrs_add(errs, "less_than_equal", "body", "age",
		    "Input should be less than or equal to %d", USER_AGE_MAX);
		return (-1);
	}
	return (0);
}

/* 8..128 characters, taken as they are (no trimming); field names the loc. */
int
model_user_password(const char *in, const char *field, struct verrs *errs)
{
	size_t	len;

	len = model_utf8_len(in);
	if (len < USER_PASSWORD_MIN) {
		verrs_add(errs, "string_too_short", "body", field,
		    "String should have at least %d characters",
		    USER_PASSWORD_MIN);
		return (-1);
	}
	if (len > USER_PASSWORD_MAX) {
		verrs_add(errs, "string_too_long", "body", field,
		    "String should have at most %d characters",
		    USER_PASSWORD_MAX);
		return (-1);
	}
	return (0);
}

/* Code points: every byte that does not continue a sequence starts one. */
size_t
model_utf8_len(const char *s)
{
	const unsigned char	*p;
	size_t			 n;

	n = 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p & 0xc0) != 0x80)
			n++;
	}
	return (n);
}

/*
 * Accepts xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx or 32 hex digits, either
 * case, and nothing else (no braces, no urn:uuid:, no white space).
 * Writes the canonical lower-case hyphenated form; returns 0 or -1.
 */
int
model_uuid_parse(const char *in, char out[UUID_STR_LEN + 1])
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 len, i, o;
	int			 v, hyphens;

	len = strlen(in);
	if (len == UUID_STR_LEN)
		hyphens = 1;
	else if (len == 32)
		hyphens = 0;
	else
		return (-1);

	o = 0;
	for (i = 0; i < len; i++) {
		if (o == 8 || o == 13 || o == 18 || o == 23) {
			if (hyphens && in[i] != '-')
				return (-1);
			out[o++] = '-';
			if (hyphens)
				continue;
		}
		if ((v = hexval((unsigned char)in[i])) == -1)
			return (-1);
		out[o++] = hex[v];
	}
	out[o] = '\0';
	return (0);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* A malloc'd copy of s without leading and trailing white space. */
static char *
strip_copy(const char *s)
{
	const unsigned char	*p;
	size_t			 len, n;
	char			*out;

	p = (const unsigned char *)s;
	len = strlen(s);
	while (len > 0 && (n = space_at(p, len)) > 0) {
		p += n;
		len -= n;
	}
	while (len > 0 && (n = space_before(p, len)) > 0)
		len -= n;

	if ((out = malloc(len + 1)) == NULL)
		abort();
	memcpy(out, p, len);
	out[len] = '\0';
	return (out);
}

/* Bytes of the white space character that p starts with, or 0. */
static size_t
space_at(const unsigned char *p, size_t len)
{
	uint32_t	cp;
	size_t		n;

	n = utf8_decode(p, len, &cp);
	return (uni_is_space(cp) ? n : 0);
}

/* Bytes of the white space character that ends p[0..len), or 0. */
static size_t
space_before(const unsigned char *p, size_t len)
{
	uint32_t	cp;
	size_t		start, n;

	start = len - 1;
	while (start > 0 && len - start < 4 && (p[start] & 0xc0) == 0x80)
		start--;
	n = utf8_decode(p + start, len - start, &cp);
	if (n != len - start)
		return (0);
	return (uni_is_space(cp) ? n : 0);
}

/*
 * Decodes one character; returns its length. A malformed sequence is one
 * byte long and decodes to U+FFFD, which is not white space.
 */
static size_t
utf8_decode(const unsigned char *p, size_t len, uint32_t *cp)
{
	uint32_t	c, min;
	size_t		n, i;

	c = p[0];
	if (c < 0x80) {
		*cp = c;
		return (1);
	}
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		c &= 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		c &= 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		*cp = 0xfffd;
		return (1);
	}
	if (n > len) {
		*cp = 0xfffd;
		return (1);
	}
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*cp = 0xfffd;
			return (1);
		}
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
		*cp = 0xfffd;
		return (1);
	}
	*cp = c;
	return (n);
}

/* The characters Python's str.isspace() accepts. */
static int
uni_is_space(uint32_t c)
{
	if ((c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20))
		return (1);
	switch (c) {
	case 0x85:
	case 0xa0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202f:
	case 0x205f:
	case 0x3000:
		return (1);
	}
	return (c >= 0x2000 && c <= 0x200a);
}
