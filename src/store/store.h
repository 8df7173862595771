/* userapi: the queries on users, logins and health: parameters in, structs out; no HTTP. */

#ifndef USERAPI_STORE_H
#define USERAPI_STORE_H

#include <stddef.h>

struct db_query;
struct user;
struct user_input;

enum store_status {
	STORE_OK = 0,
	STORE_UNAUTHORIZED,	/* the caller's token is no longer valid */
	STORE_FORBIDDEN,	/* the caller may not do this */
	STORE_NOT_FOUND,	/* no such row, or one the caller may not see */
	STORE_STALE,		/* If-Match version no longer current */
	STORE_DUPLICATE,	/* unique e-mail taken */
	STORE_UNAVAILABLE,	/* database down or queue full: 503 */
	STORE_TIMEOUT,		/* past the query deadline: 504 */
	STORE_ERROR		/* anything else: 500 (logged) */
};

/* What login_store_begin finds: the account (if any) and its lockout. */
struct store_login {
	int		 found;
	char		 id[40];
	char		 email[256];
	char		 hash[256];	/* empty: no password */
	int		 is_active;
	long long	 token_version;
	int		 locked;
	long long	 retry_after;	/* seconds */
};

struct store_reply {
	enum store_status	 status;
	struct user		*users;		/* owned by the store */
	size_t			 n;
	char			 text[256];	/* one-value answers */
	struct store_login	 login;
};

/* Who asks: the token's subject and token version. */
struct caller {
	char		id[40];
	char		tv[24];
};

/* Runs once on the event loop; reply is freed after it returns. */
typedef void	(*store_cb)(void *arg, struct store_reply *);

/* Parent: register sql/ and resolve statement ids. */
void		store_load(void);

struct db_query	*user_store_create(const struct user_input *,
		    const char *hash, store_cb, void *);
struct db_query	*user_store_me(const struct caller *, store_cb, void *);
struct db_query	*user_store_get(const struct caller *, const char *id,
		    store_cb, void *);
struct db_query	*user_store_list(const struct caller *, long long skip,
		    long long limit, const char *email, store_cb, void *);
/* versions: If-Match's versions as an array literal ("{3,5}"), "" for any. */
struct db_query	*user_store_replace(const struct caller *, const char *id,
		    const struct user_input *, const char *versions, store_cb,
		    void *);
struct db_query	*user_store_patch(const struct caller *, const char *id,
		    const struct user_input *, const char *versions, store_cb,
		    void *);
struct db_query	*user_store_delete(const struct caller *, const char *id,
		    const char *versions, store_cb, void *);

/* Logins: count the attempt and fetch the account (reply->login). */
struct db_query	*login_store_begin(const char *email, store_cb, void *);
/* A successful login clears the account's count. */
struct db_query	*login_store_reset(const char *email, store_cb, void *);
/* text = the caller's password hash. */
struct db_query	*password_store_current(const struct caller *, store_cb,
		    void *);
struct db_query	*password_store_set(const struct caller *, const char *hash,
		    store_cb, void *);
/* text = the newest applied migration. */
struct db_query	*health_store_schema(store_cb, void *);

#endif
