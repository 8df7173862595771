/* userapi: libFuzzer target: a request path matched to /users/{id}, its id parsed. */

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
	const char	*param[2];
	char		*path, seg[64], id[UUID_STR_LEN + 1];
	size_t		 len[2], n;

	if ((path = malloc(size + 1)) == NULL)
		abort();
	memcpy(path, data, size);
	path[size] = '\0';

	verrs_init(&errs);
	if (parse_route_match("/users/{id}", path, param, len, 2)) {
		if (param[0] == NULL || param[1] != NULL ||
		    memchr(param[0], '/', len[0]) != NULL ||
		    param[0] + len[0] != path + strlen(path))
			abort();
		n = len[0] < sizeof(seg) - 1 ? len[0] : sizeof(seg) - 1;
		memcpy(seg, param[0], n);
		seg[n] = '\0';
		if (model_path_uuid(seg, id, &errs) == 0 &&
		    strlen(id) != UUID_STR_LEN)
			abort();
	}
	(void)parse_route_match("/static/*", path, param, len, 2);
	(void)model_path_uuid(path, id, &errs);
	(void)model_uuid_parse(path, id);
	verrs_free(&errs);
	free(path);
	return (0);
}
