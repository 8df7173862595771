/* userapi: the queries on background jobs: parameters in, typed results out; no HTTP. */

#ifndef USERAPI_STORE_JOB_STORE_H
#define USERAPI_STORE_JOB_STORE_H

#include <stddef.h>

#include "model/user.h"
#include "store/store.h"

struct caller;
struct store_query;

/*
 * The answers, one shape per kind, as in store.h: each callback runs
 * once, on the event loop, never from inside the call that started the
 * query; the store frees the answer after it returns. Anything but
 * STORE_OK leaves the other fields zero. Cancel with store_cancel.
 */

/* A job as GET /jobs/{id} shows it. */
struct job {
	char		 id[UUID_STR_LEN + 1];
	char		 kind[16];
	char		 status[16];
	int		 attempts;
	char		*last_error;		/* NULL: none */
	long long	 created_us;		/* µs since 1970, UTC */
	long long	 updated_us;
};

/* A claimed job: what its sender needs. */
struct job_claim {
	char	 id[UUID_STR_LEN + 1];
	char	*to;
	char	*subject;
	char	*body;
	int	 attempts;		/* this one included */
	int	 max_attempts;
	int	 deleted;		/* its user is gone: failed, not sent */
};

/* One job: get, retry (STORE_CONFLICT: not a failed job). */
struct store_job {
	enum store_status	 status;
	struct job		 job;
};

/* A page of jobs: list. */
struct store_jobs {
	enum store_status	 status;
	struct job		*jobs;
	size_t			 n;
};

/* The job a notify wrote. */
struct store_job_id {
	enum store_status	 status;
	char			 id[UUID_STR_LEN + 1];
};

/* What a take did: the jobs it claimed, the jobs it recorded as sent. */
struct store_take {
	enum store_status	 status;
	struct job_claim	*claims;
	size_t			 n;
	char			(*sent)[UUID_STR_LEN + 1];
	size_t			 nsent;
};

/* Job ids: those still held (heartbeat). */
struct store_ids {
	enum store_status	 status;
	char			(*ids)[UUID_STR_LEN + 1];
	size_t			 n;
};

/* A failed attempt recorded: the new status ("" when no longer held). */
struct store_fail {
	enum store_status	 status;
	char			 job_status[16];
	double			 delay;		/* seconds until due */
};

/* How many: jobs reclaimed, jobs pruned. */
struct store_count {
	enum store_status	 status;
	long long		 n;
};

/* /metrics: jobs queued, running, sent, failed. */
struct store_job_counts {
	enum store_status	 status;
	long long		 counts[4];
};

typedef void	(*store_job_cb)(void *arg, const struct store_job *);
typedef void	(*store_jobs_cb)(void *arg, const struct store_jobs *);
typedef void	(*store_job_id_cb)(void *arg, const struct store_job_id *);
typedef void	(*store_take_cb)(void *arg, const struct store_take *);
typedef void	(*store_ids_cb)(void *arg, const struct store_ids *);
typedef void	(*store_fail_cb)(void *arg, const struct store_fail *);
typedef void	(*store_count_cb)(void *arg, const struct store_count *);
typedef void	(*store_job_counts_cb)(void *arg,
		    const struct store_job_counts *);

/* Parent: register sql/jobs.sql and resolve its statement ids. */
void		job_store_load(void);

/* The request statements (see sql/jobs.sql). NULL subject/message: defaults. */
struct store_query *job_store_notify(const struct caller *,
		    const char *user_id, const char *subject,
		    const char *message, int max_attempts, store_job_id_cb,
		    void *);
struct store_query *job_store_get(const struct caller *, const char *id,
		    store_job_cb, void *);
/* status NULL: every status. */
struct store_query *job_store_list(const struct caller *, const char *status,
		    long long skip, long long limit, store_jobs_cb, void *);
struct store_query *job_store_retry(const struct caller *, const char *id,
		    store_job_cb, void *);

/*
 * The runner's statements; owner is the worker's lease name, ids a
 * uuid[] literal ("{a,b}"). A take records the jobs of sent (whose mails
 * went out) as sent and claims up to n due jobs with a lease of lease_s.
 */
struct store_query *job_store_take(const char *owner, const char *sent,
		    int n, int lease_s, store_take_cb, void *);
struct store_query *job_store_heartbeat(const char *owner, const char *ids,
		    int lease_s, store_ids_cb, void *);
struct store_query *job_store_fail(const char *owner, const char *id,
		    const char *error, int permanent, double delay,
		    store_fail_cb, void *);
struct store_query *job_store_reclaim(store_count_cb, void *);
struct store_query *job_store_prune(int hours, int max, store_count_cb,
		    void *);
struct store_query *job_store_count(store_job_counts_cb, void *);

#endif
