/* userapi: POST /token, the OAuth2 password grant (RFC 6749 4.3): logins. */

/*
 * login: read the form -> count the attempt and fetch the account (one
 * query; 429 when locked out) -> verify the password on a task, against a
 * dummy hash when the account is unknown, has no password or is inactive,
 * so every failure costs the same -> sign a token, or 401. A username
 * longer than any e-mail address (USER_EMAIL_MAX bytes) skips the query:
 * it can name no account, so it is neither counted nor stored, and fails
 * after the same dummy verify as any other unknown account.
 */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "api/api.h"
#include "auth/access.h"
#include "auth/password.h"
#include "auth/token.h"
#include "config.h"
#include "http/parse.h"
#include "http/reply.h"
#include "log.h"
#include "model/user.h"
#include "model/verr.h"
#include "ops/metrics.h"
#include "store/store.h"

#define FORM_MAX	8192	/* bytes of a login form */

/* The form's parameters (OAuth2PasswordRequestForm): each at most once. */
static const char	*login_fields[] = {
	"grant_type", "username", "password", "scope", "client_id",
	"client_secret"
};

/* The steps of a login, in order. */
enum {
	LOGIN_READ,		/* read the form, ask for the account */
	LOGIN_ACCOUNT,		/* lockout, then argon2id in the background */
	LOGIN_CHECKED,		/* wrong: 401; right: clear the count */
	LOGIN_ISSUE		/* sign the token */
};

struct login_state {
	char			*username;
	char			*password;
	enum store_status	 status;
	struct store_login	 account;
	const char		*fail;		/* why, for the log only */
};

static struct login_state *login_state(struct http_request *);
static void	login_cleanup(void *);
static int	login_read(struct http_request *);
static void	login_found(void *, const struct store_login *);
static int	login_account(struct http_request *);
static int	login_checked(struct http_request *);
static void	login_reset_done(void *, const struct store_outcome *);
static int	login_issue(struct http_request *);
static int	login_form(struct http_request *, char **);
static void	login_refuse(struct http_request *, struct login_state *);

static struct http_state	login_steps[] = {
	{ "read",	login_read },
	{ "account",	login_account },
	{ "checked",	login_checked },
	{ "issue",	login_issue },
};

int
api_token(struct http_request *req)
{
	return (REQCTX_RUN(login_steps, req));
}

static struct login_state *
login_state(struct http_request *req)
{
	return (reqctx_state(req, sizeof(struct login_state), login_cleanup));
}

static void
login_cleanup(void *arg)
{
	struct login_state	*st = arg;

	free(st->username);
	if (st->password != NULL)
		explicit_bzero(st->password, strlen(st->password));
	free(st->password);
	st->username = st->password = NULL;
	explicit_bzero(st->account.hash, sizeof(st->account.hash));
}

/* Read the body as a form; 0 with *form malloc'd, or -1 once answered. */
static int
login_form(struct http_request *req, char **form)
{
	const char	*ctype;
	size_t		 len;
	ssize_t		 n;

	*form = NULL;
	if (!http_request_header(req, "content-type", &ctype) ||
	    strncasecmp(ctype, "application/x-www-form-urlencoded",
	    strlen("application/x-www-form-urlencoded")) ||
	    (ctype[33] != '\0' && ctype[33] != ';' && ctype[33] != ' ')) {
		reply_error(req, 415, "Content-Type must be "
		    "application/x-www-form-urlencoded");
		return (-1);
	}
	if (req->content_length > FORM_MAX) {
		reply_error(req, 413, "Request body too large");
		return (-1);
	}

	if ((*form = malloc(req->content_length + 1)) == NULL)
		abort();
	len = 0;
	while (len < req->content_length) {
		n = http_body_read(req, *form + len,
		    req->content_length - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	(*form)[len] = '\0';
	return (0);
}

static int
login_read(struct http_request *req)
{
	struct login_state	*st;
	struct verrs		 errs;
	char			*form, *grant;
	size_t			 i;

	st = login_state(req);
	if (login_form(req, &form) == -1)
		return (HTTP_STATE_COMPLETE);

	/* RFC 6749 3.1: no parameter is given more than once. */
	verrs_init(&errs);
	for (i = 0; i < sizeof(login_fields) / sizeof(login_fields[0]); i++) {
		if (parse_query_count(form, login_fields[i]) > 1)
			verrs_add(&errs, "duplicate_parameter", "body",
			    login_fields[i], "Parameter given more than once");
	}
	if (errs.n > 0) {
		explicit_bzero(form, strlen(form));
		free(form);
		reply_validation(req, &errs);
		verrs_free(&errs);
		return (HTTP_STATE_COMPLETE);
	}
	verrs_free(&errs);

	/* RFC 6749 5.2: another grant type is 400 unsupported_grant_type. */
	if (parse_query(form, "grant_type", &grant) &&
	    strcmp(grant, "password")) {
		free(grant);
		free(form);
		reply_json(req, 400, json_pack("{s:s, s:s, s:s}",
		    "error", "unsupported_grant_type",
		    "error_description", "grant_type must be password",
		    "detail", "Unsupported grant type"));
		return (HTTP_STATE_COMPLETE);
	}
	free(grant);

	verrs_init(&errs);
	if (!parse_query(form, "username", &st->username))
		verrs_add(&errs, "missing", "body", "username",
		    "Field required");
	if (!parse_query(form, "password", &st->password))
		verrs_add(&errs, "missing", "body", "password",
		    "Field required");
	explicit_bzero(form, strlen(form));
	free(form);
	if (errs.n > 0) {
		reply_validation(req, &errs);
		verrs_free(&errs);
		return (HTTP_STATE_COMPLETE);
	}
	verrs_free(&errs);

	if (strlen(st->username) > USER_EMAIL_MAX) {
		st->fail = "username longer than an e-mail address";
		st->username[USER_EMAIL_MAX] = '\0';	/* for the log */
		return (login_account(req));
	}
	return (reqctx_wait(req, login_store_begin(st->username, login_found,
	    req), LOGIN_ACCOUNT));
}

static void
login_found(void *arg, const struct store_login *r)
{
	struct login_state	*st;

	st = reqctx_resume(arg);
	st->status = r->status;
	st->account = *r;
}

static int
login_account(struct http_request *req)
{
	struct login_state	*st;
	const char		*hash, *password;

	st = login_state(req);
	if (st->status != STORE_OK)
		return (users_fail(req, st->status));

	if (st->account.locked) {
		metrics_count(MC_LOCKOUTS, 1);
		log_warn("login refused for %s: locked out for %llds",
		    st->username, st->account.retry_after);
		reply_too_many(req, (int)st->account.retry_after,
		    "Too many failed logins, try again later");
		return (HTTP_STATE_COMPLETE);
	}

	hash = st->account.hash;
	if (st->fail != NULL) {
		hash = password_dummy();
	} else if (!st->account.found) {
		st->fail = "unknown account";
		hash = password_dummy();
	} else if (st->account.hash[0] == '\0') {
		st->fail = "account has no password";
		hash = password_dummy();
	} else if (!st->account.is_active) {
		st->fail = "account inactive";
		hash = password_dummy();
	}

	password = st->password;
	if (strlen(password) > PASSWORD_INPUT_MAX) {
		/* Longer than any password we store: cannot match. */
		st->fail = "password too long";
		hash = password_dummy();
		password = "";
	}
	return (api_password_job(req, PASSWORD_OP_VERIFY, hash, password,
	    NULL, LOGIN_CHECKED));
}

/*
 * The password was checked. On success the account's count is cleared
 * before the token goes out, so the client's next login cannot be counted
 * against the old window.
 */
static int
login_checked(struct http_request *req)
{
	struct login_state	*st;
	struct password_job	*job;
	int			 ok;

	st = login_state(req);
	job = reqctx_result(req);
	ok = job != NULL && job->ok;
	password_job_free(job);

	if (st->fail != NULL || !ok) {
		if (st->fail == NULL)
			st->fail = "wrong password";
		login_refuse(req, st);
		return (HTTP_STATE_COMPLETE);
	}

	return (reqctx_wait(req, login_store_reset(st->username,
	    login_reset_done, req), LOGIN_ISSUE));
}

static void
login_reset_done(void *arg, const struct store_outcome *r)
{
	struct login_state	*st;

	st = reqctx_resume(arg);
	st->status = r->status;
}

static int
login_issue(struct http_request *req)
{
	struct login_state	*st;
	char			*token;
	long			 ttl;

	st = login_state(req);
	if (st->status != STORE_OK)
		return (users_fail(req, st->status));

	ttl = (long)cfg.token_expire_min * 60;
	token = token_issue(st->account.id, st->account.email,
	    st->account.token_version, time(NULL), ttl);
	if (token == NULL) {
		log_error("could not sign a token");
		reply_error(req, 500, "Internal Server Error");
		return (HTTP_STATE_COMPLETE);
	}

	http_response_header(req, "cache-control", "no-store");
	http_response_header(req, "pragma", "no-cache");
	reply_json(req, 200, json_pack("{s:s, s:s, s:I}", "access_token",
	    token, "token_type", "bearer", "expires_in", (json_int_t)ttl));
	free(token);
	return (HTTP_STATE_COMPLETE);
}

/* The reason goes to the log only; every failure answers the same. */
static void
login_refuse(struct http_request *req, struct login_state *st)
{
	log_warn("login failed for %s: %s (rid %s)", st->username, st->fail,
	    reqctx_get(req)->rid);
	access_deny(req, "Incorrect username or password");
}
