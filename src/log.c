/* userapi: log lines on stdout, as text or JSON (LOG_FORMAT). */

#include <sys/time.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "log.h"

static void	log_line(const char *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static void	log_stamp(char *, size_t);
static const char *log_who(void);
static void	log_clean(char *, int);

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

/* The process id: the parent's, or a worker's. */
static const char *
log_who(void)
{
	static char	who[32];

	(void)snprintf(who, sizeof(who), "%ld", (long)getpid());
	return (who);
}

/*
 * LOG_FORMAT=json: Kore prints its own lines ("[wrk 1]: worker 1 started")
 * with printf, so stdout itself becomes a stream that passes JSON lines on
 * and wraps every other line into one, so a log collector can read all.
 */
struct log_stream {
	char	line[4096];
	size_t	len;
};

static ssize_t	log_stream_write(void *, const char *, size_t);
static void	log_stream_line(struct log_stream *);
static void	log_out(const char *, size_t);

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
		if (ls->len == sizeof(ls->line) - 1)
			log_stream_line(ls);
		ls->line[ls->len++] = data[i];
	}
	return ((ssize_t)size);
}

static void
log_stream_line(struct log_stream *ls)
{
	const char	*level;
	json_t		*o;
	char		 ts[40], *s;

	ls->line[ls->len] = '\0';
	if (ls->len > 0 && ls->line[0] == '{') {
		ls->line[ls->len++] = '\n';
		log_out(ls->line, ls->len);
		ls->len = 0;
		return;
	}

	log_clean(ls->line, 1);
	level = (strstr(ls->line, "exited with status") != NULL ||
	    strstr(ls->line, "violation") != NULL ||
	    strstr(ls->line, "fatal") != NULL) ? "error" : "info";
	log_stamp(ts, sizeof(ts));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "ts", ts, "level", level,
	    "pid", log_who(), "source", "kore", "msg", ls->line);
	if (o != NULL && (s = json_dumps(o, JSON_COMPACT)) != NULL) {
		log_out(s, strlen(s));
		log_out("\n", 1);
		free(s);
	}
	json_decref(o);
	ls->len = 0;
}

static void
log_line(const char *level, const char *fmt, va_list ap)
{
	char		 ts[40], msg[2048];
	json_t		*o;
	char		*s;

	log_stamp(ts, sizeof(ts));
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);

	if (cfg.log_format == CONFIG_LOG_JSON) {
		o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts,
		    "level", level, "pid", log_who(), "msg", msg);
		if (o == NULL) {
			/* Not valid UTF-8: keep the line, lose the bytes. */
			log_clean(msg, 1);
			o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts,
			    "level", level, "pid", log_who(), "msg", msg);
		}
		if (o != NULL && (s = json_dumps(o, JSON_COMPACT)) != NULL) {
			printf("%s\n", s);
			free(s);
		}
		json_decref(o);
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
	char		 ts[40], clean[2048];
	json_t		*o;
	char		*s;

	log_stamp(ts, sizeof(ts));
	(void)snprintf(clean, sizeof(clean), "%s", path);
	log_clean(clean, 1);

	if (cfg.log_format == CONFIG_LOG_JSON) {
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:s}",
		    "ts", ts, "level", "info", "msg", "access",
		    "method", method, "path", clean, "status", status,
		    "bytes", (json_int_t)bytes, "us", (json_int_t)usec,
		    "request_id", rid);
		if (o != NULL && (s = json_dumps(o, JSON_COMPACT)) != NULL) {
			printf("%s\n", s);
			free(s);
		}
		json_decref(o);
		return;
	}

	printf("%s info [%s] access method=%s path=%s status=%d bytes=%zu "
	    "us=%llu rid=%s\n", ts, log_who(), method, clean, status, bytes,
	    (unsigned long long)usec, rid);
}
