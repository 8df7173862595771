/* userapi: the /users handlers: read the request, validate, store, answer. */

/*
 * Each handler is a small state machine over one request: the first call
 * reads and validates everything (answering 4xx at once), then starts the
 * blocking or waiting step (an argon2 task, a query) and sleeps; the
 * store's callback keeps the answer in the state and wakes the request;
 * the last call answers.
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
#include "config.h"
#include "db/db.h"
#include "http/parse.h"
#include "http/reply.h"
#include "http/request.h"
#include "json/user_json.h"
#include "log.h"
#include "model/query.h"
#include "model/user.h"
#include "model/verr.h"
#include "store/store.h"

/* Steps of a request. */
#define STEP_START	0
#define STEP_HASH	1	/* argon2id task running */
#define STEP_STORE	2	/* query in flight */

struct users_state {
	struct reqctx		 ctx;		/* must be first */
	int			 step;
	int			 op;		/* USER_INPUT_* or 0 */
	char			 id[UUID_STR_LEN + 1];
	struct caller		 caller;
	char			 if_match[PARSE_IF_MATCH_MAX];	/* "" any */
	struct user_input	 in;
	enum store_status	 status;
	json_t			*out;		/* the answer's body */
	long long		 version;	/* of the one user in out */
	char			 created_id[UUID_STR_LEN + 1];
};

static struct users_state *users_state(struct http_request *);
static void	users_cleanup(struct reqctx *);
static int	users_read_body(struct http_request *, struct users_state *,
		    int, struct verrs *);
static int	users_sleep(struct http_request *, struct users_state *,
		    struct db_query *);
static void	users_stored(void *, struct store_reply *);
static int	users_answer(struct http_request *, struct users_state *);

static int	users_create_hashed(struct http_request *,
		    struct users_state *);

static struct users_state *
users_state(struct http_request *req)
{
	struct users_state	*st;

	st = reqctx_open(req, sizeof(*st));
	st->ctx.cleanup = users_cleanup;
	return (st);
}

static void
users_cleanup(struct reqctx *ctx)
{
	struct users_state	*st = (struct users_state *)ctx;

	user_input_free(&st->in);
	json_decref(st->out);
	st->out = NULL;
}

/* GET /users (list), POST /users (sign-up). */
int
api_users(struct http_request *req)
{
	struct users_state	*st;
	struct verrs		 errs;
	struct db_query		*q;
	long long		 skip, limit;
	const char		*why;
	char			*v, *email;

	st = users_state(req);
	switch (st->step) {
	case STEP_HASH:
		return (users_create_hashed(req, st));
	case STEP_STORE:
		return (users_answer(req, st));
	default:
		break;
	}

	verrs_init(&errs);
	switch (req->method) {
	case HTTP_METHOD_GET:
		/* Admins only: the query checks the role. */
		if (access_caller(req, &st->caller) == -1) {
			verrs_free(&errs);
			return (KORE_RESULT_OK);
		}
		(void)request_query(req, "skip", &v);
		(void)model_query_int(v, "skip", 0, 0, INT64_MAX, &skip,
		    &errs);
		free(v);
		(void)request_query(req, "limit", &v);
		(void)model_query_int(v, "limit", 10, 1, 100, &limit, &errs);
		free(v);
		if (errs.n > 0) {
			reply_validation(req, &errs);
			verrs_free(&errs);
			return (KORE_RESULT_OK);
		}
		verrs_free(&errs);
		/* The filter is compared as stored: domain lower-cased. */
		(void)request_query(req, "email", &email);
		if (email != NULL && model_email_valid(email, &v, &why) == 0) {
			free(email);
			email = v;
		}
		q = user_store_list(&st->caller, skip, limit, email,
		    users_stored, req);
		free(email);
		return (users_sleep(req, st, q));
	case HTTP_METHOD_POST:
		if (users_read_body(req, st, USER_INPUT_CREATE, &errs) == -1) {
			verrs_free(&errs);
			return (KORE_RESULT_OK);
		}
		verrs_free(&errs);
		if (st->in.fields & USER_F_PASSWORD) {
			st->step = STEP_HASH;
			return (api_password_task(req, PASSWORD_OP_HASH,
			    st->in.password, NULL, NULL));
		}
		return (users_sleep(req, st,
		    user_store_create(&st->in, NULL, users_stored, req)));
	default:
		verrs_free(&errs);
		reply_not_allowed(req, "GET, POST");
		return (KORE_RESULT_OK);
	}
}

/* GET, PUT, PATCH, DELETE /users/{user_id}. */
int
api_user(struct http_request *req)
{
	struct users_state	*st;
	struct verrs		 errs;
	char			 raw[128];
	int			 op;

	st = users_state(req);
	if (st->step == STEP_STORE)
		return (users_answer(req, st));

	switch (req->method) {
	case HTTP_METHOD_GET:
	case HTTP_METHOD_DELETE:
		op = 0;
		break;
	case HTTP_METHOD_PUT:
		op = USER_INPUT_REPLACE;
		break;
	case HTTP_METHOD_PATCH:
		op = USER_INPUT_PATCH;
		break;
	default:
		reply_not_allowed(req, "GET, PUT, PATCH, DELETE");
		return (KORE_RESULT_OK);
	}

	/* Admin, or the user itself: the query decides (404 otherwise). */
	if (access_caller(req, &st->caller) == -1)
		return (KORE_RESULT_OK);

	/* Path and body problems are reported together. */
	verrs_init(&errs);
	(void)parse_path_tail(req->path, "/users/", raw, sizeof(raw));
	(void)model_path_uuid(raw, st->id, &errs);
	if (op != 0) {
		if (users_read_body(req, st, op, &errs) == -1) {
			verrs_free(&errs);
			return (KORE_RESULT_OK);
		}
	} else if (errs.n > 0) {
		reply_validation(req, &errs);
		verrs_free(&errs);
		return (KORE_RESULT_OK);
	}
	verrs_free(&errs);

	if (request_if_match(req, st->if_match, sizeof(st->if_match)) ==
	    PARSE_NO_MATCH) {
		reply_error(req, 412, "Precondition Failed");
		return (KORE_RESULT_OK);
	}

	switch (req->method) {
	case HTTP_METHOD_GET:
		return (users_sleep(req, st, user_store_get(&st->caller,
		    st->id, users_stored, req)));
	case HTTP_METHOD_PUT:
		return (users_sleep(req, st, user_store_replace(&st->caller,
		    st->id, &st->in, st->if_match, users_stored, req)));
	case HTTP_METHOD_PATCH:
		return (users_sleep(req, st, user_store_patch(&st->caller,
		    st->id, &st->in, st->if_match, users_stored, req)));
	default:
		return (users_sleep(req, st, user_store_delete(&st->caller,
		    st->id, st->if_match, users_stored, req)));
	}
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

/* The password hash is ready: store the new user. */
static int
users_create_hashed(struct http_request *req, struct users_state *st)
{
	char	hash[PASSWORD_HASH_MAX];
	size_t	len;

	len = sizeof(hash) - 1;
	if (!reqctx_task_result(req, hash, &len))
		return (KORE_RESULT_RETRY);
	hash[len] = '\0';
	if (len == 0) {
		log_error("could not hash a password");
		reply_error(req, 500, "Internal Server Error");
		return (KORE_RESULT_OK);
	}
	return (users_sleep(req, st,
	    user_store_create(&st->in, hash, users_stored, req)));
}

int
api_password_task(struct http_request *req, int op, const char *a,
    const char *b, const char *c)
{
	char	msg[PASSWORD_MSG_MAX];
	size_t	len;
	int	rc;

	len = password_msg(msg, sizeof(msg), op, a, b, c);
	rc = len == 0 ? -1 : reqctx_task_start(req, password_task, msg, len);
	explicit_bzero(msg, sizeof(msg));
	if (rc == -1) {
		reply_unavailable(req, 1);
		return (KORE_RESULT_OK);
	}
	return (KORE_RESULT_RETRY);
}

static int
users_sleep(struct http_request *req, struct users_state *st,
    struct db_query *q)
{
	st->step = STEP_STORE;
	return (reqctx_wait(req, q));
}

/* Store callback: keep the answer, wake the request. */
static void
users_stored(void *arg, struct store_reply *r)
{
	struct http_request	*req = arg;
	struct users_state	*st;
	size_t			 i;

	st = reqctx_answered(req);
	st->status = r->status;

	if (r->status == STORE_OK) {
		if (req->method == HTTP_METHOD_GET && st->id[0] == '\0') {
			st->out = json_array();
			for (i = 0; i < r->n; i++)
				(void)json_array_append_new(st->out,
				    user_to_json(&r->users[i]));
		} else if (r->n > 0) {
			st->out = user_to_json(&r->users[0]);
			st->version = r->users[0].version;
			memcpy(st->created_id, r->users[0].id,
			    sizeof(st->created_id));
		}
	}
	http_request_wakeup(req);
}

static int
users_answer(struct http_request *req, struct users_state *st)
{
	char	buf[128];
	json_t	*out;

	if (reqctx_waiting(req))
		return (KORE_RESULT_RETRY);
	if (st->status != STORE_OK)
		return (users_fail(req, st->status));

	out = st->out;
	st->out = NULL;

	switch (req->method) {
	case HTTP_METHOD_POST:
		(void)snprintf(buf, sizeof(buf), "/users/%s", st->created_id);
		http_response_header(req, "location", buf);
		(void)snprintf(buf, sizeof(buf), "\"%lld\"", st->version);
		http_response_header(req, "etag", buf);
		reply_json(req, 201, out);
		break;
	case HTTP_METHOD_DELETE:
		json_decref(out);
		reply_empty(req, 204);
		break;
	default:
		if (st->id[0] != '\0') {
			(void)snprintf(buf, sizeof(buf), "\"%lld\"",
			    st->version);
			http_response_header(req, "etag", buf);
		}
		reply_json(req, 200, out);
		break;
	}
	return (KORE_RESULT_OK);
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
	return (KORE_RESULT_OK);
}
