/* userapi: libFuzzer target: the form of POST /token (grant_type, username, password). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"
#include "model/user.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_field(const char *form, const char *key)
{
	const char	*why;
	char		*v, *norm;

	if (!parse_query(form, key, &v))
		return;
	/* parse_query promises valid UTF-8 without NUL cut-offs. */
	(void)model_utf8_len(v);
	norm = NULL;
	if (model_email_valid(v, &norm, &why) == 0 &&
	    strlen(norm) > USER_EMAIL_MAX)
		abort();
	free(norm);
	free(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*form;

	if ((form = malloc(size + 1)) == NULL)
		abort();
	memcpy(form, data, size);
	form[size] = '\0';

	fuzz_field(form, "grant_type");
	fuzz_field(form, "username");
	fuzz_field(form, "password");
	fuzz_field(form, "scope");

	free(form);
	return (0);
}
