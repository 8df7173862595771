/* userapi: settings read from the environment (12-factor), checked once. */

#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ops/netaddr.h"
#include "ops/ratelimit.h"

struct config	cfg;

static int	config_int(const char *, long long, long long, long long,
		    long long *, char *, size_t);
static int	config_bind(struct config *, const char *, char *, size_t);
static char	*config_str(const char *, const char *);
static int	config_address(const char *);
static char	*config_strdup(const char *);
static int	config_ops(struct config *, char *, size_t);
static int	config_rate(const char *, const char *, uint32_t *,
		    uint32_t *, char *, size_t);
static int	config_cidrs(const char *, char **, char *, size_t);
static int	config_fail(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

int
config_load(struct config *c, char *err, size_t errlen)
{
	long long	 v;
	char		*p, cwd[PATH_MAX];

	memset(c, 0, sizeof(*c));

	if ((p = getenv("USERAPI_DEV")) != NULL && *p != '\0') {
		if (!strcmp(p, "1") || !strcmp(p, "true") ||
		    !strcmp(p, "yes"))
			c->dev = 1;
		else if (!strcmp(p, "0") || !strcmp(p, "false") ||
		    !strcmp(p, "no"))
			c->dev = 0;
		else
			return (config_fail(err, errlen,
			    "invalid USERAPI_DEV: expected 1 or 0"));
	}
#if defined(USERAPI_DEV_BUILD)
	else {
		c->dev = 1;
	}
#endif

	if ((p = getenv("DATABASE_URL")) != NULL && *p != '\0') {
		c->database_url = config_strdup(p);
	} else {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return (config_fail(err, errlen,
			    "DATABASE_URL unset and the working directory "
			    "is unknown"));
		c->database_url = config_embedded_dsn(cwd);
	}

	if (config_bind(c, getenv("BIND"), err, errlen) == -1)
		return (-1);

	v = sysconf(_SC_NPROCESSORS_ONLN);
	if (config_int("WORKERS", v < 1 ? 1 : (v > 64 ? 64 : v), 1, 64,
	    &v, err, errlen) == -1)
		return (-1);
	c->workers = (int)v;

	if ((p = getenv("LOG_FORMAT")) == NULL || *p == '\0' ||
	    !strcmp(p, "text"))
		c->log_format = CONFIG_LOG_TEXT;
	else if (!strcmp(p, "json"))
		c->log_format = CONFIG_LOG_JSON;
	else
		return (config_fail(err, errlen,
		    "invalid LOG_FORMAT: expected text or json"));

	if (config_int("DB_POOL_SIZE", 4, 1, 64, &v, err, errlen) == -1)
		return (-1);
	c->db_pool_size = (int)v;
	if (config_int("DB_QUEUE_MAX", 1024, 1, 65536, &v, err, errlen) == -1)
		return (-1);
	c->db_queue_max = (int)v;
	if (config_int("DB_PIPELINE", 8, 1, 64, &v, err, errlen) == -1)
		return (-1);
	c->db_pipeline = (int)v;
	if (config_int("DB_TIMEOUT_MS", 5000, 10, 600000,
	    &v, err, errlen) == -1)
		return (-1);
	c->db_timeout_ms = (int)v;

	if (config_int("BODY_LIMIT", 1048576, 1024, 64 * 1048576,
	    &v, err, errlen) == -1)
		return (-1);
	c->body_max = (size_t)v;
	if (config_int("TASKS_MAX", 64, 1, 256, &v, err, errlen) == -1)
		return (-1);
	c->tasks_max = (int)v;
	if (config_int("TASK_THREADS", 2, 1, 64, &v, err, errlen) == -1)
		return (-1);
	c->task_threads = (int)v;
	if (config_int("MAIL_MAX", 16, 1, 256, &v, err, errlen) == -1)
		return (-1);
	c->mail_max = (int)v;
	if (config_int("MAIL_THREADS", 2, 1, 64, &v, err, errlen) == -1)
		return (-1);
	c->mail_threads = (int)v;

	if (config_int("ARGON2_MEMORY_KIB", 19456, 8, 4194304,
	    &v, err, errlen) == -1)
		return (-1);
	c->argon2_m_kib = (uint32_t)v;
	if (config_int("ARGON2_ITERATIONS", 2, 1, 64, &v, err, errlen) == -1)
		return (-1);
	c->argon2_t = (uint32_t)v;
	if (config_int("ARGON2_PARALLELISM", 1, 1, 16, &v, err, errlen) == -1)
		return (-1);
	c->argon2_p = (uint32_t)v;
	if (c->argon2_m_kib < 8 * c->argon2_p)
		return (config_fail(err, errlen, "invalid ARGON2_MEMORY_KIB: "
		    "must be at least 8 times ARGON2_PARALLELISM"));

	if (config_int("ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1, 525600,
	    &v, err, errlen) == -1)
		return (-1);
	c->token_expire_min = (int)v;

	c->jwt_issuer = config_str("JWT_ISSUER", "userapi");
	c->admin_email = config_str("ADMIN_EMAIL", NULL);
	c->admin_password = config_str("ADMIN_PASSWORD", NULL);
	c->smtp_url = config_str("SMTP_URL", "smtp://localhost:1025");
	c->mail_from = config_str("MAIL_FROM", "userapi@localhost");
	if (strncmp(c->smtp_url, "smtp://", 7) &&
	    strncmp(c->smtp_url, "smtps://", 8) &&
	    strncmp(c->smtp_url, "smtp+starttls://", 16))
		return (config_fail(err, errlen, "invalid SMTP_URL: expected "
		    "smtp://, smtps:// or smtp+starttls://"));
	if (config_address(c->mail_from) == -1)
		return (config_fail(err, errlen, "invalid MAIL_FROM: expected "
		    "a bare address such as userapi@example.com"));

	if (config_int("JOB_MAX_ATTEMPTS", 5, 1, 100, &v, err, errlen) == -1)
		return (-1);
	c->job_max_attempts = (int)v;
	if (config_int("JOB_LEASE_SECONDS", 30, 1, 3600, &v, err,
	    errlen) == -1)
		return (-1);
	c->job_lease_seconds = (int)v;
	if (config_int("JOB_RETRY_MAX_SECONDS", 300, 1, 86400, &v, err,
	    errlen) == -1)
		return (-1);
	c->job_retry_max_seconds = (int)v;
	if (config_int("JOB_RETENTION_HOURS", 168, 1, 87600, &v, err,
	    errlen) == -1)
		return (-1);
	c->job_retention_hours = (int)v;
	if (config_int("SMTP_TIMEOUT_MS", 10000, 100, 600000, &v, err,
	    errlen) == -1)
		return (-1);
	c->smtp_timeout_ms = (int)v;

	if (config_ops(c, err, errlen) == -1)
		return (-1);

	return (0);
}

int
config_secret(struct config *c, int *generated, char *err, size_t errlen)
{
	const char	*env, *path;
	FILE		*fp;
	unsigned char	 buf[4096];
	size_t		 len;
	int		 toolong;

	*generated = 0;
	env = getenv("JWT_SECRET");
	path = getenv("JWT_SECRET_FILE");
	if (env != NULL && *env == '\0')
		env = NULL;
	if (path != NULL && *path == '\0')
		path = NULL;

	if (env != NULL && path != NULL)
		return (config_fail(err, errlen, "invalid JWT_SECRET_FILE: "
		    "set JWT_SECRET or JWT_SECRET_FILE, not both"));

	if (env != NULL) {
		/* The whole value is the key: a prefix would be another key. */
		len = strlen(env);
		if (len < 32)
			return (config_fail(err, errlen,
			    "invalid JWT_SECRET: must be at least 32 bytes"));
		if ((c->jwt_secret = malloc(len)) == NULL)
			abort();
		memcpy(c->jwt_secret, env, len);
		c->jwt_secret_len = len;
		return (0);
	} else if (path != NULL) {
		if ((fp = fopen(path, "r")) == NULL)
			return (config_fail(err, errlen,
			    "invalid JWT_SECRET_FILE: cannot open %s: %s",
			    path, strerror(errno)));
		len = fread(buf, 1, sizeof(buf), fp);
		toolong = len == sizeof(buf) && fgetc(fp) != EOF;
		(void)fclose(fp);
		if (toolong) {
			explicit_bzero(buf, sizeof(buf));
			return (config_fail(err, errlen, "invalid "
			    "JWT_SECRET_FILE: the key must be less than %zu "
			    "bytes", sizeof(buf)));
		}
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
		if (len < 32)
			return (config_fail(err, errlen, "invalid "
			    "JWT_SECRET_FILE: the key must be at least 32 bytes"));
	} else if (c->dev) {
		len = 32;
		if (getrandom(buf, len, 0) != (ssize_t)len)
			return (config_fail(err, errlen,
			    "could not generate a JWT secret"));
		*generated = 1;
	} else {
		return (config_fail(err, errlen, "JWT_SECRET is not set: set "
		    "JWT_SECRET (at least 32 bytes) or JWT_SECRET_FILE, or "
		    "USERAPI_DEV=1 for development"));
	}

	if ((c->jwt_secret = malloc(len)) == NULL)
		abort();
	memcpy(c->jwt_secret, buf, len);
	c->jwt_secret_len = len;
	explicit_bzero(buf, sizeof(buf));
	return (0);
}

void
config_free(struct config *c)
{
	free(c->database_url);
	free(c->bind_host);
	if (c->jwt_secret != NULL)
		explicit_bzero(c->jwt_secret, c->jwt_secret_len);
	free(c->jwt_secret);
	free(c->jwt_issuer);
	free(c->admin_email);
	free(c->admin_password);
	free(c->smtp_url);
	free(c->mail_from);
	free(c->trusted_proxies);
	free(c->metrics_allow);
	memset(c, 0, sizeof(*c));
}

/* The host is quoted for libpq when dir has white space, ' or \\. */
char *
config_embedded_dsn(const char *dir)
{
	const char	*s;
	char		*dsn, *p;
	size_t		 len;
	int		 quote;

	quote = 0;
	for (s = dir; *s != '\0'; s++) {
		if (isspace((unsigned char)*s) || *s == '\'' || *s == '\\')
			quote = 1;
	}

	len = 2 * strlen(dir) + 128;
	if ((dsn = malloc(len)) == NULL)
		abort();
	p = dsn;
	p += sprintf(p, "host=%s", quote ? "'" : "");
	for (s = dir; *s != '\0'; s++) {
		if (quote && (*s == '\'' || *s == '\\'))
			*p++ = '\\';
		*p++ = *s;
	}
	(void)sprintf(p, "/var/run%s port=5432 dbname=userapi user=userapi",
	    quote ? "'" : "");
	return (dsn);
}

/*
 * BIND is "v4:port", "[v6]:port", ":port" or "port"; host names are
 * refused, and so is a v6 address without brackets.
 */
static int
config_bind(struct config *c, const char *val, char *err, size_t errlen)
{
	const char	*port, *end;
	char		*ep;
	struct in6_addr	 a6;
	struct in_addr	 a4;
	long		 n;
	size_t		 hlen;
	int		 v6;

	if (val == NULL || *val == '\0')
		val = "127.0.0.1:8000";

	v6 = 0;
	if (*val == '[') {
		if ((end = strchr(val, ']')) == NULL || end[1] != ':' ||
		    end == val + 1)
			goto bad;
		hlen = (size_t)(end - val - 1);
		val++;
		port = end + 2;
		v6 = 1;
	} else if ((port = strrchr(val, ':')) != NULL) {
		hlen = (size_t)(port - val);
		port++;
	} else {
		hlen = 0;
		port = val;
	}

	if (!isdigit((unsigned char)*port))
		goto bad;
	errno = 0;
	n = strtol(port, &ep, 10);
	if (errno != 0 || *ep != '\0' || n < 1 || n > 65535)
		goto bad;

	if (hlen == 0) {
		c->bind_host = config_strdup("0.0.0.0");
	} else {
		if ((c->bind_host = strndup(val, hlen)) == NULL)
			abort();
		if (v6 ? inet_pton(AF_INET6, c->bind_host, &a6) != 1 :
		    inet_pton(AF_INET, c->bind_host, &a4) != 1)
			goto bad;
	}
	c->bind_port = (uint16_t)n;
	return (0);

bad:
	free(c->bind_host);
	c->bind_host = NULL;
	return (config_fail(err, errlen,
	    "invalid BIND: expected an IP address and port, like 127.0.0.1:8000"));
}

static int
config_int(const char *key, long long def, long long min, long long max,
    long long *out, char *err, size_t errlen)
{
	const char	*p;
	char		*ep;
	long long	 v;

	if ((p = getenv(key)) == NULL || *p == '\0') {
		*out = def;
		return (0);
	}

	errno = 0;
	v = strtoll(p, &ep, 10);
	if ((*p != '-' && !isdigit((unsigned char)*p)) || errno != 0 ||
	    *ep != '\0' || v < min || v > max)
		return (config_fail(err, errlen,
		    "invalid %s: expected an integer from %lld to %lld",
		    key, min, max));

	*out = v;
	return (0);
}

static char *
config_str(const char *key, const char *def)
{
	const char	*p;

	if ((p = getenv(key)) == NULL || *p == '\0')
		p = def;
	return (p == NULL ? NULL : config_strdup(p));
}

static char *
config_strdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		abort();
	return (p);
}

static int
config_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list		ap;

	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return (-1);
}

/* The keys of src/ops: rate limits, trusted proxies, /metrics, drain. */
static int
config_ops(struct config *c, char *err, size_t errlen)
{
	long long	v;

	if (config_rate("RATE_LIMIT_STRICT", "10/60", &c->rate_strict_q,
	    &c->rate_strict_w, err, errlen) == -1 ||
	    config_rate("RATE_LIMIT_GENERAL", "600/60", &c->rate_general_q,
	    &c->rate_general_w, err, errlen) == -1)
		return (-1);
	if (config_int("RATE_LIMIT_TABLE", 65536, 64, 16777216,
	    &v, err, errlen) == -1)
		return (-1);
	if (v & (v - 1))
		return (config_fail(err, errlen, "invalid RATE_LIMIT_TABLE: "
		    "expected a power of two"));
	c->rate_table = (int)v;
	if (config_cidrs("TRUSTED_PROXIES", &c->trusted_proxies,
	    err, errlen) == -1 ||
	    config_cidrs("METRICS_ALLOW", &c->metrics_allow, err, errlen) == -1)
		return (-1);
	if (config_int("SHUTDOWN_GRACE_SECONDS", 20, 0, 3600,
	    &v, err, errlen) == -1)
		return (-1);
	c->shutdown_grace = (int)v;

	/* Kore's timeouts (seconds) and the instance's connection cap. */
	if (config_int("HTTP_HEADER_TIMEOUT", 10, 1, 3600, &v, err,
	    errlen) == -1)
		return (-1);
	c->header_timeout = (int)v;
	if (config_int("HTTP_BODY_TIMEOUT", 30, 1, 3600, &v, err,
	    errlen) == -1)
		return (-1);
	c->body_timeout = (int)v;
	if (config_int("HTTP_KEEPALIVE_TIME", 30, 0, 3600, &v, err,
	    errlen) == -1)
		return (-1);
	c->keepalive_time = (int)v;
	if (config_int("WEBSOCKET_TIMEOUT", 120, 1, 86400, &v, err,
	    errlen) == -1)
		return (-1);
	c->ws_timeout = (int)v;
	if (config_int("MAX_CONNECTIONS", 8192, 16, 1048576, &v, err,
	    errlen) == -1)
		return (-1);
	c->max_connections = (int)v;
	return (0);
}

/* A rate "q/w" (q requests per w seconds) or "0" (off). */
static int
config_rate(const char *key, const char *def, uint32_t *q, uint32_t *w,
    char *err, size_t errlen)
{
	struct rl_policy	 p;
	const char		*val;

	if ((val = getenv(key)) == NULL || *val == '\0')
		val = def;
	if (rl_policy_parse(val, &p) == -1)
		return (config_fail(err, errlen, "invalid %s: expected "
		    "requests/seconds like 10/60, or 0 for no limit", key));
	*q = p.q;
	*w = p.w;
	return (0);
}

/* A list of CIDRs, kept as text once it parses; unset: NULL. */
static int
config_cidrs(const char *key, char **out, char *err, size_t errlen)
{
	struct cidr_list	 l;
	const char		*val;
	char			 bad[80];

	*out = NULL;
	if ((val = getenv(key)) == NULL || *val == '\0')
		return (0);
	if (cidr_list_parse(val, &l, bad, sizeof(bad)) == -1)
		return (config_fail(err, errlen, "invalid %s: %s is not an "
		    "address or CIDR (like 10.0.0.0/8 or ::1/128)", key, bad));
	cidr_list_free(&l);
	*out = config_strdup(val);
	return (0);
}

/* A bare address, safe in a header and an SMTP command: 0 or -1. */
static int
config_address(const char *a)
{
	const char	*p, *at;

	if (strlen(a) < 3 || strlen(a) > 254)
		return (-1);
	for (p = a; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("<>()[],;:\"\\", *p) != NULL)
			return (-1);
	}
	if ((at = strchr(a, '@')) == NULL || at == a || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL)
		return (-1);
	return (0);
}
