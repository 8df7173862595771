/* userapi: the WebSocket bus: messages stored and fanned out through PostgreSQL, exactly once, resumable. */

/*
 * A message a client sends is one statement (ws_post): stored in
 * ws_messages and announced with pg_notify. Ids are committed in
 * increasing order (ws_post takes an advisory lock before drawing one),
 * so every worker of every instance receives the notifications in id
 * order on its LISTEN connection and sends each to its own clients
 * only: a worker remembers the last id it delivered (its position) and
 * skips anything at or below it.
 *
 * The worker's stream: notifications go into a FIFO and leave it in
 * order. One whose payload held only the id (the message did not fit in
 * a NOTIFY) waits at the head until ws_fetch has read it. When LISTEN is
 * (re)established, what was notified meanwhile is lost, so the worker
 * first reads the messages after its position from the table (ws_since,
 * in pages) and only then goes on with the FIFO; the first time it
 * takes the newest id as its position (ws_tail) and only then accepts
 * sockets. A FIFO that grows past BUS_QUEUE_MAX is dropped and read from
 * the table instead.
 *
 * A client: one ws_post in flight at a time, so its messages keep their
 * order; it stores every message that waited meanwhile (up to
 * BUS_POST_MAX of them, BUS_POST_BYTES), so a sender is not held to one
 * message per round trip to the database. A client that connects with ?last_id=N reads the kept messages
 * after N (ws_since, pages of BUS_PAGE) while the frames the bus
 * delivers meanwhile are held for it; then the held frames above what it
 * read, then it is live. When messages after N were pruned already, it
 * gets {"type":"reset"} first. Each client remembers the last id sent to
 * it, so nothing reaches it twice.
 *
 * Worker 1 of each instance prunes the table every BUS_PRUNE_TICKS s to
 * the last WS_HISTORY messages and WS_HISTORY_SECONDS (ws_prune).
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "config.h"
#include "db/db.h"
#include "log.h"
#include "ops/metrics.h"
#include "ws/ws.h"

#define BUS_CHANNEL		"ws"
#define BUS_PAGE		100
#define BUS_PAGE_STR		"100"
#define BUS_QUEUE_MAX		10000
#define BUS_PRUNE_TICKS		5
#define BUS_POST_MAX		64
#define BUS_POST_BYTES		(256 * 1024)
#define BUS_RESET		"{\"type\":\"reset\"}"
#define BUS_MSG_PREFIX		"{\"type\":\"message\",\"id\":"

struct bus_item {
	TAILQ_ENTRY(bus_item)	 list;
	int64_t			 id;
	char			*msg;		/* NULL: read it (ws_fetch) */
	size_t			 len;
};

static void	bus_notify(void *, const char *, const char *);
static void	bus_resume(void *);
static void	bus_kick(void);
static void	bus_sync_done(void *, struct db_result *);
static void	bus_fetched(void *, struct db_result *);
static void	bus_deliver(int64_t, const char *, size_t);
static void	bus_reset_all(void);
static void	bus_item_free(struct bus_item *);
static void	bus_queue_clear(void);
static void	bus_posted(void *, struct db_result *);
static void	bus_catchup_done(void *, struct db_result *);
static void	bus_client_send(struct ws_client *, int64_t, const char *,
		    size_t);
static void	bus_client_live(struct ws_client *);
static void	bus_pruned(void *, struct db_result *);
static void	bus_error_frames(struct ws_client *, enum db_status, int);
static const char *bus_error_code(enum db_status, const char **);

static TAILQ_HEAD(, bus_item)	 bus_items;
static int			 bus_nitems;
static int64_t			 bus_last = -1;	/* position; -1: unknown */
static int			 bus_resync;	/* read the table first */
static struct db_query		*bus_q;		/* sync or fetch in flight */
static struct db_query		*prune_q;
static int			 bus_ticks;
static int			 st_post, st_since, st_fetch, st_tail,
				 st_prune;
static char			 notify_max[16];	/* WS_NOTIFY_MAX */

void
ws_bus_init(void)
{
	TAILQ_INIT(&bus_items);
	bus_nitems = 0;
	bus_last = -1;
	bus_resync = 1;
	st_post = db_stmt("ws_post");
	st_since = db_stmt("ws_since");
	st_fetch = db_stmt("ws_fetch");
	st_tail = db_stmt("ws_tail");
	st_prune = db_stmt("ws_prune");
	(void)snprintf(notify_max, sizeof(notify_max), "%d",
	    cfg.ws_notify_max);
	db_listen(BUS_CHANNEL, bus_notify, bus_resume, NULL);
}

int
ws_bus_ready(void)
{
	return (bus_last >= 0);
}

int64_t
ws_bus_position(void)
{
	return (bus_last);
}

/* LISTEN is in place (again): read what was missed first. */
static void
bus_resume(void *arg)
{
	bus_resync = 1;
	bus_kick();
}

static void
bus_notify(void *arg, const char *channel, const char *payload)
{
	struct bus_item		*it;
	const char		*p;
	char			*ep;
	int64_t			 id;

	p = payload;
	if (!strncmp(p, BUS_MSG_PREFIX, strlen(BUS_MSG_PREFIX)))
		p += strlen(BUS_MSG_PREFIX);
	id = strtoll(p, &ep, 10);
	if (ep == p || id <= 0) {
		log_warn("websocket bus: unexpected notification ignored");
		return;
	}
	if (id <= bus_last)
		return;

	if (bus_nitems >= BUS_QUEUE_MAX) {
		log_warn("websocket bus: %d notifications waiting; reading "
		    "them from the table instead", bus_nitems);
		bus_queue_clear();
		bus_resync = 1;
		bus_kick();
		return;
	}

	if ((it = calloc(1, sizeof(*it))) == NULL)
		abort();
	it->id = id;
	if (payload[0] == '{') {
		it->len = strlen(payload);
		if ((it->msg = strdup(payload)) == NULL)
			abort();
	}
	TAILQ_INSERT_TAIL(&bus_items, it, list);
	bus_nitems++;
	bus_kick();
}

/* Move the stream on: one query at a time, the FIFO strictly in order. */
static void
bus_kick(void)
{
	struct bus_item		*it;
	char			 pos[24], id[24];

	if (bus_q != NULL)
		return;

	if (bus_resync) {
		if (bus_last < 0) {
			bus_q = db_run(st_tail, 0, NULL, bus_sync_done, NULL);
		} else {
			(void)snprintf(pos, sizeof(pos), "%lld",
			    (long long)bus_last);
			bus_q = db_run(st_since, 2,
			    (const char *[]){ pos, BUS_PAGE_STR },
			    bus_sync_done, NULL);
		}
		return;
	}

	while ((it = TAILQ_FIRST(&bus_items)) != NULL) {
		if (it->id <= bus_last) {
			bus_item_free(it);
			continue;
		}
		if (it->msg == NULL) {
			(void)snprintf(id, sizeof(id), "%lld",
			    (long long)it->id);
			bus_q = db_run(st_fetch, 1, (const char *[]){ id },
			    bus_fetched, NULL);
			return;
		}
		bus_last = it->id;
		bus_deliver(it->id, it->msg, it->len);
		bus_item_free(it);
	}
}

static void
bus_sync_done(void *arg, struct db_result *r)
{
	const char	*v;
	int		 i, n, reset;
	int64_t		 id;

	bus_q = NULL;
	if (r->cancelled)
		return;
	if (r->status != DB_OK) {
		/* ws_bus_tick tries again. */
		return;
	}

	n = PQntuples(r->res);
	if (bus_last < 0) {
		v = n > 0 ? PQgetvalue(r->res, 0, 0) : "0";
		bus_last = strtoll(v, NULL, 10);
		log_info("websocket bus ready at message %lld",
		    (long long)bus_last);
		bus_resync = 0;
		bus_kick();
		return;
	}

	reset = n > 0 && !strcmp(PQgetvalue(r->res, 0, 0), "t");
	if (reset) {
		log_warn("websocket bus: messages after %lld were pruned "
		    "before this worker read them", (long long)bus_last);
		bus_reset_all();
	}
	for (i = 0; i < n; i++) {
		if (PQgetisnull(r->res, i, 1))
			continue;
		id = strtoll(PQgetvalue(r->res, i, 1), NULL, 10);
		if (id <= bus_last)
			continue;
		bus_last = id;
		bus_deliver(id, PQgetvalue(r->res, i, 2),
		    (size_t)PQgetlength(r->res, i, 2));
	}
	if (n < BUS_PAGE)
		bus_resync = 0;
	bus_kick();
}

static void
bus_fetched(void *arg, struct db_result *r)
{
	struct bus_item		*it;

	bus_q = NULL;
	if (r->cancelled || r->status != DB_OK)
		return;		/* ws_bus_tick tries again */
	if ((it = TAILQ_FIRST(&bus_items)) == NULL)
		return;
	if (PQntuples(r->res) != 1) {
		log_warn("websocket bus: message %lld was pruned before it "
		    "was read", (long long)it->id);
		bus_item_free(it);
	} else {
		it->len = (size_t)PQgetlength(r->res, 0, 0);
		if ((it->msg = strdup(PQgetvalue(r->res, 0, 0))) == NULL)
			abort();
	}
	bus_kick();
}

static void
bus_item_free(struct bus_item *it)
{
	TAILQ_REMOVE(&bus_items, it, list);
	bus_nitems--;
	free(it->msg);
	free(it);
}

static void
bus_queue_clear(void)
{
	struct bus_item		*it;

	while ((it = TAILQ_FIRST(&bus_items)) != NULL)
		bus_item_free(it);
}

/*
 * Message id to every client of this worker that has not had it. The
 * frame is built once and written to each live socket in turn.
 */
static void
bus_deliver(int64_t id, const char *msg, size_t len)
{
	struct ws_client	*cl, *next;
	struct ws_held		*h;
	u_int8_t		*frame;
	size_t			 hlen;
	int			 n;

	if ((frame = malloc(WS_FRAME_HDR_MAX + len)) == NULL)
		abort();
	hlen = ws_text_header(frame, len);
	memcpy(frame + hlen, msg, len);

	n = 0;
	for (cl = TAILQ_FIRST(&ws_clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, list);
		if (id <= cl->sent)
			continue;
		switch (cl->state) {
		case WS_CLIENT_LIVE:
			cl->sent = id;
			n++;
			(void)ws_send_frame(cl, frame, hlen + len);
			break;
		case WS_CLIENT_CATCHUP:
			if ((h = malloc(sizeof(*h) + len)) == NULL)
				abort();
			h->id = id;
			h->len = len;
			memcpy(h->msg, msg, len);
			TAILQ_INSERT_TAIL(&cl->held, h, list);
			cl->held_bytes += len;
			if (ws_pending(cl) > (size_t)cfg.ws_max_queued) {
				ws_close(cl, WS_CLOSE_POLICY, "too slow");
				kore_connection_disconnect(cl->c);
			}
			break;
		default:
			break;
		}
	}
	free(frame);
	metrics_count(MC_WS_OUT, n);
}

/* Some messages are gone for good: the live clients are told. */
static void
bus_reset_all(void)
{
	struct ws_client	*cl, *next;

	for (cl = TAILQ_FIRST(&ws_clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, list);
		if (cl->state == WS_CLIENT_LIVE)
			ws_send_text(cl, BUS_RESET, strlen(BUS_RESET));
	}
}

/* The client may be freed when this returns (dropped as too slow). */
static void
bus_client_send(struct ws_client *cl, int64_t id, const char *msg,
    size_t len)
{
	cl->sent = id;
	ws_send_text(cl, msg, len);
}

/* --- a client's messages --------------------------------------------- */

/* The messages waiting, as one JSON array: one ws_post for them all. */
void
ws_bus_post(struct ws_client *cl)
{
	struct ws_post	*p;
	char		*texts;
	size_t		 len, off, n;

	if (cl->post_q != NULL || TAILQ_EMPTY(&cl->posts))
		return;
	len = 2;
	n = 0;
	TAILQ_FOREACH(p, &cl->posts, list) {
		if (n > 0 && (n == BUS_POST_MAX ||
		    len + strlen(p->json) + 1 > BUS_POST_BYTES))
			break;
		len += strlen(p->json) + 1;
		n++;
	}
	if ((texts = malloc(len + 1)) == NULL)
		abort();
	off = 0;
	texts[off++] = '[';
	p = TAILQ_FIRST(&cl->posts);
	for (cl->post_n = 0; cl->post_n < (int)n; cl->post_n++) {
		if (cl->post_n > 0)
			texts[off++] = ',';
		memcpy(texts + off, p->json, strlen(p->json));
		off += strlen(p->json);
		p = TAILQ_NEXT(p, list);
	}
	texts[off++] = ']';
	texts[off] = '\0';
	cl->post_q = db_run(st_post, 4, (const char *[]){ cl->user, cl->tv,
	    texts, notify_max }, bus_posted, cl);
	free(texts);
}

/*
 * A message accepted from a client is stored even when the client leaves
 * or is being closed meanwhile: the client's struct outlives its socket
 * (c NULL) until its queue is empty. A revoked token drops the queue.
 */
static void
bus_posted(void *arg, struct db_result *r)
{
	struct ws_client	*cl = arg;
	struct ws_post		*p;
	const char		*frame;
	int			 n;

	if (r->cancelled)
		return;
	cl->post_q = NULL;
	for (n = 0; n < cl->post_n; n++) {
		if ((p = TAILQ_FIRST(&cl->posts)) == NULL)
			break;
		TAILQ_REMOVE(&cl->posts, p, list);
		cl->nposts--;
		free(p->json);
		free(p);
	}
	cl->post_n = 0;

	if (r->status == DB_OK && PQntuples(r->res) == 0) {
		ws_bus_drop_posts(cl);
		if (cl->c != NULL)
			ws_close(cl, WS_CLOSE_POLICY, "token revoked");
	} else if (r->status != DB_OK && cl->c != NULL &&
	    cl->state != WS_CLIENT_CLOSING) {
		/* The tick posts the next ones; cl may be gone now. */
		bus_error_frames(cl, r->status, n);
		return;
	} else if (r->status != DB_OK) {
		/*
		 * Nobody is left to tell or to send them again, and a retry
		 * could store them twice (a lost write may have committed):
		 * the log says so.
		 */
		log_warn("websocket: %d message(s) of user %s not stored after "
		    "its socket closed (%s)", n, cl->user,
		    bus_error_code(r->status, &frame));
	}

	if (cl->c == NULL && TAILQ_EMPTY(&cl->posts)) {
		free(cl);
		return;
	}
	ws_bus_post(cl);
}

/*
 * How a statement that failed with st is told: its code (in the log) and
 * the error frame a sender gets for each message it had in it (*frame).
 */
static const char *
bus_error_code(enum db_status st, const char **frame)
{
	switch (st) {
	case DB_UNAVAILABLE:
	case DB_BUSY:
		*frame = "{\"type\":\"error\",\"code\":\"unavailable\","
		    "\"detail\":\"Message not sent: the service is "
		    "unavailable, try again\"}";
		return ("unavailable");
	case DB_TIMEOUT:
		*frame = "{\"type\":\"error\",\"code\":\"timeout\","
		    "\"detail\":\"Message not sent: the database did not "
		    "answer in time, try again\"}";
		return ("timeout");
	default:
		*frame = "{\"type\":\"error\",\"code\":\"internal\","
		    "\"detail\":\"Message not sent: internal error\"}";
		return ("internal");
	}
}

/*
 * n messages were not stored: the sender gets an error frame for each,
 * and may send them again. One write, so cl is used no more once it
 * may be gone.
 */
static void
bus_error_frames(struct ws_client *cl, enum db_status st, int n)
{
	const char	*msg;
	u_int8_t	*frames;
	size_t		 len, hlen, off;
	int		 i;

	(void)bus_error_code(st, &msg);
	if (n == 0)
		return;
	len = strlen(msg);
	if ((frames = malloc((size_t)n * (WS_FRAME_HDR_MAX + len))) == NULL)
		abort();
	off = 0;
	for (i = 0; i < n; i++) {
		hlen = ws_text_header(frames + off, len);
		memcpy(frames + off + hlen, msg, len);
		off += hlen + len;
	}
	metrics_count(MC_WS_OUT, (uint64_t)n);
	(void)ws_send_frame(cl, frames, off);
	free(frames);
}

/* --- a client resuming with ?last_id= ---------------------------------- */

void
ws_bus_catchup(struct ws_client *cl)
{
	char	pos[24];

	if (cl->since_q != NULL || cl->state != WS_CLIENT_CATCHUP)
		return;
	(void)snprintf(pos, sizeof(pos), "%lld", (long long)cl->sent);
	cl->since_q = db_run(st_since, 2, (const char *[]){ pos, BUS_PAGE_STR },
	    bus_catchup_done, cl);
}

static void
bus_catchup_done(void *arg, struct db_result *r)
{
	struct ws_client	*cl = arg;
	struct connection	*c;
	int			 i, n;
	int64_t			 id;

	if (r->cancelled)
		return;
	cl->since_q = NULL;
	if (cl->state != WS_CLIENT_CATCHUP)
		return;
	if (r->status != DB_OK) {
		ws_close(cl, WS_CLOSE_ERROR,
		    "could not read the kept messages, try again");
		return;
	}

	c = cl->c;
	n = PQntuples(r->res);
	if (!cl->reset_sent && n > 0 &&
	    !strcmp(PQgetvalue(r->res, 0, 0), "t")) {
		cl->reset_sent = 1;
		ws_send_text(cl, BUS_RESET, strlen(BUS_RESET));
		if (c->hdlr_extra != cl)
			return;
	}
	cl->reset_sent = 1;
	for (i = 0; i < n; i++) {
		if (PQgetisnull(r->res, i, 1))
			continue;
		id = strtoll(PQgetvalue(r->res, i, 1), NULL, 10);
		if (id <= cl->sent)
			continue;
		bus_client_send(cl, id, PQgetvalue(r->res, i, 2),
		    (size_t)PQgetlength(r->res, i, 2));
		if (c->hdlr_extra != cl || cl->state != WS_CLIENT_CATCHUP)
			return;
	}

	if (n >= BUS_PAGE) {
		/* More to read: once the socket has taken most of it. */
		if (ws_pending(cl) < (size_t)cfg.ws_max_queued / 2)
			ws_bus_catchup(cl);
		else
			cl->page_wait = 1;
		return;
	}
	bus_client_live(cl);
}

/* What the bus delivered while the client read the table, then live. */
static void
bus_client_live(struct ws_client *cl)
{
	struct connection	*c = cl->c;
	struct ws_held		*h;

	while ((h = TAILQ_FIRST(&cl->held)) != NULL) {
		TAILQ_REMOVE(&cl->held, h, list);
		cl->held_bytes -= h->len;
		if (h->id > cl->sent) {
			bus_client_send(cl, h->id, h->msg, h->len);
			if (c->hdlr_extra != cl) {
				free(h);
				return;
			}
		}
		free(h);
	}
	if (cl->state == WS_CLIENT_CATCHUP)
		cl->state = WS_CLIENT_LIVE;
}

/* The client is closing: no more catching up. */
void
ws_bus_catchup_stop(struct ws_client *cl)
{
	struct ws_held	*h;

	if (cl->since_q != NULL) {
		db_cancel(cl->since_q);
		cl->since_q = NULL;
	}
	while ((h = TAILQ_FIRST(&cl->held)) != NULL) {
		TAILQ_REMOVE(&cl->held, h, list);
		free(h);
	}
	cl->held_bytes = 0;
}

/* Its messages not stored yet are dropped (a revoked token). */
void
ws_bus_drop_posts(struct ws_client *cl)
{
	struct ws_post	*p;

	if (cl->post_q != NULL) {
		db_cancel(cl->post_q);
		cl->post_q = NULL;
	}
	while ((p = TAILQ_FIRST(&cl->posts)) != NULL) {
		TAILQ_REMOVE(&cl->posts, p, list);
		free(p->json);
		free(p);
	}
	cl->nposts = 0;
	cl->post_n = 0;
}

/*
 * The socket is gone. Returns 1 when cl can be freed, 0 while messages
 * it sent are still being stored (bus_posted frees it after the last).
 */
int
ws_bus_client_gone(struct ws_client *cl)
{
	ws_bus_catchup_stop(cl);
	cl->c = NULL;
	if (cl->post_q == NULL && TAILQ_EMPTY(&cl->posts))
		return (1);
	ws_bus_post(cl);
	return (0);
}

/* --- every second ------------------------------------------------------ */

void
ws_bus_tick(void)
{
	struct ws_client	*cl, *next;
	char			 keep[24], secs[24];

	/* A sync or a fetch that failed: try again. */
	bus_kick();

	/* Clients whose next message waits after an error frame. */
	for (cl = TAILQ_FIRST(&ws_clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, list);
		ws_bus_post(cl);
	}

	if (worker == NULL || worker->id != 1 ||
	    ++bus_ticks % BUS_PRUNE_TICKS != 0 || prune_q != NULL)
		return;
	(void)snprintf(keep, sizeof(keep), "%d", cfg.ws_history);
	(void)snprintf(secs, sizeof(secs), "%d", cfg.ws_history_seconds);
	prune_q = db_run(st_prune, 2, (const char *[]){ keep, secs },
	    bus_pruned, NULL);
}

static void
bus_pruned(void *arg, struct db_result *r)
{
	prune_q = NULL;
}
