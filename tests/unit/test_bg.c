/* userapi: unit tests of src/bg/bg.c: a pool per kind, caps, hand-back on the loop, abandoned work. */

#include <sys/types.h>

#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <kore/kore.h>

#include "bg/bg.h"
#include "log.h"

/* What bg_init registered in Kore's event loop (stubbed here). */
static int			 loop_fd = -1;
static struct kore_event	*loop_evt;

void
kore_platform_event_schedule(int fd, int type, int flags, void *udata)
{
	loop_fd = fd;
	loop_evt = udata;
}

void
fatal(const char *fmt, ...)
{
	fprintf(stderr, "fatal called in a unit test: %s\n", fmt);
	abort();
}

void
log_error(const char *fmt, ...)
{
	fail_msg("log_error: %s", fmt);
}

/* A job that waits until the test opens its gate. */
struct job {
	int	 gated;
	int	 ran;
	int	 done;
};

static pthread_mutex_t	gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	gate_cond = PTHREAD_COND_INITIALIZER;
static int		gate_open;
static int		done_calls;

static void
job_run(void *msg)
{
	struct job	*j = msg;

	if (j->gated) {
		pthread_mutex_lock(&gate_lock);
		while (!gate_open)
			pthread_cond_wait(&gate_cond, &gate_lock);
		pthread_mutex_unlock(&gate_lock);
	}
	j->ran = 1;
}

static void
job_done(void *arg, void *msg)
{
	struct job	*j = msg;

	assert_ptr_equal(arg, &done_calls);
	j->done = 1;
	done_calls++;
}

static struct job *
job_new(int gated)
{
	struct job	*j;

	j = calloc(1, sizeof(*j));
	assert_non_null(j);
	j->gated = gated;
	return (j);
}

/* Run the loop's side until n done callbacks have run (5 s at most). */
static void
loop_until(int n)
{
	struct pollfd	pfd;
	int		i;

	for (i = 0; i < 500 && done_calls < n; i++) {
		pfd.fd = loop_fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10) == 1)
			loop_evt->handle(loop_evt, 0);
	}
	assert_int_equal(done_calls, n);
}

static void
open_gate(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

/*
 * Mail work that hangs (a slow SMTP server) fills the mail pool; password
 * work still runs at once on its own threads. Over a kind's cap, bg_start
 * refuses; abandoned work is freed, its done never called.
 */
static void
test_kinds_apart(void **state)
{
	struct job	*mail[3], *pw[2], *gone, *extra;
	struct bg_work	*w;
	int		 i;

	assert_int_equal(loop_fd >= 0, 1);
	for (i = 0; i < 3; i++) {
		mail[i] = job_new(1);
		assert_non_null(bg_start(BG_MAIL, job_run, mail[i], job_done,
		    &done_calls));
	}
	assert_int_equal(bg_in_flight(BG_MAIL), 3);
	/* MAIL_MAX 3: a fourth is refused, and stays the caller's. */
	extra = job_new(0);
	assert_null(bg_start(BG_MAIL, job_run, extra, job_done, &done_calls));
	free(extra);

	for (i = 0; i < 2; i++) {
		pw[i] = job_new(0);
		assert_non_null(bg_start(BG_PASSWORD, job_run, pw[i], job_done,
		    &done_calls));
	}
	loop_until(2);
	assert_int_equal(pw[0]->done && pw[1]->done, 1);
	assert_int_equal(mail[0]->ran + mail[1]->ran + mail[2]->ran, 0);
	assert_int_equal(bg_in_flight(BG_PASSWORD), 0);
	free(pw[0]);
	free(pw[1]);

	/* The requester of this one goes away while it runs. */
	gone = job_new(1);
	w = bg_start(BG_PASSWORD, job_run, gone, job_done, &done_calls);
	assert_non_null(w);
	bg_abandon(w);

	open_gate();
	loop_until(5);		/* the three mails; not the abandoned one */
	for (i = 0; i < 3; i++) {
		assert_int_equal(mail[i]->ran && mail[i]->done, 1);
		free(mail[i]);
	}
	/* The abandoned job ends too, is freed by bg (ASan: no leak). */
	for (i = 0; i < 500 && bg_in_flight(BG_PASSWORD) > 0; i++) {
		usleep(10000);
		loop_evt->handle(loop_evt, 0);
	}
	assert_int_equal(bg_in_flight(BG_PASSWORD), 0);
	assert_int_equal(bg_in_flight(BG_MAIL), 0);
	assert_int_equal(done_calls, 5);
	bg_trim();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds_apart),
	};
	int	threads[BG_NKINDS], cap[BG_NKINDS];

	threads[BG_PASSWORD] = 1;
	cap[BG_PASSWORD] = 2;
	threads[BG_MAIL] = 1;
	cap[BG_MAIL] = 3;
	bg_init(threads, cap);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
