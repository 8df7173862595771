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

#define JSON_NUL_MSG \
	"Value error, a string must not contain NUL (\\u0000)"

static void		*json_xmalloc(size_t);
static int		 json_has_nul(json_t *);
static void		 json_xfree(void *);
static void		 user_input_reset(struct user_input *);
static unsigned int	 user_input_allowed(int, int);
static unsigned int	 user_input_required(int);
static void		 user_input_field(unsigned int, json_t *,
			    struct user_input *, struct verrs *);
static char		*user_strdup(const char *);
static json_t		*user_json_string(const char *);
static void		 json_text_string(struct json_text *, const char *);
static void		 json_text_reserve(struct json_text *, size_t);

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
 * be one value (no trailing data). Jansson refuses invalid UTF-8, raw
 * control characters, integers beyond 64 bits and nesting deeper than
 * 2048: all json_invalid, as is \u0000 in a key. \u0000 in a string
 * value is valid JSON, read here (JSON_ALLOW_NUL) so that the answer can
 * name the field: no text the service keeps may hold NUL (nor can
 * PostgreSQL's), so it is value_error at that field, before any field is
 * checked. Duplicate keys are allowed, the last one wins (as in Python's
 * json).
 */
json_t *
json_body_parse(const char *buf, size_t len, struct verrs *errs)
{
	json_t		*v, *val;
	json_error_t	 err;
	const char	*key;
	size_t		 n, i;

	if (len == 0) {
		verrs_add(errs, "missing", "body", NULL, "Field required");
		return (NULL);
	}
	if ((v = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
	    &err)) == NULL) {
		if (json_error_code(&err) == json_error_null_byte_in_key)
			verrs_add_pos(errs, "json_invalid", "body",
			    err.position, "JSON decode error: an object key "
			    "must not contain NUL (\\u0000)");
		else
			verrs_add_pos(errs, "json_invalid", "body",
			    err.position, "JSON decode error");
		return (NULL);
	}

	/* Each field (key or array index) whose value holds a NUL. */
	n = errs->n + errs->more;
	if (json_is_object(v)) {
		json_object_foreach(v, key, val) {
			if (json_has_nul(val))
				verrs_add(errs, "value_error", "body", key,
				    JSON_NUL_MSG);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, val) {
			if (json_has_nul(val))
				verrs_add_pos(errs, "value_error", "body",
				    (long long)i, JSON_NUL_MSG);
		}
	} else if (json_has_nul(v)) {
		verrs_add(errs, "value_error", "body", NULL, JSON_NUL_MSG);
	}
	if (errs->n + errs->more != n) {
		json_decref(v);
		return (NULL);
	}
	return (v);
}

/* 1 when v is, or holds at any depth, a string with a NUL in it. */
static int
json_has_nul(json_t *v)
{
	json_t		*val;
	const char	*key;
	size_t		 i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return (strlen(json_string_value(v)) != json_string_length(v));
	case JSON_OBJECT:
		json_object_foreach(v, key, val) {
			if (json_has_nul(val))
				return (1);
		}
		return (0);
	case JSON_ARRAY:
		json_array_foreach(v, i, val) {
			if (json_has_nul(val))
				return (1);
		}
		return (0);
	default:
		return (0);
	}
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
	char	 ts[JSON_TIMESTAMP_LEN];

	o = json_object();
	json_object_set_new(o, "id", user_json_string(u->id));
	json_object_set_new(o, "name", user_json_string(u->name));
	json_object_set_new(o, "email", user_json_string(u->email));
	json_object_set_new(o, "age",
	    u->age_null ? json_null() : json_integer(u->age));
	json_object_set_new(o, "is_active", json_boolean(u->is_active));
	json_object_set_new(o, "is_admin", json_boolean(u->is_admin));
	json_object_set_new(o, "created_at", json_string(json_timestamp(
	    u->created_us, ts, sizeof(ts))));
	json_object_set_new(o, "updated_at", json_string(json_timestamp(
	    u->updated_us, ts, sizeof(ts))));
	return (o);
}

void
json_text_user(struct json_text *t, const struct user *u)
{
	char	buf[96];
	int	n;

	json_text_append(t, "{\"id\":", 6);
	json_text_string(t, u->id);
	json_text_append(t, ",\"name\":", 8);
	json_text_string(t, u->name);
	json_text_append(t, ",\"email\":", 9);
	json_text_string(t, u->email);
	if (u->age_null)
		n = snprintf(buf, sizeof(buf), ",\"age\":null");
	else
		n = snprintf(buf, sizeof(buf), ",\"age\":%d", u->age);
	json_text_append(t, buf, (size_t)n);
	n = snprintf(buf, sizeof(buf), ",\"is_active\":%s,\"is_admin\":%s",
	    u->is_active ? "true" : "false", u->is_admin ? "true" : "false");
	json_text_append(t, buf, (size_t)n);
	json_text_append(t, ",\"created_at\":\"", 15);
	json_timestamp(u->created_us, buf, sizeof(buf));
	json_text_append(t, buf, strlen(buf));
	json_text_append(t, "\",\"updated_at\":\"", 16);
	json_timestamp(u->updated_us, buf, sizeof(buf));
	json_text_append(t, buf, strlen(buf));
	json_text_append(t, "\"}", 2);
}

/*
 * s as a JSON string, escaped as jansson does without flags: the quote,
 * the backslash and control characters (the short forms where JSON has
 * one); UTF-8 as is (the database keeps only valid UTF-8). NULL is null.
 */
static void
json_text_string(struct json_text *t, const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	size_t			 run;
	char			 esc[8];

	if (s == NULL) {
		json_text_append(t, "null", 4);
		return;
	}
	json_text_append(t, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; ) {
		for (run = 0; p[run] >= 0x20 && p[run] != '"' &&
		    p[run] != '\\'; run++)
			;
		json_text_append(t, (const char *)p, run);
		p += run;
		if (*p == '\0')
			break;
		esc[0] = '\\';
		switch (*p) {
		case '"':
		case '\\':
			esc[1] = (char)*p;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0x0f];
			json_text_append(t, esc, 6);
			p++;
			continue;
		}
		json_text_append(t, esc, 2);
		p++;
	}
	json_text_append(t, "\"", 1);
}

void
json_text_append(struct json_text *t, const char *s, size_t len)
{
	json_text_reserve(t, len);
	memcpy(t->s + t->len, s, len);
	t->len += len;
	t->s[t->len] = '\0';
}

/* Room for len more bytes and the NUL. */
static void
json_text_reserve(struct json_text *t, size_t len)
{
	size_t	cap;

	if (t->len + len + 1 <= t->cap)
		return;
	cap = t->cap == 0 ? 512 : t->cap;
	while (cap < t->len + len + 1)
		cap *= 2;
	if ((t->s = realloc(t->s, cap)) == NULL)
		abort();
	t->cap = cap;
}

void
json_text_free(struct json_text *t)
{
	free(t->s);
	t->s = NULL;
	t->len = t->cap = 0;
}

/*
 * The civil date of a day count since 1970-01-01 (proleptic Gregorian):
 * Howard Hinnant's days_from_civil inverted, exact for every int64 day
 * count this service meets, with no table, lock or time zone involved.
 */
char *
json_timestamp(long long us, char *buf, size_t len)
{
	long long	 secs, days, era, doe, yoe, doy, mp, y, m, d, sod;
	long long	 frac;

	frac = us % 1000000;
	secs = us / 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	days = secs / 86400;
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}

	days += 719468;			/* from 0000-03-01 */
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;	/* [0, 146096] */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;	/* March = 0 */
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;

	(void)snprintf(buf, len, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld."
	    "%06lldZ", y, m, d, sod / 3600, sod / 60 % 60, sod % 60, frac);
	return (buf);
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
