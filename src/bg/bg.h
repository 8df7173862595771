/* userapi: background work: blocking jobs on per-kind thread pools, results back on the event loop. */

#ifndef USERAPI_BG_H
#define USERAPI_BG_H

/*
 * Each kind of work has its own threads and its own cap, so one kind
 * never waits for another: a slow SMTP send cannot delay a login's
 * argon2id. Kore's task threads are one round-robin pool shared by every
 * kind, hence this runner. A request or a timer may start work.
 */
enum bg_kind {
	BG_PASSWORD,	/* argon2id: TASK_THREADS threads, TASKS_MAX in flight */
	BG_MAIL,	/* SMTP sends: MAIL_THREADS threads, MAIL_MAX in flight */
	BG_NKINDS
};

struct bg_work;

/* Per worker, from kore_worker_configure: start the threads. */
void		 bg_init(const int threads[BG_NKINDS],
		    const int cap[BG_NKINDS]);

/*
 * Run run(msg) on a thread of kind's pool; later, on the event loop,
 * done(arg, msg) runs, and from then on msg belongs to done. msg is
 * the work's typed message (a struct of the kind's module), malloc'd:
 * bg owns it from here until done. Returns NULL when kind already has
 * its cap of work in flight (queued or running): msg stays the
 * caller's, and a request answers 503 with Retry-After.
 */
struct bg_work	*bg_start(enum bg_kind, void (*run)(void *msg), void *msg,
		    void (*done)(void *arg, void *msg), void *arg);

/*
 * The requester is gone: done is not called; msg is freed with free()
 * once run returned (run must not leave secrets in msg). Event loop only.
 */
void		 bg_abandon(struct bg_work *);

/* Work of kind in flight (queued or running) in this worker. */
int		 bg_in_flight(enum bg_kind);

/*
 * Once no work is in flight after some ran, give the free memory of the
 * malloc arena back to the system (argon2id's 19 MiB blocks). Called
 * from the worker's 1 s timer.
 */
void		 bg_trim(void);

#endif
