/* userapi: libFuzzer target: a request path into the user id of /users/{id}. */

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
	struct verrs	 errs;
	char		*path, seg[64], id[UUID_STR_LEN + 1];

	if ((path = malloc(size + 1)) == NULL)
		abort();
	memcpy(path, data, size);
	path[size] = '\0';

	verrs_init(&errs);
	if (parse_path_tail(path, "/users/", seg, sizeof(seg)) &&
	    model_path_uuid(seg, id, &errs) == 0 &&
	    strlen(id) != UUID_STR_LEN)
		abort();
	(void)model_path_uuid(path, id, &errs);
	(void)model_uuid_parse(path, id);
	verrs_free(&errs);
	free(path);
	return (0);
}
