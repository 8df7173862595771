/* userapi: libFuzzer target: the Authorization header and the JWT checks behind it. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/token.h"

/* The corpus holds tokens signed with this key (tests/fuzz/seeds.py). */
#define FUZZ_KEY	"userapi-fuzz-key-0123456789abcdef"
#define FUZZ_NOW	1900000000	/* 2030-03-17: seeds are valid then */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 once;
	struct token_claims	 c;
	const char		*tok, *why;
	char			*hdr;

	if (!once) {
		token_setup((const unsigned char *)FUZZ_KEY,
		    strlen(FUZZ_KEY), "userapi");
		once = 1;
	}

	if ((hdr = malloc(size + 1)) == NULL)
		abort();
	memcpy(hdr, data, size);
	hdr[size] = '\0';

	if (token_bearer(hdr, &tok)) {
		why = NULL;
		if (token_check(tok, FUZZ_NOW, &c, &why) == 0) {
			if (strlen(c.sub) != 36 || c.exp <= FUZZ_NOW)
				abort();
		} else if (why == NULL) {
			abort();
		}
	}
	/* A bare token, as ?access_token= gives it to /ws. */
	why = NULL;
	if (token_check(hdr, FUZZ_NOW, &c, &why) != 0 && why == NULL)
		abort();

	free(hdr);
	return (0);
}
