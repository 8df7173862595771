/* userapi: asynchronous PostgreSQL on libpq inside Kore's event loop. */

#ifndef USERAPI_DB_H
#define USERAPI_DB_H

#include <libpq-fe.h>

/* How a query ended, as the handlers need to know it. */
enum db_status {
	DB_OK = 0,		/* res holds the result */
	DB_UNAVAILABLE,		/* no connection to the database: 503 */
	DB_BUSY,		/* wait queue full: 503 */
	DB_TIMEOUT,		/* deadline passed: 504 */
	DB_UNIQUE,		/* unique_violation (23505) */
	DB_CHECK,		/* check/not-null violation (23514, 23502) */
	DB_ERROR		/* anything else: 500, logged */
};

struct db_result {
	enum db_status	 status;
	PGresult	*res;		/* DB_OK: owned by db, valid in cb */
	const char	*constraint;	/* DB_UNIQUE/DB_CHECK: its name */
	int		 cancelled;	/* db_cancel was called: drop it */
};

struct db_query;

/*
 * Called exactly once, from the event loop, never from inside db_run or
 * db_cancel; the db layer frees res after it. After db_cancel it still
 * runs, later, with cancelled set, so arg can be freed.
 */
typedef void	(*db_cb)(void *arg, struct db_result *);

/*
 * Statements come from the named blocks of sql/ (-- name: X), compiled
 * into the binary: db_statements_add takes one file's text, in the
 * parent before the workers fork. db_stmt resolves a name to its id
 * (fatal when absent), db_stmt_find returns -1 instead.
 */
void	db_statements_add(const char *text);
int	db_stmt(const char *name);
int	db_stmt_find(const char *name);
const char *db_stmt_sql(int id);
int	db_stmt_count(void);

/*
 * Per worker: open the pool (non-blocking) and start the sweep timer.
 * pipeline: queries in flight per connection; above 1 the connections
 * run in libpq's pipeline mode, 1 runs one query at a time.
 */
void	db_worker_init(const char *conninfo, int pool, int pipeline,
	    int queue_max, int timeout_ms);

/*
 * Run prepared statement id with text parameters (NULL = SQL NULL).
 * The parameters are copied. cb runs later, never from inside db_run.
 * Returns a handle for db_cancel, valid until cb has run.
 */
struct db_query	*db_run(int id, int nparams, const char * const *params,
		    db_cb cb, void *arg);

/* Drop q's result: its callback runs with cancelled set. */
void	db_cancel(struct db_query *q);

/*
 * At the worker's exit (after the drain): close every connection, so
 * PostgreSQL sees each session end instead of a dropped socket.
 */
void	db_worker_close(void);

/* Connections of this worker: up, total; queries waiting. */
void	db_stats(int *up, int *total, int *waiting);

/*
 * LISTEN/NOTIFY. Each worker has one listening connection, opened by the
 * first db_listen, reopened with backoff like the query connections.
 *
 * notify runs for every NOTIFY on channel, with its payload (at most
 * 8000 bytes; both strings valid during the call only). resume runs
 * when LISTEN on channel is in effect: the first time, and again after
 * every gap (connection lost, database restarted), during which
 * notifications may have been missed: a subscriber catches up from the
 * tables then. Either callback may be NULL. Several subscribers may
 * share a channel. Call in kore_worker_configure, after db_worker_init.
 *
 * A notification is sent by the statement that makes the change, in the
 * same statement (a CTE calling pg_notify(channel, payload)) or at least
 * in the same transaction, never as a round trip of its own afterwards:
 * PostgreSQL delivers it at commit, and not at all on rollback.
 */
typedef void	(*db_notify_cb)(void *arg, const char *channel,
		    const char *payload);
typedef void	(*db_resume_cb)(void *arg);

void	db_listen(const char *channel, db_notify_cb, db_resume_cb,
	    void *arg);

/* 1 when every db_listen channel of this worker is listening. */
int	db_listening(void);

#endif
