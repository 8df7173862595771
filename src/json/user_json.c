/* userapi: users and user inputs to and from JSON; the only place that knows wire names. */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json/user_json.h"
#include "model/user.h"
#include "model/verr.h"

/* The fields of a user body, in schema order. */
static const struct user_field {
	const char	*name;
	unsigned int	 flag;
} user_fields[] = {
	{ "name",	USER_F_NAME },
	{ "email",	USER_F_EMAIL },
	{ "age",	USER_F_AGE },
	{ "password",	USER_F_PASSWORD },
	{ "is_active",	USER_F_IS_ACTIVE },
	{ "is_admin",	USER_F_IS_ADMIN },
};

#define USER_NFIELDS	(sizeof(user_fields) / sizeof(user_fields[0]))

static void		*json_xmalloc(size_t);
static void		 json_xfree(void *);
static void		 user_input_reset(struct user_input *);
static unsigned int	 user_input_allowed(int, int);
static unsigned int	 user_input_required(int);
static void		 user_input_field(unsigned int, json_t *,
			    struct user_input *, struct verrs *);
static char		*user_strdup(const char *);
static json_t		*user_json_string(const char *);

void
json_setup(void)
{
	json_set_alloc_funcs(json_xmalloc, json_xfree);
}

static void *
json_xmalloc(size_t len)
{
	void	*p;

	if ((p = malloc(len == 0 ? 1 : len)) == NULL)
		abort();
	return (p);
}

static void
json_xfree(void *p)
{
	free(p);
}

/*
 * Any JSON value is accepted at the top (JSON_DECODE_ANY), so that "42"
 * or "null" reach the schema check as in FastAPI; the whole buffer must
 * be one value (no trailing data). Jansson refuses invalid UTF-8, \u0000,
 * integers beyond 64 bits and nesting deeper than 2048: all json_invalid.
 * Duplicate keys are allowed, the last one wins (as in Python's json).
 */
json_t *
json_body_parse(const char *buf, size_t len, struct verrs *errs)
{
	json_t		*v;
	json_error_t	 err;

	if (len == 0) {
		verrs_add(errs, "missing", "body", NULL, "Field required");
		return (NULL);
	}
	if ((v = json_loadb(buf, len, JSON_DECODE_ANY, &err)) == NULL) {
		verrs_add_pos(errs, "json_invalid", "body", err.position,
		    "JSON decode error");
		return (NULL);
	}
	return (v);
}

/*
 * Problems are reported in the order of the body's keys, then the
 * missing fields in schema order. On failure in is reset (nothing to
 * free); on success the caller frees it with user_input_free.
 */
int
user_input_from_json(json_t *body, int op, int admin, struct user_input *in,
    struct verrs *errs)
{
	const char	*key;
	json_t		*val;
	size_t		 nerr, i;
	unsigned int	 allowed, missing;

	user_input_reset(in);
	nerr = errs->n + errs->more;

	if (json_is_null(body)) {
		verrs_add(errs, "missing", "body", NULL, "Field required");
		return (-1);
	}
	if (!json_is_object(body)) {
		verrs_add(errs, "model_attributes_type", "body", NULL,
		    "Input should be a valid dictionary or object to extract "
		    "fields from");
		return (-1);
	}

	allowed = user_input_allowed(op, admin);
	json_object_foreach(body, key, val) {
		for (i = 0; i < USER_NFIELDS; i++) {
			if (strcmp(key, user_fields[i].name) == 0)
				break;
		}
		if (i == USER_NFIELDS || !(allowed & user_fields[i].flag)) {
			verrs_add(errs, "extra_forbidden", "body", key,
			    "Extra inputs are not permitted");
			continue;
		}
		in->fields |= user_fields[i].flag;
		user_input_field(user_fields[i].flag, val, in, errs);
	}

	missing = user_input_required(op) & ~in->fields;
	for (i = 0; i < USER_NFIELDS; i++) {
		if (missing & user_fields[i].flag)
			verrs_add(errs, "missing", "body", user_fields[i].name,
			    "Field required");
	}

	if (errs->n + errs->more != nerr) {
		user_input_free(in);
		user_input_reset(in);
		return (-1);
	}
	return (0);
}

/*
 * One field's value. Types are strict, as pydantic's strict mode: a
 * string field takes only a JSON string (null too is string_type), age
 * only a JSON integer or null ("30", 30.0 and true are int_type), the
 * flags only true or false. Nothing is coerced.
 */
static void
user_input_field(unsigned int flag, json_t *val, struct user_input *in,
    struct verrs *errs)
{
	switch (flag) {
	case USER_F_NAME:
		if (!json_is_string(val))
			verrs_add(errs, "string_type", "body", "name",
			    "Input should be a valid string");
		else
			(void)model_user_name(json_string_value(val),
			    &in->name, errs);
		break;
	case USER_F_EMAIL:
		if (!json_is_string(val))
			verrs_add(errs, "string_type", "body", "email",
			    "Input should be a valid string");
		else
			(void)model_user_email(json_string_value(val),
			    &in->email, errs);
		break;
	case USER_F_AGE:
		if (json_is_null(val)) {
			in->age_null = 1;
		} else if (!json_is_integer(val)) {
			verrs_add(errs, "int_type", "body", "age",
			    "Input should be a valid integer");
		} else if (model_user_age(json_integer_value(val),
		    errs) == 0) {
			in->age_null = 0;
			in->age = (int)json_integer_value(val);
		}
		break;
	case USER_F_PASSWORD:
		if (!json_is_string(val))
			verrs_add(errs, "string_type", "body", "password",
			    "Input should be a valid string");
		else if (model_user_password(json_string_value(val),
		    "password", errs) == 0)
			in->password = user_strdup(json_string_value(val));
		break;
	case USER_F_IS_ACTIVE:
	case USER_F_IS_ADMIN:
		if (!json_is_boolean(val)) {
			verrs_add(errs, "bool_type", "body",
			    flag == USER_F_IS_ACTIVE ? "is_active" : "is_admin",
			    "Input should be a valid boolean");
		} else if (flag == USER_F_IS_ACTIVE) {
			in->is_active = json_is_true(val);
		} else {
			in->is_admin = json_is_true(val);
		}
		break;
	}
}

/* POST adds a password to name, email, age; PATCH the flags for admins. */
static unsigned int
user_input_allowed(int op, int admin)
{
	switch (op) {
	case USER_INPUT_CREATE:
		return (USER_F_NAME | USER_F_EMAIL | USER_F_AGE |
		    USER_F_PASSWORD);
	case USER_INPUT_REPLACE:
		return (USER_F_NAME | USER_F_EMAIL | USER_F_AGE);
	case USER_INPUT_PATCH:
		return (USER_F_NAME | USER_F_EMAIL | USER_F_AGE |
		    (admin ? USER_F_IS_ACTIVE | USER_F_IS_ADMIN : 0));
	default:
		return (0);
	}
}

static unsigned int
user_input_required(int op)
{
	if (op == USER_INPUT_CREATE || op == USER_INPUT_REPLACE)
		return (USER_F_NAME | USER_F_EMAIL);
	return (0);
}

/* No fields, age null (what an absent age means); in is not freed. */
static void
user_input_reset(struct user_input *in)
{
	memset(in, 0, sizeof(*in));
	in->age_null = 1;
}

json_t *
user_to_json(const struct user *u)
{
	json_t	*o;

	o = json_object();
	json_object_set_new(o, "id", user_json_string(u->id));
	json_object_set_new(o, "name", user_json_string(u->name));
	json_object_set_new(o, "email", user_json_string(u->email));
	json_object_set_new(o, "age",
	    u->age_null ? json_null() : json_integer(u->age));
	json_object_set_new(o, "is_active", json_boolean(u->is_active));
	json_object_set_new(o, "is_admin", json_boolean(u->is_admin));
	json_object_set_new(o, "created_at", user_json_string(u->created_at));
	json_object_set_new(o, "updated_at", user_json_string(u->updated_at));
	return (o);
}

/* A string, or null for NULL (or bad UTF-8): never a missing key. */
static json_t *
user_json_string(const char *s)
{
	json_t	*j;

	if (s == NULL || (j = json_string(s)) == NULL)
		return (json_null());
	return (j);
}

static char *
user_strdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		abort();
	return (p);
}

/*
 * POST /users/me/password: {"current_password", "new_password"}, both
 * strings, the new one 8..128 characters, nothing else. Returns 0 with
 * two malloc'd strings, or -1 with every problem in errs.
 */
int
password_change_from_json(json_t *body, char **current, char **next,
    struct verrs *errs)
{
	static const char	*fields[] = { "current_password",
				    "new_password" };
	const char		*key;
	json_t			*val;
	size_t			 nerr, i;
	int			 seen[2];

	*current = NULL;
	*next = NULL;
	nerr = errs->n + errs->more;
	if (!json_is_object(body)) {
		verrs_add(errs, "model_attributes_type", "body", NULL,
		    "Input should be a valid dictionary or object to extract "
		    "fields from");
		return (-1);
	}

	seen[0] = seen[1] = 0;
	json_object_foreach(body, key, val) {
		for (i = 0; i < 2; i++) {
			if (strcmp(key, fields[i]) == 0)
				break;
		}
		if (i == 2) {
			verrs_add(errs, "extra_forbidden", "body", key,
			    "Extra inputs are not permitted");
			continue;
		}
		seen[i] = 1;
		if (!json_is_string(val)) {
			verrs_add(errs, "string_type", "body", key,
			    "Input should be a valid string");
			continue;
		}
		if (i == 1 && model_user_password(json_string_value(val),
		    "new_password", errs) == -1)
			continue;
		if (i == 0 && strlen(json_string_value(val)) >
		    USER_PASSWORD_MAX * 4) {
			verrs_add(errs, "string_too_long", "body", key,
			    "String should have at most %d characters",
			    USER_PASSWORD_MAX);
			continue;
		}
		*(i == 0 ? current : next) =
		    user_strdup(json_string_value(val));
	}
	for (i = 0; i < 2; i++) {
		if (!seen[i])
			verrs_add(errs, "missing", "body", fields[i],
			    "Field required");
	}

	if (errs->n + errs->more != nerr) {
		free(*current);
		free(*next);
		*current = NULL;
		*next = NULL;
		return (-1);
	}
	return (0);
}
