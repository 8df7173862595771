/* userapi: unit tests of src/log.c: every JSON line is one valid object, whatever the input. */

#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "log.h"

struct config	cfg;

static int	saved_fd = -1;
static FILE	*capture;

/* From here on, fd 1 writes into a temporary file. */
static void
capture_start(void)
{
	(void)fflush(stdout);
	capture = tmpfile();
	assert_non_null(capture);
	saved_fd = dup(STDOUT_FILENO);
	assert_true(saved_fd >= 0);
	assert_int_equal(dup2(fileno(capture), STDOUT_FILENO), STDOUT_FILENO);
}

/* fd 1 back; what was written, malloc'd. */
static char *
capture_end(void)
{
	char	*buf;
	long	 len;

	(void)fflush(stdout);
	assert_int_equal(dup2(saved_fd, STDOUT_FILENO), STDOUT_FILENO);
	(void)close(saved_fd);
	len = ftell(capture);
	assert_true(len >= 0);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	rewind(capture);
	assert_int_equal(fread(buf, 1, (size_t)len, capture), (size_t)len);
	buf[len] = '\0';
	(void)fclose(capture);
	return (buf);
}

/* Every line of text is one JSON object; returns how many, checks n. */
static void
expect_json_lines(const char *text, size_t n, const char *key,
    const char *has)
{
	const char	*p, *nl;
	json_t		*o;
	json_error_t	 err;
	size_t		 lines;

	lines = 0;
	for (p = text; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_true(nl - p < 4096);
		o = json_loadb(p, (size_t)(nl - p), 0, &err);
		if (o == NULL)
			fail_msg("not JSON (%s): %.*s", err.text, (int)(nl - p),
			    p);
		assert_true(json_is_object(o));
		if (has != NULL) {
			assert_non_null(json_string_value(json_object_get(o,
			    key)));
			assert_non_null(strstr(json_string_value(
			    json_object_get(o, key)), has));
		}
		json_decref(o);
		lines++;
	}
	assert_int_equal(lines, n);
}

/* 1,500 bytes of control bytes and invalid UTF-8, as a login name. */
static void
test_json_hostile_value(void **state)
{
	char	name[1501], *out;
	size_t	i;

	for (i = 0; i < sizeof(name) - 1; i++)
		name[i] = (char)(i % 3 == 0 ? (i % 31) + 1 :
		    i % 3 == 1 ? 0xff : 0xc3);
	name[sizeof(name) - 1] = '\0';

	cfg.log_format = CONFIG_LOG_JSON;
	capture_start();
	log_warn("login failed for %s: %s (rid %s)", name, "wrong password",
	    "r1");
	log_info("%s", "\"quoted\\\" \x01\x1f\x7f \xed\xa0\x80 \xf4\x90\x80\x80");
	log_access("GET", name, 404, 10, 5, "rid");
	out = capture_end();
	expect_json_lines(out, 3, "level", NULL);
	/* The warning stays a warning, cut before escaping. */
	assert_non_null(strstr(out, "\"level\":\"warning\""));
	assert_non_null(strstr(out, "...\""));
	free(out);
}

/* Kore's printf lines are wrapped, a long one cut, never split. */
static void
test_json_kore_lines(void **state)
{
	FILE	*orig;
	char	*line, *out;
	size_t	 i;

	cfg.log_format = CONFIG_LOG_JSON;
	orig = stdout;
	line = malloc(10001);
	assert_non_null(line);
	for (i = 0; i < 10000; i++)
		line[i] = (char)(i % 2 ? '"' : 0x80 + (i % 64));
	line[10000] = '\0';

	capture_start();
	log_setup();
	printf("[wrk 1]: %s\n", line);
	printf("[parent]: worker 1 started\n");
	printf("{\"level\":\"error\",\"msg\":\"not mine\"\n");
	(void)fflush(stdout);
	out = capture_end();
	(void)fclose(stdout);
	stdout = orig;
	expect_json_lines(out, 3, "source", "");
	assert_non_null(strstr(out, "worker 1 started"));
	free(out);
	free(line);
}

/* Text lines stay one line each: control bytes become '?'. */
static void
test_text_one_line(void **state)
{
	char	*out;

	cfg.log_format = CONFIG_LOG_TEXT;
	capture_start();
	log_warn("a\nb\rc%s", "\x01");
	(void)fflush(stdout);
	out = capture_end();
	assert_non_null(strstr(out, "a?b?c?\n"));
	assert_null(strchr(strchr(out, '\n') + 1, '\n'));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_one_line),
		cmocka_unit_test(test_json_hostile_value),
		cmocka_unit_test(test_json_kore_lines),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
