/* userapi: the queries on users, logins and health: parameters in, typed results out; no HTTP. */

#ifndef USERAPI_STORE_H
#define USERAPI_STORE_H

#include <stddef.h>

#include "model/user.h"

struct caller;
struct user_input;

/* A query in flight: the handle a request keeps to cancel it. */
struct store_query;

enum store_status {
	STORE_OK = 0,
	STORE_UNAUTHORIZED,	/* the caller's token is no longer valid */
	STORE_FORBIDDEN,	/* the caller may not do this */
	STORE_NOT_FOUND,	/* no such row, or one the caller may not see */
	STORE_STALE,		/* If-Match version no longer current */
	STORE_DUPLICATE,	/* unique e-mail taken */
	STORE_CONFLICT,		/* not in a state that allows it (job retry) */
	STORE_UNAVAILABLE,	/* database down or queue full: 503 */
	STORE_TIMEOUT,		/* past the query deadline: 504 */
	STORE_ERROR		/* anything else: 500 (logged) */
};

/*
 * The answers, one shape per kind. Each is passed to its callback, which
 * runs once, on the event loop, never from inside the call that started
 * the query; the store frees (and wipes) the answer after the callback
 * returns, so the callback copies what it keeps. Anything but STORE_OK
 * leaves the other fields zero.
 */

/* One user: create, me, get, replace, patch. */
struct store_user {
	enum store_status	 status;
	struct user		 user;
};

/* A page of users: list. */
struct store_users {
	enum store_status	 status;
	struct user		*users;
	size_t			 n;
};

/* What a login or a password change needs: the account and its lockout. */
struct store_login {
	enum store_status	 status;
	int			 found;		/* 0: no such account */
	char			 id[UUID_STR_LEN + 1];
	char			 email[USER_EMAIL_MAX + 1];
	char			 hash[256];	/* empty: no password */
	int			 is_active;
	long long		 token_version;
	int			 locked;	/* over the attempts allowed */
	long long		 retry_after;	/* seconds, when locked */
};

/* Just how it went: delete, password set, login reset. */
struct store_outcome {
	enum store_status	 status;
};

/* The newest applied migration, for /readyz. */
struct store_schema {
	enum store_status	 status;
	char			 version[128];
};

typedef void	(*store_user_cb)(void *arg, const struct store_user *);
typedef void	(*store_users_cb)(void *arg, const struct store_users *);
typedef void	(*store_login_cb)(void *arg, const struct store_login *);
typedef void	(*store_outcome_cb)(void *arg, const struct store_outcome *);
typedef void	(*store_schema_cb)(void *arg, const struct store_schema *);

/* Parent: register sql/ and resolve statement ids. */
void		store_load(void);

/*
 * Drop a query's answer (the request went away): its callback never
 * runs. q is invalid afterwards; so it is once the callback ran.
 */
void		store_cancel(struct store_query *q);

struct store_query *user_store_create(const struct user_input *,
		    const char *hash, store_user_cb, void *);
struct store_query *user_store_me(const struct caller *, store_user_cb,
		    void *);
struct store_query *user_store_get(const struct caller *, const char *id,
		    store_user_cb, void *);
/* email: NULL for every user. */
struct store_query *user_store_list(const struct caller *, long long skip,
		    long long limit, const char *email, store_users_cb, void *);
/*
 * versions: If-Match's versions as an array literal ("{3,5}"); "" when
 * any version will do; "{}" when no listed tag can match (the user must
 * still be found first: a missing user is STORE_NOT_FOUND, never stale).
 */
struct store_query *user_store_replace(const struct caller *, const char *id,
		    const struct user_input *, const char *versions,
		    store_user_cb, void *);
struct store_query *user_store_patch(const struct caller *, const char *id,
		    const struct user_input *, const char *versions,
		    store_user_cb, void *);
struct store_query *user_store_delete(const struct caller *, const char *id,
		    const char *versions, store_outcome_cb, void *);

/* Logins: count the attempt and fetch the account. */
struct store_query *login_store_begin(const char *email, store_login_cb,
		    void *);
/* A successful login clears the account's count. */
struct store_query *login_store_reset(const char *email, store_outcome_cb,
		    void *);
/* A password change: count the try like a login, fetch the caller's hash. */
struct store_query *password_store_begin(const struct caller *,
		    store_login_cb, void *);
/* Store the new hash, retire older tokens, clear the count. */
struct store_query *password_store_set(const struct caller *,
		    const char *hash, store_outcome_cb, void *);
struct store_query *health_store_schema(store_schema_cb, void *);

#endif
