/* userapi: the /users handlers: read the request, validate, store, answer. */

/*
 * Each handler is a few named steps run by Kore's http_state_run: the
 * first reads and validates everything (answering 4xx at once), then
 * starts the waiting part (argon2id in the background, a query) and
 * sleeps; the store's callback keeps the answer and wakes the request
 * (reqctx_resume); the last step answers.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "api/api.h"
#include "auth/access.h"
#include "auth/password.h"
#include "http/parse.h"
#include "http/reply.h"
#include "http/request.h"
#include "json/user_json.h"
#include "log.h"
#include "model/query.h"
#include "model/user.h"
#include "model/verr.h"
#include "store/store.h"

/* GET /users: check the query -> list -> answer. */
enum {
	LIST_READ,
	LIST_ANSWER
};

/* POST /users: read the body -> hash the password -> store -> answer. */
enum {
	CREATE_READ,
	CREATE_STORE,
	CREATE_ANSWER
};

/* GET, PUT, PATCH, DELETE /users/{id}: read -> query -> answer. */
enum {
	USER_READ,
	USER_ANSWER
};

struct users_state {
	int			 op;		/* USER_INPUT_* or 0 */
	char			 id[UUID_STR_LEN + 1];
	char			 if_match[PARSE_IF_MATCH_MAX];	/* "" any */
	struct user_input	 in;
	enum store_status	 status;
	struct json_text	 out;		/* the answer's body */
	long long		 version;	/* of the one user in out */
	char			 created_id[UUID_STR_LEN + 1];
};

static struct users_state *users_state(struct http_request *);
static void	users_cleanup(void *);
static int	users_read_body(struct http_request *, struct users_state *,
		    int, struct verrs *);
static void	users_stored(void *, const struct store_user *);
static void	users_listed(void *, const struct store_users *);
static void	users_deleted(void *, const struct store_outcome *);
static int	users_tag_matches(const char *, long long);
static int	users_answer(struct http_request *);
static int	users_list_read(struct http_request *);
static int	users_create_read(struct http_request *);
static int	users_create_store(struct http_request *);
static int	user_read(struct http_request *);

static struct http_state	list_steps[] = {
	{ "read",	users_list_read },
	{ "answer",	users_answer },
};

static struct http_state	create_steps[] = {
	{ "read",	users_create_read },
	{ "store",	users_create_store },
	{ "answer",	users_answer },
};

static struct http_state	user_steps[] = {
	{ "read",	user_read },
	{ "answer",	users_answer },
};

static struct users_state *
users_state(struct http_request *req)
{
	return (reqctx_state(req, sizeof(struct users_state), users_cleanup));
}

static void
users_cleanup(void *arg)
{
	struct users_state	*st = arg;

	user_input_free(&st->in);
	json_text_free(&st->out);
}

/* GET /users: admins only, which the query checks. */
int
api_users_list(struct http_request *req)
{
	return (REQCTX_RUN(list_steps, req));
}

static int
users_list_read(struct http_request *req)
{
	struct verrs		 errs;
	struct store_query	*q;
	long long		 skip, limit;
	const char		*why;
	char			*v, *email;

	(void)users_state(req);
	verrs_init(&errs);
	(void)request_query(req, "skip", &v);
	(void)model_query_int(v, "skip", 0, 0, INT64_MAX, &skip, &errs);
	free(v);
	(void)request_query(req, "limit", &v);
	(void)model_query_int(v, "limit", 10, 1, 100, &limit, &errs);
	free(v);
	if (errs.n > 0) {
		reply_validation(req, &errs);
		verrs_free(&errs);
		return (HTTP_STATE_COMPLETE);
	}
	verrs_free(&errs);
	/* The filter is compared as stored: domain lower-cased. */
	(void)request_query(req, "email", &email);
	if (email != NULL && model_email_valid(email, &v, &why) == 0) {
		free(email);
		email = v;
	}
	q = user_store_list(&reqctx_get(req)->caller, skip, limit, email,
	    users_listed, req);
	free(email);
	return (reqctx_wait(req, q, LIST_ANSWER));
}

/* POST /users: sign-up. */
int
api_users_create(struct http_request *req)
{
	return (REQCTX_RUN(create_steps, req));
}

static int
users_create_read(struct http_request *req)
{
	struct users_state	*st;
	struct verrs		 errs;

	st = users_state(req);
	verrs_init(&errs);
	if (users_read_body(req, st, USER_INPUT_CREATE, &errs) == -1) {
		verrs_free(&errs);
		return (HTTP_STATE_COMPLETE);
	}
	verrs_free(&errs);
	if (st->in.fields & USER_F_PASSWORD)
		return (api_password_job(req, PASSWORD_OP_HASH, NULL,
		    st->in.password, NULL, CREATE_STORE));
	return (reqctx_wait(req, user_store_create(&st->in, NULL,
	    users_stored, req), CREATE_ANSWER));
}

/* The password hash is ready (or there was no password): store. */
static int
users_create_store(struct http_request *req)
{
	struct users_state	*st;
	struct password_job	*job;
	int			 rc;

	st = users_state(req);
	job = reqctx_result(req);
	if (job == NULL || job->out[0] == '\0') {
		password_job_free(job);
		log_error("could not hash a password");
		reply_error(req, 500, "Internal Server Error");
		return (HTTP_STATE_COMPLETE);
	}
	rc = reqctx_wait(req, user_store_create(&st->in, job->out,
	    users_stored, req), CREATE_ANSWER);
	password_job_free(job);
	return (rc);
}

/* GET, PUT, PATCH, DELETE /users/{user_id}: admin, or the user itself. */
int
api_user(struct http_request *req)
{
	return (REQCTX_RUN(user_steps, req));
}

static int
user_read(struct http_request *req)
{
	struct users_state	*st;
	const struct caller	*c;
	struct verrs		 errs;
	struct store_query	*q;
	char			 raw[128];
	int			 op;

	st = users_state(req);
	c = &reqctx_get(req)->caller;
	switch (req->method) {
	case HTTP_METHOD_PUT:
		op = USER_INPUT_REPLACE;
		break;
	case HTTP_METHOD_PATCH:
		op = USER_INPUT_PATCH;
		break;
	default:
		op = 0;
		break;
	}

	/* Path and body problems are reported together. */
	verrs_init(&errs);
	(void)model_path_uuid(reqctx_param(req, 0, raw, sizeof(raw)), st->id,
	    &errs);
	if (op != 0) {
		if (users_read_body(req, st, op, &errs) == -1) {
			verrs_free(&errs);
			return (HTTP_STATE_COMPLETE);
		}
	} else if (errs.n > 0) {
		reply_validation(req, &errs);
		verrs_free(&errs);
		return (HTTP_STATE_COMPLETE);
	}
	verrs_free(&errs);

	/*
	 * No listed tag can match: the query still looks the user up, so
	 * that a user who does not exist (or whom the caller may not see)
	 * is 404 whatever the If-Match, and only a visible one is 412.
	 */
	if (request_if_match(req, st->if_match, sizeof(st->if_match)) ==
	    PARSE_NO_MATCH)
		(void)snprintf(st->if_match, sizeof(st->if_match), "{}");

	/* The query decides who may see the user (404 otherwise). */
	switch (req->method) {
	case HTTP_METHOD_GET:
		q = user_store_get(c, st->id, users_stored, req);
		break;
	case HTTP_METHOD_PUT:
		q = user_store_replace(c, st->id, &st->in, st->if_match,
		    users_stored, req);
		break;
	case HTTP_METHOD_PATCH:
		q = user_store_patch(c, st->id, &st->in, st->if_match,
		    users_stored, req);
		break;
	default:
		q = user_store_delete(c, st->id, st->if_match, users_deleted,
		    req);
		break;
	}
	return (reqctx_wait(req, q, USER_ANSWER));
}

/*
 * Read, parse and validate the body for op, adding to errs what is
 * already there. Returns 0, or -1 once the error answer is sent.
 */
static int
users_read_body(struct http_request *req, struct users_state *st, int op,
    struct verrs *errs)
{
	json_t		*body;
	char		*buf;
	size_t		 len;

	if (request_json_body(req, &buf, &len) == -1)
		return (-1);

	st->op = op;
	body = json_body_parse(buf, len, errs);
	free(buf);
	if (body != NULL) {
		/*
		 * is_active and is_admin are accepted here and refused by
		 * the query (403) when the caller is not an admin.
		 */
		(void)user_input_from_json(body, op, op == USER_INPUT_PATCH,
		    &st->in, errs);
		json_decref(body);
	}
	if (errs->n > 0) {
		reply_validation(req, errs);
		return (-1);
	}
	return (0);
}

int
api_password_job(struct http_request *req, enum password_op op,
    const char *hash, const char *pw, const char *next, int step)
{
	struct password_job	*job;
	int			 rc;

	if ((job = password_job_new(op, hash, pw, next)) == NULL) {
		reply_unavailable(req, 1);
		return (HTTP_STATE_COMPLETE);
	}
	if ((rc = reqctx_bg(req, BG_PASSWORD, password_run, job,
	    step)) == HTTP_STATE_COMPLETE)
		password_job_free(job);
	return (rc);
}

/* Store callbacks: keep the answer, wake the request. */
static void
users_stored(void *arg, const struct store_user *r)
{
	struct users_state	*st;

	st = reqctx_resume(arg);
	st->status = r->status;
	if (r->status == STORE_OK) {
		json_text_user(&st->out, &r->user);
		st->version = r->user.version;
		memcpy(st->created_id, r->user.id, sizeof(st->created_id));
	}
}

static void
users_listed(void *arg, const struct store_users *r)
{
	struct users_state	*st;
	size_t			 i;

	st = reqctx_resume(arg);
	st->status = r->status;
	if (r->status == STORE_OK) {
		json_text_append(&st->out, "[", 1);
		for (i = 0; i < r->n; i++) {
			if (i > 0)
				json_text_append(&st->out, ",", 1);
			json_text_user(&st->out, &r->users[i]);
		}
		json_text_append(&st->out, "]", 1);
	}
}

static void
users_deleted(void *arg, const struct store_outcome *r)
{
	struct users_state	*st;

	st = reqctx_resume(arg);
	st->status = r->status;
}

static int
users_answer(struct http_request *req)
{
	struct users_state	*st;
	char			 buf[128];

	st = users_state(req);
	if (st->status != STORE_OK)
		return (users_fail(req, st->status));

	/* GET honours If-Match too: 412 when no listed tag is current. */
	if (req->method == HTTP_METHOD_GET && st->id[0] != '\0' &&
	    !users_tag_matches(st->if_match, st->version)) {
		reply_error(req, 412, "Precondition Failed");
		return (HTTP_STATE_COMPLETE);
	}

	switch (req->method) {
	case HTTP_METHOD_POST:
		(void)snprintf(buf, sizeof(buf), "/users/%s", st->created_id);
		http_response_header(req, "location", buf);
		(void)snprintf(buf, sizeof(buf), "\"%lld\"", st->version);
		http_response_header(req, "etag", buf);
		reply_raw(req, 201, REPLY_JSON, st->out.s, st->out.len);
		break;
	case HTTP_METHOD_DELETE:
		reply_empty(req, 204);
		break;
	default:
		if (st->id[0] != '\0') {
			(void)snprintf(buf, sizeof(buf), "\"%lld\"",
			    st->version);
			http_response_header(req, "etag", buf);
		}
		reply_raw(req, 200, REPLY_JSON, st->out.s, st->out.len);
		break;
	}
	return (HTTP_STATE_COMPLETE);
}

/*
 * Whether version is one of If-Match's versions: list is "" (any), or an
 * array literal as request_if_match writes it ("{3,5}", "{}").
 */
static int
users_tag_matches(const char *list, long long version)
{
	const char	*p;
	char		*end;

	if (list[0] == '\0')
		return (1);
	for (p = list + 1; *p != '\0' && *p != '}'; p = end) {
		if (*p == ',')
			p++;
		if (strtoll(p, &end, 10) == version)
			return (1);
		if (end == p)
			break;
	}
	return (0);
}

int
users_fail(struct http_request *req, enum store_status status)
{
	switch (status) {
	case STORE_UNAUTHORIZED:
		access_deny(req, "Invalid token");
		break;
	case STORE_FORBIDDEN:
		reply_error(req, 403, "Not enough permissions");
		break;
	case STORE_NOT_FOUND:
		reply_error(req, 404, "User not found");
		break;
	case STORE_STALE:
		reply_error(req, 412, "Precondition Failed");
		break;
	case STORE_DUPLICATE:
		reply_error(req, 409, "Email already registered");
		break;
	case STORE_UNAVAILABLE:
		reply_unavailable(req, 1);
		break;
	case STORE_TIMEOUT:
		reply_error(req, 504, "Gateway Timeout");
		break;
	default:
		reply_error(req, 500, "Internal Server Error");
		break;
	}
	return (HTTP_STATE_COMPLETE);
}
