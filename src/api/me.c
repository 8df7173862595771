/* userapi: the caller's own resources: GET /users/me, POST /users/me/password, GET /protected. */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "api/api.h"
#include "auth/access.h"
#include "auth/password.h"
#include "http/reply.h"
#include "http/request.h"
#include "json/user_json.h"
#include "log.h"
#include "model/user.h"
#include "model/verr.h"
#include "store/store.h"

#define STEP_START	0
#define STEP_QUERY	1	/* the caller's row is being read */
#define STEP_CHANGE	2	/* argon2id: verify the old, hash the new */
#define STEP_SAVE	3	/* the new hash is being written */

struct me_state {
	struct reqctx		 ctx;		/* must be first */
	int			 step;
	struct caller		 caller;
	enum store_status	 status;
	json_t			*out;
	char			*email;
	long long		 version;
	char			*current;
	char			*next;
	char			 hash[PASSWORD_HASH_MAX];
};

static struct me_state	*me_state(struct http_request *, int);
static void	me_cleanup(struct reqctx *);
static void	me_stored(void *, struct store_reply *);
static int	me_wait(struct http_request *, struct me_state *,
		    struct db_query *);
static int	me_show(struct http_request *, int);
static int	me_password_start(struct http_request *, struct me_state *);
static int	me_password_check(struct http_request *, struct me_state *);
static int	me_password_save(struct http_request *, struct me_state *);

/* The state, or NULL once a 405 or 401 has been answered. */
static struct me_state *
me_state(struct http_request *req, int method)
{
	struct me_state		*st;

	if (req->method != method) {
		reply_not_allowed(req, method == HTTP_METHOD_GET ?
		    "GET" : "POST");
		return (NULL);
	}
	st = reqctx_open(req, sizeof(*st));
	st->ctx.cleanup = me_cleanup;
	if (st->step == STEP_START &&
	    access_caller(req, &st->caller) == -1)
		return (NULL);
	return (st);
}

static void
me_cleanup(struct reqctx *ctx)
{
	struct me_state		*st = (struct me_state *)ctx;

	json_decref(st->out);
	st->out = NULL;
	free(st->email);
	st->email = NULL;
	if (st->current != NULL)
		explicit_bzero(st->current, strlen(st->current));
	if (st->next != NULL)
		explicit_bzero(st->next, strlen(st->next));
	free(st->current);
	free(st->next);
	st->current = st->next = NULL;
}

int
api_me(struct http_request *req)
{
	return (me_show(req, 0));
}

/* The tutorial's protected route: who you are, and that you may. */
int
api_protected(struct http_request *req)
{
	return (me_show(req, 1));
}

static int
me_show(struct http_request *req, int greeting)
{
	struct me_state		*st;
	char			 etag[32];

	if ((st = me_state(req, HTTP_METHOD_GET)) == NULL)
		return (KORE_RESULT_OK);
	if (st->step == STEP_START)
		return (me_wait(req, st, user_store_me(&st->caller,
		    me_stored, req)));
	if (reqctx_waiting(req))
		return (KORE_RESULT_RETRY);
	if (st->status != STORE_OK)
		return (users_fail(req, st->status == STORE_NOT_FOUND ?
		    STORE_UNAUTHORIZED : st->status));

	if (greeting) {
		reply_json(req, 200, json_pack("{s:s, s:s}", "username",
		    st->email, "message", "Access granted"));
	} else {
		(void)snprintf(etag, sizeof(etag), "\"%lld\"", st->version);
		http_response_header(req, "etag", etag);
		reply_json(req, 200, st->out);
		st->out = NULL;
	}
	return (KORE_RESULT_OK);
}

static int
me_wait(struct http_request *req, struct me_state *st, struct db_query *q)
{
	st->step++;
	return (reqctx_wait(req, q));
}

static void
me_stored(void *arg, struct store_reply *r)
{
	struct http_request	*req = arg;
	struct me_state		*st;

	st = reqctx_answered(req);
	st->status = r->status;
	if (r->status == STORE_OK && r->n > 0) {
		st->out = user_to_json(&r->users[0]);
		st->version = r->users[0].version;
		if ((st->email = strdup(r->users[0].email)) == NULL)
			abort();
	}
	if (r->status == STORE_OK && r->text[0] != '\0')
		(void)snprintf(st->hash, sizeof(st->hash), "%s", r->text);
	explicit_bzero(r->text, sizeof(r->text));
	http_request_wakeup(req);
}

/*
 * POST /users/me/password: read the caller's hash -> on a task, check the
 * current password and hash the new one -> store it and retire every
 * older token of the caller (token_version) -> 204.
 */
int
api_me_password(struct http_request *req)
{
	struct me_state		*st;

	if ((st = me_state(req, HTTP_METHOD_POST)) == NULL)
		return (KORE_RESULT_OK);

	switch (st->step) {
	case STEP_START:
		return (me_password_start(req, st));
	case STEP_QUERY:
		return (me_password_check(req, st));
	default:
		return (me_password_save(req, st));
	}
}

static int
me_password_start(struct http_request *req, struct me_state *st)
{
	struct verrs	 errs;
	json_t		*body;
	char		*buf;
	size_t		 len;

	if (request_json_body(req, &buf, &len) == -1)
		return (KORE_RESULT_OK);
	verrs_init(&errs);
	body = json_body_parse(buf, len, &errs);
	explicit_bzero(buf, len);
	free(buf);
	if (body != NULL) {
		(void)password_change_from_json(body, &st->current, &st->next,
		    &errs);
		json_decref(body);
	}
	if (errs.n > 0) {
		reply_validation(req, &errs);
		verrs_free(&errs);
		return (KORE_RESULT_OK);
	}
	verrs_free(&errs);

	return (me_wait(req, st, password_store_current(&st->caller,
	    me_stored, req)));
}

static int
me_password_check(struct http_request *req, struct me_state *st)
{
	const char	*hash;
	int		 rc;

	if (reqctx_waiting(req))
		return (KORE_RESULT_RETRY);
	if (st->status != STORE_OK)
		return (users_fail(req, st->status));

	/* No password yet: checked against the dummy, so it fails. */
	hash = st->hash[0] != '\0' ? st->hash : password_dummy();
	st->step = STEP_CHANGE;
	rc = api_password_task(req, PASSWORD_OP_CHANGE, hash, st->current,
	    st->next);
	explicit_bzero(st->hash, sizeof(st->hash));
	return (rc);
}

static int
me_password_save(struct http_request *req, struct me_state *st)
{
	char	out[PASSWORD_HASH_MAX + 2];
	size_t	len;

	if (st->step == STEP_CHANGE) {
		len = sizeof(out) - 1;
		if (!reqctx_task_result(req, out, &len))
			return (KORE_RESULT_RETRY);
		out[len] = '\0';
		if (len < 2 || out[0] != '1') {
			log_warn("password change refused for %s: wrong "
			    "current password (rid %s)", st->caller.id,
			    st->ctx.rid);
			reply_error(req, 400, "Incorrect password");
			return (KORE_RESULT_OK);
		}
		st->step = STEP_SAVE;
		(void)reqctx_wait(req, password_store_set(&st->caller,
		    out + 1, me_stored, req));
		explicit_bzero(out, sizeof(out));
		return (KORE_RESULT_RETRY);
	}

	if (reqctx_waiting(req))
		return (KORE_RESULT_RETRY);
	if (st->status != STORE_OK)
		return (users_fail(req, st->status));
	log_info("password changed for %s; older tokens retired",
	    st->caller.id);
	reply_empty(req, 204);
	return (KORE_RESULT_OK);
}
