/* userapi: validation errors (struct verrs) as FastAPI's 422 JSON body. */

#ifndef USERAPI_JSON_ERRORS_H
#define USERAPI_JSON_ERRORS_H

#include <jansson.h>

struct verrs;

/* {"detail": [{"type", "loc", "msg"}, ...]}; never NULL. */
json_t	*verrs_to_json(const struct verrs *);

#endif
