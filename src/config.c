/* userapi: settings read from the environment (12-factor), checked once. */

#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
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
static int	config_dev_secret(unsigned char *, size_t, size_t *, int *,
		    char *, size_t);
static int	config_read_key(int, const char *, unsigned char *, size_t,
		    size_t *, char *, size_t);
static int	config_home(char *, size_t);
static int	config_ws(struct config *, char *, size_t);
static char	*config_str(const char *, const char *);
static int	config_address(const char *);
static char	*config_strdup(const char *);
static int	config_ops(struct config *, char *, size_t);
static int	config_rate(const char *, const char *, uint32_t *,
		    uint32_t *, char *, size_t);
static int	config_cidrs(const char *, char **, char *, size_t);
static int	config_tls(struct config *, char *, size_t);
static int	config_tls_file(const char *, char **, char *, size_t);
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
		if (config_home(cwd, sizeof(cwd)) == -1)
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
	if (config_int("MAIL_MAX", 32, 1, 256, &v, err, errlen) == -1)
		return (-1);
	c->mail_max = (int)v;
	if (config_int("MAIL_THREADS", 4, 1, 64, &v, err, errlen) == -1)
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
	c->smtp_ca_file = config_str("SMTP_CA_FILE", NULL);
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

	if (config_ws(c, err, errlen) == -1)
		return (-1);

	if (config_tls(c, err, errlen) == -1)
		return (-1);

	return (0);
}

/*
 * TLS_CERT_FILE and TLS_KEY_FILE: both (TLS on the BIND listener) or
 * neither. Each must be a readable file; kept as an absolute path (the
 * keymgr reads them after it changed directory). Kore's configuration
 * is line based: no control characters.
 */
static int
config_tls(struct config *c, char *err, size_t errlen)
{
	if (config_tls_file("TLS_CERT_FILE", &c->tls_cert, err,
	    errlen) == -1 ||
	    config_tls_file("TLS_KEY_FILE", &c->tls_key, err, errlen) == -1)
		return (-1);
	if (c->tls_cert != NULL && c->tls_key == NULL)
		return (config_fail(err, errlen, "invalid TLS_KEY_FILE: "
		    "required with TLS_CERT_FILE"));
	if (c->tls_key != NULL && c->tls_cert == NULL)
		return (config_fail(err, errlen, "invalid TLS_CERT_FILE: "
		    "required with TLS_KEY_FILE"));
	return (0);
}

static int
config_tls_file(const char *key, char **out, char *err, size_t errlen)
{
	struct stat	 st;
	const char	*p, *s;
	char		*abs;

	*out = NULL;
	if ((p = getenv(key)) == NULL || *p == '\0')
		return (0);
	for (s = p; *s != '\0'; s++) {
		if (iscntrl((unsigned char)*s))
			return (config_fail(err, errlen, "invalid %s: "
			    "control character in the path", key));
	}
	if ((abs = realpath(p, NULL)) == NULL)
		return (config_fail(err, errlen, "invalid %s: %.200s: %s",
		    key, p, strerror(errno)));
	if (stat(abs, &st) == -1 || !S_ISREG(st.st_mode)) {
		free(abs);
		return (config_fail(err, errlen, "invalid %s: %.200s: "
		    "not a file", key, p));
	}
	if (access(abs, R_OK) == -1) {
		free(abs);
		return (config_fail(err, errlen, "invalid %s: %.200s: %s",
		    key, p, strerror(errno)));
	}
	*out = abs;
	return (0);
}

/* The WebSocket settings (WS_*). */
static int
config_ws(struct config *c, char *err, size_t errlen)
{
	long long	v;

	if (config_int("WS_MAX_MESSAGE", 4096, 16, 1048576,
	    &v, err, errlen) == -1)
		return (-1);
	c->ws_max_message = (int)v;
	if (config_int("WS_RATE", 20, 1, 100000, &v, err, errlen) == -1)
		return (-1);
	c->ws_rate = (int)v;
	if (config_int("WS_BURST", 40, 1, 100000, &v, err, errlen) == -1)
		return (-1);
	c->ws_burst = (int)v;
	if (config_int("WS_MAX_CLIENTS", 8000, 0, 1000000,
	    &v, err, errlen) == -1)
		return (-1);
	c->ws_max_clients = (int)v;
	if (config_int("WS_MAX_QUEUED", 1048576, 4096, 1073741824,
	    &v, err, errlen) == -1)
		return (-1);
	c->ws_max_queued = (int)v;
	if (config_int("WS_HISTORY", 1000, 1, 1000000, &v, err, errlen) == -1)
		return (-1);
	c->ws_history = (int)v;
	if (config_int("WS_HISTORY_SECONDS", 600, 1, 31536000,
	    &v, err, errlen) == -1)
		return (-1);
	c->ws_history_seconds = (int)v;
	if (config_int("WS_PING_SECONDS", 20, 1, 3600, &v, err, errlen) == -1)
		return (-1);
	c->ws_ping_seconds = (int)v;
	if (config_int("WS_NOTIFY_MAX", 7999, 0, 7999, &v, err, errlen) == -1)
		return (-1);
	c->ws_notify_max = (int)v;
	c->ws_allowed_origins = config_str("WS_ALLOWED_ORIGINS", NULL);
	return (0);
}

int
config_secret(struct config *c, int *generated, char *err, size_t errlen)
{
	const char	*env, *path;
	unsigned char	 buf[4096];
	size_t		 len;
	int		 fd;

	*generated = CONFIG_SECRET_GIVEN;
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
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			return (config_fail(err, errlen,
			    "invalid JWT_SECRET_FILE: cannot open %s: %s",
			    path, strerror(errno)));
		if (config_read_key(fd, "JWT_SECRET_FILE", buf, sizeof(buf),
		    &len, err, errlen) == -1)
			return (-1);
	} else if (c->dev) {
		if (config_dev_secret(buf, sizeof(buf), &len, generated, err,
		    errlen) == -1)
			return (-1);
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

/*
 * The key of the file open as fd (what names it: for errors), one final
 * newline dropped, 32..size-1 bytes; fd is closed. 0, or -1 with err.
 */
static int
config_read_key(int fd, const char *what, unsigned char *buf, size_t size,
    size_t *len, char *err, size_t errlen)
{
	ssize_t		 n;
	size_t		 got;
	char		 more;

	got = 0;
	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	n = got == size ? read(fd, &more, 1) : 0;
	(void)close(fd);
	if (n != 0) {
		explicit_bzero(buf, size);
		return (config_fail(err, errlen, "invalid %s: the key must be "
		    "less than %zu bytes", what, size));
	}
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	if (got > 0 && buf[got - 1] == '\r')
		got--;
	if (got < 32)
		return (config_fail(err, errlen, "invalid %s: the key must be "
		    "at least 32 bytes", what));
	*len = got;
	return (0);
}

/*
 * Dev mode without a key: the one kept in var/jwt-secret of the working
 * directory (the checkout, for make run and make dev), so that tokens
 * outlive a restart or a rebuild; made on first use (64 hex digits, mode
 * 0600, var/ created 0700 when missing). It must belong to this user and
 * be readable by no one else. When it cannot be written (a read-only
 * directory), the key lives in memory only. *generated: CONFIG_SECRET_*.
 */
static int
config_dev_secret(unsigned char *buf, size_t size, size_t *len,
    int *generated, char *err, size_t errlen)
{
	struct stat	 st;
	unsigned char	 raw[32];
	size_t		 i;
	ssize_t		 n;
	int		 fd, tries;

	for (tries = 0; tries < 2; tries++) {
		fd = open(CONFIG_DEV_SECRET, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd != -1) {
			if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
			    st.st_uid != geteuid() || (st.st_mode & 077)) {
				(void)close(fd);
				return (config_fail(err, errlen, "invalid %s: "
				    "must be a file of this user with mode "
				    "0600 (dev mode's JWT secret)",
				    CONFIG_DEV_SECRET));
			}
			if (config_read_key(fd, CONFIG_DEV_SECRET, buf, size,
			    len, err, errlen) == -1)
				return (-1);
			*generated = CONFIG_SECRET_KEPT;
			return (0);
		}
		if (errno != ENOENT)
			return (config_fail(err, errlen, "invalid %s: cannot "
			    "open it: %s", CONFIG_DEV_SECRET, strerror(errno)));

		if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
			return (config_fail(err, errlen,
			    "could not generate a JWT secret"));
		for (i = 0; i < sizeof(raw); i++)
			(void)snprintf((char *)buf + i * 2, 3, "%02x", raw[i]);
		explicit_bzero(raw, sizeof(raw));
		*len = sizeof(raw) * 2;

		if (mkdir("var", 0700) == -1 && errno != EEXIST)
			break;
		fd = open(CONFIG_DEV_SECRET, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd == -1 && errno == EEXIST)
			continue;	/* another process made it: read it */
		if (fd == -1)
			break;
		buf[*len] = '\n';
		n = write(fd, buf, *len + 1);
		if (close(fd) == -1 || n != (ssize_t)*len + 1) {
			(void)unlink(CONFIG_DEV_SECRET);
			break;
		}
		*generated = CONFIG_SECRET_NEW;
		return (0);
	}

	*generated = CONFIG_SECRET_MEMORY;
	return (0);
}

/*
 * The directory whose var/ holds the private cluster: the working
 * directory when its var/ has one (make run, make dev and kodev run
 * start there), else the directory of the binary when its var/ has one
 * (./userapi create-admin from anywhere), else the working directory.
 */
static int
config_home(char *dir, size_t len)
{
	char		 exe[PATH_MAX], probe[PATH_MAX + 16], *slash;
	ssize_t		 n;

	if (getcwd(dir, len) == NULL)
		return (-1);
	if (snprintf(probe, sizeof(probe), "%s/var/pgdata", dir) <
	    (int)sizeof(probe) && access(probe, F_OK) == 0)
		return (0);

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return (0);
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL || slash == exe)
		return (0);
	*slash = '\0';
	if (snprintf(probe, sizeof(probe), "%s/var/pgdata", exe) <
	    (int)sizeof(probe) && access(probe, F_OK) == 0 &&
	    strlen(exe) < len)
		(void)strcpy(dir, exe);
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
	free(c->smtp_ca_file);
	free(c->mail_from);
	free(c->trusted_proxies);
	free(c->metrics_allow);
	free(c->ws_allowed_origins);
	free(c->runas);
	free(c->chroot_dir);
	free(c->tls_cert);
	free(c->tls_key);
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
	struct stat	st;
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

	if ((c->runas = config_str("RUNAS", NULL)) != NULL) {
		if (getuid() != 0)
			return (config_fail(err, errlen, "invalid RUNAS: "
			    "only root can change user"));
		if (getpwnam(c->runas) == NULL)
			return (config_fail(err, errlen, "invalid RUNAS: "
			    "no user %.64s", c->runas));
	}
	if ((c->chroot_dir = config_str("CHROOT", NULL)) != NULL) {
		if (getuid() != 0)
			return (config_fail(err, errlen, "invalid CHROOT: "
			    "only root can chroot"));
		if (stat(c->chroot_dir, &st) == -1 || !S_ISDIR(st.st_mode))
			return (config_fail(err, errlen, "invalid CHROOT: "
			    "not a directory"));
	}
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
