/* userapi: libFuzzer target: JSON request bodies into the user input models. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json/errors.h"
#include "json/user_json.h"
#include "model/user.h"
#include "model/verr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Every error list must encode; the answer is dropped. */
static void
fuzz_errors(struct verrs *errs)
{
	json_t	*j;
	char	*s;

	j = verrs_to_json(errs);
	if ((s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		abort();
	free(s);
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 once;
	struct verrs		 errs;
	struct user_input	 in;
	json_t			*body;
	char			*cur, *next;
	int			 op, admin;

	if (!once) {
		json_setup();
		once = 1;
	}

	verrs_init(&errs);
	if ((body = json_body_parse((const char *)data, size, &errs)) == NULL) {
		fuzz_errors(&errs);
		verrs_free(&errs);
		return (0);
	}

	for (op = USER_INPUT_CREATE; op <= USER_INPUT_PATCH; op++) {
		for (admin = 0; admin < 2; admin++) {
			verrs_init(&errs);
			if (user_input_from_json(body, op, admin, &in,
			    &errs) == 0) {
				if (errs.n != 0)
					abort();
				user_input_free(&in);
			} else if (errs.n == 0) {
				abort();
			}
			fuzz_errors(&errs);
			verrs_free(&errs);
		}
	}

	verrs_init(&errs);
	if (password_change_from_json(body, &cur, &next, &errs) == 0) {
		free(cur);
		free(next);
	}
	fuzz_errors(&errs);
	verrs_free(&errs);

	json_decref(body);
	return (0);
}
