/* userapi: jobs and notify bodies to and from JSON (wire names of the jobs routes). */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jobs/job_json.h"
#include "json/user_json.h"
#include "model/user.h"
#include "model/verr.h"
#include "store/job_store.h"

static char	*job_text(json_t *, const char *, size_t, struct verrs *);

int
job_input_from_json(json_t *body, char **subject, char **message,
    struct verrs *errs)
{
	const char	*key;
	json_t		*val;
	size_t		 nerr;

	*subject = NULL;
	*message = NULL;
	if (body == NULL || json_is_null(body))
		return (0);
	if (!json_is_object(body)) {
		verrs_add(errs, "model_attributes_type", "body", NULL,
		    "Input should be a valid dictionary or object to extract "
		    "fields from");
		return (-1);
	}

	nerr = errs->n;
	json_object_foreach(body, key, val) {
		if (!strcmp(key, "subject")) {
			free(*subject);
			*subject = job_text(val, "subject", JOB_SUBJECT_MAX,
			    errs);
		} else if (!strcmp(key, "message")) {
			free(*message);
			*message = job_text(val, "message", JOB_MESSAGE_MAX,
			    errs);
		} else {
			verrs_add(errs, "extra_forbidden", "body", key,
			    "Extra inputs are not permitted");
		}
	}
	if (errs->n != nerr) {
		free(*subject);
		free(*message);
		*subject = NULL;
		*message = NULL;
		return (-1);
	}
	return (0);
}

/* A string field of 1..max characters: a malloc'd copy, or NULL + errs. */
static char *
job_text(json_t *val, const char *field, size_t max, struct verrs *errs)
{
	const char	*s;
	size_t		 n;
	char		*out;

	if (!json_is_string(val)) {
		verrs_add(errs, "string_type", "body", field,
		    "Input should be a valid string");
		return (NULL);
	}
	s = json_string_value(val);
	n = model_utf8_len(s);
	if (n < 1) {
		verrs_add(errs, "string_too_short", "body", field,
		    "String should have at least 1 character");
		return (NULL);
	}
	if (n > max) {
		verrs_add(errs, "string_too_long", "body", field,
		    "String should have at most %zu characters", max);
		return (NULL);
	}
	if ((out = strdup(s)) == NULL)
		abort();
	return (out);
}

json_t *
job_to_json(const struct job *j)
{
	json_t	*o;
	char	 ts[JSON_TIMESTAMP_LEN];

	o = json_object();
	json_object_set_new(o, "id", json_string(j->id));
	json_object_set_new(o, "kind", json_string(j->kind));
	json_object_set_new(o, "status", json_string(j->status));
	json_object_set_new(o, "attempts", json_integer(j->attempts));
	json_object_set_new(o, "last_error", j->last_error == NULL ?
	    json_null() : json_string(j->last_error));
	json_object_set_new(o, "created_at", json_string(json_timestamp(
	    j->created_us, ts, sizeof(ts))));
	json_object_set_new(o, "updated_at", json_string(json_timestamp(
	    j->updated_us, ts, sizeof(ts))));
	return (o);
}

int
job_status_valid(const char *s)
{
	return (!strcmp(s, "queued") || !strcmp(s, "running") ||
	    !strcmp(s, "sent") || !strcmp(s, "failed"));
}
