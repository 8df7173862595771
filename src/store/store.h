/* userapi: the queries on users and friends: parameters in, structs out; no HTTP. */

#ifndef USERAPI_STORE_H
#define USERAPI_STORE_H

#include <stddef.h>

struct db_query;
struct user;
struct user_input;

enum store_status {
	STORE_OK = 0,
	STORE_NOT_FOUND,	/* no such row */
	STORE_STALE,		/* If-Match version no longer current */
	STORE_DUPLICATE,	/* unique e-mail taken */
	STORE_UNAVAILABLE,	/* database down or queue full: 503 */
	STORE_TIMEOUT,		/* past the query deadline: 504 */
	STORE_ERROR		/* anything else: 500 (logged) */
};

struct store_reply {
	enum store_status	 status;
	struct user		*users;		/* owned by the store */
	size_t			 n;
	char			 text[64];	/* one-value answers */
};

/* Runs once on the event loop; reply is freed after it returns. */
typedef void	(*store_cb)(void *arg, struct store_reply *);

/* Parent: register sql/ and resolve statement ids. */
void		store_load(void);

/* No If-Match: pass STORE_ANY_VERSION (the same as PARSE_ANY_VERSION). */
#define STORE_ANY_VERSION	(-1LL)

struct db_query	*user_store_create(const struct user_input *,
		    const char *hash, store_cb, void *);
struct db_query	*user_store_get(const char *id, store_cb, void *);
struct db_query	*user_store_list(long long skip, long long limit,
		    const char *email, store_cb, void *);
struct db_query	*user_store_replace(const char *id,
		    const struct user_input *, long long version, store_cb,
		    void *);
struct db_query	*user_store_patch(const char *id, const struct user_input *,
		    long long version, store_cb, void *);
struct db_query	*user_store_delete(const char *id, long long version,
		    store_cb, void *);
/* text = the newest applied migration. */
struct db_query	*health_store_schema(store_cb, void *);

#endif
