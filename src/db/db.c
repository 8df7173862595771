/* userapi: asynchronous PostgreSQL on libpq inside Kore's event loop. */

/*
 * Each worker owns a small pool of libpq connections driven by Kore's
 * epoll loop (the way Kore's own pgsql.c drives its sockets), because
 * Kore 4.1's pgsql API cannot prepare statements, serves its wait queue
 * unfairly and connects with a blocking PQconnectdb.
 *
 * - connections are opened with PQconnectStartParams/PQconnectPoll and
 *   reopened with backoff when they fail; the pool is kept warm
 * - every statement of sql/ is prepared once per connection; a failed
 *   prepare (say, migrations not applied yet) makes the connection unusable
 * - queries wait in one bounded FIFO; once per loop turn the waiting ones
 *   are handed out as one batch: to the connection with the fewest writes
 *   in flight and the most room, then, when it is full, to the next; a
 *   connection that has read its results takes more at once. With more
 *   than one connection, connection 0 takes reads only while another
 *   one is up: reads overtake writes that cannot be placed, and never
 *   wait behind writes stuck on a lock or on commits that NOTIFY
 *   (PostgreSQL runs those one at a time)
 * - with a pipeline depth above 1 a connection is in libpq's pipeline mode
 *   and holds up to that many queries in flight. A sync point (the end of
 *   an implicit transaction) follows every statement that may write, and
 *   the end of each batch; read-only statements (marked "-- read-only" in
 *   sql/, checked when loaded) share one. So a batch of reads goes out in
 *   one write (libpq 15's PQpipelineSync flushes, and only it does), and
 *   PostgreSQL answers it in one. A failure aborts only the statements
 *   after it up to the next sync point: reads that never ran, which go
 *   back to the head of the queue and are sent again (unless their
 *   client has gone, or little of their deadline is left); a write never
 *   shares its transaction with a statement after it, so a reported
 *   success is never rolled back. Results come back in order and are
 *   matched to the queries of the connection's in-flight list. With depth
 *   1 a connection runs one query at a time without pipeline mode.
 * - a query is finished when PQgetResult has returned NULL for it; only
 *   then does its callback run, and only then does a depth-1 connection
 *   take its next query
 * - callbacks run from Kore's loop (a socket event or a timer), never
 *   from inside db_run or db_cancel: a failure found there (no connection,
 *   queue full, a send that failed) completes on a later turn
 * - every query has a deadline: statement_timeout on the server, plus a
 *   sweep every 100 ms that fails queries waiting or running too long
 * - with no live connection a query fails at once (503), it never hangs
 * - one more connection per worker, opened on the first db_listen, holds
 *   the LISTENs of the worker's subscribers: it is reopened like the
 *   others, LISTEN is issued again, and then the subscribers' resume
 *   callbacks run so they can catch up on what they missed meanwhile.
 *   Query connections never LISTEN (statements are prepared, and
 *   PostgreSQL cannot prepare LISTEN), so no notification can reach them.
 *
 * The layer knows nothing of users: statements are ids, parameters text.
 */

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/queue.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>

#include "db/db.h"
#include "log.h"
#include "ops/metrics.h"

#define DB_SWEEP_MS		100
#define DB_BACKOFF_MIN_MS	100
#define DB_BACKOFF_MAX_MS	2000
#define DB_GRACE_MS		1000	/* client deadline after the server's */
#define DB_EVENT_TYPE		101

enum db_conn_role {
	DB_ROLE_QUERY = 0,
	DB_ROLE_LISTEN
};

enum db_conn_state {
	DB_CONN_DOWN = 0,
	DB_CONN_CONNECTING,
	DB_CONN_PREPARING,	/* query role: statements being prepared */
	DB_CONN_READY
};

/* Where a query is: in which list, if any. */
enum db_query_where {
	DB_Q_NONE = 0,		/* being completed */
	DB_Q_WAITING,		/* waitq */
	DB_Q_RUNNING,		/* its connection's inflight list */
	DB_Q_DEFERRED		/* deferq: completes on the next turn */
};

struct db_query {
	TAILQ_ENTRY(db_query)	 list;
	int			 stmt;
	int			 nparams;
	char			**params;
	db_cb			 cb;
	void			*arg;
	int			 cancelled;
	enum db_query_where	 where;
	enum db_status		 deferred;	/* DB_Q_DEFERRED: its status */
	int			 sync_after;	/* a sync point follows it */
	u_int64_t		 deadline;
	struct db_conn		*conn;		/* DB_Q_RUNNING */
};

TAILQ_HEAD(db_query_list, db_query);

struct db_conn {
	struct kore_event	 evt;		/* must be first */
	int			 id;
	enum db_conn_role	 role;
	PGconn			*pg;
	int			 fd;		/* watched by epoll, or -1 */
	int			 events;
	enum db_conn_state	 state;
	int			 prep_next;
	int			 flushing;	/* output left in libpq */
	struct db_query_list	 inflight;	/* sent, oldest first */
	int			 ninflight;
	int			 nwrites;	/* of them, not read-only */
	int			 sync_due;	/* next result: a sync point */
	struct db_query		*unsynced;	/* last sent, no sync after it */
	PGresult		*res;		/* the head query's result */
	int			 listen_sent;	/* LISTEN command running */
	u_int64_t		 since;		/* state entered */
	u_int64_t		 retry_at;
	u_int64_t		 backoff;
	int			 failed;	/* last try failed, logged */
};

struct db_statement {
	char	*name;
	char	*sql;
	int	 readonly;	/* "-- read-only": may share a sync point */
};

/* A db_listen subscriber and how far its LISTEN has got. */
enum db_sub_state {
	DB_SUB_NEW = 0,		/* LISTEN to be sent */
	DB_SUB_SENT,		/* LISTEN sent, not yet confirmed */
	DB_SUB_ON		/* listening */
};

struct db_sub {
	char			*channel;
	db_notify_cb		 notify;
	db_resume_cb		 resume;
	void			*arg;
	enum db_sub_state	 state;
};

static void	db_conn_start(struct db_conn *);
static void	db_conn_fail(struct db_conn *, const char *, enum db_status);
static void	db_conn_event(void *, int);
static void	db_conn_poll_connect(struct db_conn *);
static void	db_conn_prepare_next(struct db_conn *);
static void	db_conn_prepared(struct db_conn *);
static void	db_conn_read(struct db_conn *);
static int	db_conn_send(struct db_conn *, struct db_query *);
static int	db_conn_sync(struct db_conn *);
static void	db_conn_end_batch(struct db_conn *);
static int	db_conn_takes(struct db_conn *, struct db_query *);
static int	db_conn_suits(struct db_conn *, struct db_query *);
static struct db_conn *db_conn_pick(struct db_query *);
static void	db_requeue(struct db_query *, struct db_query **);
static int	db_lost_read(struct db_conn *, struct db_query *);
static void	db_waitq_added(struct db_query *);
static void	db_waitq_remove(struct db_query *);
static int	db_stmt_readonly(const char *, const char *);
static void	db_conn_fill(struct db_conn *);
static int	db_conn_room(struct db_conn *);
static void	db_conn_watch(struct db_conn *, int);
static void	db_conn_unwatch(struct db_conn *);
static int	db_conn_flush(struct db_conn *);
static void	db_conn_notifies(struct db_conn *);
static void	db_listen_issue(struct db_conn *);
static void	db_listen_read(struct db_conn *);
static void	db_query_done(struct db_query *, enum db_status, PGresult *,
		    const char *);
static void	db_query_finish(struct db_conn *, struct db_query *);
static void	db_query_defer(struct db_query *, enum db_status);
static void	db_query_free(struct db_query *);
static enum db_status db_classify(PGresult *, const char **);
static void	db_dispatch(void);
static void	db_kick(void);
static void	db_turn(void *, u_int64_t);
static void	db_sweep(void *, u_int64_t);
static void	db_sweep_conn(struct db_conn *, u_int64_t);
static int	db_alive(void);
static const char *db_conn_name(struct db_conn *, char *, size_t);
static void	db_notice(void *, const char *);
static void	db_oneline(char *, size_t, const char *);

static struct db_statement	*statements;
static int			 nstatements;

static struct db_conn		*conns;
static int			 nconns;
static int			 depth;		/* queries in flight per conn */
static struct db_conn		 listener;
static struct db_sub		*subs;
static int			 nsubs;
static struct db_query_list	 waitq;
static struct db_query_list	 deferq;
static int			 nwaiting;
static int			 nwaiting_writes;	/* of them */
static int			 queue_max;
static int			 deadline_ms;
static int			 turn_armed;
static char			*conn_dsn;
static char			 conn_options[64];

/*
 * Split one sql/ file into statements: each starts at a line
 * "-- name: <id>" and runs to the next one. Other comments are kept.
 */
void
db_statements_add(const char *text)
{
	const char	*p, *line, *next, *body;
	size_t		 len;
	char		 name[64];

	p = text;
	while ((line = strstr(p, "-- name: ")) != NULL) {
		if (line != text && line[-1] != '\n') {
			p = line + 1;
			continue;
		}
		line += strlen("-- name: ");
		len = strcspn(line, " \t\r\n");
		if (len == 0 || len >= sizeof(name))
			fatal("sql: bad statement name");
		memcpy(name, line, len);
		name[len] = '\0';

		body = line + len;
		next = body;
		while ((next = strstr(next, "-- name: ")) != NULL &&
		    next[-1] != '\n')
			next++;
		if (next == NULL)
			next = body + strlen(body);

		if (db_stmt_find(name) != -1)
			fatal("sql: statement %s defined twice", name);
		statements = realloc(statements,
		    sizeof(*statements) * (size_t)(nstatements + 1));
		if (statements == NULL)
			abort();
		if ((statements[nstatements].name = strdup(name)) == NULL ||
		    (statements[nstatements].sql =
		    strndup(body, (size_t)(next - body))) == NULL)
			abort();
		statements[nstatements].readonly = db_stmt_readonly(name,
		    statements[nstatements].sql);
		nstatements++;
		p = next;
	}
}

/*
 * 1 when a comment line of the statement says "-- read-only". Such a
 * statement may share its implicit transaction with the statements
 * around it, so it must not change anything: outside its comments its
 * words must not include one that writes, locks or notifies (fatal
 * otherwise). The list errs on the safe side; a false alarm only asks
 * for the mark to be removed.
 */
static int
db_stmt_readonly(const char *name, const char *sql)
{
	static const char	*writes[] = { "insert", "update", "delete",
				    "merge", "truncate", "into", "copy", "call",
				    "do", "lock", "share", "pg_notify",
				    "nextval", "setval", "set_config", NULL };
	const char		*p, *w;
	size_t			 len;
	int			 i, marked;
	char			 word[32], found[32];

	marked = 0;
	found[0] = '\0';
	for (p = sql; *p != '\0'; ) {
		if (p[0] == '-' && p[1] == '-') {
			len = strcspn(p, "\n");
			if (len >= 12 && !strncmp(p, "-- read-only", 12) &&
			    (len == 12 || p[12] == ' ' || p[12] == '\r'))
				marked = 1;
			p += len;
			continue;
		}
		if (!isalpha((unsigned char)*p) && *p != '_') {
			p++;
			continue;
		}
		w = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		len = (size_t)(p - w);
		if (len >= sizeof(word) || found[0] != '\0')
			continue;
		for (i = 0; i < (int)len; i++)
			word[i] = (char)tolower((unsigned char)w[i]);
		word[len] = '\0';
		for (i = 0; writes[i] != NULL; i++) {
			if (!strcmp(word, writes[i]))
				break;
		}
		if (writes[i] != NULL || !strncmp(word, "pg_advisory", 11))
			(void)kore_strlcpy(found, word, sizeof(found));
	}
	if (marked && found[0] != '\0')
		fatal("sql: %s is marked read-only but says %s", name, found);
	return (marked);
}

int
db_stmt_find(const char *name)
{
	int	i;

	for (i = 0; i < nstatements; i++) {
		if (!strcmp(statements[i].name, name))
			return (i);
	}
	return (-1);
}

int
db_stmt(const char *name)
{
	int	id;

	if ((id = db_stmt_find(name)) == -1)
		fatal("sql: no statement named %s", name);
	return (id);
}

const char *
db_stmt_sql(int id)
{
	return (statements[id].sql);
}

int
db_stmt_count(void)
{
	return (nstatements);
}

static void
db_conn_init(struct db_conn *c, int id, enum db_conn_role role)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->role = role;
	c->fd = -1;
	c->evt.type = DB_EVENT_TYPE;
	c->evt.handle = db_conn_event;
	c->backoff = DB_BACKOFF_MIN_MS;
	TAILQ_INIT(&c->inflight);
}

void
db_worker_init(const char *conninfo, int pool, int pipeline, int qmax,
    int timeout)
{
	int	i;

	TAILQ_INIT(&waitq);
	TAILQ_INIT(&deferq);
	nwaiting = 0;
	nwaiting_writes = 0;
	queue_max = qmax;
	deadline_ms = timeout;
	depth = pipeline < 1 ? 1 : pipeline;
	if ((conn_dsn = strdup(conninfo)) == NULL)
		abort();
	(void)snprintf(conn_options, sizeof(conn_options),
	    "-c statement_timeout=%d", timeout);

	nconns = pool;
	if ((conns = calloc((size_t)nconns, sizeof(*conns))) == NULL)
		abort();
	for (i = 0; i < nconns; i++) {
		db_conn_init(&conns[i], i, DB_ROLE_QUERY);
		db_conn_start(&conns[i]);
	}
	/* Opened by the first db_listen. */
	db_conn_init(&listener, -1, DB_ROLE_LISTEN);

	(void)kore_timer_add(db_sweep, DB_SWEEP_MS, NULL, 0);
}

void
db_worker_close(void)
{
	int	i;

	for (i = 0; i < nconns; i++) {
		if (conns[i].pg != NULL) {
			PQfinish(conns[i].pg);
			conns[i].pg = NULL;
		}
	}
	if (listener.pg != NULL) {
		PQfinish(listener.pg);
		listener.pg = NULL;
	}
}

struct db_query *
db_run(int id, int nparams, const char * const *params, db_cb cb, void *arg)
{
	struct db_query		*q;
	int			 i;

	if (id < 0 || id >= nstatements)
		fatal("db_run: no statement %d", id);
	if ((q = calloc(1, sizeof(*q))) == NULL)
		abort();
	q->stmt = id;
	q->cb = cb;
	q->arg = arg;
	q->nparams = nparams;
	q->deadline = kore_time_ms() + (u_int64_t)deadline_ms;
	if (nparams > 0) {
		if ((q->params = calloc((size_t)nparams, sizeof(char *))) ==
		    NULL)
			abort();
		for (i = 0; i < nparams; i++) {
			if (params[i] != NULL &&
			    (q->params[i] = strdup(params[i])) == NULL)
				abort();
		}
	}

	/* Nothing alive: try the due connections once, else fail. */
	if (!db_alive()) {
		for (i = 0; i < nconns; i++) {
			if (conns[i].state == DB_CONN_DOWN &&
			    conns[i].retry_at <= kore_time_ms())
				db_conn_start(&conns[i]);
		}
		if (!db_alive()) {
			db_query_defer(q, DB_UNAVAILABLE);
			return (q);
		}
	}

	/*
	 * Reads and writes are bounded apart: writes stuck on a lock must
	 * not fill the queue for reads, which overtake them.
	 */
	if ((statements[id].readonly ? nwaiting - nwaiting_writes :
	    nwaiting_writes) >= queue_max) {
		db_query_defer(q, DB_BUSY);
		return (q);
	}

	/* Sent on the next turn, with whatever else this turn queues. */
	TAILQ_INSERT_TAIL(&waitq, q, list);
	db_waitq_added(q);
	db_kick();
	return (q);
}

/*
 * The callback still runs once, on a later turn, with cancelled set, so
 * whoever owns arg can free it; it must not touch the request. A query
 * that is running is left to finish (libpq 15 has no non-blocking
 * cancel request): its result is dropped, and in pipeline mode the
 * queries behind it on its connection go on as usual.
 */
void
db_cancel(struct db_query *q)
{
	q->cancelled = 1;
	switch (q->where) {
	case DB_Q_WAITING:
		db_waitq_remove(q);
		db_query_defer(q, DB_UNAVAILABLE);
		break;
	case DB_Q_DEFERRED:
	case DB_Q_RUNNING:
	case DB_Q_NONE:		/* from inside its own callback */
		break;
	}
}

void
db_stats(int *up, int *total, int *waiting)
{
	int	i;

	*up = 0;
	for (i = 0; i < nconns; i++) {
		if (conns[i].state == DB_CONN_READY)
			(*up)++;
	}
	*total = nconns;
	*waiting = nwaiting;
}

int
db_listening(void)
{
	int	i;

	if (nsubs == 0 || listener.state != DB_CONN_READY)
		return (0);
	for (i = 0; i < nsubs; i++) {
		if (subs[i].state != DB_SUB_ON)
			return (0);
	}
	return (1);
}

void
db_listen(const char *channel, db_notify_cb notify, db_resume_cb resume,
    void *arg)
{
	struct db_sub	*s;

	if (conn_dsn == NULL)
		fatal("db_listen before db_worker_init");
	if (*channel == '\0' || strlen(channel) >= 64)
		fatal("db_listen: bad channel name");

	subs = realloc(subs, sizeof(*subs) * (size_t)(nsubs + 1));
	if (subs == NULL)
		abort();
	s = &subs[nsubs++];
	if ((s->channel = strdup(channel)) == NULL)
		abort();
	s->notify = notify;
	s->resume = resume;
	s->arg = arg;
	s->state = DB_SUB_NEW;

	/* The LISTEN goes out on the next turn, or once connected. */
	if (listener.state == DB_CONN_DOWN && listener.pg == NULL &&
	    listener.retry_at == 0)
		db_conn_start(&listener);
	db_kick();
}

/* A query connection that is up or on its way up. */
static int
db_alive(void)
{
	int	i;

	for (i = 0; i < nconns; i++) {
		if (conns[i].state != DB_CONN_DOWN)
			return (1);
	}
	return (0);
}

static const char *
db_conn_name(struct db_conn *c, char *buf, size_t len)
{
	if (c->role == DB_ROLE_LISTEN)
		(void)snprintf(buf, len, "database listen connection");
	else
		(void)snprintf(buf, len, "database connection %d", c->id);
	return (buf);
}

/* Run db_turn once the current turn of the loop is over. */
static void
db_kick(void)
{
	if (turn_armed)
		return;
	turn_armed = 1;
	(void)kore_timer_add(db_turn, 0, NULL, KORE_TIMER_ONESHOT);
}

/*
 * One turn: complete what was deferred before this turn began, hand the
 * waiting queries to the connections (one flush per connection), send
 * pending LISTENs.
 */
static void
db_turn(void *arg, u_int64_t now)
{
	struct db_query_list	 due;
	struct db_query		*q;

	turn_armed = 0;

	TAILQ_INIT(&due);
	TAILQ_CONCAT(&due, &deferq, list);
	while ((q = TAILQ_FIRST(&due)) != NULL) {
		TAILQ_REMOVE(&due, q, list);
		if (q->where != DB_Q_DEFERRED)
			fatal("db_turn: query %p is not deferred", (void *)q);
		q->where = DB_Q_NONE;
		db_query_done(q, q->deferred, NULL, NULL);
	}

	db_dispatch();

	if (listener.state == DB_CONN_READY && !listener.listen_sent)
		db_listen_issue(&listener);
}

/* Free slots of a ready query connection. */
static int
db_conn_room(struct db_conn *c)
{
	if (c->role != DB_ROLE_QUERY || c->state != DB_CONN_READY)
		return (0);
	return (depth - c->ninflight);
}

/*
 * Whether c may take q: with more than one connection, connection 0
 * takes reads only while another one is up, so that reads never queue
 * behind writes that wait (commits that NOTIFY take turns, a row lock)
 * on every connection; with the others down it takes writes too.
 */
static int
db_conn_takes(struct db_conn *c, struct db_query *q)
{
	int	i;

	if (db_conn_room(c) == 0)
		return (0);
	if (statements[q->stmt].readonly || c->id != 0)
		return (1);
	for (i = 1; i < nconns; i++) {
		if (conns[i].state == DB_CONN_READY)
			return (0);
	}
	return (1);
}

/*
 * Whether q should go to c: c takes it, and it is not a read that would
 * wait behind c's writes (one of them stuck on a lock, or on commits
 * that NOTIFY) while another connection with fewer writes takes it.
 */
static int
db_conn_suits(struct db_conn *c, struct db_query *q)
{
	struct db_conn	*best;

	if (!db_conn_takes(c, q))
		return (0);
	if (!statements[q->stmt].readonly || c->nwrites == 0)
		return (1);
	best = db_conn_pick(q);
	return (best == NULL || best->nwrites >= c->nwrites);
}

/* The connection for q: the fewest writes in flight, then the most room. */
static struct db_conn *
db_conn_pick(struct db_query *q)
{
	struct db_conn	*c, *best;
	int		 i;

	best = NULL;
	for (i = 0; i < nconns; i++) {
		c = &conns[i];
		if (!db_conn_takes(c, q))
			continue;
		if (best == NULL || c->nwrites < best->nwrites ||
		    (c->nwrites == best->nwrites &&
		    db_conn_room(c) > db_conn_room(best)))
			best = c;
	}
	return (best);
}

/*
 * Hand the waiting queries out as one batch: each to the connection the
 * one before it went to while that one takes it, else to the best pick,
 * so that a turn costs one write (and PostgreSQL one read and one
 * answer) per connection it used, unless a read would wait there
 * behind writes and another connection has fewer (db_conn_suits). A
 * write no connection may take yet stays queued; the reads behind it go
 * on. Then end each batch with its sync point.
 */
static void
db_dispatch(void)
{
	struct db_query		*q, *next;
	struct db_conn		*c, *cur;
	int			 i, *sent;
	static int		*dirty;

	if (TAILQ_EMPTY(&waitq))
		return;
	if (dirty == NULL &&
	    (dirty = calloc((size_t)nconns, sizeof(*dirty))) == NULL)
		abort();
	sent = dirty;

	cur = NULL;
	for (q = TAILQ_FIRST(&waitq); q != NULL; q = next) {
		next = TAILQ_NEXT(q, list);
		if (cur == NULL || !db_conn_suits(cur, q))
			cur = db_conn_pick(q);
		if (cur == NULL) {
			if (statements[q->stmt].readonly)
				break;		/* every connection is full */
			continue;
		}
		db_waitq_remove(q);
		if (db_conn_send(cur, q) == -1) {
			sent[cur->id] = 0;
			db_conn_fail(cur, PQerrorMessage(cur->pg),
			    DB_UNAVAILABLE);
			cur = NULL;
			/* Failing may have emptied the queue: start over. */
			next = TAILQ_FIRST(&waitq);
			continue;
		}
		sent[cur->id] = 1;
	}

	for (i = 0; i < nconns; i++) {
		c = &conns[i];
		if (sent[i] && c->state == DB_CONN_READY)
			db_conn_end_batch(c);
		sent[i] = 0;
	}
}

/* c has room again: give it the waiting queries it takes, as one batch. */
static void
db_conn_fill(struct db_conn *c)
{
	struct db_query		*q, *next;
	int			 n;

	n = 0;
	for (q = TAILQ_FIRST(&waitq); q != NULL; q = next) {
		next = TAILQ_NEXT(q, list);
		if (db_conn_room(c) == 0)
			break;
		if (!db_conn_suits(c, q))
			continue;
		db_waitq_remove(q);
		if (db_conn_send(c, q) == -1) {
			db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
			return;
		}
		n++;
	}
	if (n > 0)
		db_conn_end_batch(c);
}

/* The batch handed to c is complete: its sync point, then one flush. */
static void
db_conn_end_batch(struct db_conn *c)
{
	if (db_conn_sync(c) == -1) {
		db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
		return;
	}
	(void)db_conn_flush(c);
}

/*
 * Put q on c's in-flight list and hand it to libpq; in pipeline mode a
 * statement that may write gets its sync point (which flushes) at once,
 * a read-only one waits for the batch's (db_conn_sync). -1 when libpq
 * refused: the caller fails the connection, which completes q on a
 * later turn.
 */
static int
db_conn_send(struct db_conn *c, struct db_query *q)
{
	char	name[16];

	if (c->state != DB_CONN_READY || c->role != DB_ROLE_QUERY)
		fatal("db_conn_send: connection %d not ready", c->id);
	if (c->ninflight >= depth)
		fatal("db_conn_send: connection %d is full", c->id);
	if (q->where != DB_Q_NONE)
		fatal("db_conn_send: query %p is queued", (void *)q);

	TAILQ_INSERT_TAIL(&c->inflight, q, list);
	c->ninflight++;
	if (!statements[q->stmt].readonly)
		c->nwrites++;
	q->where = DB_Q_RUNNING;
	q->conn = c;

	q->sync_after = 0;

	(void)snprintf(name, sizeof(name), "s%d", q->stmt);
	if (!PQsendQueryPrepared(c->pg, name, q->nparams,
	    (const char * const *)q->params, NULL, NULL, 0))
		return (-1);
	if (depth == 1)
		return (0);
	c->unsynced = q;
	if (!statements[q->stmt].readonly)
		return (db_conn_sync(c));
	return (0);
}

/*
 * End c's open implicit transaction, if any, with a sync point. libpq
 * 15's PQpipelineSync also flushes (17 has one that does not). -1 when
 * libpq refused: the caller fails the connection.
 */
static int
db_conn_sync(struct db_conn *c)
{
	if (c->unsynced == NULL)
		return (0);
	c->unsynced->sync_after = 1;
	c->unsynced = NULL;
	if (!PQpipelineSync(c->pg))
		return (-1);
	return (0);
}

static void
db_conn_start(struct db_conn *c)
{
	const char	*keys[] = { "application_name", "connect_timeout",
			    "dbname", "options", NULL };
	const char	*vals[] = { NULL, "5", conn_dsn, conn_options, NULL };

	vals[0] = c->role == DB_ROLE_LISTEN ? "userapi-listen" : "userapi";
	if (c->pg != NULL || c->ninflight != 0)
		fatal("db_conn_start: connection %d still open", c->id);

	/* Keys before dbname are defaults that DATABASE_URL may override. */
	c->pg = PQconnectStartParams(keys, vals, 1);
	if (c->pg == NULL)
		abort();
	c->since = kore_time_ms();
	c->state = DB_CONN_CONNECTING;
	c->sync_due = 0;
	c->unsynced = NULL;
	c->flushing = 0;
	c->listen_sent = 0;

	if (PQstatus(c->pg) == CONNECTION_BAD) {
		db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
		return;
	}
	if (PQsetnonblocking(c->pg, 1) == -1) {
		db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
		return;
	}
	(void)PQsetNoticeProcessor(c->pg, db_notice, c);
	db_conn_watch(c, EPOLLOUT);
}

/*
 * The server's notices and warnings, and errors that arrive outside a
 * query (a FATAL at shutdown), go to the log instead of stderr.
 */
static void
db_notice(void *arg, const char *message)
{
	struct db_conn	*c = arg;
	char		 msg[256], name[48];

	db_oneline(msg, sizeof(msg), message);
	log_info("%s: %s", db_conn_name(c, name, sizeof(name)), msg);
}

/* libpq's message on one line: line breaks and tabs become spaces. */
static void
db_oneline(char *buf, size_t len, const char *message)
{
	size_t	i, j;
	int	space;

	space = 1;
	for (i = 0, j = 0; message != NULL && message[i] != '\0' &&
	    j + 1 < len; i++) {
		if (message[i] == '\n' || message[i] == '\t' ||
		    message[i] == ' ') {
			if (!space)
				buf[j++] = ' ';
			space = 1;
			continue;
		}
		buf[j++] = message[i];
		space = 0;
	}
	while (j > 0 && buf[j - 1] == ' ')
		j--;
	buf[j] = '\0';
}

/*
 * Close the connection and schedule a new attempt with exponential
 * backoff. Its writes complete with st on the next turn, its reads go
 * back to the queue when st is DB_UNAVAILABLE (else complete with st),
 * and the wait queue fails when no query connection is left. Logged once per
 * outage. Never runs a callback itself.
 */
static void
db_conn_fail(struct db_conn *c, const char *why, enum db_status st)
{
	struct db_query		*q, *requeued;
	char			 msg[256], name[48];
	int			 i;

	db_oneline(msg, sizeof(msg), why);
	if (!c->failed) {
		log_warn("%s lost: %s", db_conn_name(c, name, sizeof(name)),
		    msg[0] != '\0' ? msg : "connection closed");
		c->failed = 1;
		if (c->role == DB_ROLE_LISTEN)
			metrics_count(MC_LISTEN_RECONNECTS, 1);
	}

	db_conn_unwatch(c);
	if (c->res != NULL) {
		PQclear(c->res);
		c->res = NULL;
	}
	if (c->pg != NULL) {
		PQfinish(c->pg);
		c->pg = NULL;
	}

	/*
	 * A read lost with its connection goes back to the head of the
	 * queue for another connection (whether or not it ran, it changed
	 * nothing); a write, which may have committed, fails with st.
	 */
	requeued = NULL;
	while ((q = TAILQ_FIRST(&c->inflight)) != NULL) {
		TAILQ_REMOVE(&c->inflight, q, list);
		q->where = DB_Q_NONE;
		q->conn = NULL;
		if (st == DB_UNAVAILABLE && statements[q->stmt].readonly &&
		    !q->cancelled)
			db_requeue(q, &requeued);
		else
			db_query_defer(q, st);
	}
	c->ninflight = 0;
	c->nwrites = 0;
	c->sync_due = 0;
	c->unsynced = NULL;
	c->state = DB_CONN_DOWN;
	c->flushing = 0;
	c->listen_sent = 0;
	c->retry_at = kore_time_ms() + c->backoff;
	c->backoff *= 2;
	if (c->backoff > DB_BACKOFF_MAX_MS)
		c->backoff = DB_BACKOFF_MAX_MS;

	if (c->role == DB_ROLE_LISTEN) {
		/* A gap: LISTEN again, then resume, once reconnected. */
		for (i = 0; i < nsubs; i++)
			subs[i].state = DB_SUB_NEW;
		return;
	}

	/* Writes it would have taken may go to connection 0 now. */
	db_kick();

	/* Nobody left to serve the queue: fail it now rather than later. */
	if (!db_alive()) {
		while ((q = TAILQ_FIRST(&waitq)) != NULL) {
			db_waitq_remove(q);
			db_query_defer(q, DB_UNAVAILABLE);
		}
	}
}

static void
db_conn_watch(struct db_conn *c, int events)
{
	int	fd;

	if ((fd = PQsocket(c->pg)) == -1) {
		db_conn_fail(c, "no socket", DB_UNAVAILABLE);
		return;
	}
	/* libpq may have moved to a new socket (another host or address). */
	if (c->fd != fd)
		c->events = 0;
	c->fd = fd;
	events |= EPOLLRDHUP;
	if (c->events == events)
		return;
	kore_platform_event_schedule(fd, events, 0, c);
	c->events = events;
}

static void
db_conn_unwatch(struct db_conn *c)
{
	if (c->fd != -1 && c->events != 0 && c->pg != NULL &&
	    PQsocket(c->pg) == c->fd)
		kore_platform_disable_read(c->fd);
	c->fd = -1;
	c->events = 0;
}

static void
db_conn_event(void *arg, int error)
{
	struct db_conn	*c = arg;

	c->evt.flags = 0;

	switch (c->state) {
	case DB_CONN_CONNECTING:
		db_conn_poll_connect(c);
		break;
	case DB_CONN_PREPARING:
	case DB_CONN_READY:
		if (c->flushing && db_conn_flush(c) == -1)
			return;
		db_conn_read(c);
		break;
	case DB_CONN_DOWN:
		fatal("db_conn_event: event on a closed connection %d", c->id);
	}
}

static void
db_conn_poll_connect(struct db_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		db_conn_watch(c, EPOLLIN);
		break;
	case PGRES_POLLING_WRITING:
		db_conn_watch(c, EPOLLOUT);
		break;
	case PGRES_POLLING_OK:
		c->since = kore_time_ms();
		if (c->role == DB_ROLE_LISTEN) {
			if (c->failed)
				log_info("database listen connection ready");
			c->failed = 0;
			c->backoff = DB_BACKOFF_MIN_MS;
			c->state = DB_CONN_READY;
			db_conn_watch(c, EPOLLIN);
			db_listen_issue(c);
			break;
		}
		c->state = DB_CONN_PREPARING;
		c->prep_next = 0;
		db_conn_prepare_next(c);
		break;
	case PGRES_POLLING_FAILED:
	default:
		db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
		break;
	}
}

/* Prepare the next statement, one at a time; then the connection is up. */
static void
db_conn_prepare_next(struct db_conn *c)
{
	char	name[16];

	if (c->prep_next >= nstatements) {
		db_conn_prepared(c);
		return;
	}

	(void)snprintf(name, sizeof(name), "s%d", c->prep_next);
	if (!PQsendPrepare(c->pg, name, statements[c->prep_next].sql, 0,
	    NULL)) {
		db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
		return;
	}
	(void)db_conn_flush(c);
}

static void
db_conn_prepared(struct db_conn *c)
{
	if (depth > 1 && !PQenterPipelineMode(c->pg)) {
		db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
		return;
	}
	if (c->failed)
		log_info("database connection %d ready", c->id);
	c->failed = 0;
	c->backoff = DB_BACKOFF_MIN_MS;
	c->state = DB_CONN_READY;
	c->since = kore_time_ms();
	db_conn_watch(c, EPOLLIN);
	db_conn_fill(c);
}

/* 0 when all is sent, 1 while more is pending, -1 after a failure. */
static int
db_conn_flush(struct db_conn *c)
{
	switch (PQflush(c->pg)) {
	case 0:
		c->flushing = 0;
		db_conn_watch(c, EPOLLIN);
		return (0);
	case 1:
		c->flushing = 1;
		db_conn_watch(c, EPOLLIN | EPOLLOUT);
		return (1);
	default:
		db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
		return (-1);
	}
}

/*
 * Read what arrived and take every complete result. A query's answer
 * ends when PQgetResult returns NULL; it may take several reads to get
 * there, and until then c->res holds what came so far. In pipeline mode
 * the query's sync point comes next (PGRES_PIPELINE_SYNC).
 */
static void
db_conn_read(struct db_conn *c)
{
	PGresult		*res;
	struct db_query		*q, *requeued;
	char			 msg[320];

	requeued = NULL;
	if (!PQconsumeInput(c->pg)) {
		db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
		return;
	}

	if (c->role == DB_ROLE_LISTEN) {
		db_listen_read(c);
		return;
	}
	db_conn_notifies(c);

	if (c->state == DB_CONN_PREPARING) {
		while (!PQisBusy(c->pg)) {
			if ((res = PQgetResult(c->pg)) != NULL) {
				if (c->res == NULL)
					c->res = res;
				else
					PQclear(res);
				continue;
			}
			/* The prepare is complete. */
			res = c->res;
			c->res = NULL;
			if (res == NULL ||
			    PQresultStatus(res) != PGRES_COMMAND_OK) {
				(void)snprintf(msg, sizeof(msg),
				    "could not prepare statement %s: %s",
				    statements[c->prep_next].name,
				    res != NULL ? PQresultErrorMessage(res) :
				    PQerrorMessage(c->pg));
				PQclear(res);
				db_conn_fail(c, msg, DB_UNAVAILABLE);
				return;
			}
			PQclear(res);
			c->prep_next++;
			db_conn_prepare_next(c);
			return;
		}
		return;
	}

	for (;;) {
		if (TAILQ_EMPTY(&c->inflight) && !c->sync_due)
			break;
		if (PQisBusy(c->pg))
			break;
		res = PQgetResult(c->pg);

		if (c->sync_due) {
			if (res == NULL ||
			    PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
				PQclear(res);
				db_conn_fail(c, "no pipeline sync point",
				    DB_UNAVAILABLE);
				return;
			}
			PQclear(res);
			c->sync_due = 0;
			continue;
		}

		if (res != NULL && PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			db_conn_fail(c, "unexpected pipeline sync point",
			    DB_UNAVAILABLE);
			return;
		}
		if (res != NULL) {
			/* Keep the first result, or the first error. */
			if (c->res == NULL)
				c->res = res;
			else if (PQresultStatus(c->res) != PGRES_FATAL_ERROR &&
			    PQresultStatus(res) == PGRES_FATAL_ERROR) {
				PQclear(c->res);
				c->res = res;
			} else {
				PQclear(res);
			}
			continue;
		}

		/* NULL: the head query is finished. */
		q = TAILQ_FIRST(&c->inflight);
		if (q == c->unsynced)
			fatal("db_conn_read: a result before its sync point");
		TAILQ_REMOVE(&c->inflight, q, list);
		c->ninflight--;
		if (!statements[q->stmt].readonly)
			c->nwrites--;
		q->where = DB_Q_NONE;
		q->conn = NULL;
		c->sync_due = q->sync_after;
		if (c->res != NULL &&
		    PQresultStatus(c->res) == PGRES_PIPELINE_ABORTED) {
			/*
			 * An earlier statement of its batch failed: q never
			 * ran. Sent again, unless its client has gone.
			 */
			PQclear(c->res);
			c->res = NULL;
			if (q->cancelled)
				db_query_defer(q, DB_UNAVAILABLE);
			else
				db_requeue(q, &requeued);
			continue;
		}
		if (db_lost_read(c, q)) {
			/*
			 * A read the server ended with its session (shut
			 * down, terminated): sent again on another
			 * connection, like the reads behind it.
			 */
			PQclear(c->res);
			c->res = NULL;
			db_requeue(q, &requeued);
			continue;
		}
		db_query_finish(c, q);
	}

	if (PQstatus(c->pg) != CONNECTION_OK) {
		db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
		return;
	}
	db_conn_fill(c);
}

/* q's answer is complete in c->res (NULL when none came): report it. */
static void
db_query_finish(struct db_conn *c, struct db_query *q)
{
	PGresult		*res;
	enum db_status		 st;
	const char		*constraint;

	res = c->res;
	c->res = NULL;
	constraint = NULL;
	if (res == NULL) {
		st = DB_ERROR;
		log_error("query %s: no result: %s", statements[q->stmt].name,
		    PQerrorMessage(c->pg));
	} else {
		st = db_classify(res, &constraint);
		if (st == DB_ERROR) {
			log_error("query %s failed: %s",
			    statements[q->stmt].name,
			    PQresultErrorMessage(res));
		}
	}
	db_query_done(q, st, st == DB_OK ? res : NULL, constraint);
	PQclear(res);
}

/*
 * Query connections never LISTEN, so nothing can arrive here; say so
 * loudly if it ever does rather than drop it in silence.
 */
static void
db_conn_notifies(struct db_conn *c)
{
	PGnotify	*n;

	while ((n = PQnotifies(c->pg)) != NULL) {
		log_error("database connection %d: unexpected notification "
		    "on channel %s dropped", c->id, n->relname);
		PQfreemem(n);
	}
}

/*
 * Send LISTEN for every subscriber that needs one, as one simple query
 * (utility statements take no parameters: each channel name is quoted
 * with PQescapeIdentifier).
 */
static void
db_listen_issue(struct db_conn *c)
{
	char		*sql, *id;
	size_t		 len, off;
	int		 i, n;

	if (c->state != DB_CONN_READY || c->listen_sent)
		return;

	/* "LISTEN " + a quoted name of at most 2 * 63 + 2 bytes + ";" */
	len = (size_t)nsubs * 140 + 1;
	if ((sql = malloc(len)) == NULL)
		abort();
	off = 0;
	n = 0;
	for (i = 0; i < nsubs; i++) {
		if (subs[i].state != DB_SUB_NEW)
			continue;
		id = PQescapeIdentifier(c->pg, subs[i].channel,
		    strlen(subs[i].channel));
		if (id == NULL) {
			free(sql);
			db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
			return;
		}
		off += (size_t)snprintf(sql + off, len - off, "LISTEN %s;", id);
		PQfreemem(id);
		if (off >= len)
			fatal("db_listen_issue: channel names too long");
		subs[i].state = DB_SUB_SENT;
		n++;
	}
	if (n == 0) {
		free(sql);
		return;
	}

	if (!PQsendQuery(c->pg, sql)) {
		free(sql);
		db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
		return;
	}
	free(sql);
	c->listen_sent = 1;
	(void)db_conn_flush(c);
}

/*
 * The listen connection: finish a LISTEN command (then the resume
 * callbacks of its subscribers run), and hand notifications out.
 */
static void
db_listen_read(struct db_conn *c)
{
	PGresult	*res;
	PGnotify	*n;
	char		 msg[256];
	int		 i;

	while (c->listen_sent && !PQisBusy(c->pg)) {
		if ((res = PQgetResult(c->pg)) != NULL) {
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				(void)snprintf(msg, sizeof(msg),
				    "could not listen: %s",
				    PQresultErrorMessage(res));
				PQclear(res);
				db_conn_fail(c, msg, DB_UNAVAILABLE);
				return;
			}
			PQclear(res);
			continue;
		}
		c->listen_sent = 0;
		for (i = 0; i < nsubs; i++) {
			if (subs[i].state != DB_SUB_SENT)
				continue;
			subs[i].state = DB_SUB_ON;
			log_info("listen: channel %s resumed",
			    subs[i].channel);
			if (subs[i].resume != NULL)
				subs[i].resume(subs[i].arg);
		}
		/* Subscribers that came meanwhile. */
		db_listen_issue(c);
		if (c->state != DB_CONN_READY)
			return;
	}

	while ((n = PQnotifies(c->pg)) != NULL) {
		for (i = 0; i < nsubs; i++) {
			if (!strcmp(subs[i].channel, n->relname) &&
			    subs[i].notify != NULL)
				subs[i].notify(subs[i].arg, n->relname,
				    n->extra);
		}
		PQfreemem(n);
	}

	if (PQstatus(c->pg) != CONNECTION_OK)
		db_conn_fail(c, PQerrorMessage(c->pg), DB_UNAVAILABLE);
}

static enum db_status
db_classify(PGresult *res, const char **constraint)
{
	const char	*state;

	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		return (DB_OK);
	default:
		break;
	}

	if ((state = PQresultErrorField(res, PG_DIAG_SQLSTATE)) == NULL)
		return (DB_ERROR);
	*constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);

	if (!strcmp(state, "23505"))
		return (DB_UNIQUE);
	if (!strcmp(state, "23514") || !strcmp(state, "23502"))
		return (DB_CHECK);
	if (!strcmp(state, "57014"))
		return (DB_TIMEOUT);
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) ||
	    !strcmp(state, "53300"))
		return (DB_UNAVAILABLE);
	return (DB_ERROR);
}

/* Finish q now: run its callback and free it. */
static void
db_query_done(struct db_query *q, enum db_status st, PGresult *res,
    const char *constraint)
{
	struct db_result	r;

	if (q->where != DB_Q_NONE)
		fatal("db_query_done: query %p still queued", (void *)q);
	r.status = st;
	r.res = res;
	r.constraint = constraint;
	r.cancelled = q->cancelled;
	if (st != DB_OK)
		metrics_db_error((unsigned int)st - 1);	/* ops.c names them */
	if (q->cb != NULL)
		q->cb(q->arg, &r);
	db_query_free(q);
}

/* Whether c->res ends read q with its session: 08..., 57P.., 53300. */
static int
db_lost_read(struct db_conn *c, struct db_query *q)
{
	const char	*constraint;

	if (c->res == NULL || q->cancelled || !statements[q->stmt].readonly ||
	    PQresultStatus(c->res) != PGRES_FATAL_ERROR)
		return (0);
	return (db_classify(c->res, &constraint) == DB_UNAVAILABLE);
}

/*
 * Put q back on the wait queue, at its head: after *prev, the query
 * requeued before it from the same batch, so the batch keeps its order.
 * A query with less than DB_GRACE_MS (or half its deadline) left times
 * out instead: its batch waited, say on a lock until statement_timeout,
 * and sent again it would get a whole statement_timeout of its own on
 * the server, past its deadline.
 */
static void
db_requeue(struct db_query *q, struct db_query **prev)
{
	u_int64_t	margin;

	if (q->where != DB_Q_NONE)
		fatal("db_requeue: query %p still queued", (void *)q);
	margin = (u_int64_t)deadline_ms / 2;
	if (margin > DB_GRACE_MS)
		margin = DB_GRACE_MS;
	if (q->deadline < kore_time_ms() + margin) {
		db_query_defer(q, DB_TIMEOUT);
		return;
	}
	if (*prev == NULL)
		TAILQ_INSERT_HEAD(&waitq, q, list);
	else
		TAILQ_INSERT_AFTER(&waitq, *prev, q, list);
	*prev = q;
	db_waitq_added(q);
	metrics_count(MC_DB_REQUEUED, 1);
	/* Its connection may fail before it takes q again. */
	db_kick();
}

/* q has just been put on the wait queue: count it. */
static void
db_waitq_added(struct db_query *q)
{
	q->where = DB_Q_WAITING;
	nwaiting++;
	if (!statements[q->stmt].readonly)
		nwaiting_writes++;
}

/* Take q off the wait queue. */
static void
db_waitq_remove(struct db_query *q)
{
	if (q->where != DB_Q_WAITING)
		fatal("db_waitq_remove: query %p is not waiting", (void *)q);
	TAILQ_REMOVE(&waitq, q, list);
	nwaiting--;
	if (!statements[q->stmt].readonly)
		nwaiting_writes--;
	q->where = DB_Q_NONE;
}

/* Complete q with st on the next turn of the loop. */
static void
db_query_defer(struct db_query *q, enum db_status st)
{
	if (q->where != DB_Q_NONE)
		fatal("db_query_defer: query %p still queued", (void *)q);
	q->deferred = st;
	q->where = DB_Q_DEFERRED;
	TAILQ_INSERT_TAIL(&deferq, q, list);
	db_kick();
}

static void
db_query_free(struct db_query *q)
{
	int	i;

	for (i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	free(q);
}

/*
 * Every 100 ms: fail what waited or ran past its deadline, give up on
 * connects that take too long, and reopen connections that are due.
 * The whole wait queue is walked: it is not in deadline order, as
 * requeued reads go back to its head and reads overtake writes.
 */
static void
db_sweep(void *arg, u_int64_t now)
{
	struct db_query		*q, *next;
	int			 i;

	for (q = TAILQ_FIRST(&waitq); q != NULL; q = next) {
		next = TAILQ_NEXT(q, list);
		if (q->deadline > now)
			continue;
		db_waitq_remove(q);
		db_query_defer(q, DB_TIMEOUT);
	}

	for (i = 0; i < nconns; i++)
		db_sweep_conn(&conns[i], now);
	if (nsubs > 0)
		db_sweep_conn(&listener, now);
}

static void
db_sweep_conn(struct db_conn *c, u_int64_t now)
{
	struct db_query		*q;

	switch (c->state) {
	case DB_CONN_DOWN:
		if (c->retry_at <= now)
			db_conn_start(c);
		break;
	case DB_CONN_CONNECTING:
	case DB_CONN_PREPARING:
		if (now - c->since > (u_int64_t)deadline_ms + DB_GRACE_MS)
			db_conn_fail(c, "timed out while connecting",
			    DB_UNAVAILABLE);
		break;
	case DB_CONN_READY:
		/*
		 * The server's statement_timeout should have ended the
		 * oldest query; it did not answer at all, so drop the
		 * connection: its queries time out.
		 */
		q = TAILQ_FIRST(&c->inflight);
		if (q != NULL && now > q->deadline + DB_GRACE_MS)
			db_conn_fail(c, "query deadline passed", DB_TIMEOUT);
		break;
	}
}
