/* userapi: the caller's own resources: GET /users/me, POST /users/me/password, GET /protected. */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "api/api.h"
#include "auth/password.h"
#include "http/reply.h"
#include "http/request.h"
#include "json/user_json.h"
#include "log.h"
#include "model/user.h"
#include "model/verr.h"
#include "store/store.h"

/* GET /users/me and /protected: read the caller's row -> answer. */
enum {
	SHOW_READ,
	SHOW_ANSWER
};

/*
 * POST /users/me/password: read the body, count the try against the
 * caller's lockout and read its hash (429 when locked out: a wrong
 * current password is a failed login) -> in the background, check the
 * current password and hash the new one -> store it, retiring every
 * older token of the caller (token_version) and clearing its count ->
 * 204.
 */
enum {
	PW_READ,
	PW_CHECK,
	PW_SAVE,
	PW_DONE
};

struct me_state {
	int			 greeting;	/* /protected */
	enum store_status	 status;
	struct json_text	 out;
	char			*email;
	long long		 version;
	char			*current;
	char			*next;
	char			 hash[PASSWORD_HASH_MAX];
	int			 locked;
	long long		 retry_after;
};

static struct me_state *me_state(struct http_request *);
static void	me_cleanup(void *);
static void	me_found(void *, const struct store_user *);
static void	me_account(void *, const struct store_login *);
static void	me_saved(void *, const struct store_outcome *);
static int	me_show(struct http_request *, int);
static int	me_show_read(struct http_request *);
static int	me_show_answer(struct http_request *);
static int	me_password_read(struct http_request *);
static int	me_password_check(struct http_request *);
static int	me_password_save(struct http_request *);
static int	me_password_done(struct http_request *);

static struct http_state	show_steps[] = {
	{ "read",	me_show_read },
	{ "answer",	me_show_answer },
};

static struct http_state	password_steps[] = {
	{ "read",	me_password_read },
	{ "check",	me_password_check },
	{ "save",	me_password_save },
	{ "done",	me_password_done },
};

static struct me_state *
me_state(struct http_request *req)
{
	return (reqctx_state(req, sizeof(struct me_state), me_cleanup));
}

static void
me_cleanup(void *arg)
{
	struct me_state		*st = arg;

	json_text_free(&st->out);
	free(st->email);
	st->email = NULL;
	if (st->current != NULL)
		explicit_bzero(st->current, strlen(st->current));
	if (st->next != NULL)
		explicit_bzero(st->next, strlen(st->next));
	free(st->current);
	free(st->next);
	st->current = st->next = NULL;
	explicit_bzero(st->hash, sizeof(st->hash));
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
	me_state(req)->greeting = greeting;
	return (REQCTX_RUN(show_steps, req));
}

static int
me_show_read(struct http_request *req)
{
	return (reqctx_wait(req, user_store_me(&reqctx_get(req)->caller,
	    me_found, req), SHOW_ANSWER));
}

static int
me_show_answer(struct http_request *req)
{
	struct me_state		*st;
	char			 etag[32];

	st = me_state(req);
	if (st->status != STORE_OK)
		return (users_fail(req, st->status == STORE_NOT_FOUND ?
		    STORE_UNAUTHORIZED : st->status));

	if (st->greeting) {
		reply_json(req, 200, json_pack("{s:s, s:s}", "username",
		    st->email, "message", "Access granted"));
	} else {
		(void)snprintf(etag, sizeof(etag), "\"%lld\"", st->version);
		http_response_header(req, "etag", etag);
		reply_raw(req, 200, REPLY_JSON, st->out.s, st->out.len);
	}
	return (HTTP_STATE_COMPLETE);
}

static void
me_found(void *arg, const struct store_user *r)
{
	struct me_state		*st;

	st = reqctx_resume(arg);
	st->status = r->status;
	if (r->status == STORE_OK) {
		json_text_user(&st->out, &r->user);
		st->version = r->user.version;
		if ((st->email = strdup(r->user.email)) == NULL)
			abort();
	}
}

static void
me_account(void *arg, const struct store_login *r)
{
	struct me_state		*st;

	st = reqctx_resume(arg);
	st->status = r->status;
	if (r->status == STORE_OK) {
		(void)snprintf(st->hash, sizeof(st->hash), "%s", r->hash);
		st->locked = r->locked;
		st->retry_after = r->retry_after;
	}
}

static void
me_saved(void *arg, const struct store_outcome *r)
{
	struct me_state		*st;

	st = reqctx_resume(arg);
	st->status = r->status;
}

int
api_me_password(struct http_request *req)
{
	return (REQCTX_RUN(password_steps, req));
}

static int
me_password_read(struct http_request *req)
{
	struct me_state	*st;
	struct verrs	 errs;
	json_t		*body;
	char		*buf;
	size_t		 len;

	st = me_state(req);
	if (request_json_body(req, &buf, &len) == -1)
		return (HTTP_STATE_COMPLETE);
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
		return (HTTP_STATE_COMPLETE);
	}
	verrs_free(&errs);

	return (reqctx_wait(req, password_store_begin(
	    &reqctx_get(req)->caller, me_account, req), PW_CHECK));
}

static int
me_password_check(struct http_request *req)
{
	struct me_state	*st;
	const char	*hash;
	int		 rc;

	st = me_state(req);
	if (st->status != STORE_OK)
		return (users_fail(req, st->status));
	if (st->locked) {
		log_warn("password change refused for %s: locked out for "
		    "%llds (rid %s)", reqctx_get(req)->caller.id,
		    st->retry_after, reqctx_get(req)->rid);
		reply_too_many(req, (int)st->retry_after,
		    "Too many failed logins, try again later");
		return (HTTP_STATE_COMPLETE);
	}

	/* No password yet: checked against the dummy, so it fails. */
	hash = st->hash[0] != '\0' ? st->hash : password_dummy();
	rc = api_password_job(req, PASSWORD_OP_CHANGE, hash, st->current,
	    st->next, PW_SAVE);
	explicit_bzero(st->hash, sizeof(st->hash));
	return (rc);
}

static int
me_password_save(struct http_request *req)
{
	struct password_job	*job;
	int			 rc;

	job = reqctx_result(req);
	if (job == NULL || !job->ok || job->out[0] == '\0') {
		password_job_free(job);
		log_warn("password change refused for %s: wrong current "
		    "password (rid %s)", reqctx_get(req)->caller.id,
		    reqctx_get(req)->rid);
		reply_error(req, 400, "Incorrect password");
		return (HTTP_STATE_COMPLETE);
	}
	rc = reqctx_wait(req, password_store_set(&reqctx_get(req)->caller,
	    job->out, me_saved, req), PW_DONE);
	password_job_free(job);
	return (rc);
}

static int
me_password_done(struct http_request *req)
{
	struct me_state	*st;

	st = me_state(req);
	if (st->status != STORE_OK)
		return (users_fail(req, st->status));
	log_info("password changed for %s; older tokens retired",
	    reqctx_get(req)->caller.id);
	reply_empty(req, 204);
	return (HTTP_STATE_COMPLETE);
}
