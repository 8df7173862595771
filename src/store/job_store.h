/* userapi: the queries on background jobs: parameters in, structs out; no HTTP. */

#ifndef USERAPI_STORE_JOB_STORE_H
#define USERAPI_STORE_JOB_STORE_H

#include <stddef.h>

#include "auth/access.h"
#include "store/store.h"

struct db_query;

/* A job as GET /jobs/{id} shows it. */
struct job {
	char	 id[40];
	char	 kind[16];
	char	 status[16];
	int	 attempts;
	char	*last_error;		/* NULL: none */
	char	 created_at[40];	/* RFC 3339 UTC, microseconds */
	char	 updated_at[40];
};

/* A claimed job: what its sender needs. */
struct job_claim {
	char	 id[40];
	char	*to;
	char	*subject;
	char	*body;
	int	 attempts;		/* this one included */
	int	 max_attempts;
	int	 deleted;		/* its user is gone: failed, not sent */
};

struct job_reply {
	enum store_status	 status;
	int			 conflict;	/* retry: not a failed job */
	struct job		*jobs;		/* owned by the store */
	size_t			 n;
	struct job_claim	*claims;	/* job_store_claim */
	char			**ids;		/* job_store_heartbeat */
	char			 id[40];	/* job_store_notify */
	char			 text[64];	/* one-value answers */
	double			 delay;		/* job_store_fail: seconds */
	long long		 counts[4];	/* job_store_count */
};

/* Runs once on the event loop; reply is freed after it returns. */
typedef void	(*job_store_cb)(void *arg, struct job_reply *);

/* Parent: register sql/jobs.sql and resolve its statement ids. */
void		job_store_load(void);

/* The request statements (see sql/jobs.sql). NULL subject/message: defaults. */
struct db_query	*job_store_notify(const struct caller *, const char *user_id,
		    const char *subject, const char *message, int max_attempts,
		    job_store_cb, void *);
struct db_query	*job_store_get(const struct caller *, const char *id,
		    job_store_cb, void *);
/* status NULL: every status. */
struct db_query	*job_store_list(const struct caller *, const char *status,
		    long long skip, long long limit, job_store_cb, void *);
struct db_query	*job_store_retry(const struct caller *, const char *id,
		    job_store_cb, void *);

/* The runner's statements; owner is the worker's lease name. */
struct db_query	*job_store_claim(const char *owner, int n, int lease_s,
		    job_store_cb, void *);
/* ids: a uuid[] literal ("{a,b}"); reply->ids, n: the ones still held. */
struct db_query	*job_store_heartbeat(const char *owner, const char *ids,
		    int lease_s, job_store_cb, void *);
/* reply->n: 1 when the job was still held and is now sent. */
struct db_query	*job_store_finish(const char *owner, const char *id,
		    job_store_cb, void *);
/* reply->text: the new status ("" when not held), reply->delay. */
struct db_query	*job_store_fail(const char *owner, const char *id,
		    const char *error, int permanent, double delay,
		    job_store_cb, void *);
/* reply->n: jobs reclaimed / pruned. */
struct db_query	*job_store_reclaim(job_store_cb, void *);
struct db_query	*job_store_prune(int hours, int max, job_store_cb, void *);
/* reply->counts: jobs queued, running, sent, failed. */
struct db_query	*job_store_count(job_store_cb, void *);

#endif
