/* userapi: operations on the request path: rate limits and /metrics, wired into the dispatcher's hooks. */

#include <sys/types.h>
#include <sys/random.h>

#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "api/api.h"
#include "bg/bg.h"
#include "config.h"
#include "db/db.h"
#include "http/dispatch.h"
#include "http/reply.h"
#include "jobs/runner.h"
#include "log.h"
#include "ops/metrics.h"
#include "ops/netaddr.h"
#include "ops/ops.h"
#include "ops/ratelimit.h"
#include "ops/shm.h"
#include "version.h"

#define OPS_XFF_MAX	8	/* X-Forwarded-For headers read (the last ones) */

/* Names of the dispatcher's rate classes (RateLimit fields, metrics). */
static const char *const ops_classes[RATE_NCLASSES] = {
	[RATE_NONE] = "none",
	[RATE_READ] = "read",
	[RATE_WRITE] = "write",
	[RATE_LOGIN] = "login",
	[RATE_SIGNUP] = "signup",
};

/* Failed queries by enum db_status, from DB_UNAVAILABLE on (db.c). */
static const char *const ops_dberrs[] = {
	"unavailable", "busy", "timeout", "unique", "check", "other"
};

static struct rl_table		*ops_rl;
static struct rl_policy		 ops_policy[RATE_NCLASSES];
static struct cidr_list		 ops_trusted;
static struct cidr_list		 ops_metrics_allow;
static int			 ops_metrics_open;
static const char		*ops_route_names[METRICS_ROUTES_MAX];

static int	ops_admit(struct http_request *, const struct route *, int *);
static void	ops_sent(const struct route *, int, uint64_t);
static void	ops_client(struct http_request *, struct netaddr *);
static int	ops_is_v4(const struct netaddr *);
static uint64_t	ops_now_us(void);

void
ops_parent_setup(void)
{
	uint64_t	key[2];
	char		err[80];
	size_t		i;

	if (getrandom(key, sizeof(key), 0) != sizeof(key))
		fatal("getrandom: %s", errno_s);
	ops_rl = rl_table_init(shm_map(rl_table_size((size_t)cfg.rate_table),
	    "the rate-limit table"), (size_t)cfg.rate_table, key[0], key[1]);

	ops_policy[RATE_READ].q = cfg.rate_general_q;
	ops_policy[RATE_READ].w = cfg.rate_general_w;
	ops_policy[RATE_WRITE] = ops_policy[RATE_READ];
	ops_policy[RATE_LOGIN].q = cfg.rate_strict_q;
	ops_policy[RATE_LOGIN].w = cfg.rate_strict_w;
	ops_policy[RATE_SIGNUP] = ops_policy[RATE_LOGIN];

	/* config_load checked both lists. */
	if (cidr_list_parse(cfg.trusted_proxies != NULL ?
	    cfg.trusted_proxies : "", &ops_trusted, err, sizeof(err)) == -1 ||
	    cidr_list_parse(cfg.metrics_allow != NULL ? cfg.metrics_allow : "",
	    &ops_metrics_allow, err, sizeof(err)) == -1)
		fatal("bad address list: %s", err);
	ops_metrics_open = cfg.metrics_allow == NULL;

	for (i = 0; i < api_nroutes && i < METRICS_ROUTES_MAX; i++)
		ops_route_names[i] = api_routes[i].path;
	metrics_setup(ops_route_names, i, ops_classes, RATE_NCLASSES,
	    ops_dberrs, sizeof(ops_dberrs) / sizeof(ops_dberrs[0]));
}

void
ops_worker_setup(void)
{
	dispatch_hooks.admit = ops_admit;
	dispatch_hooks.sent = ops_sent;
	ops_tick();
}

void
ops_tick(void)
{
	int		up, total, waiting, n, threads;
	unsigned int	w;

	w = worker != NULL ? worker->id : 0;
	db_stats(&up, &total, &waiting);
	metrics_gauge(w, MG_DB_CONN_UP, up);
	metrics_gauge(w, MG_DB_CONN_MAX, total);
	metrics_gauge(w, MG_DB_QUEUE, waiting);

	n = bg_in_flight(BG_PASSWORD);
	threads = cfg.task_threads;
	metrics_gauge(w, MG_PASSWORD_RUNNING, n < threads ? n : threads);
	metrics_gauge(w, MG_PASSWORD_QUEUED, n > threads ? n - threads : 0);
	n = bg_in_flight(BG_MAIL);
	threads = cfg.mail_threads;
	metrics_gauge(w, MG_MAIL_RUNNING, n < threads ? n : threads);
	metrics_gauge(w, MG_MAIL_QUEUED, n > threads ? n - threads : 0);
}

static uint64_t
ops_now_us(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/*
 * The client's address: the peer, or what X-Forwarded-For says when the
 * peer is a trusted proxy (netaddr_client). A proxy that adds a header
 * line of its own puts it last: the last OPS_XFF_MAX headers are read,
 * so a client's own lines in front of it are dropped, never the proxy's.
 */
static void
ops_client(struct http_request *req, struct netaddr *out)
{
	struct connection	*c;
	struct http_header	*hdr;
	struct netaddr		 peer;
	const char		*xff[OPS_XFF_MAX];
	size_t			 n;

	memset(&peer, 0, sizeof(peer));
	c = req->owner;
	if (c->family == AF_INET) {
		peer.a[10] = 0xff;
		peer.a[11] = 0xff;
		memcpy(peer.a + 12, &c->addr.ipv4.sin_addr, 4);
	} else if (c->family == AF_INET6) {
		memcpy(peer.a, &c->addr.ipv6.sin6_addr, 16);
	}

	n = 0;
	if (ops_trusted.n > 0 && cidr_list_match(&ops_trusted, &peer)) {
		TAILQ_FOREACH(hdr, &req->req_headers, list) {
			if (strcasecmp(hdr->header, "x-forwarded-for"))
				continue;
			if (n == OPS_XFF_MAX) {
				memmove(xff, xff + 1,
				    (OPS_XFF_MAX - 1) * sizeof(xff[0]));
				n--;
			}
			xff[n++] = hdr->value;
		}
	}
	netaddr_client(&peer, xff, n, &ops_trusted, out);
}

/* 1 when a is an IPv4 address (mapped: ::ffff:a.b.c.d). */
static int
ops_is_v4(const struct netaddr *a)
{
	static const uint8_t	v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
				    0, 0xff, 0xff };

	return (!memcmp(a->a, v4mapped, sizeof(v4mapped)));
}

/*
 * The dispatcher's admit hook: one token from the bucket of the client
 * and the route's class. Every answer of a limited route says its
 * policy and what is left (draft-ietf-httpapi-ratelimit-headers); a
 * refusal is 429 with Retry-After.
 */
static int
ops_admit(struct http_request *req, const struct route *r, int *retry_after)
{
	struct rl_result	 res;
	const struct rl_policy	*p;
	struct netaddr		 client;
	char			 buf[128];

	if (r->rate <= RATE_NONE || r->rate >= RATE_NCLASSES)
		return (0);
	p = &ops_policy[r->rate];
	if (p->q == 0)
		return (0);

	ops_client(req, &client);
	/* An IPv6 client holds a whole /64: one bucket for all of it. */
	if (!ops_is_v4(&client))
		memset(client.a + 8, 0, 8);
	(void)rl_take(ops_rl, &client, (unsigned int)r->rate, p, ops_now_us(),
	    &res);

	(void)snprintf(buf, sizeof(buf), "\"%s\";q=%u;w=%u",
	    ops_classes[r->rate], p->q, p->w);
	http_response_header(req, "ratelimit-policy", buf);
	(void)snprintf(buf, sizeof(buf), "\"%s\";r=%u;t=%u",
	    ops_classes[r->rate], res.remaining, res.reset);
	http_response_header(req, "ratelimit", buf);

	if (res.allowed)
		return (0);
	metrics_rate_limited((unsigned int)r->rate);
	*retry_after = (int)res.retry_after;
	return (-1);
}

/* The dispatcher's sent hook: one answer counted and timed. */
static void
ops_sent(const struct route *r, int status, uint64_t usec)
{
	metrics_request(r == NULL ? -1 : (int)(r - api_routes), status, usec);
}

int
api_metrics(struct http_request *req)
{
	struct metrics_extra	 x;
	struct netaddr		 client;
	char			*text;
	size_t			 len;

	if (!ops_metrics_open) {
		ops_client(req, &client);
		if (!cidr_list_match(&ops_metrics_allow, &client)) {
			reply_error(req, 403, "Forbidden");
			return (KORE_RESULT_OK);
		}
	}

	memset(&x, 0, sizeof(x));
	x.version = USERAPI_VERSION;
	x.rl_evictions = ops_rl != NULL ? atomic_load(&ops_rl->evictions) : 0;
	jobs_metrics(&x);
	text = metrics_render(&x, &len);
	reply_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", text,
	    len);
	free(text);
	return (KORE_RESULT_OK);
}
