/* userapi: graceful drain on SIGTERM or SIGINT: refuse new work, finish what is in flight, exit in time. */

#include <sys/types.h>

#include <stdint.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/hooks.h>

#include "bg/bg.h"
#include "config.h"
#include "http/dispatch.h"
#include "jobs/runner.h"
#include "log.h"
#include "ops/drain.h"
#include "ws/ws.h"

#define DRAIN_TICK_MS	50

static void	drain_tick(void *, u_int64_t);
static void	drain_idle_close(void);
static int	drain_left(void);

static u_int64_t	drain_deadline;
static int		drain_on;

/*
 * Kore calls this (patches/kore/0020) on the first SIGTERM or SIGINT,
 * after it stopped accepting and closed the listeners: new connections
 * are refused from now on. Requests already here finish; new requests on
 * open connections get 503 (the dispatcher; /readyz says "shutting down"),
 * every answer closes its connection, idle keep-alive connections close
 * now, WebSockets close with 1001. A tick ends the worker once nothing
 * is left, or when
 * SHUTDOWN_GRACE_SECONDS have passed (what is cut is logged). A second
 * signal to the parent stops the workers at once (SIGQUIT).
 */
void
kore_worker_drain(void)
{
	drain_on = 1;
	dispatch_draining = 1;
	http_keepalive_time = 0;
	drain_deadline = kore_time_ms() + (u_int64_t)cfg.shutdown_grace * 1000;
	log_info("draining: %u connections, %u requests in flight, "
	    "%d background jobs, %d mail jobs; grace %d s",
	    worker_active_connections, http_request_count,
	    bg_in_flight(BG_PASSWORD) + bg_in_flight(BG_MAIL), jobs_busy(),
	    cfg.shutdown_grace);

	ws_shutdown();
	drain_idle_close();
	(void)kore_timer_add(drain_tick, DRAIN_TICK_MS, NULL, 0);
	drain_tick(NULL, kore_time_ms());
}

int
drain_active(void)
{
	return (drain_on);
}

/*
 * Idle HTTP connections are closed: no request, no request's bytes
 * arriving, nothing left to send (idle keep-alive). A request still
 * arriving is in flight: it is read and answered (503, or /readyz's
 * "shutting down"), within Kore's header timeout and the grace period.
 */
static void
drain_idle_close(void)
{
	struct connection	*c, *next;

	for (c = TAILQ_FIRST(&connections); c != NULL; c = next) {
		next = TAILQ_NEXT(c, list);
		if (c->proto == CONN_PROTO_HTTP &&
		    c->state == CONN_STATE_ESTABLISHED &&
		    TAILQ_EMPTY(&c->http_requests) &&
		    TAILQ_EMPTY(&c->send_queue) &&
		    (c->rnb == NULL || c->rnb->s_off == 0) &&
		    !(c->flags & CONN_CLOSE_EMPTY))
			kore_connection_disconnect(c);
	}
}

/* What still runs in this worker: 0 once everything finished. */
static int
drain_left(void)
{
	return ((int)http_request_count + (int)worker_active_connections +
	    bg_in_flight(BG_PASSWORD) + bg_in_flight(BG_MAIL) + jobs_busy());
}

static void
drain_tick(void *arg, u_int64_t now)
{
	if (drain_left() == 0) {
		log_info("drained: exiting");
		kore_worker_quit();
		return;
	}
	if (now >= drain_deadline) {
		log_warn("shutdown grace of %d s passed: cutting %u "
		    "connections, %u requests, %d background jobs, %d mail "
		    "jobs (their leases lapse and another worker sends them)",
		    cfg.shutdown_grace, worker_active_connections,
		    http_request_count, bg_in_flight(BG_PASSWORD) +
		    bg_in_flight(BG_MAIL), jobs_busy());
		kore_worker_quit();
		return;
	}
	drain_idle_close();
}
