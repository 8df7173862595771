/* userapi: the job runner of each worker: claim, lease, send, report, reclaim, prune. */

#ifndef USERAPI_JOBS_RUNNER_H
#define USERAPI_JOBS_RUNNER_H

#include <stddef.h>

/* The channel the job statements NOTIFY (sql/jobs.sql). */
#define JOBS_CHANNEL	"userapi_jobs"

/*
 * Parent: SMTP settings from cfg (SMTP_URL, SMTP_CA_FILE). Returns 0, or
 * -1 with the reason in err.
 */
int	jobs_setup(char *err, size_t errlen);

/* Per worker, after db_worker_init: the lease name and the timers. */
void	jobs_worker_init(void);

/* A NOTIFY on JOBS_CHANNEL arrived: claim what is due. */
void	jobs_notified(void *arg, const char *channel, const char *payload);

/*
 * LISTEN is (again) established: notifications may have been missed, so
 * reclaim lapsed leases and claim what is due.
 */
void	jobs_resumed(void *arg);

/*
 * Jobs this worker holds (being sent or reported) plus a claim in
 * flight: the drain waits for it to reach 0.
 */
int	jobs_busy(void);

struct metrics_extra;

/*
 * /metrics: jobs by status as last counted by this worker (at most
 * JOBS_COUNT_MS old; a scrape finding an older count starts a new one,
 * so the first scrape of a worker may have none).
 */
void	jobs_metrics(struct metrics_extra *);

/* Mails in flight in this worker, and jobs this worker sent / failed. */
void	jobs_stats(int *inflight, unsigned long long *sent,
	    unsigned long long *failed);

#endif
