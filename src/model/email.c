/* userapi: e-mail address syntax as pydantic's EmailStr, ASCII only. */

#include <stdlib.h>
#include <string.h>

#include "model/user.h"

#define EMAIL_LABEL_MAX		63

static const char	*email_local_check(const char *, size_t);
static const char	*email_domain_check(const char *, size_t);
static int		 email_atext(int);
static int		 email_ldh(int);

/*
 * Checks in against RFC 5322's dot-atom for the local part and a DNS host
 * name of two labels or more for the domain, with the limits of RFC 5321
 * (64 bytes before the @-sign, 254 in all). Quoted local parts, IP address
 * literals and non-ASCII addresses are refused.
 *
 * Returns 0 with *out a malloc'd copy whose domain is lower-cased (the
 * local part is kept as given), or -1 with *out NULL and *why a static,
 * lower-case reason.
 */
int
model_email_valid(const char *in, char **out, const char **why)
{
	const char	*at, *p;
	size_t		 len, llen, dlen, i;
	char		*s;

	*out = NULL;
	*why = NULL;
	len = strlen(in);

	for (p = in; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80) {
			*why = "non-ASCII characters are not supported";
			return (-1);
		}
	}
	if ((at = strchr(in, '@')) == NULL) {
		*why = "the email address must have an @-sign";
		return (-1);
	}
	if (strchr(at + 1, '@') != NULL) {
		*why = "the email address must have only one @-sign";
		return (-1);
	}
	llen = (size_t)(at - in);
	dlen = len - llen - 1;
	if (llen == 0) {
		*why = "there must be something before the @-sign";
		return (-1);
	}
	if (dlen == 0) {
		*why = "there must be something after the @-sign";
		return (-1);
	}
	if (len > USER_EMAIL_MAX) {
		*why = "the email address is too long";
		return (-1);
	}
	if (llen > USER_EMAIL_LOCAL_MAX) {
		*why = "the part before the @-sign is too long";
		return (-1);
	}
	if ((*why = email_local_check(in, llen)) != NULL)
		return (-1);
	if ((*why = email_domain_check(at + 1, dlen)) != NULL)
		return (-1);

	if ((s = malloc(len + 1)) == NULL)
		abort();
	memcpy(s, in, len + 1);
	for (i = llen + 1; i < len; i++) {
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = s[i] - 'A' + 'a';
	}
	*out = s;
	return (0);
}

/* NULL when local[0..len) is a dot-atom, else why not. */
static const char *
email_local_check(const char *local, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (local[i] == '.')
			continue;
		if (!email_atext((unsigned char)local[i]))
			return ("the part before the @-sign contains "
			    "invalid characters");
	}
	if (local[0] == '.')
		return ("the email address cannot start with a period");
	if (local[len - 1] == '.')
		return ("the part before the @-sign cannot end with a period");
	for (i = 1; i < len; i++) {
		if (local[i] == '.' && local[i - 1] == '.')
			return ("the part before the @-sign cannot have two "
			    "periods in a row");
	}
	return (NULL);
}

/* NULL when dom[0..len) is a host name of two labels or more, else why not. */
static const char *
email_domain_check(const char *dom, size_t len)
{
	size_t	i, start, labels;
	int	digits;

	if (dom[0] == '[')
		return ("the part after the @-sign cannot be an IP address "
		    "literal");
	for (i = 0; i < len; i++) {
		if (dom[i] != '.' && !email_ldh((unsigned char)dom[i]))
			return ("the part after the @-sign contains invalid "
			    "characters");
	}
	if (dom[0] == '.')
		return ("the part after the @-sign cannot start with a "
		    "period");
	if (dom[len - 1] == '.')
		return ("the part after the @-sign cannot end with a period");

	labels = 0;
	digits = 0;
	start = 0;
	for (i = 0; i <= len; i++) {
		if (i < len && dom[i] != '.')
			continue;
		if (i == start)
			return ("the part after the @-sign cannot have two "
			    "periods in a row");
		if (i - start > EMAIL_LABEL_MAX)
			return ("the part after the @-sign has a label that "
			    "is too long");
		if (dom[start] == '-' || dom[i - 1] == '-')
			return ("the part after the @-sign has a label that "
			    "starts or ends with a hyphen");
		digits = strspn(dom + start, "0123456789") == i - start;
		labels++;
		start = i + 1;
	}
	if (labels < 2)
		return ("the part after the @-sign is not valid: it should "
		    "have a period");
	if (digits)
		return ("the part after the @-sign is not within a valid "
		    "top-level domain");
	return (NULL);
}

/* RFC 5322 atext. */
static int
email_atext(int c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return (1);
	return (c != '\0' && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

/* Letters, digits, hyphen: what a host name label is made of. */
static int
email_ldh(int c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-');
}
