/* userapi: the counters of GET /metrics, shared by the workers (atomics, no lock), and their text. */

#ifndef USERAPI_OPS_METRICS_H
#define USERAPI_OPS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_ROUTES_MAX	48	/* rows of the route table */
#define METRICS_WORKERS_MAX	72	/* Kore worker ids (64 + its own) */
#define METRICS_KINDS_MAX	8	/* rate classes, error kinds, ... */

/* Per-worker values, summed over the workers when scraped. */
enum metrics_gauge {
	MG_DB_CONN_UP,		/* connections open */
	MG_DB_CONN_MAX,		/* connections configured */
	MG_DB_QUEUE,		/* queries waiting for a connection */
	MG_PASSWORD_RUNNING,	/* argon2id jobs on a thread */
	MG_PASSWORD_QUEUED,	/* argon2id jobs waiting for one */
	MG_MAIL_RUNNING,
	MG_MAIL_QUEUED,
	MG_WS_CLIENTS,
	MG_NGAUGES
};

enum metrics_counter {
	MC_LOCKOUTS,		/* logins refused: account locked out */
	MC_LISTEN_RECONNECTS,	/* LISTEN connection re-opened */
	MC_DB_REQUEUED,		/* reads sent again: batch failed, conn lost */
	MC_WS_IN,		/* WebSocket messages received */
	MC_WS_OUT,		/* WebSocket messages sent */
	MC_NCOUNTERS
};

/*
 * In the parent, before the fork: map the shared counters. routes are
 * the route table's path patterns (rows with the same path share one
 * series); classes name the rate-limit classes; dberrs the database
 * error kinds (all arrays of static strings, kept).
 */
void	metrics_setup(const char *const *routes, size_t nroutes,
	    const char *const *classes, size_t nclasses,
	    const char *const *dberrs, size_t ndberrs);

/* One answer: route row (-1: no route), HTTP status, microseconds. */
void	metrics_request(int route, int status, uint64_t usec);
void	metrics_count(enum metrics_counter, uint64_t n);
void	metrics_rate_limited(unsigned int cls);
void	metrics_db_error(unsigned int kind);
/* Set this worker's value (worker: Kore's worker id). */
void	metrics_gauge(unsigned int worker, enum metrics_gauge, int64_t v);

/* What the scraping request adds: values read at scrape time. */
struct metrics_extra {
	const char	*version;	/* the build */
	uint64_t	 rl_evictions;	/* from the rate-limit table */
	int		 have_jobs;	/* jobs counted in the database */
	const char	*job_status[8];
	int64_t		 job_count[8];
	size_t		 njobs;
};

/*
 * The Prometheus text exposition (format 0.0.4) of everything, malloc'd,
 * NUL-terminated, *len bytes.
 */
char	*metrics_render(const struct metrics_extra *, size_t *len);

#endif
