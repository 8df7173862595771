/* userapi: operations on the request path: rate limits and /metrics, wired into the dispatcher's hooks. */

#ifndef USERAPI_OPS_OPS_H
#define USERAPI_OPS_OPS_H

struct http_request;

/*
 * In the parent, for `serve`, before the workers are forked: the shared
 * rate-limit table (its hash key drawn from getrandom) and the metrics
 * counters. Failure exits.
 */
void	ops_parent_setup(void);

/* In each worker (kore_worker_configure): installs the hooks. */
void	ops_worker_setup(void);

/* Once a second in each worker: its gauges (pools, queues). */
void	ops_tick(void);

/* GET /metrics: the Prometheus text, to METRICS_ALLOW addresses only. */
int	api_metrics(struct http_request *);

#endif
