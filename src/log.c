/* userapi: log lines on stdout, as text or JSON (LOG_FORMAT). */

#include <sys/time.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <pthread.h>

#include "config.h"
#include "http/parse.h"
#include "log.h"

/*
 * Bytes of one value kept in a JSON line, before escaping: a line stays
 * under PIPE_BUF (4096) even when every byte becomes U+FFFD, so one
 * write(2) puts it out whole.
 */
#define LOG_VALUE_MAX	768

static void	log_line(const char *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static void	log_stamp(char *, size_t);
static const char *log_who(void);
static void	log_forked(void);
static void	log_clean(char *, int);
static char	*log_value(const char *);
static void	log_emit(json_t *);
static void	log_out(const char *, size_t);
struct log_stream;
static ssize_t	log_stream_write(void *, const char *, size_t);
static void	log_stream_line(struct log_stream *);

static char	log_pid[24];	/* log_who's, "" until formatted */

/*
 * Lines stay one line each: control bytes become '?'. With ascii set,
 * bytes above 0x7f too (a request path is ASCII on the wire, and a JSON
 * line needs valid UTF-8).
 */
static void
log_clean(char *s, int ascii)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f ||
		    (ascii && (unsigned char)*s > 0x7f))
			*s = '?';
	}
}

/*
 * A copy of s fit for a JSON value: its first LOG_VALUE_MAX bytes and
 * "..." when it was longer, control bytes as '?', and valid UTF-8 (a
 * byte that starts no valid sequence becomes U+FFFD). malloc'd.
 */
static char *
log_value(const char *s)
{
	char	*p;
	size_t	 n;
	int	 cut;

	n = strnlen(s, LOG_VALUE_MAX + 1);
	cut = n > LOG_VALUE_MAX;
	if (cut)
		n = LOG_VALUE_MAX;
	if ((p = malloc(n + 4)) == NULL)
		abort();
	memcpy(p, s, n);
	if (cut) {
		memcpy(p + n, "...", 3);
		n += 3;
	}
	p[n] = '\0';
	log_clean(p, 0);
	return (parse_utf8(p));
}

/* One JSON object as one line, in one write; o is released. */
static void
log_emit(json_t *o)
{
	char	*s;
	size_t	 len;

	if (o == NULL)
		return;
	if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
		len = strlen(s);
		if ((s = realloc(s, len + 2)) == NULL)
			abort();
		s[len] = '\n';
		s[len + 1] = '\0';
		log_out(s, len + 1);
		free(s);
	}
	json_decref(o);
}

static void
log_stamp(char *buf, size_t len)
{
	struct timeval	tv;
	struct tm	tm;
	char		tmp[32];

	(void)gettimeofday(&tv, NULL);
	(void)gmtime_r(&tv.tv_sec, &tm);
	(void)strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	(void)snprintf(buf, len, "%s.%06ldZ", tmp, (long)tv.tv_usec);
}

/*
 * The process id: the parent's, or a worker's. Formatted once per
 * process (getpid is a system call on every log line otherwise): a
 * child of fork formats its own at its first line.
 */
static const char *
log_who(void)
{
	if (log_pid[0] == '\0')
		(void)snprintf(log_pid, sizeof(log_pid), "%ld", (long)getpid());
	return (log_pid);
}

static void
log_forked(void)
{
	log_pid[0] = '\0';
}

/*
 * LOG_FORMAT=json: Kore prints its own lines ("[wrk 1]: worker 1 started")
 * with printf, so stdout itself becomes a stream that wraps each of its
 * lines into one JSON object (a longer line is cut, never split), so a
 * log collector can read all. userapi's own lines bypass it: each is one
 * JSON object written to fd 1 in one write(2).
 */
struct log_stream {
	char	line[LOG_VALUE_MAX + 1];
	size_t	len;
	int	cut;		/* the line was longer: the rest is dropped */
};

/* One line to fd 1; a log that cannot be written is dropped. */
static void
log_out(const char *s, size_t len)
{
	ssize_t		n;

	while (len > 0) {
		if ((n = write(STDOUT_FILENO, s, len)) <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

void
log_setup(void)
{
	static struct log_stream	 ls;
	cookie_io_functions_t		 io;
	FILE				*fp;

	if (pthread_atfork(NULL, NULL, log_forked) != 0)
		abort();
	if (cfg.log_format != CONFIG_LOG_JSON)
		return;
	memset(&io, 0, sizeof(io));
	io.write = log_stream_write;
	if ((fp = fopencookie(&ls, "w", io)) == NULL)
		return;
	(void)fflush(stdout);
	stdout = fp;
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static ssize_t
log_stream_write(void *arg, const char *data, size_t size)
{
	struct log_stream	*ls = arg;
	size_t			 i;

	for (i = 0; i < size; i++) {
		if (data[i] == '\n') {
			log_stream_line(ls);
			continue;
		}
		if (ls->len == sizeof(ls->line) - 1) {
			ls->cut = 1;
			continue;
		}
		ls->line[ls->len++] = data[i];
	}
	return ((ssize_t)size);
}

/* One line Kore printed, wrapped into a JSON object. */
static void
log_stream_line(struct log_stream *ls)
{
	const char	*level;
	char		 ts[40], *msg;

	ls->line[ls->len] = '\0';
	if (ls->cut && ls->len >= 3)
		memcpy(ls->line + ls->len - 3, "...", 3);
	msg = log_value(ls->line);
	level = (strstr(msg, "exited with status") != NULL ||
	    strstr(msg, "violation") != NULL ||
	    strstr(msg, "fatal") != NULL) ? "error" : "info";
	log_stamp(ts, sizeof(ts));
	log_emit(json_pack("{s:s, s:s, s:s, s:s, s:s}", "ts", ts, "level",
	    level, "pid", log_who(), "source", "kore", "msg", msg));
	free(msg);
	ls->len = 0;
	ls->cut = 0;
}

static void
log_line(const char *level, const char *fmt, va_list ap)
{
	char		 ts[40], msg[2048], *v;

	log_stamp(ts, sizeof(ts));
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);

	if (cfg.log_format == CONFIG_LOG_JSON) {
		v = log_value(msg);
		log_emit(json_pack("{s:s, s:s, s:s, s:s}", "ts", ts,
		    "level", level, "pid", log_who(), "msg", v));
		free(v);
		return;
	}

	log_clean(msg, 0);
	printf("%s %s [%s] %s\n", ts, level, log_who(), msg);
}

void
log_info(const char *fmt, ...)
{
	va_list		ap;

	va_start(ap, fmt);
	log_line("info", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list		ap;

	va_start(ap, fmt);
	log_line("warning", fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list		ap;

	va_start(ap, fmt);
	log_line("error", fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list		ap;

	if (!cfg.dev)
		return;
	va_start(ap, fmt);
	log_line("debug", fmt, ap);
	va_end(ap);
}

void
log_access(const char *method, const char *path, int status, size_t bytes,
    uint64_t usec, const char *rid)
{
	char		 ts[40], clean[2048], *v;

	log_stamp(ts, sizeof(ts));
	(void)snprintf(clean, sizeof(clean), "%s", path);
	log_clean(clean, 1);

	if (cfg.log_format == CONFIG_LOG_JSON) {
		v = log_value(clean);
		log_emit(json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, "
		    "s:s}", "ts", ts, "level", "info", "msg", "access",
		    "method", method, "path", v, "status", status,
		    "bytes", (json_int_t)bytes, "us", (json_int_t)usec,
		    "request_id", rid));
		free(v);
		return;
	}

	printf("%s info [%s] access method=%s path=%s status=%d bytes=%zu "
	    "us=%llu rid=%s\n", ts, log_who(), method, clean, status, bytes,
	    (unsigned long long)usec, rid);
}
