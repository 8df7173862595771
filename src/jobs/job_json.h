/* userapi: jobs and notify bodies to and from JSON (wire names of the jobs routes). */

#ifndef USERAPI_JOBS_JOB_JSON_H
#define USERAPI_JOBS_JOB_JSON_H

#include <jansson.h>

struct job;
struct verrs;

#define JOB_SUBJECT_MAX		200	/* characters */
#define JOB_MESSAGE_MAX		5000	/* characters */

/*
 * POST /users/{id}/notify's optional body {"subject", "message"}: body
 * NULL (no body) or JSON null means neither. Returns 0 with the given
 * strings malloc'd (NULL when absent), or -1 with every problem in errs.
 */
int	job_input_from_json(json_t *body, char **subject, char **message,
	    struct verrs *errs);

/* {"id","kind","status","attempts","last_error","created_at","updated_at"} */
json_t	*job_to_json(const struct job *);

/* 1 when s is a job status (queued, running, sent, failed). */
int	job_status_valid(const char *s);

#endif
