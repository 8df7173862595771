/* userapi: query-string and path parameters, validated the FastAPI way. */

#ifndef USERAPI_MODEL_QUERY_H
#define USERAPI_MODEL_QUERY_H

struct verrs;

/*
 * Parse an integer parameter (loc ["query", name]); val NULL means absent
 * and gives def. Returns 0, or -1 after adding int_parsing,
 * greater_than_equal or less_than_equal to errs.
 */
int	model_query_int(const char *val, const char *name, long long def,
	    long long min, long long max, long long *out, struct verrs *errs);

/* A user id from the path (loc ["path", "user_id"]); 0 or -1 (uuid_parsing). */
int	model_path_uuid(const char *val, char *out, struct verrs *errs);

#endif
