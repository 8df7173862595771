/* userapi: libFuzzer target: query strings (percent-decoding, UTF-8 repair, repeated names, integer parameters). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"
#include "model/query.h"
#include "model/user.h"
#include "model/verr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*keys[] = { "skip", "limit", "email",
				    "status", "v", "last_id", "" };
	struct verrs		 errs;
	long long		 n;
	size_t			 i;
	char			*qs, *v;

	if ((qs = malloc(size + 1)) == NULL)
		abort();
	memcpy(qs, data, size);
	qs[size] = '\0';

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		/* Present exactly when counted at least once. */
		if (!parse_query(qs, keys[i], &v)) {
			if (parse_query_count(qs, keys[i]) != 0)
				abort();
			continue;
		}
		if (parse_query_count(qs, keys[i]) == 0)
			abort();
		(void)model_utf8_len(v);
		verrs_init(&errs);
		if (model_query_int(v, keys[i], 10, 1, 100, &n, &errs) == 0 &&
		    (n < 1 || n > 100))
			abort();
		verrs_free(&errs);
		free(v);
	}
	verrs_init(&errs);
	(void)model_query_int(NULL, "skip", 0, 0, 1000, &n, &errs);
	verrs_free(&errs);

	free(qs);
	return (0);
}
