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
 * missing error (loc ["body"]); a string value with \u0000 in it is a
 * value_error at the top-level field that holds it (["body", key], or
 * ["body", index] in an array, or ["body"]).
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

/*
 * JSON text built directly, for the answers that carry users (the hot
 * path: no jansson objects). append functions grow s (malloc'd, always
 * NUL-terminated once anything was written; abort on OOM); free it with
 * json_text_free. The user text is exactly what json_dumps writes for
 * user_to_json's object with JSON_COMPACT.
 */
struct json_text {
	char	*s;
	size_t	 len;
	size_t	 cap;
};

void	json_text_user(struct json_text *, const struct user *);
void	json_text_append(struct json_text *, const char *, size_t);
void	json_text_free(struct json_text *);

/*
 * A timestamp of the API: us microseconds since 1970-01-01 UTC as RFC
 * 3339 UTC with microseconds, "2026-11-24T10:21:00.123456Z", written to
 * buf (JSON_TIMESTAMP_LEN bytes at least, NUL included). Years 0..9999
 * are written with 4 digits; outside them the text says what it can
 * (never more than the buffer). Returns buf.
 */
#define JSON_TIMESTAMP_LEN	40
char	*json_timestamp(long long us, char *buf, size_t len);

#endif
