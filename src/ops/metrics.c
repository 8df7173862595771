/* userapi: the counters of GET /metrics, shared by the workers (atomics, no lock), and their text. */

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/metrics.h"
#include "ops/shm.h"

#define M_STATUS_MIN	100
#define M_STATUS_N	500		/* 100..599 */

/* Latency buckets, upper bounds in microseconds (then +Inf). */
static const uint64_t	m_bounds[] = { 1000, 2500, 5000, 10000, 25000,
			    50000, 100000, 250000, 500000, 1000000, 2500000,
			    5000000, 10000000 };
#define M_NBOUNDS	(sizeof(m_bounds) / sizeof(m_bounds[0]))

struct metrics_route {
	_Atomic uint64_t	status[M_STATUS_N];
	_Atomic uint64_t	bucket[M_NBOUNDS + 1];	/* not cumulative */
	_Atomic uint64_t	sum_us;
};

struct metrics_shm {
	struct metrics_route	route[METRICS_ROUTES_MAX + 1];	/* last: none */
	_Atomic uint64_t	counter[MC_NCOUNTERS];
	_Atomic uint64_t	limited[METRICS_KINDS_MAX];
	_Atomic uint64_t	dberr[METRICS_KINDS_MAX];
	_Atomic int64_t		gauge[METRICS_WORKERS_MAX][MG_NGAUGES];
};

struct mbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

static struct metrics_shm	*m;

/* Set before the fork, the same in every worker. */
static const char *const	*m_routes;
static int			 m_route_idx[METRICS_ROUTES_MAX];
static size_t			 m_nroutes;
static const char *const	*m_classes;
static size_t			 m_nclasses;
static const char *const	*m_dberrs;
static size_t			 m_ndberrs;

static void	mb_printf(struct mbuf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	mb_head(struct mbuf *, const char *, const char *,
		    const char *);
static int64_t	m_gauge_sum(enum metrics_gauge);
static void	m_route_label(struct mbuf *, int);

void
metrics_setup(const char *const *routes, size_t nroutes,
    const char *const *classes, size_t nclasses,
    const char *const *dberrs, size_t ndberrs)
{
	size_t	i, j;

	if (nroutes > METRICS_ROUTES_MAX)
		nroutes = METRICS_ROUTES_MAX;
	if (nclasses > METRICS_KINDS_MAX)
		nclasses = METRICS_KINDS_MAX;
	if (ndberrs > METRICS_KINDS_MAX)
		ndberrs = METRICS_KINDS_MAX;

	if (m == NULL)
		m = shm_map(sizeof(*m), "metrics");
	m_routes = routes;
	m_nroutes = nroutes;
	for (i = 0; i < nroutes; i++) {
		m_route_idx[i] = (int)i;
		for (j = 0; j < i; j++) {
			if (!strcmp(routes[i], routes[j])) {
				m_route_idx[i] = (int)j;
				break;
			}
		}
	}
	m_classes = classes;
	m_nclasses = nclasses;
	m_dberrs = dberrs;
	m_ndberrs = ndberrs;
}

void
metrics_request(int route, int status, uint64_t usec)
{
	struct metrics_route	*r;
	size_t			 b;

	if (m == NULL)
		return;
	if (route < 0 || (size_t)route >= m_nroutes)
		r = &m->route[METRICS_ROUTES_MAX];
	else
		r = &m->route[m_route_idx[route]];
	if (status >= M_STATUS_MIN && status < M_STATUS_MIN + M_STATUS_N)
		atomic_fetch_add_explicit(&r->status[status - M_STATUS_MIN],
		    1, memory_order_relaxed);
	for (b = 0; b < M_NBOUNDS && usec > m_bounds[b]; b++)
		;
	atomic_fetch_add_explicit(&r->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->sum_us, usec, memory_order_relaxed);
}

void
metrics_count(enum metrics_counter c, uint64_t n)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->counter[c], n,
		    memory_order_relaxed);
}

void
metrics_rate_limited(unsigned int cls)
{
	if (m != NULL && cls < METRICS_KINDS_MAX)
		atomic_fetch_add_explicit(&m->limited[cls], 1,
		    memory_order_relaxed);
}

void
metrics_db_error(unsigned int kind)
{
	if (m != NULL && kind < METRICS_KINDS_MAX)
		atomic_fetch_add_explicit(&m->dberr[kind], 1,
		    memory_order_relaxed);
}

void
metrics_gauge(unsigned int worker, enum metrics_gauge g, int64_t v)
{
	if (m != NULL && worker < METRICS_WORKERS_MAX)
		atomic_store_explicit(&m->gauge[worker][g], v,
		    memory_order_relaxed);
}

static int64_t
m_gauge_sum(enum metrics_gauge g)
{
	int64_t	sum;
	size_t	w;

	sum = 0;
	for (w = 0; w < METRICS_WORKERS_MAX; w++)
		sum += atomic_load_explicit(&m->gauge[w][g],
		    memory_order_relaxed);
	return (sum);
}

static void
mb_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			abort();
	}
}

static void
mb_head(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* route="<path>" with the path escaped for a label value. */
static void
m_route_label(struct mbuf *b, int i)
{
	const char	*s;

	mb_printf(b, "route=\"");
	s = i == METRICS_ROUTES_MAX ? "none" : m_routes[i];
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			mb_printf(b, "\\%c", *s);
		else if (*s == '\n')
			mb_printf(b, "\\n");
		else
			mb_printf(b, "%c", *s);
	}
	mb_printf(b, "\"");
}

char *
metrics_render(const struct metrics_extra *x, size_t *len)
{
	struct mbuf		 b;
	struct metrics_route	*r;
	uint64_t		 v, cum, count;
	size_t			 i, k;
	int			 ri;

	b.cap = 16384;
	b.len = 0;
	if ((b.p = malloc(b.cap)) == NULL)
		abort();
	b.p[0] = '\0';
	if (m == NULL) {
		*len = 0;
		return (b.p);
	}

	mb_head(&b, "userapi_build_info", "gauge",
	    "The running build: its version (always 1).");
	mb_printf(&b, "userapi_build_info{version=\"%s\"} 1\n", x->version);

	mb_head(&b, "userapi_http_requests_total", "counter",
	    "HTTP answers by route pattern and status code.");
	for (ri = 0; ri <= METRICS_ROUTES_MAX; ri++) {
		if (ri < METRICS_ROUTES_MAX && ((size_t)ri >= m_nroutes ||
		    m_route_idx[ri] != ri))
			continue;
		r = &m->route[ri];
		for (k = 0; k < M_STATUS_N; k++) {
			v = atomic_load_explicit(&r->status[k],
			    memory_order_relaxed);
			if (v == 0)
				continue;
			mb_printf(&b, "userapi_http_requests_total{");
			m_route_label(&b, ri);
			mb_printf(&b, ",code=\"%zu\"} %llu\n",
			    k + M_STATUS_MIN, (unsigned long long)v);
		}
	}

	mb_head(&b, "userapi_http_request_duration_seconds", "histogram",
	    "Time from a request's first byte handled to its answer.");
	for (ri = 0; ri <= METRICS_ROUTES_MAX; ri++) {
		if (ri < METRICS_ROUTES_MAX && ((size_t)ri >= m_nroutes ||
		    m_route_idx[ri] != ri))
			continue;
		r = &m->route[ri];
		count = 0;
		for (k = 0; k <= M_NBOUNDS; k++)
			count += atomic_load_explicit(&r->bucket[k],
			    memory_order_relaxed);
		if (count == 0)
			continue;
		cum = 0;
		for (k = 0; k <= M_NBOUNDS; k++) {
			cum += atomic_load_explicit(&r->bucket[k],
			    memory_order_relaxed);
			if (cum > count)
				cum = count;
			mb_printf(&b, "userapi_http_request_duration_seconds"
			    "_bucket{");
			m_route_label(&b, ri);
			if (k < M_NBOUNDS)
				mb_printf(&b, ",le=\"%g\"} %llu\n",
				    (double)m_bounds[k] / 1e6,
				    (unsigned long long)cum);
			else
				mb_printf(&b, ",le=\"+Inf\"} %llu\n",
				    (unsigned long long)count);
		}
		mb_printf(&b, "userapi_http_request_duration_seconds_sum{");
		m_route_label(&b, ri);
		mb_printf(&b, "} %.6f\n", (double)atomic_load_explicit(
		    &r->sum_us, memory_order_relaxed) / 1e6);
		mb_printf(&b, "userapi_http_request_duration_seconds_count{");
		m_route_label(&b, ri);
		mb_printf(&b, "} %llu\n", (unsigned long long)count);
	}

	mb_head(&b, "userapi_db_connections", "gauge",
	    "PostgreSQL connections of the workers' pools, by state.");
	mb_printf(&b, "userapi_db_connections{state=\"open\"} %lld\n",
	    (long long)m_gauge_sum(MG_DB_CONN_UP));
	mb_printf(&b, "userapi_db_connections{state=\"configured\"} %lld\n",
	    (long long)m_gauge_sum(MG_DB_CONN_MAX));
	mb_head(&b, "userapi_db_queue_depth", "gauge",
	    "Queries waiting for a pooled connection.");
	mb_printf(&b, "userapi_db_queue_depth %lld\n",
	    (long long)m_gauge_sum(MG_DB_QUEUE));
	mb_head(&b, "userapi_db_errors_total", "counter",
	    "Failed queries by kind of error.");
	for (i = 0; i < m_ndberrs; i++)
		mb_printf(&b, "userapi_db_errors_total{kind=\"%s\"} %llu\n",
		    m_dberrs[i], (unsigned long long)atomic_load_explicit(
		    &m->dberr[i], memory_order_relaxed));
	mb_head(&b, "userapi_db_listen_reconnects_total", "counter",
	    "Times a worker's LISTEN connection was opened again.");
	mb_printf(&b, "userapi_db_listen_reconnects_total %llu\n",
	    (unsigned long long)atomic_load(&m->counter[MC_LISTEN_RECONNECTS]));
	mb_head(&b, "userapi_db_requeued_total", "counter",
	    "Read-only queries sent again: an earlier statement of their "
	    "pipelined batch failed, or their connection was lost.");
	mb_printf(&b, "userapi_db_requeued_total %llu\n",
	    (unsigned long long)atomic_load(&m->counter[MC_DB_REQUEUED]));

	mb_head(&b, "userapi_background_jobs_running", "gauge",
	    "Blocking work on a background thread, by kind.");
	mb_printf(&b, "userapi_background_jobs_running{kind=\"password\"} "
	    "%lld\n", (long long)m_gauge_sum(MG_PASSWORD_RUNNING));
	mb_printf(&b, "userapi_background_jobs_running{kind=\"mail\"} %lld\n",
	    (long long)m_gauge_sum(MG_MAIL_RUNNING));
	mb_head(&b, "userapi_background_jobs_queued", "gauge",
	    "Blocking work waiting for a background thread, by kind.");
	mb_printf(&b, "userapi_background_jobs_queued{kind=\"password\"} "
	    "%lld\n", (long long)m_gauge_sum(MG_PASSWORD_QUEUED));
	mb_printf(&b, "userapi_background_jobs_queued{kind=\"mail\"} %lld\n",
	    (long long)m_gauge_sum(MG_MAIL_QUEUED));

	mb_head(&b, "userapi_websocket_clients", "gauge",
	    "WebSocket connections open.");
	mb_printf(&b, "userapi_websocket_clients %lld\n",
	    (long long)m_gauge_sum(MG_WS_CLIENTS));
	mb_head(&b, "userapi_websocket_messages_total", "counter",
	    "WebSocket messages, by direction.");
	mb_printf(&b, "userapi_websocket_messages_total{direction=\"in\"} "
	    "%llu\n", (unsigned long long)atomic_load(&m->counter[MC_WS_IN]));
	mb_printf(&b, "userapi_websocket_messages_total{direction=\"out\"} "
	    "%llu\n", (unsigned long long)atomic_load(&m->counter[MC_WS_OUT]));

	if (x->have_jobs) {
		mb_head(&b, "userapi_jobs", "gauge",
		    "Durable jobs in the database, by status.");
		for (i = 0; i < x->njobs; i++)
			mb_printf(&b, "userapi_jobs{status=\"%s\"} %lld\n",
			    x->job_status[i], (long long)x->job_count[i]);
	}

	mb_head(&b, "userapi_rate_limited_total", "counter",
	    "Requests refused with 429 by the rate limiter, by class.");
	for (i = 0; i < m_nclasses; i++)
		mb_printf(&b, "userapi_rate_limited_total{class=\"%s\"} %llu\n",
		    m_classes[i], (unsigned long long)atomic_load_explicit(
		    &m->limited[i], memory_order_relaxed));
	mb_head(&b, "userapi_rate_limit_evictions_total", "counter",
	    "Rate-limit buckets still refilling that a new address took over.");
	mb_printf(&b, "userapi_rate_limit_evictions_total %llu\n",
	    (unsigned long long)x->rl_evictions);
	mb_head(&b, "userapi_login_lockouts_total", "counter",
	    "Logins refused because the account is locked out.");
	mb_printf(&b, "userapi_login_lockouts_total %llu\n",
	    (unsigned long long)atomic_load(&m->counter[MC_LOCKOUTS]));

	*len = b.len;
	return (b.p);
}
