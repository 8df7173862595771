/* userapi: query-string and path parameters, validated the FastAPI way. */

#include <errno.h>
#include <stdlib.h>

#include "model/query.h"
#include "model/user.h"
#include "model/verr.h"

int
model_query_int(const char *val, const char *name, long long def,
    long long min, long long max, long long *out, struct verrs *errs)
{
	char		*ep;
	long long	 v;

	if (val == NULL) {
		*out = def;
		return (0);
	}

	errno = 0;
	v = strtoll(val, &ep, 10);
	if (*val == '\0' || *ep != '\0' || errno != 0 ||
	    (*val != '-' && (*val < '0' || *val > '9'))) {
		verrs_add(errs, "int_parsing", "query", name, "Input should be "
		    "a valid integer, unable to parse string as an integer");
		return (-1);
	}
	if (v < min) {
		verrs_add(errs, "greater_than_equal", "query", name,
		    "Input should be greater than or equal to %lld", min);
		return (-1);
	}
	if (v > max) {
		verrs_add(errs, "less_than_equal", "query", name,
		    "Input should be less than or equal to %lld", max);
		return (-1);
	}
	*out = v;
	return (0);
}

int
model_path_uuid(const char *val, char *out, struct verrs *errs)
{
	if (model_uuid_parse(val, out) == -1) {
		verrs_add(errs, "uuid_parsing", "path", "user_id",
		    "Input should be a valid UUID");
		return (-1);
	}
	return (0);
}
