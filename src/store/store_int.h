/* userapi: what the store modules share: statements read by column name, queries with typed callbacks. */

#ifndef USERAPI_STORE_INT_H
#define USERAPI_STORE_INT_H

#include <libpq-fe.h>

#include "store/job_store.h"
#include "store/store.h"

struct db_query;
struct store_query;

/* Result columns one statement may name. */
#define STORE_COLS_MAX	10

/*
 * Reads an answer of sq's statement into its typed shape and calls sq's
 * callback once; res is NULL unless status is STORE_OK (the columns then
 * checked). The store frees sq afterwards.
 */
typedef void	(*store_answer_fn)(struct store_query *sq, PGresult *res,
		    enum store_status status);

/*
 * A statement of sql/ and how to read its answer. The column numbers of
 * columns (names, NULL-terminated) are looked up (PQfnumber) in the
 * statement's first answer, in each worker, into col[] in that order;
 * later answers only have their column count compared, since a prepared
 * statement's columns never change.
 */
struct store_stmt {
	const char		*name;
	const char *const	*columns;
	store_answer_fn		 answer;
	int			 id;		/* db_stmt(), by store_stmts_load */
	int			 nfields;	/* -1 until looked up */
	int			 col[STORE_COLS_MAX];
};

/* A query in flight: its statement, its callback, the db's handle. */
struct store_query {
	struct store_stmt	*stmt;
	struct db_query		*q;
	void			*arg;
	union {
		store_user_cb		 user;
		store_users_cb		 users;
		store_login_cb		 login;
		store_outcome_cb	 outcome;
		store_schema_cb		 schema;
		store_job_cb		 job;
		store_jobs_cb		 jobs;
		store_job_id_cb		 job_id;
		store_take_cb		 take;
		store_ids_cb		 ids;
		store_fail_cb		 fail;
		store_count_cb		 count;
		store_job_counts_cb	 job_counts;
	} cb;
};

/* Parent: resolve the ids of n statements (db_stmt: fatal when absent). */
void		 store_stmts_load(struct store_stmt *, size_t n);

/* A query of statement st for arg; the caller sets its callback. */
struct store_query *store_new(struct store_stmt *st, void *arg);

/*
 * Send it with n text parameters (copied by db_run); returns sq. The
 * answer comes on a later turn of the loop, never from inside db_run.
 */
struct store_query *store_start(struct store_query *sq, int n,
		    const char * const *p);

/* The outcome column of request statements as a status (unknown: logged). */
enum store_status store_outcome(const char *);

/* Column col of row row as a number, or a malloc'd copy (abort on OOM). */
long long	 store_ll(PGresult *, int row, int col);
char		*store_strdup(PGresult *, int row, int col);

#endif
