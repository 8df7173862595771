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
 * - one query at a time per connection; others wait in a bounded FIFO
 * - every query has a deadline: statement_timeout on the server, plus a
 *   sweep every 100 ms that fails queries waiting or running too long
 * - with no live connection a query fails at once (503), it never hangs
 *
 * The layer knows nothing of users: statements are ids, parameters text.
 */

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>

#include "db/db.h"
#include "log.h"

#define DB_SWEEP_MS		100
#define DB_BACKOFF_MIN_MS	100
#define DB_BACKOFF_MAX_MS	2000
#define DB_GRACE_MS		1000	/* client deadline after the server's */
#define DB_EVENT_TYPE		101

enum db_conn_state {
	DB_CONN_DOWN = 0,
	DB_CONN_CONNECTING,
	DB_CONN_PREPARING,
	DB_CONN_IDLE,
	DB_CONN_BUSY
};

struct db_query {
	TAILQ_ENTRY(db_query)	 list;
	int			 stmt;
	int			 nparams;
	char			**params;
	db_cb			 cb;
	void			*arg;
	int			 cancelled;
	int			 where;		/* DB_Q_* */
	enum db_status		 deferred;
	u_int64_t		 deadline;
	struct db_conn		*conn;
};

#define DB_Q_NONE	0
#define DB_Q_WAITING	1
#define DB_Q_DEFERRED	2

TAILQ_HEAD(db_query_list, db_query);

struct db_conn {
	struct kore_event	 evt;		/* must be first */
	int			 id;
	PGconn			*pg;
	int			 fd;		/* registered with epoll, or -1 */
	int			 events;
	enum db_conn_state	 state;
	int			 prep_next;
	int			 flushing;
	struct db_query		*q;
	u_int64_t		 since;		/* state entered */
	u_int64_t		 retry_at;
	u_int64_t		 backoff;
	int			 failed;	/* last attempt failed: logged */
};

struct db_statement {
	char	*name;
	char	*sql;
};

static void	db_conn_start(struct db_conn *);
static void	db_conn_fail(struct db_conn *, const char *);
static void	db_conn_event(void *, int);
static void	db_conn_poll_connect(struct db_conn *);
static void	db_conn_prepare_next(struct db_conn *);
static void	db_conn_read(struct db_conn *);
static void	db_conn_result(struct db_conn *, PGresult *);
static void	db_conn_idle(struct db_conn *);
static void	db_conn_send(struct db_conn *, struct db_query *);
static void	db_conn_watch(struct db_conn *, int);
static void	db_conn_unwatch(struct db_conn *);
static int	db_conn_flush(struct db_conn *);
static void	db_query_done(struct db_query *, enum db_status, PGresult *,
		    const char *);
static void	db_query_defer(struct db_query *, enum db_status);
static void	db_query_free(struct db_query *);
static enum db_status db_classify(PGresult *, const char **);
static void	db_sweep(void *, u_int64_t);
static void	db_deferred_run(void *, u_int64_t);
static int	db_alive(void);

static struct db_statement	*statements;
static int			 nstatements;

static struct db_conn		*conns;
static int			 nconns;
static struct db_query_list	 waitq;
static struct db_query_list	 deferq;
static int			 nwaiting;
static int			 queue_max;
static int			 deadline_ms;
static int			 defer_armed;
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
		nstatements++;
		p = next;
	}
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

void
db_worker_init(const char *conninfo, int pool, int qmax, int timeout)
{
	int	i;

	TAILQ_INIT(&waitq);
	TAILQ_INIT(&deferq);
	nwaiting = 0;
	queue_max = qmax;
	deadline_ms = timeout;
	if ((conn_dsn = strdup(conninfo)) == NULL)
		abort();
	(void)snprintf(conn_options, sizeof(conn_options),
	    "-c statement_timeout=%d", timeout);

	nconns = pool;
	if ((conns = calloc((size_t)nconns, sizeof(*conns))) == NULL)
		abort();
	for (i = 0; i < nconns; i++) {
		conns[i].id = i;
		conns[i].fd = -1;
		conns[i].evt.type = DB_EVENT_TYPE;
		conns[i].evt.handle = db_conn_event;
		conns[i].backoff = DB_BACKOFF_MIN_MS;
		db_conn_start(&conns[i]);
	}

	(void)kore_timer_add(db_sweep, DB_SWEEP_MS, NULL, 0);
}

struct db_query *
db_run(int id, int nparams, const char * const *params, db_cb cb, void *arg)
{
	struct db_query		*q;
	int			 i;

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

	for (i = 0; i < nconns; i++) {
		if (conns[i].state == DB_CONN_IDLE) {
			db_conn_send(&conns[i], q);
			return (q);
		}
	}

	/* Nothing alive: try the due connections once, else fail now. */
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

	if (nwaiting >= queue_max) {
		db_query_defer(q, DB_BUSY);
		return (q);
	}

	TAILQ_INSERT_TAIL(&waitq, q, list);
	q->where = DB_Q_WAITING;
	nwaiting++;
	return (q);
}

/*
 * The callback still runs once, with DB_CANCELLED semantics (cancelled
 * set), so whoever owns arg can free it; it must not touch the request.
 */
void
db_cancel(struct db_query *q)
{
	q->cancelled = 1;
	switch (q->where) {
	case DB_Q_WAITING:
		TAILQ_REMOVE(&waitq, q, list);
		nwaiting--;
		break;
	case DB_Q_DEFERRED:
		TAILQ_REMOVE(&deferq, q, list);
		break;
	default:
		return;		/* running: its result is dropped */
	}
	q->where = DB_Q_NONE;
	db_query_done(q, DB_UNAVAILABLE, NULL, NULL);
}

void
db_stats(int *up, int *total, int *waiting)
{
	int	i;

	*up = 0;
	for (i = 0; i < nconns; i++) {
		if (conns[i].state == DB_CONN_IDLE ||
		    conns[i].state == DB_CONN_BUSY)
			(*up)++;
	}
	*total = nconns;
	*waiting = nwaiting;
}

/* A connection that is up or on its way up. */
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

static void
db_conn_start(struct db_conn *c)
{
	const char	*keys[] = { "dbname", "application_name",
			    "connect_timeout", "options", NULL };
	const char	*vals[] = { conn_dsn, "userapi", "5", conn_options,
			    NULL };

	c->pg = PQconnectStartParams(keys, vals, 1);
	if (c->pg == NULL)
		abort();
	c->since = kore_time_ms();
	c->state = DB_CONN_CONNECTING;

	if (PQstatus(c->pg) == CONNECTION_BAD) {
		db_conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (PQsetnonblocking(c->pg, 1) == -1) {
		db_conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	db_conn_watch(c, EPOLLOUT);
}

/*
 * Close the connection, fail its query with DB_UNAVAILABLE and schedule
 * a new attempt with exponential backoff. Logged once per outage.
 */
static void
db_conn_fail(struct db_conn *c, const char *why)
{
	struct db_query		*q;
	char			 msg[256];
	size_t			 len;

	(void)snprintf(msg, sizeof(msg), "%s", why != NULL ? why : "");
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';

	if (!c->failed) {
		log_warn("database connection %d lost: %s", c->id,
		    len > 0 ? msg : "connection closed");
		c->failed = 1;
	}

	db_conn_unwatch(c);
	if (c->pg != NULL) {
		PQfinish(c->pg);
		c->pg = NULL;
	}

	q = c->q;
	c->q = NULL;
	c->state = DB_CONN_DOWN;
	c->flushing = 0;
	c->retry_at = kore_time_ms() + c->backoff;
	c->backoff *= 2;
	if (c->backoff > DB_BACKOFF_MAX_MS)
		c->backoff = DB_BACKOFF_MAX_MS;

	if (q != NULL) {
		q->conn = NULL;
		db_query_done(q, DB_UNAVAILABLE, NULL, NULL);
	}

	/* Nobody left to serve the queue: fail it now rather than later. */
	if (!db_alive()) {
		while ((q = TAILQ_FIRST(&waitq)) != NULL) {
			TAILQ_REMOVE(&waitq, q, list);
			q->where = DB_Q_NONE;
			nwaiting--;
			db_query_done(q, DB_UNAVAILABLE, NULL, NULL);
		}
	}
}

static void
db_conn_watch(struct db_conn *c, int events)
{
	int	fd;

	if ((fd = PQsocket(c->pg)) == -1) {
		db_conn_fail(c, "no socket");
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
	case DB_CONN_BUSY:
	case DB_CONN_IDLE:
		if (c->flushing && db_conn_flush(c) == -1)
			return;
		db_conn_read(c);
		break;
	default:
		break;
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
		c->state = DB_CONN_PREPARING;
		c->since = kore_time_ms();
		c->prep_next = 0;
		db_conn_prepare_next(c);
		break;
	case PGRES_POLLING_FAILED:
	default:
		db_conn_fail(c, PQerrorMessage(c->pg));
		break;
	}
}

static void
db_conn_prepare_next(struct db_conn *c)
{
	char	name[16];

	if (c->prep_next >= nstatements) {
		if (c->failed)
			log_info("database connection %d ready", c->id);
		c->failed = 0;
		c->backoff = DB_BACKOFF_MIN_MS;
		db_conn_idle(c);
		return;
	}

	(void)snprintf(name, sizeof(name), "s%d", c->prep_next);
	if (!PQsendPrepare(c->pg, name, statements[c->prep_next].sql, 0,
	    NULL)) {
		db_conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	(void)db_conn_flush(c);
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
		db_conn_fail(c, PQerrorMessage(c->pg));
		return (-1);
	}
}

static void
db_conn_read(struct db_conn *c)
{
	PGresult	*res, *last;
	PGnotify	*n;

	if (!PQconsumeInput(c->pg)) {
		db_conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	while ((n = PQnotifies(c->pg)) != NULL)
		PQfreemem(n);

	if (c->state == DB_CONN_IDLE) {
		if (PQstatus(c->pg) != CONNECTION_OK)
			db_conn_fail(c, PQerrorMessage(c->pg));
		return;
	}

	last = NULL;
	while (!PQisBusy(c->pg)) {
		if ((res = PQgetResult(c->pg)) == NULL) {
			db_conn_result(c, last);
			return;
		}
		if (last != NULL)
			PQclear(last);
		last = res;
	}
	/* A result arrived only in part; keep it for the next read. */
	if (last != NULL) {
		db_conn_result(c, last);
		if (c->state != DB_CONN_DOWN)
			log_warn("database connection %d: result split", c->id);
	}
}

/* The whole answer to what was sent on c is in: res (may be NULL). */
static void
db_conn_result(struct db_conn *c, PGresult *res)
{
	struct db_query		*q;
	enum db_status		 st;
	const char		*constraint;
	char			 msg[256];

	if (c->state == DB_CONN_PREPARING) {
		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
			(void)snprintf(msg, sizeof(msg),
			    "could not prepare statement %s: %s",
			    statements[c->prep_next].name,
			    res != NULL ? PQresultErrorMessage(res) :
			    PQerrorMessage(c->pg));
			PQclear(res);
			db_conn_fail(c, msg);
			return;
		}
		PQclear(res);
		c->prep_next++;
		db_conn_prepare_next(c);
		return;
	}

	q = c->q;
	c->q = NULL;
	q->conn = NULL;

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

	if (PQstatus(c->pg) != CONNECTION_OK) {
		db_query_done(q, DB_UNAVAILABLE, NULL, NULL);
		PQclear(res);
		db_conn_fail(c, PQerrorMessage(c->pg));
		return;
	}

	db_conn_idle(c);
	db_query_done(q, st, st == DB_OK ? res : NULL, constraint);
	PQclear(res);
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

/* c is free: take the oldest waiting query, if any. */
static void
db_conn_idle(struct db_conn *c)
{
	struct db_query		*q;

	c->state = DB_CONN_IDLE;
	c->since = kore_time_ms();
	if ((q = TAILQ_FIRST(&waitq)) != NULL) {
		TAILQ_REMOVE(&waitq, q, list);
		q->where = DB_Q_NONE;
		nwaiting--;
		db_conn_send(c, q);
	} else {
		db_conn_watch(c, EPOLLIN);
	}
}

static void
db_conn_send(struct db_conn *c, struct db_query *q)
{
	char	name[16];

	(void)snprintf(name, sizeof(name), "s%d", q->stmt);
	c->state = DB_CONN_BUSY;
	c->since = kore_time_ms();
	c->q = q;
	q->conn = c;

	if (!PQsendQueryPrepared(c->pg, name, q->nparams,
	    (const char * const *)q->params, NULL, NULL, 0)) {
		db_conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	(void)db_conn_flush(c);
}

/* Finish q now: run its callback (unless cancelled) and free it. */
static void
db_query_done(struct db_query *q, enum db_status st, PGresult *res,
    const char *constraint)
{
	struct db_result	r;

	r.status = st;
	r.res = res;
	r.constraint = constraint;
	r.cancelled = q->cancelled;
	if (q->cb != NULL)
		q->cb(q->arg, &r);
	db_query_free(q);
}

/* Complete q on the next turn of the loop, never inside db_run. */
static void
db_query_defer(struct db_query *q, enum db_status st)
{
	q->deferred = st;
	q->where = DB_Q_DEFERRED;
	TAILQ_INSERT_TAIL(&deferq, q, list);
	if (!defer_armed) {
		defer_armed = 1;
		(void)kore_timer_add(db_deferred_run, 0, NULL,
		    KORE_TIMER_ONESHOT);
	}
}

static void
db_deferred_run(void *arg, u_int64_t now)
{
	struct db_query		*q;

	defer_armed = 0;
	while ((q = TAILQ_FIRST(&deferq)) != NULL) {
		TAILQ_REMOVE(&deferq, q, list);
		q->where = DB_Q_NONE;
		db_query_done(q, q->deferred, NULL, NULL);
	}
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
 */
static void
db_sweep(void *arg, u_int64_t now)
{
	struct db_query		*q;
	struct db_conn		*c;
	int			 i;

	while ((q = TAILQ_FIRST(&waitq)) != NULL && q->deadline <= now) {
		TAILQ_REMOVE(&waitq, q, list);
		q->where = DB_Q_NONE;
		nwaiting--;
		db_query_done(q, DB_TIMEOUT, NULL, NULL);
	}

	for (i = 0; i < nconns; i++) {
		c = &conns[i];
		switch (c->state) {
		case DB_CONN_DOWN:
			if (c->retry_at <= now)
				db_conn_start(c);
			break;
		case DB_CONN_CONNECTING:
		case DB_CONN_PREPARING:
			if (now - c->since > (u_int64_t)deadline_ms +
			    DB_GRACE_MS)
				db_conn_fail(c, "timed out while connecting");
			break;
		case DB_CONN_BUSY:
			/*
			 * The server's statement_timeout should have fired;
			 * it did not answer at all, so drop the connection.
			 */
			if (c->q != NULL &&
			    now > c->q->deadline + DB_GRACE_MS) {
				q = c->q;
				c->q = NULL;
				q->conn = NULL;
				db_query_done(q, DB_TIMEOUT, NULL, NULL);
				db_conn_fail(c, "query deadline passed");
			}
			break;
		default:
			break;
		}
	}
}
