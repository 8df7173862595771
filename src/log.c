/* userapi: log lines on stdout, as text or JSON (LOG_FORMAT). */

#include <sys/time.h>

#include <stdarg.h>
#include <stdio.h>
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
