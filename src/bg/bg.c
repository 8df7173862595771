/* userapi: background work: blocking jobs on per-kind thread pools, results back on the event loop. */

/*
 * Per worker and per kind: a FIFO queue under a mutex, a few threads
 * waiting on its condition variable, and a count of work in flight kept
 * on the event loop (the cap). A thread that finished a job puts it on
 * one done list and writes the worker's eventfd, which sits in Kore's
 * event loop: the loop then runs the done callbacks (or frees abandoned
 * work). Threads block every signal, so Kore's signal handling stays on
 * the main thread.
 */

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/queue.h>

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kore/kore.h>

#include "bg/bg.h"
#include "log.h"

/* Not one of Kore's KORE_TYPE_* values: Kore only calls handle. */
#define BG_EVENT_TYPE	102

struct bg_work {
	TAILQ_ENTRY(bg_work)	 list;
	enum bg_kind		 kind;
	void			(*run)(void *);
	void			*msg;
	void			(*done)(void *, void *);
	void			*arg;
	int			 abandoned;	/* event loop only */
};

TAILQ_HEAD(bg_queue, bg_work);

struct bg_pool {
	pthread_mutex_t		 lock;
	pthread_cond_t		 more;
	struct bg_queue		 queue;
	int			 cap;
	int			 in_flight;	/* event loop only */
};

/* The eventfd's Kore event; evt must be first. */
struct bg_notify {
	struct kore_event	 evt;
	int			 fd;
};

static void	*bg_thread(void *);
static void	 bg_finished(void *, int);

static struct bg_pool	pools[BG_NKINDS];
static pthread_mutex_t	done_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bg_queue	done_list = TAILQ_HEAD_INITIALIZER(done_list);
static struct bg_notify	notify = { .fd = -1 };
static int		ran;		/* work ended since the last trim */

void
bg_init(const int threads[BG_NKINDS], const int cap[BG_NKINDS])
{
	pthread_t	 tid;
	sigset_t	 all, old;
	int		 k, i, rc;

	if ((notify.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("eventfd: %s", errno_s);
	notify.evt.type = BG_EVENT_TYPE;
	notify.evt.handle = bg_finished;
	kore_platform_event_schedule(notify.fd, EPOLLIN, 0, &notify);

	/* The threads inherit a mask that blocks every signal. */
	(void)sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
		fatal("pthread_sigmask failed");
	for (k = 0; k < BG_NKINDS; k++) {
		if (pthread_mutex_init(&pools[k].lock, NULL) != 0 ||
		    pthread_cond_init(&pools[k].more, NULL) != 0)
			fatal("could not set up background pool %d", k);
		TAILQ_INIT(&pools[k].queue);
		pools[k].cap = cap[k];
		for (i = 0; i < threads[k]; i++) {
			rc = pthread_create(&tid, NULL, bg_thread, &pools[k]);
			if (rc != 0)
				fatal("could not start a background thread: %s",
				    strerror(rc));
			(void)pthread_detach(tid);
		}
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
}

struct bg_work *
bg_start(enum bg_kind kind, void (*run)(void *), void *msg,
    void (*done)(void *, void *), void *arg)
{
	struct bg_pool	*p;
	struct bg_work	*w;

	if (kind < 0 || kind >= BG_NKINDS || notify.fd == -1)
		fatal("bg_start: bad kind %d or not initialised", kind);
	p = &pools[kind];
	if (p->in_flight >= p->cap)
		return (NULL);

	if ((w = calloc(1, sizeof(*w))) == NULL)
		abort();
	w->kind = kind;
	w->run = run;
	w->msg = msg;
	w->done = done;
	w->arg = arg;
	p->in_flight++;

	pthread_mutex_lock(&p->lock);
	TAILQ_INSERT_TAIL(&p->queue, w, list);
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->lock);
	return (w);
}

void
bg_abandon(struct bg_work *w)
{
	w->abandoned = 1;
}

int
bg_in_flight(enum bg_kind kind)
{
	return (pools[kind].in_flight);
}

void
bg_trim(void)
{
	int	k;

	if (!ran)
		return;
	for (k = 0; k < BG_NKINDS; k++) {
		if (pools[k].in_flight > 0)
			return;
	}
	ran = 0;
	(void)malloc_trim(0);
}

static void *
bg_thread(void *arg)
{
	struct bg_pool	*p = arg;
	struct bg_work	*w;
	uint64_t	 one;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while ((w = TAILQ_FIRST(&p->queue)) == NULL)
			pthread_cond_wait(&p->more, &p->lock);
		TAILQ_REMOVE(&p->queue, w, list);
		pthread_mutex_unlock(&p->lock);

		w->run(w->msg);

		pthread_mutex_lock(&done_lock);
		TAILQ_INSERT_TAIL(&done_list, w, list);
		pthread_mutex_unlock(&done_lock);

		/* Fails only when the counter is full: the loop wakes anyway. */
		one = 1;
		if (write(notify.fd, &one, sizeof(one)) == -1 &&
		    errno != EAGAIN)
			abort();
	}
	return (NULL);
}

/* Event loop: the eventfd is readable; run what ended. */
static void
bg_finished(void *arg, int error)
{
	struct bg_queue	 ended;
	struct bg_work	*w;
	uint64_t	 n;

	if (read(notify.fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_error("could not read the background eventfd: %s",
		    strerror(errno));

	TAILQ_INIT(&ended);
	pthread_mutex_lock(&done_lock);
	TAILQ_CONCAT(&ended, &done_list, list);
	pthread_mutex_unlock(&done_lock);

	while ((w = TAILQ_FIRST(&ended)) != NULL) {
		TAILQ_REMOVE(&ended, w, list);
		pools[w->kind].in_flight--;
		ran = 1;
		if (w->abandoned)
			free(w->msg);
		else
			w->done(w->arg, w->msg);
		free(w);
	}
}
