/* userapi: unit tests of src/ops/metrics.c: shared counters across processes, the text exposition. */

#include <sys/types.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ops/metrics.h"

static const char *const routes[] = { "/healthz", "/users", "/users",
	"/users/{id}", "/static/*" };
static const char *const classes[] = { "none", "read", "login" };
static const char *const dberrs[] = { "unavailable", "timeout" };

static char	*render(void);
static void	 has(const char *, const char *);

static char *
render(void)
{
	struct metrics_extra	 x;
	size_t			 len;
	char			*s;

	memset(&x, 0, sizeof(x));
	x.version = "1.2.3";
	x.rl_evictions = 7;
	x.have_jobs = 1;
	x.job_status[0] = "queued";
	x.job_count[0] = 4;
	x.njobs = 1;
	s = metrics_render(&x, &len);
	assert_int_equal(strlen(s), len);
	return (s);
}

static void
has(const char *text, const char *line)
{
	char	*want;

	if (asprintf(&want, "\n%s\n", line) == -1)
		abort();
	if (strstr(text, want) == NULL)
		fail_msg("no line '%s' in:\n%s", line, text);
	free(want);
}

static void
counts_and_text(void **state)
{
	pid_t	 pid;
	int	 st;
	char	*s;

	metrics_setup(routes, 5, classes, 3, dberrs, 2);

	/* a child process (a worker) counts into the same memory */
	if ((pid = fork()) == 0) {
		metrics_request(0, 200, 500);
		metrics_request(0, 200, 3000);
		metrics_request(2, 201, 20000);		/* POST /users */
		metrics_rate_limited(2);
		metrics_gauge(1, MG_DB_QUEUE, 3);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	metrics_request(1, 200, 2000000);		/* GET /users */
	metrics_request(-1, 404, 100);
	metrics_request(3, 999, 100);			/* not a status */
	metrics_gauge(2, MG_DB_QUEUE, 2);
	metrics_db_error(1);
	metrics_count(MC_LOCKOUTS, 2);

	s = render();
	has(s, "userapi_build_info{version=\"1.2.3\"} 1");
	has(s, "userapi_http_requests_total{route=\"/healthz\",code=\"200\"} 2");
	/* rows sharing a path share its series */
	has(s, "userapi_http_requests_total{route=\"/users\",code=\"200\"} 1");
	has(s, "userapi_http_requests_total{route=\"/users\",code=\"201\"} 1");
	has(s, "userapi_http_requests_total{route=\"none\",code=\"404\"} 1");
	has(s, "# TYPE userapi_http_request_duration_seconds histogram");
	has(s, "userapi_http_request_duration_seconds_bucket"
	    "{route=\"/healthz\",le=\"0.001\"} 1");
	has(s, "userapi_http_request_duration_seconds_bucket"
	    "{route=\"/healthz\",le=\"0.005\"} 2");
	has(s, "userapi_http_request_duration_seconds_bucket"
	    "{route=\"/healthz\",le=\"+Inf\"} 2");
	has(s, "userapi_http_request_duration_seconds_sum"
	    "{route=\"/healthz\"} 0.003500");
	has(s, "userapi_http_request_duration_seconds_count"
	    "{route=\"/healthz\"} 2");
	has(s, "userapi_http_request_duration_seconds_bucket"
	    "{route=\"/users\",le=\"2.5\"} 2");
	has(s, "userapi_http_request_duration_seconds_bucket"
	    "{route=\"/users\",le=\"1\"} 1");
	/* a status outside 100..599 is timed but not counted by code */
	has(s, "userapi_http_request_duration_seconds_count"
	    "{route=\"/users/{id}\"} 1");
	assert_null(strstr(s, "code=\"999\""));
	/* routes without answers have no series */
	assert_null(strstr(s, "route=\"/static/*\""));
	has(s, "userapi_db_queue_depth 5");
	has(s, "userapi_db_errors_total{kind=\"timeout\"} 1");
	has(s, "userapi_db_errors_total{kind=\"unavailable\"} 0");
	has(s, "userapi_rate_limited_total{class=\"login\"} 1");
	has(s, "userapi_rate_limit_evictions_total 7");
	has(s, "userapi_login_lockouts_total 2");
	has(s, "userapi_jobs{status=\"queued\"} 4");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_and_text),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
