/* userapi: WebSocket /ws: the upgrade, each socket's limits, pings, closing, revocation. */

/*
 * GET /ws checks, in order: the Origin (WS_ALLOWED_ORIGINS),
 * that it is a WebSocket upgrade, the instance's socket cap
 * (WS_MAX_CLIENTS), that the bus is up, the token (Authorization: Bearer
 * or ?access_token=, never logged) and then, in the database, that the
 * token is still current (ws_auth). Only then does Kore switch protocols.
 *
 * Kore reads frames and answers pings, and fails a connection that breaks
 * the protocol with a close code (patches/kore/0033-0037): 1002 for a
 * protocol error (unmasked frame, reserved bits, unknown opcode, bad
 * control frame, continuation without a message, a length not in its
 * shortest form, a bad close frame), 1003 for a fragmented message (Kore
 * does not join fragments), 1009 for a frame over websocket_maxframe
 * (WS_MAX_MESSAGE, at least 125 for control frames), 1001 "idle timeout"
 * from its idle timer (websocket_timeout, set from WEBSOCKET_TIMEOUT: a
 * socket that sent nothing, pongs included, for that long). Everything
 * else is here: the message size (1009), text must be UTF-8 (1007);
 * binary frames are refused (1003); more than WS_RATE messages a second
 * (burst WS_BURST) is a policy violation (1008). Kore never pings: a
 * timer does, every WS_PING_SECONDS.
 *
 * Output is bounded: a socket with more than WS_MAX_QUEUED bytes unsent
 * (Kore's send queue plus what is held for it while it catches up) is a
 * client that does not read; it is dropped at once.
 *
 * Every 2 s one query checks the token versions of the users connected
 * to this worker (ws_revalidate): a password change, a deactivation or a
 * deletion closes their sockets with 1008. A token past its expiry too.
 *
 * Closing: a close frame with the code goes out, the socket reads and
 * sends nothing more, and Kore drops it when the client's close frame
 * comes back, or 2 s later.
 *
 * Kore 4.1 keeps the accept lock in one worker until that worker has
 * worker_max_connections connections, so long-lived sockets would all
 * land on one worker (one core). A worker holding more than its share
 * of the instance's sockets lowers its worker_max_connections to what
 * it has: Kore then hands the lock on at its next loop turn, and the
 * worker takes the limit back once it is within its share.
 *
 * The socket count of the instance is kept in memory the parent maps
 * before it forks: one slot per worker, written only by that worker
 * (and zeroed when a worker restarts), summed at each upgrade. Two
 * workers upgrading at the same moment may go over the cap by one each.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <kore/kore.h>
#include <kore/http.h>

#include <jansson.h>

#include "assets.h"

#include "auth/access.h"
#include "auth/token.h"
#include "config.h"
#include "db/db.h"
#include "http/dispatch.h"
#include "http/reply.h"
#include "http/reqctx.h"
#include "http/request.h"
#include "log.h"
#include "ops/metrics.h"
#include "ws/ws.h"

#define WS_SLOTS		256
#define WS_TICK_MS		1000
#define WS_REVALIDATE_TICKS	2
#define WS_CLOSE_WAIT_MS	2000

/* GET /ws: the checks and the token -> the token's row -> upgrade. */
enum {
	UP_CHECK,
	UP_FINISH
};

struct ws_upgrade {
	struct db_query		*q;		/* ws_auth in flight */
	enum db_status		 status;
	int			 found;
	char			 user[37];
	char			 tv[24];
	long			 exp;
	int64_t			 last_id;	/* -1: none asked for */
};

struct ws_client_list	ws_clients;

static int	ws_upgrade_start(struct http_request *);
static int	ws_upgrade_check(struct http_request *, struct ws_upgrade *);
static int	ws_upgrade_token(struct http_request *, struct ws_upgrade *);
static void	ws_upgrade_answer(void *, struct db_result *);
static int	ws_upgrade_finish(struct http_request *);
static void	ws_upgrade_cleanup(void *);
static int	ws_origin_allowed(const char *);
static int	ws_header_has(struct http_request *, const char *,
		    const char *);
static void	ws_slot_set(void);
static void	ws_balance(void);
static void	ws_tick(void *, u_int64_t);
static void	ws_ping_all(void);
static void	ws_revalidate(void);
static void	ws_revalidated(void *, struct db_result *);
static int	ws_client_cmp(const void *, const void *);
static void	ws_drop(struct ws_client *, int, const char *);
static int	ws_rate_take(struct ws_client *);
static int	ws_check_queued(struct ws_client *);

static struct http_state	upgrade_steps[] = {
	{ "check",	ws_upgrade_start },
	{ "finish",	ws_upgrade_finish },
};

static volatile int	*ws_slots;	/* shared: sockets per worker */
static int		 ws_local;	/* sockets of this worker */
static int		 st_auth = -1;
static int		 st_revalidate = -1;
static struct db_query	*revalidate_q;
static struct ws_client	*ws_pending_client;
static u_int64_t	 ws_ticks;
static u_int32_t	 ws_max_saved;	/* worker_max_connections, lowered */
static int		 ws_ping_every;	/* seconds, under WEBSOCKET_TIMEOUT */

void
ws_parent_init(void)
{
	void	*p;

	db_statements_add((const char *)asset_ws_sql);

	p = mmap(NULL, sizeof(int) * WS_SLOTS, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fatal("mmap for the websocket counters: %s", errno_s);
	memset(p, 0, sizeof(int) * WS_SLOTS);
	ws_slots = p;

	/*
	 * Kore refuses a bigger frame with 1009 before reading it; control
	 * frames may carry 125 bytes.
	 */
	kore_websocket_maxframe = (u_int64_t)cfg.ws_max_message;
	if (kore_websocket_maxframe < 125)
		kore_websocket_maxframe = 125;
}

void
ws_worker_init(void)
{
	TAILQ_INIT(&ws_clients);
	ws_local = 0;
	ws_slot_set();
	st_auth = db_stmt("ws_auth");
	st_revalidate = db_stmt("ws_revalidate");
	/* A client answering pings must never reach the idle timeout. */
	ws_ping_every = cfg.ws_ping_seconds;
	if (ws_ping_every > cfg.ws_timeout / 2)
		ws_ping_every = cfg.ws_timeout / 2;
	if (ws_ping_every < 1)
		ws_ping_every = 1;
	ws_bus_init();
	(void)kore_timer_add(ws_tick, WS_TICK_MS, NULL, 0);
}

static void
ws_slot_set(void)
{
	if (ws_slots != NULL && worker != NULL && worker->id < WS_SLOTS)
		__atomic_store_n(&ws_slots[worker->id], ws_local,
		    __ATOMIC_RELAXED);
	if (worker != NULL)
		metrics_gauge(worker->id, MG_WS_CLIENTS, ws_local);
}

/* Hand the accept lock on while this worker has more than its share. */
static void
ws_balance(void)
{
	int	total, fair;

	if (cfg.workers < 2)
		return;
	total = ws_count();
	fair = total / cfg.workers + total / (cfg.workers * 10) + 2;
	if (ws_local > fair) {
		if (ws_max_saved == 0)
			ws_max_saved = worker_max_connections;
		worker_max_connections = worker_active_connections;
	} else if (ws_max_saved != 0) {
		worker_max_connections = ws_max_saved;
		ws_max_saved = 0;
	}
}

int
ws_count(void)
{
	int	i, n;

	if (ws_slots == NULL)
		return (ws_local);
	n = 0;
	for (i = 0; i < WS_SLOTS; i++)
		n += __atomic_load_n(&ws_slots[i], __ATOMIC_RELAXED);
	return (n);
}

/* GET /ws (route table: AUTH_NONE, the token is read here). */
int
api_ws(struct http_request *req)
{
	return (REQCTX_RUN(upgrade_steps, req));
}

static int
ws_upgrade_start(struct http_request *req)
{
	struct ws_upgrade	*st;

	st = reqctx_state(req, sizeof(*st), ws_upgrade_cleanup);
	if (ws_upgrade_check(req, st) == -1 ||
	    ws_upgrade_token(req, st) == -1)
		return (HTTP_STATE_COMPLETE);
	st->q = db_run(st_auth, 2, (const char *[]){ st->user, st->tv },
	    ws_upgrade_answer, req);
	req->fsm_state = UP_FINISH;
	http_request_sleep(req);
	return (HTTP_STATE_RETRY);
}

/* The client went away while ws_auth ran: drop its answer. */
static void
ws_upgrade_cleanup(void *arg)
{
	struct ws_upgrade	*st = arg;

	if (st->q != NULL)
		db_cancel(st->q);
	st->q = NULL;
}

/*
 * Origin, upgrade headers, last_id, the cap, the bus. -1 once answered
 * (the route's methods are the dispatcher's: GET only).
 */
static int
ws_upgrade_check(struct http_request *req, struct ws_upgrade *st)
{
	const char	*origin, *key, *version;
	char		*v;

	if (cfg.ws_allowed_origins != NULL &&
	    http_request_header(req, "origin", &origin) &&
	    !ws_origin_allowed(origin)) {
		log_info("websocket refused: origin not allowed (rid %s)",
		    reqctx_get(req)->rid);
		reply_error(req, 403, "Origin not allowed");
		return (-1);
	}

	if (!ws_header_has(req, "upgrade", "websocket") ||
	    !ws_header_has(req, "connection", "upgrade") ||
	    !http_request_header(req, "sec-websocket-key", &key) ||
	    !http_request_header(req, "sec-websocket-version", &version) ||
	    strcmp(version, "13")) {
		http_response_header(req, "sec-websocket-version", "13");
		reply_error(req, 400, "Expected a WebSocket upgrade "
		    "(version 13)");
		return (-1);
	}

	st->last_id = -1;
	if (request_query(req, "last_id", &v)) {
		if (*v == '\0' || strlen(v) > 18 ||
		    strspn(v, "0123456789") != strlen(v)) {
			free(v);
			reply_error(req, 400, "last_id must be a message id");
			return (-1);
		}
		st->last_id = strtoll(v, NULL, 10);
		free(v);
	}

	if (ws_count() >= cfg.ws_max_clients) {
		log_warn("websocket refused: %d sockets open (WS_MAX_CLIENTS)",
		    cfg.ws_max_clients);
		reply_unavailable(req, 1);
		return (-1);
	}
	if (!ws_bus_ready()) {
		reply_unavailable(req, 1);
		return (-1);
	}
	return (0);
}

/* The bearer token, from the header or ?access_token=. -1 once answered. */
static int
ws_upgrade_token(struct http_request *req, struct ws_upgrade *st)
{
	struct token_claims	 claims;
	const char		*hdr, *token, *why;
	char			*q;
	int			 rc;

	q = NULL;
	token = NULL;
	if (http_request_header(req, "authorization", &hdr)) {
		if (!token_bearer(hdr, &token))
			token = NULL;
	} else if (request_query(req, "access_token", &q)) {
		token = q;
	}
	if (token == NULL) {
		free(q);
		access_deny(req, "Not authenticated");
		return (-1);
	}

	rc = token_check(token, time(NULL), &claims, &why);
	if (q != NULL) {
		explicit_bzero(q, strlen(q));
		free(q);
	}
	if (rc == -1) {
		log_info("token refused: %s (rid %s)", why,
		    reqctx_get(req)->rid);
		access_deny(req, "Invalid token");
		return (-1);
	}
	(void)snprintf(st->user, sizeof(st->user), "%s", claims.sub);
	(void)snprintf(st->tv, sizeof(st->tv), "%lld", claims.tv);
	st->exp = claims.exp;
	return (0);
}

static void
ws_upgrade_answer(void *arg, struct db_result *r)
{
	struct http_request	*req = arg;
	struct ws_upgrade	*st;

	if (r->cancelled)
		return;
	st = reqctx_state(req, sizeof(*st), ws_upgrade_cleanup);
	st->q = NULL;
	st->status = r->status;
	st->found = r->status == DB_OK && PQntuples(r->res) == 1;
	http_request_wakeup(req);
}

static int
ws_upgrade_finish(struct http_request *req)
{
	struct ws_upgrade	*st;
	struct reqctx		*ctx;
	struct ws_client	*cl;
	uint64_t		 usec;

	st = reqctx_state(req, sizeof(*st), ws_upgrade_cleanup);
	if (st->q != NULL) {
		http_request_sleep(req);
		return (HTTP_STATE_RETRY);
	}
	ctx = reqctx_get(req);

	switch (st->status) {
	case DB_OK:
		break;
	case DB_TIMEOUT:
		reply_error(req, 504, "Gateway Timeout");
		return (HTTP_STATE_COMPLETE);
	case DB_UNAVAILABLE:
	case DB_BUSY:
		reply_unavailable(req, 1);
		return (HTTP_STATE_COMPLETE);
	default:
		reply_error(req, 500, "Internal Server Error");
		return (HTTP_STATE_COMPLETE);
	}
	if (!st->found) {
		log_info("token refused: revoked or user inactive (rid %s)",
		    ctx->rid);
		access_deny(req, "Invalid token");
		return (HTTP_STATE_COMPLETE);
	}

	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		abort();
	memcpy(cl->user, st->user, sizeof(cl->user));
	memcpy(cl->tv, st->tv, sizeof(cl->tv));
	cl->exp = st->exp;
	cl->tokens = cfg.ws_burst;
	cl->tokens_at = kore_time_ms();
	TAILQ_INIT(&cl->posts);
	TAILQ_INIT(&cl->held);
	if (st->last_id >= 0) {
		cl->state = WS_CLIENT_CATCHUP;
		cl->sent = st->last_id;
	} else {
		cl->state = WS_CLIENT_LIVE;
		cl->sent = ws_bus_position();
	}

	http_response_header(req, "x-request-id", ctx->rid);
	usec = reqctx_now_us() - ctx->start_us;
	log_access("GET", req->path, 101, 0, usec, ctx->rid);
	if (dispatch_hooks.sent != NULL)
		dispatch_hooks.sent(ctx->route, 101, usec);

	/* kore_websocket_handshake calls ws_connect, which takes it. */
	ws_pending_client = cl;
	kore_websocket_handshake(req, "ws_connect", "ws_message",
	    "ws_disconnect");
	if (ws_pending_client != NULL) {
		free(ws_pending_client);
		ws_pending_client = NULL;
	}
	return (HTTP_STATE_COMPLETE);
}

static int
ws_origin_allowed(const char *origin)
{
	const char	*p, *end;
	size_t		 len;

	len = strlen(origin);
	for (p = cfg.ws_allowed_origins; *p != '\0'; p = end) {
		while (*p == ',' || *p == ' ')
			p++;
		end = p + strcspn(p, ", ");
		if ((size_t)(end - p) == len && len > 0 &&
		    !strncasecmp(p, origin, len))
			return (1);
	}
	return (0);
}

/* Whether header name lists token (comma-separated, any case). */
static int
ws_header_has(struct http_request *req, const char *name, const char *token)
{
	const char	*v, *p;
	size_t		 len, tlen;

	if (!http_request_header(req, name, &v))
		return (0);
	tlen = strlen(token);
	for (p = v; *p != '\0'; p += len) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		len = strcspn(p, ", \t");
		if (len == tlen && !strncasecmp(p, token, len))
			return (1);
	}
	return (0);
}

void
ws_connect(struct connection *c)
{
	struct ws_client	*cl;

	cl = ws_pending_client;
	ws_pending_client = NULL;
	cl->c = c;
	c->hdlr_extra = cl;
	TAILQ_INSERT_TAIL(&ws_clients, cl, list);
	ws_local++;
	ws_slot_set();
	ws_balance();
	log_debug("websocket %s connected (%d here)", cl->user, ws_local);
	if (cl->state == WS_CLIENT_CATCHUP)
		ws_bus_catchup(cl);
}

/*
 * Kore closes the socket right after this. Bytes the client sent that
 * nobody read would turn that close into a reset, and a reset can make
 * the client lose the close frame sent just before: read them away
 * first.
 */
void
ws_disconnect(struct connection *c)
{
	struct ws_client	*cl;
	char			 buf[4096];
	int			 i;

	for (i = 0; i < 16; i++) {
		if (read(c->fd, buf, sizeof(buf)) <= 0)
			break;
	}
	if ((cl = c->hdlr_extra) == NULL)
		return;
	c->hdlr_extra = NULL;
	TAILQ_REMOVE(&ws_clients, cl, list);
	ws_local--;
	ws_slot_set();
	ws_balance();
	if (ws_bus_client_gone(cl))
		free(cl);
}

void
ws_message(struct connection *c, u_int8_t op, const void *data, size_t len)
{
	struct ws_client	*cl;
	struct ws_post		*p;
	json_t			*s;

	if ((cl = c->hdlr_extra) == NULL || cl->state == WS_CLIENT_CLOSING)
		return;

	if (op != WEBSOCKET_OP_TEXT) {
		ws_close(cl, WS_CLOSE_UNSUPPORTED,
		    "binary messages are not supported");
		return;
	}
	if (len > (size_t)cfg.ws_max_message) {
		ws_close(cl, WS_CLOSE_TOO_BIG, "message too big");
		return;
	}
	if (!ws_rate_take(cl) || cl->nposts >= cfg.ws_burst) {
		ws_close(cl, WS_CLOSE_POLICY, "rate limit exceeded");
		return;
	}
	/* jansson checks the UTF-8 (no overlongs, no surrogates). */
	if ((s = json_stringn(data, len)) == NULL) {
		ws_close(cl, WS_CLOSE_BAD_DATA, "text is not valid UTF-8");
		return;
	}

	if ((p = calloc(1, sizeof(*p))) == NULL)
		abort();
	if ((p->json = json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT)) == NULL)
		abort();
	json_decref(s);
	TAILQ_INSERT_TAIL(&cl->posts, p, list);
	cl->nposts++;
	metrics_count(MC_WS_IN, 1);
	ws_bus_post(cl);
}

/* A token bucket: WS_RATE a second, WS_BURST at once. */
static int
ws_rate_take(struct ws_client *cl)
{
	u_int64_t	now;

	now = kore_time_ms();
	cl->tokens += (double)(now - cl->tokens_at) * cfg.ws_rate / 1000.0;
	cl->tokens_at = now;
	if (cl->tokens > cfg.ws_burst)
		cl->tokens = cfg.ws_burst;
	if (cl->tokens < 1.0)
		return (0);
	cl->tokens -= 1.0;
	return (1);
}

/* Bytes queued for the client and not yet written to its socket. */
size_t
ws_pending(struct ws_client *cl)
{
	struct netbuf	*nb;
	size_t		 n;

	n = cl->held_bytes;
	TAILQ_FOREACH(nb, &cl->c->send_queue, list)
		n += nb->b_len - nb->s_off;
	return (n);
}

/* The header of a text frame of len bytes into hdr: its length. */
size_t
ws_text_header(u_int8_t *hdr, size_t len)
{
	size_t	hlen;
	int	i;

	hdr[0] = 0x80 | WEBSOCKET_OP_TEXT;
	if (len < 126) {
		hdr[1] = (u_int8_t)len;
		hlen = 2;
	} else if (len <= 0xffff) {
		hdr[1] = 126;
		hdr[2] = (u_int8_t)(len >> 8);
		hdr[3] = (u_int8_t)len;
		hlen = 4;
	} else {
		hdr[1] = 127;
		for (i = 0; i < 8; i++)
			hdr[2 + i] = (u_int8_t)((u_int64_t)len >> (56 - i * 8));
		hlen = 10;
	}
	return (hlen);
}

/*
 * One text frame to the client. A client that has more than
 * WS_MAX_QUEUED bytes waiting is dropped; then cl is freed.
 */
void
ws_send_text(struct ws_client *cl, const char *data, size_t len)
{
	u_int8_t	hdr[WS_FRAME_HDR_MAX];
	size_t		hlen;

	/* Kore failed the connection (a close frame went out). */
	if (cl->c->flags & CONN_WS_CLOSE_SENT)
		return;
	hlen = ws_text_header(hdr, len);
	metrics_count(MC_WS_OUT, 1);
	net_send_queue(cl->c, hdr, hlen);
	net_send_queue(cl->c, data, len);
	if (!net_send_flush(cl->c)) {
		kore_connection_disconnect(cl->c);
		return;
	}
	ws_check_queued(cl);
}

/*
 * A whole frame, built once for many clients (the broadcast). When
 * nothing waits in the socket's queue it is written at once, without a
 * copy; what the socket did not take is queued. Returns 0 when the
 * client is gone (cl freed).
 */
int
ws_send_frame(struct ws_client *cl, const u_int8_t *frame, size_t len)
{
	struct connection	*c = cl->c;
	ssize_t			 r;
	size_t			 off;

	if (c->flags & CONN_WS_CLOSE_SENT)
		return (1);
	off = 0;
	if (c->ssl == NULL && TAILQ_EMPTY(&c->send_queue) &&
	    (c->evt.flags & KORE_EVENT_WRITE)) {
		r = send(c->fd, frame, len, 0);
		if (r == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				kore_connection_disconnect(c);
				return (0);
			}
			if (errno != EINTR)
				c->evt.flags &= ~KORE_EVENT_WRITE;
			r = 0;
		}
		off = (size_t)r;
		if (off == len)
			return (1);
	}
	net_send_queue(c, frame + off, len - off);
	if (!net_send_flush(c)) {
		kore_connection_disconnect(c);
		return (0);
	}
	return (ws_check_queued(cl));
}

/* Drop a client with more than WS_MAX_QUEUED bytes unsent: 0 if so. */
static int
ws_check_queued(struct ws_client *cl)
{
	if (ws_pending(cl) > (size_t)cfg.ws_max_queued) {
		log_info("websocket %s dropped: %zu bytes unsent "
		    "(WS_MAX_QUEUED)", cl->user, ws_pending(cl));
		ws_drop(cl, WS_CLOSE_POLICY, "too slow");
		return (0);
	}
	return (1);
}

/* Send a close frame with code and reason, then wait for the client's. */
void
ws_close(struct ws_client *cl, int code, const char *reason)
{
	if (cl->state == WS_CLIENT_CLOSING)
		return;
	cl->state = WS_CLIENT_CLOSING;
	cl->close_at = kore_time_ms() + WS_CLOSE_WAIT_MS;
	if (!(cl->c->flags & CONN_WS_CLOSE_SENT)) {
		log_info("websocket %s closed with %d: %s", cl->user, code,
		    reason);
		kore_websocket_close(cl->c, (u_int16_t)code, reason);
	}
	ws_bus_catchup_stop(cl);
}

/* Close at once: a client that does not read gets no handshake. */
static void
ws_drop(struct ws_client *cl, int code, const char *reason)
{
	struct connection	*c = cl->c;

	ws_close(cl, code, reason);
	kore_connection_disconnect(c);
}

void
ws_shutdown(void)
{
	struct ws_client	*cl, *next;

	for (cl = TAILQ_FIRST(&ws_clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, list);
		ws_close(cl, WS_CLOSE_GOING_AWAY, "server shutting down");
	}
}

static void
ws_tick(void *arg, u_int64_t now)
{
	struct ws_client	*cl, *next;
	time_t			 t;

	ws_ticks++;
	ws_balance();
	t = time(NULL);
	for (cl = TAILQ_FIRST(&ws_clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, list);
		if (cl->state == WS_CLIENT_CLOSING) {
			if (now >= cl->close_at)
				kore_connection_disconnect(cl->c);
			continue;
		}
		if (cl->exp != 0 && t >= cl->exp) {
			ws_bus_drop_posts(cl);
			ws_close(cl, WS_CLOSE_POLICY, "token expired");
			continue;
		}
		if (cl->page_wait &&
		    ws_pending(cl) < (size_t)cfg.ws_max_queued / 2) {
			cl->page_wait = 0;
			ws_bus_catchup(cl);
		}
	}

	if (ws_ticks % (u_int64_t)ws_ping_every == 0)
		ws_ping_all();
	if (ws_ticks % WS_REVALIDATE_TICKS == 0)
		ws_revalidate();
	ws_bus_tick();
}

static void
ws_ping_all(void)
{
	struct ws_client	*cl;

	TAILQ_FOREACH(cl, &ws_clients, list) {
		if (cl->state != WS_CLIENT_CLOSING)
			kore_websocket_send(cl->c, WEBSOCKET_OP_PING, NULL, 0);
	}
}

static int
ws_client_cmp(const void *a, const void *b)
{
	const struct ws_client	*x = *(struct ws_client * const *)a;
	const struct ws_client	*y = *(struct ws_client * const *)b;
	int			 d;

	if ((d = strcmp(x->user, y->user)) != 0)
		return (d);
	return (strcmp(x->tv, y->tv));
}

/*
 * One query for every (user, token version) connected here: the pairs
 * it returns are no longer valid.
 */
static void
ws_revalidate(void)
{
	struct ws_client	*cl, **all;
	char			*ids, *tvs, *p, *q;
	int			 n, i, first;

	if (revalidate_q != NULL || ws_local == 0)
		return;

	if ((all = calloc((size_t)ws_local, sizeof(*all))) == NULL)
		abort();
	n = 0;
	TAILQ_FOREACH(cl, &ws_clients, list) {
		if (cl->state != WS_CLIENT_CLOSING && n < ws_local)
			all[n++] = cl;
	}
	if (n == 0) {
		free(all);
		return;
	}
	qsort(all, (size_t)n, sizeof(*all), ws_client_cmp);

	if ((ids = malloc((size_t)n * 38 + 3)) == NULL ||
	    (tvs = malloc((size_t)n * 25 + 3)) == NULL)
		abort();
	p = ids;
	q = tvs;
	*p++ = '{';
	*q++ = '{';
	first = 1;
	for (i = 0; i < n; i++) {
		if (i > 0 && ws_client_cmp(&all[i - 1], &all[i]) == 0)
			continue;
		if (!first) {
			*p++ = ',';
			*q++ = ',';
		}
		first = 0;
		p += sprintf(p, "%s", all[i]->user);
		q += sprintf(q, "%s", all[i]->tv);
	}
	*p++ = '}';
	*q++ = '}';
	*p = '\0';
	*q = '\0';
	free(all);

	revalidate_q = db_run(st_revalidate, 2, (const char *[]){ ids, tvs },
	    ws_revalidated, NULL);
	free(ids);
	free(tvs);
}

static void
ws_revalidated(void *arg, struct db_result *r)
{
	struct ws_client	*cl, *next;
	const char		*id, *tv;
	int			 i, n;

	revalidate_q = NULL;
	if (r->cancelled || r->status != DB_OK)
		return;

	n = PQntuples(r->res);
	for (i = 0; i < n; i++) {
		id = PQgetvalue(r->res, i, 0);
		tv = PQgetvalue(r->res, i, 1);
		for (cl = TAILQ_FIRST(&ws_clients); cl != NULL; cl = next) {
			next = TAILQ_NEXT(cl, list);
			if (strcmp(cl->user, id) || strcmp(cl->tv, tv))
				continue;
			ws_bus_drop_posts(cl);
			ws_close(cl, WS_CLOSE_POLICY, "token revoked");
		}
	}
}
