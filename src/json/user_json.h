/* userapi: users and user inputs to and from JSON; the only place that knows wire names. */

#ifndef USERAPI_JSON_USER_JSON_H
#define USERAPI_JSON_USER_JSON_H

#include <stddef.h>

#include <jansson.h>

struct user;
struct user_input;
struct verrs;

/* Allocation failure aborts: install once per process. */
void	json_setup(void);

/*
 * Parse a request body (any JSON value, the whole buffer). Returns the
 * value, or NULL after adding a json_invalid error (loc ["body", <byte
 * offset>], the offset a JSON number) to errs; an empty body is a
 * missing error (loc ["body"]).
 */
json_t	*json_body_parse(const char *buf, size_t len, struct verrs *errs);

/*
 * Decode and validate a user body for op (USER_INPUT_*). admin says
 * whether is_active / is_admin are part of the schema (PATCH only).
 * Every problem goes to errs at once; returns 0 when errs stayed empty.
 * in is overwritten (not freed) on entry; on success free it with
 * user_input_free; on failure it holds nothing. An absent age is
 * age_null = 1 without USER_F_AGE. A JSON null body is "missing".
 */
int	user_input_from_json(json_t *body, int op, int admin,
	    struct user_input *in, struct verrs *errs);

/*
 * POST /users/me/password's body: {"current_password", "new_password"}.
 * Returns 0 with two malloc'd strings, or -1 with every problem in errs.
 */
int	password_change_from_json(json_t *body, char **current, char **next,
	    struct verrs *errs);

/* The user object of the API (never a password or its hash). */
json_t	*user_to_json(const struct user *);

#endif
