/* userapi: libFuzzer target: If-Match lists into a version and a PostgreSQL array. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*v, list[PARSE_IF_MATCH_MAX];
	long long	 r;
	size_t		 n;

	if ((v = malloc(size + 1)) == NULL)
		abort();
	memcpy(v, data, size);
	v[size] = '\0';

	memset(list, 'x', sizeof(list));
	r = parse_if_match(v, list, sizeof(list));
	if (r >= 0) {
		/* A version: the list is a NUL-terminated "{...}". */
		n = strnlen(list, sizeof(list));
		if (n == sizeof(list) || n < 3 || list[0] != '{' ||
		    list[n - 1] != '}')
			abort();
	} else if (r != PARSE_ANY_VERSION && r != PARSE_NO_MATCH) {
		abort();
	}

	free(v);
	return (0);
}
