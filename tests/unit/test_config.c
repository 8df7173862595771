/* userapi: unit tests of src/config.c (environment, defaults, errors). */

#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "config.h"

#define BIND_ERR \
	"invalid BIND: expected an IP address and port, like 127.0.0.1:8000"
#define DEV_ERR		"invalid USERAPI_DEV: expected 1 or 0"
#define LOG_ERR		"invalid LOG_FORMAT: expected text or json"

struct int_key {
	const char	*key;
	long long	 def;		/* -1: the number of CPUs, clamped */
	long long	 min;
	long long	 max;
};

struct bind_ok {
	const char	*in;
	const char	*host;
	uint16_t	 port;
};

/* Every variable that config_load reads, and a few it must not care about. */
static const char *env_keys[] = {
	"USERAPI_DEV", "DATABASE_URL", "BIND", "WORKERS", "LOG_FORMAT",
	"DB_POOL_SIZE", "DB_QUEUE_MAX", "DB_PIPELINE", "DB_TIMEOUT_MS",
	"BODY_LIMIT", "TASKS_MAX", "TASK_THREADS", "MAIL_MAX", "MAIL_THREADS",
	"ARGON2_MEMORY_KIB", "ARGON2_ITERATIONS",
	"ARGON2_PARALLELISM", "ACCESS_TOKEN_EXPIRE_MINUTES", "JWT_SECRET",
	"JWT_SECRET_FILE", "JWT_ISSUER", "ADMIN_EMAIL", "ADMIN_PASSWORD",
	"SMTP_URL", "SMTP_CA_FILE", "MAIL_FROM", "RATE_LIMIT_STRICT",
	"RATE_LIMIT_GENERAL",
	"RATE_LIMIT_TABLE", "TRUSTED_PROXIES", "METRICS_ALLOW",
	"SHUTDOWN_GRACE_SECONDS", "HTTP_HEADER_TIMEOUT", "HTTP_BODY_TIMEOUT",
	"HTTP_KEEPALIVE_TIME", "WEBSOCKET_TIMEOUT", "MAX_CONNECTIONS",
	"RUNAS", "CHROOT", "TLS_CERT_FILE", "TLS_KEY_FILE",
};

static const struct int_key int_keys[] = {
	{ "WORKERS", -1, 1, 64 },
	{ "DB_POOL_SIZE", 4, 1, 64 },
	{ "DB_QUEUE_MAX", 1024, 1, 65536 },
	{ "DB_PIPELINE", 8, 1, 64 },
	{ "DB_TIMEOUT_MS", 5000, 10, 600000 },
	{ "BODY_LIMIT", 1048576, 1024, 67108864 },
	{ "TASKS_MAX", 64, 1, 256 },
	{ "TASK_THREADS", 2, 1, 64 },
	{ "MAIL_MAX", 32, 1, 256 },
	{ "MAIL_THREADS", 4, 1, 64 },
	{ "ARGON2_MEMORY_KIB", 19456, 8, 4194304 },
	{ "ARGON2_ITERATIONS", 2, 1, 64 },
	{ "ARGON2_PARALLELISM", 1, 1, 16 },
	{ "ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1, 525600 },
	{ "HTTP_HEADER_TIMEOUT", 10, 1, 3600 },
	{ "HTTP_BODY_TIMEOUT", 30, 1, 3600 },
	{ "WEBSOCKET_TIMEOUT", 120, 1, 86400 },
	{ "MAX_CONNECTIONS", 8192, 16, 1048576 },
};

/* Not an integer in range for any key above. */
static const char *int_bad[] = {
	"abc", "x1", "1x", "4 ", " 4", "\t4", "4\n", "+4", "0x10", "010x",
	"1e3", "4.0", "4,0", "1_000", "-", "--4", "- 4", "-+4",
	"\xd9\xa4",			/* ARABIC-INDIC DIGIT FOUR */
	"0", "-0", "-1", "-4", "-9223372036854775808",
	"4294967297",			/* 1 if cut to 32 bits */
	"4294967298",			/* 2 if cut to 32 bits */
	"9223372036854775807", "9223372036854775808",
	"-9223372036854775809", "99999999999999999999999",
};

static int	 env_clear(void **);
static long long cpus_clamped(void);
static long long cfg_int(const struct config *, const char *);
static void	 load_ok(struct config *);
static void	 load_fail(const char *);
static char	*int_err(const struct int_key *);
static void	 bind_good(const char *, const char *, uint16_t);
static void	 bind_bad(const char *);
static void	 dev_is(const char *, int);
static void	 dsn_parses(const char *, const char *);

static int
env_clear(void **state)
{
	size_t	i;

	for (i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]); i++)
		assert_int_equal(unsetenv(env_keys[i]), 0);
	return (0);
}

static long long
cpus_clamped(void)
{
	long	n;

	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return (1);
	return (n > 64 ? 64 : n);
}

/* The field that an integer key fills. */
static long long
cfg_int(const struct config *c, const char *key)
{
	if (!strcmp(key, "WORKERS"))
		return (c->workers);
	if (!strcmp(key, "DB_POOL_SIZE"))
		return (c->db_pool_size);
	if (!strcmp(key, "DB_QUEUE_MAX"))
		return (c->db_queue_max);
	if (!strcmp(key, "DB_PIPELINE"))
		return (c->db_pipeline);
	if (!strcmp(key, "DB_TIMEOUT_MS"))
		return (c->db_timeout_ms);
	if (!strcmp(key, "BODY_LIMIT"))
		return ((long long)c->body_max);
	if (!strcmp(key, "TASKS_MAX"))
		return (c->tasks_max);
	if (!strcmp(key, "TASK_THREADS"))
		return (c->task_threads);
	if (!strcmp(key, "MAIL_MAX"))
		return (c->mail_max);
	if (!strcmp(key, "MAIL_THREADS"))
		return (c->mail_threads);
	if (!strcmp(key, "ARGON2_MEMORY_KIB"))
		return (c->argon2_m_kib);
	if (!strcmp(key, "ARGON2_ITERATIONS"))
		return (c->argon2_t);
	if (!strcmp(key, "ARGON2_PARALLELISM"))
		return (c->argon2_p);
	if (!strcmp(key, "ACCESS_TOKEN_EXPIRE_MINUTES"))
		return (c->token_expire_min);
	if (!strcmp(key, "SHUTDOWN_GRACE_SECONDS"))
		return (c->shutdown_grace);
	if (!strcmp(key, "HTTP_HEADER_TIMEOUT"))
		return (c->header_timeout);
	if (!strcmp(key, "HTTP_BODY_TIMEOUT"))
		return (c->body_timeout);
	if (!strcmp(key, "HTTP_KEEPALIVE_TIME"))
		return (c->keepalive_time);
	if (!strcmp(key, "WEBSOCKET_TIMEOUT"))
		return (c->ws_timeout);
	if (!strcmp(key, "MAX_CONNECTIONS"))
		return (c->max_connections);
	fail_msg("no field for %s", key);
	return (0);
}

/* config_load succeeds; the caller frees *c. */
static void
load_ok(struct config *c)
{
	char	err[256];

	strcpy(err, "untouched");
	memset(c, 0xa5, sizeof(*c));
	if (config_load(c, err, sizeof(err)) != 0)
		fail_msg("config_load failed: %s", err);
	assert_string_equal(err, "untouched");
	assert_non_null(c->database_url);
	assert_non_null(c->bind_host);
}

/* config_load fails with exactly want, one line; nothing leaks. */
static void
load_fail(const char *want)
{
	struct config	c;
	char		err[256];

	memset(err, 'X', sizeof(err));
	memset(&c, 0xa5, sizeof(c));
	if (config_load(&c, err, sizeof(err)) != -1)
		fail_msg("config_load accepted, want '%s'", want);
	if (strcmp(err, want) != 0)
		fail_msg("want '%s'\n got '%s'", want, err);
	assert_null(strchr(err, '\n'));
	/* A failed BIND leaves no half-checked host behind. */
	if (!strncmp(want, "invalid BIND", 12))
		assert_null(c.bind_host);
	config_free(&c);
	assert_null(c.database_url);
	assert_null(c.bind_host);
}

static char *
int_err(const struct int_key *k)
{
	char	*s;

	if (asprintf(&s, "invalid %s: expected an integer from %lld to %lld",
	    k->key, k->min, k->max) == -1)
		abort();
	return (s);
}

/* --- defaults ------------------------------------------------------------- */

static void
test_defaults(void **state)
{
	struct config	c;
	char		cwd[PATH_MAX], want[PATH_MAX + 128];

	load_ok(&c);
	assert_string_equal(c.bind_host, "127.0.0.1");
	assert_int_equal(c.bind_port, 8000);
	assert_int_equal(c.workers, cpus_clamped());
	assert_int_equal(c.dev, 0);	/* the unit build is not a dev build */
	assert_int_equal(c.log_format, CONFIG_LOG_TEXT);
	assert_int_equal(c.db_pool_size, 4);
	assert_int_equal(c.db_queue_max, 1024);
	assert_int_equal(c.db_timeout_ms, 5000);
	assert_int_equal(c.body_max, 1048576);
	assert_int_equal(c.tasks_max, 64);
	assert_int_equal(c.task_threads, 2);
	assert_int_equal(c.mail_max, 32);
	assert_int_equal(c.mail_threads, 4);
	assert_int_equal(c.argon2_m_kib, 19456);
	assert_int_equal(c.argon2_t, 2);
	assert_int_equal(c.argon2_p, 1);
	assert_int_equal(c.token_expire_min, 30);
	assert_string_equal(c.jwt_issuer, "userapi");
	assert_null(c.admin_email);
	assert_null(c.admin_password);
	assert_string_equal(c.smtp_url, "smtp://localhost:1025");
	assert_string_equal(c.mail_from, "userapi@localhost");

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	(void)snprintf(want, sizeof(want),
	    "host=%s/var/run port=5432 dbname=userapi user=userapi", cwd);
	if (strpbrk(cwd, " \t'\\") == NULL)
		assert_string_equal(c.database_url, want);
	dsn_parses(c.database_url, cwd);
	config_free(&c);
	assert_null(c.database_url);
	assert_null(c.smtp_url);
	/* Harmless twice. */
	config_free(&c);
}

/* An empty value is the default, for every key. */
static void
test_empty_is_default(void **state)
{
	struct config	c, d;
	size_t		i;

	load_ok(&d);
	for (i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]); i++)
		assert_int_equal(setenv(env_keys[i], "", 1), 0);
	load_ok(&c);
	assert_string_equal(c.database_url, d.database_url);
	assert_string_equal(c.bind_host, "127.0.0.1");
	assert_int_equal(c.bind_port, 8000);
	assert_int_equal(c.dev, 0);
	assert_int_equal(c.log_format, CONFIG_LOG_TEXT);
	for (i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++)
		assert_int_equal(cfg_int(&c, int_keys[i].key),
		    cfg_int(&d, int_keys[i].key));
	assert_string_equal(c.jwt_issuer, "userapi");
	assert_null(c.admin_email);
	assert_null(c.admin_password);
	assert_string_equal(c.smtp_url, "smtp://localhost:1025");
	assert_string_equal(c.mail_from, "userapi@localhost");
	config_free(&c);
	config_free(&d);
}

/* --- integers ------------------------------------------------------------- */

static void
test_int_ranges(void **state)
{
	const struct int_key	*k;
	struct config		 c;
	char			 buf[32], *err;
	long long		 def, mid;
	size_t			 i;

	for (i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
		k = &int_keys[i];
		(void)env_clear(NULL);
		def = k->def == -1 ? cpus_clamped() : k->def;
		load_ok(&c);
		assert_int_equal(cfg_int(&c, k->key), def);
		config_free(&c);

		/* The bounds are in, one beyond is out. */
		(void)snprintf(buf, sizeof(buf), "%lld", k->min);
		assert_int_equal(setenv(k->key, buf, 1), 0);
		load_ok(&c);
		assert_int_equal(cfg_int(&c, k->key), k->min);
		config_free(&c);

		(void)snprintf(buf, sizeof(buf), "%lld", k->max);
		assert_int_equal(setenv(k->key, buf, 1), 0);
		load_ok(&c);
		assert_int_equal(cfg_int(&c, k->key), k->max);
		config_free(&c);

		/* Not the default, so the value is really read. */
		mid = k->min + (k->max - k->min) / 3;
		if (mid == def)
			mid++;
		(void)snprintf(buf, sizeof(buf), "%lld", mid);
		assert_int_equal(setenv(k->key, buf, 1), 0);
		load_ok(&c);
		assert_int_equal(cfg_int(&c, k->key), mid);
		config_free(&c);

		/* Leading zeros are still decimal, not octal. */
		(void)snprintf(buf, sizeof(buf), "0%lld", k->min + 7);
		assert_int_equal(setenv(k->key, buf, 1), 0);
		load_ok(&c);
		assert_int_equal(cfg_int(&c, k->key), k->min + 7);
		config_free(&c);

		err = int_err(k);
		(void)snprintf(buf, sizeof(buf), "%lld", k->min - 1);
		assert_int_equal(setenv(k->key, buf, 1), 0);
		load_fail(err);
		(void)snprintf(buf, sizeof(buf), "%lld", k->max + 1);
		assert_int_equal(setenv(k->key, buf, 1), 0);
		load_fail(err);
		free(err);
	}
}

static void
test_int_bad(void **state)
{
	const struct int_key	*k;
	char			*err;
	size_t			 i, j;

	for (i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
		k = &int_keys[i];
		err = int_err(k);
		for (j = 0; j < sizeof(int_bad) / sizeof(int_bad[0]); j++) {
			(void)env_clear(NULL);
			assert_int_equal(setenv(k->key, int_bad[j], 1), 0);
			load_fail(err);
		}
		free(err);
	}
}

static void
test_int_messages(void **state)
{
	assert_int_equal(setenv("DB_POOL_SIZE", "0", 1), 0);
	load_fail("invalid DB_POOL_SIZE: expected an integer from 1 to 64");
	(void)env_clear(NULL);
	assert_int_equal(setenv("BODY_LIMIT", "1k", 1), 0);
	load_fail("invalid BODY_LIMIT: expected an integer from 1024 to "
	    "67108864");
	(void)env_clear(NULL);
	assert_int_equal(setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "-30", 1), 0);
	load_fail("invalid ACCESS_TOKEN_EXPIRE_MINUTES: expected an integer "
	    "from 1 to 525600");
	(void)env_clear(NULL);
	assert_int_equal(setenv("WORKERS", "65", 1), 0);
	load_fail("invalid WORKERS: expected an integer from 1 to 64");

	/* The first bad key in load order is the one named. */
	(void)env_clear(NULL);
	assert_int_equal(setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "x", 1), 0);
	assert_int_equal(setenv("DB_TIMEOUT_MS", "9", 1), 0);
	load_fail("invalid DB_TIMEOUT_MS: expected an integer from 10 to "
	    "600000");
	assert_int_equal(setenv("BIND", "nowhere", 1), 0);
	load_fail(BIND_ERR);
	assert_int_equal(setenv("USERAPI_DEV", "maybe", 1), 0);
	load_fail(DEV_ERR);
}

/* A short buffer gets a cut, terminated message. */
static void
test_err_short(void **state)
{
	struct config	c;
	char		err[16];

	assert_int_equal(setenv("DB_POOL_SIZE", "x", 1), 0);
	memset(err, 'X', sizeof(err));
	assert_int_equal(config_load(&c, err, 10), -1);
	assert_string_equal(err, "invalid D");
	assert_int_equal(err[10], 'X');
	config_free(&c);
}

static void
test_argon2_memory(void **state)
{
	struct config	c;

	/* At least 8 KiB per lane. */
	assert_int_equal(setenv("ARGON2_PARALLELISM", "2", 1), 0);
	assert_int_equal(setenv("ARGON2_MEMORY_KIB", "16", 1), 0);
	load_ok(&c);
	assert_int_equal(c.argon2_m_kib, 16);
	assert_int_equal(c.argon2_p, 2);
	config_free(&c);

	assert_int_equal(setenv("ARGON2_MEMORY_KIB", "15", 1), 0);
	load_fail("invalid ARGON2_MEMORY_KIB: must be at least 8 times "
	    "ARGON2_PARALLELISM");
	assert_int_equal(setenv("ARGON2_MEMORY_KIB", "8", 1), 0);
	load_fail("invalid ARGON2_MEMORY_KIB: must be at least 8 times "
	    "ARGON2_PARALLELISM");

	assert_int_equal(setenv("ARGON2_PARALLELISM", "16", 1), 0);
	assert_int_equal(setenv("ARGON2_MEMORY_KIB", "127", 1), 0);
	load_fail("invalid ARGON2_MEMORY_KIB: must be at least 8 times "
	    "ARGON2_PARALLELISM");
	assert_int_equal(setenv("ARGON2_MEMORY_KIB", "128", 1), 0);
	load_ok(&c);
	config_free(&c);

	/* The default memory is enough for the most lanes. */
	assert_int_equal(unsetenv("ARGON2_MEMORY_KIB"), 0);
	load_ok(&c);
	assert_int_equal(c.argon2_m_kib, 19456);
	assert_int_equal(c.argon2_p, 16);
	config_free(&c);
}

/* --- BIND ----------------------------------------------------------------- */

static void
bind_good(const char *in, const char *host, uint16_t port)
{
	struct config	c;

	assert_int_equal(setenv("BIND", in, 1), 0);
	load_ok(&c);
	if (strcmp(c.bind_host, host) != 0 || c.bind_port != port)
		fail_msg("BIND '%s': want %s port %u, got %s port %u", in,
		    host, port, c.bind_host, c.bind_port);
	config_free(&c);
}

static void
bind_bad(const char *in)
{
	struct config	 c;
	char		 err[256];

	assert_int_equal(setenv("BIND", in, 1), 0);
	err[0] = '\0';
	if (config_load(&c, err, sizeof(err)) != -1)
		fail_msg("BIND '%s' accepted as %s port %u", in, c.bind_host,
		    c.bind_port);
	config_free(&c);
	load_fail(BIND_ERR);
}

static void
test_bind_ok(void **state)
{
	size_t		i;
	static const struct bind_ok ok[] = {
		{ "127.0.0.1:8000", "127.0.0.1", 8000 },
		{ "8080", "0.0.0.0", 8080 },
		{ ":8080", "0.0.0.0", 8080 },
		{ "0.0.0.0:80", "0.0.0.0", 80 },
		{ "10.1.2.3:1", "10.1.2.3", 1 },
		{ "255.255.255.255:65535", "255.255.255.255", 65535 },
		{ "1", "0.0.0.0", 1 },
		{ "65535", "0.0.0.0", 65535 },
		{ ":08080", "0.0.0.0", 8080 },	/* decimal, not octal */
		{ "[::1]:8000", "::1", 8000 },
		{ "[::]:8000", "::", 8000 },
		{ "[2001:db8::42]:443", "2001:db8::42", 443 },
		{ "[::ffff:127.0.0.1]:9000", "::ffff:127.0.0.1", 9000 },
		{ "[FE80::A]:1", "FE80::A", 1 },
	};

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		bind_good(ok[i].in, ok[i].host, ok[i].port);
}

static void
test_bind_bad(void **state)
{
	size_t		i;
	static const char *bad[] = {
		/* Host names are refused: BIND takes IP addresses only. */
		"localhost:80", "localhost", "example.com:80",
		"cafe:80", "dead.beef:80", "abc:8000", "a:1",
		/* Ports. */
		"host:", "127.0.0.1:", ":", ":0", "0", ":65536", "65536",
		":99999999999999999999", ":-1", "-1", ":+80", "+80", ": 80",
		" 80", ":80 ", ":80\n", ":8080x", ":0x50", "0x50", ":80.0",
		"[::1]:0", "[::1]:65536",
		/* An address without a port. */
		"1.2.3.4", "127.0.0.1", "::1", "[::1]", "[::1]:",
		/* v4. */
		"1.2.3:80", "1.2.3.4.5:80", "256.1.1.1:80", "1.2.3.-4:80",
		"1..3.4:80", " 127.0.0.1:80", "127.0.0.1 :80", "0:80",
		"127.1:80",
		/* v6 needs its brackets, and nothing else may have them. */
		"::1:8000", ":::8000", "2001:db8::1:443", "[]:8000",
		"[127.0.0.1]:80", "[::1]8000", "[::1]:80:80", "[::1:80",
		"::1]:80", "[[::1]]:80", "[::g]:80", "[fe80::1%lo]:80",
		"[ ::1]:80",
		/* Not a config line either. */
		"127.0.0.1:80\n}", "1.2.3.4:80;",
	};

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bind_bad(bad[i]);
}

/* --- USERAPI_DEV, LOG_FORMAT ---------------------------------------------- */

static void
dev_is(const char *in, int want)
{
	struct config	c;

	assert_int_equal(setenv("USERAPI_DEV", in, 1), 0);
	load_ok(&c);
	if (c.dev != want)
		fail_msg("USERAPI_DEV '%s': want %d, got %d", in, want, c.dev);
	config_free(&c);
}

static void
test_dev(void **state)
{
	size_t		i;
	static const char *bad[] = {
		"2", "-1", "TRUE", "True", "YES", "on", "off", "y", "n",
		" 1", "1 ", "01", "00", "truee", "1\n",
	};

	dev_is("1", 1);
	dev_is("true", 1);
	dev_is("yes", 1);
	dev_is("0", 0);
	dev_is("false", 0);
	dev_is("no", 0);
	dev_is("", 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(setenv("USERAPI_DEV", bad[i], 1), 0);
		load_fail(DEV_ERR);
	}
}

static void
test_log_format(void **state)
{
	struct config	c;
	size_t		i;
	static const char *bad[] = {
		"JSON", "Text", "TEXT", "yaml", " json", "json ", "js", "1",
		"text,json",
	};

	assert_int_equal(setenv("LOG_FORMAT", "json", 1), 0);
	load_ok(&c);
	assert_int_equal(c.log_format, CONFIG_LOG_JSON);
	config_free(&c);
	assert_int_equal(setenv("LOG_FORMAT", "text", 1), 0);
	load_ok(&c);
	assert_int_equal(c.log_format, CONFIG_LOG_TEXT);
	config_free(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(setenv("LOG_FORMAT", bad[i], 1), 0);
		load_fail(LOG_ERR);
	}
}

/* --- strings and DATABASE_URL --------------------------------------------- */

static void
test_strings(void **state)
{
	struct config	c;

	assert_int_equal(setenv("DATABASE_URL",
	    "postgresql://u:p@db.example:5433/app?sslmode=require", 1), 0);
	assert_int_equal(setenv("JWT_ISSUER", "issuer", 1), 0);
	assert_int_equal(setenv("ADMIN_EMAIL", "root@example.com", 1), 0);
	assert_int_equal(setenv("ADMIN_PASSWORD", " pass word ", 1), 0);
	assert_int_equal(setenv("SMTP_URL", "smtp://mail:25", 1), 0);
	assert_int_equal(setenv("MAIL_FROM", "noreply@example.com", 1), 0);
	load_ok(&c);
	assert_string_equal(c.database_url,
	    "postgresql://u:p@db.example:5433/app?sslmode=require");
	assert_string_equal(c.jwt_issuer, "issuer");
	assert_string_equal(c.admin_email, "root@example.com");
	assert_string_equal(c.admin_password, " pass word ");
	assert_string_equal(c.smtp_url, "smtp://mail:25");
	assert_string_equal(c.mail_from, "noreply@example.com");
	config_free(&c);

	/* Copies: the environment may change afterwards. */
	assert_int_equal(setenv("DATABASE_URL", "dbname=x", 1), 0);
	load_ok(&c);
	assert_int_equal(setenv("DATABASE_URL", "dbname=y", 1), 0);
	assert_string_equal(c.database_url, "dbname=x");
	config_free(&c);
}

/* dsn is a conninfo libpq reads as host dir/var/run of db userapi. */
static void
dsn_parses(const char *dsn, const char *dir)
{
	PQconninfoOption	*opts, *o;
	char			*msg, host[PATH_MAX + 16];
	int			 seen;

	msg = NULL;
	if ((opts = PQconninfoParse(dsn, &msg)) == NULL)
		fail_msg("libpq refuses '%s': %s", dsn, msg ? msg : "?");
	(void)snprintf(host, sizeof(host), "%s/var/run", dir);
	seen = 0;
	for (o = opts; o->keyword != NULL; o++) {
		if (!strcmp(o->keyword, "host")) {
			assert_non_null(o->val);
			assert_string_equal(o->val, host);
			seen++;
		} else if (!strcmp(o->keyword, "port")) {
			assert_string_equal(o->val, "5432");
			seen++;
		} else if (!strcmp(o->keyword, "dbname")) {
			assert_string_equal(o->val, "userapi");
			seen++;
		} else if (!strcmp(o->keyword, "user")) {
			assert_string_equal(o->val, "userapi");
			seen++;
		} else if (o->val != NULL) {
			fail_msg("'%s' sets %s", dsn, o->keyword);
		}
	}
	assert_int_equal(seen, 4);
	PQconninfoFree(opts);
}

static void
test_embedded_dsn(void **state)
{
	char		*dsn;
	size_t		 i;
	static const char *dirs[] = {
		"/srv/userapi", "/", "/tmp/a b", "/tmp/it's",
		"/tmp/back\\slash",
		"/tmp/tab\there", "/tmp/new\nline", "/tmp/'", "/tmp/\\'\\",
		"/tmp/x=y", "/tmp/caf\xc3\xa9",
	};

	dsn = config_embedded_dsn("/srv/userapi");
	assert_string_equal(dsn,
	    "host=/srv/userapi/var/run port=5432 dbname=userapi user=userapi");
	free(dsn);
	dsn = config_embedded_dsn("/tmp/a b");
	assert_string_equal(dsn,
	    "host='/tmp/a b/var/run' port=5432 dbname=userapi user=userapi");
	free(dsn);
	dsn = config_embedded_dsn("/tmp/it's\\");
	assert_string_equal(dsn, "host='/tmp/it\\'s\\\\/var/run' port=5432 "
	    "dbname=userapi user=userapi");
	free(dsn);

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		dsn = config_embedded_dsn(dirs[i]);
		dsn_parses(dsn, dirs[i]);
		free(dsn);
	}
}

/* DATABASE_URL unset: the cluster under the working directory. */
static void
test_database_url_cwd(void **state)
{
	struct config	 c;
	char		 tmpl[] = "/tmp/userapi test's.XXXXXX", *dir;
	char		 want[PATH_MAX];
	int		 home;

	assert_true((home = open(".", O_RDONLY | O_DIRECTORY)) != -1);
	assert_non_null(dir = mkdtemp(tmpl));
	assert_int_equal(chdir(dir), 0);

	load_ok(&c);
	dsn_parses(c.database_url, dir);
	(void)snprintf(want, sizeof(want), "host='/tmp/userapi test\\'s.%s"
	    "/var/run' port=5432 dbname=userapi user=userapi",
	    dir + strlen("/tmp/userapi test's."));
	assert_string_equal(c.database_url, want);
	config_free(&c);

	/* Set wins over the directory; empty does not. */
	assert_int_equal(setenv("DATABASE_URL", "dbname=other", 1), 0);
	load_ok(&c);
	assert_string_equal(c.database_url, "dbname=other");
	config_free(&c);
	assert_int_equal(setenv("DATABASE_URL", "", 1), 0);
	load_ok(&c);
	dsn_parses(c.database_url, dir);
	config_free(&c);

	/* A working directory that is gone cannot name a cluster. */
	assert_int_equal(rmdir(dir), 0);
	load_fail("DATABASE_URL unset and the working directory is unknown");
	assert_int_equal(setenv("DATABASE_URL", "dbname=other", 1), 0);
	load_ok(&c);
	assert_string_equal(c.database_url, "dbname=other");
	config_free(&c);

	assert_int_equal(fchdir(home), 0);
	(void)close(home);
}

/* What a failure had allocated goes with config_free (LeakSanitizer). */
static void
test_free_after_failure(void **state)
{
	struct config	c;
	char		err[256];

	assert_int_equal(setenv("DATABASE_URL", "dbname=x", 1), 0);
	assert_int_equal(setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "0", 1), 0);
	assert_int_equal(config_load(&c, err, sizeof(err)), -1);
	assert_string_equal(c.database_url, "dbname=x");
	assert_string_equal(c.bind_host, "127.0.0.1");
	config_free(&c);
	assert_null(c.database_url);
	assert_null(c.bind_host);
	assert_int_equal(c.bind_port, 0);
}

/* The keys of src/ops: rate limits, proxies, /metrics, drain. */
static void
test_ops_keys(void **state)
{
	struct config	 c;
	const char	*bad_rates[] = { "10", "10/0", "x/60", "10/60/1", "-1/60",
			    " 10/60", "10/86401", NULL };
	int		 i;

	load_ok(&c);
	assert_int_equal(c.rate_strict_q, 10);
	assert_int_equal(c.rate_strict_w, 60);
	assert_int_equal(c.rate_general_q, 600);
	assert_int_equal(c.rate_general_w, 60);
	assert_int_equal(c.rate_table, 65536);
	assert_null(c.trusted_proxies);
	assert_null(c.metrics_allow);
	assert_int_equal(c.shutdown_grace, 20);
	assert_int_equal(c.keepalive_time, 30);
	config_free(&c);

	assert_int_equal(setenv("RATE_LIMIT_STRICT", "0", 1), 0);
	assert_int_equal(setenv("RATE_LIMIT_GENERAL", "5/1", 1), 0);
	assert_int_equal(setenv("RATE_LIMIT_TABLE", "1024", 1), 0);
	assert_int_equal(setenv("TRUSTED_PROXIES", "10.0.0.0/8, ::1", 1), 0);
	assert_int_equal(setenv("METRICS_ALLOW", "127.0.0.1/32", 1), 0);
	assert_int_equal(setenv("SHUTDOWN_GRACE_SECONDS", "0", 1), 0);
	assert_int_equal(setenv("HTTP_KEEPALIVE_TIME", "0", 1), 0);
	load_ok(&c);
	assert_int_equal(c.keepalive_time, 0);
	assert_int_equal(c.rate_strict_q, 0);
	assert_int_equal(c.rate_general_q, 5);
	assert_int_equal(c.rate_general_w, 1);
	assert_int_equal(c.rate_table, 1024);
	assert_string_equal(c.trusted_proxies, "10.0.0.0/8, ::1");
	assert_string_equal(c.metrics_allow, "127.0.0.1/32");
	assert_int_equal(c.shutdown_grace, 0);
	config_free(&c);

	for (i = 0; bad_rates[i] != NULL; i++) {
		assert_int_equal(setenv("RATE_LIMIT_GENERAL", bad_rates[i], 1),
		    0);
		load_fail("invalid RATE_LIMIT_GENERAL: expected "
		    "requests/seconds like 10/60, or 0 for no limit");
	}
	assert_int_equal(setenv("RATE_LIMIT_GENERAL", "5/1", 1), 0);
	assert_int_equal(setenv("RATE_LIMIT_TABLE", "1000", 1), 0);
	load_fail("invalid RATE_LIMIT_TABLE: expected a power of two");
	assert_int_equal(setenv("RATE_LIMIT_TABLE", "1024", 1), 0);
	assert_int_equal(setenv("TRUSTED_PROXIES", "10.0.0.0/8,10.0.0.0/33",
	    1), 0);
	load_fail("invalid TRUSTED_PROXIES: 10.0.0.0/33 is not an address "
	    "or CIDR (like 10.0.0.0/8 or ::1/128)");
	assert_int_equal(setenv("TRUSTED_PROXIES", "", 1), 0);
	assert_int_equal(setenv("METRICS_ALLOW", "localhost", 1), 0);
	load_fail("invalid METRICS_ALLOW: localhost is not an address "
	    "or CIDR (like 10.0.0.0/8 or ::1/128)");
	assert_int_equal(setenv("METRICS_ALLOW", "", 1), 0);
	assert_int_equal(setenv("SHUTDOWN_GRACE_SECONDS", "-1", 1), 0);
	load_fail("invalid SHUTDOWN_GRACE_SECONDS: expected an integer from "
	    "0 to 3600");
	assert_int_equal(setenv("SHUTDOWN_GRACE_SECONDS", "3601", 1), 0);
	load_fail("invalid SHUTDOWN_GRACE_SECONDS: expected an integer from "
	    "0 to 3600");
	assert_int_equal(setenv("SHUTDOWN_GRACE_SECONDS", "1", 1), 0);
	assert_int_equal(setenv("HTTP_KEEPALIVE_TIME", "x", 1), 0);
	load_fail("invalid HTTP_KEEPALIVE_TIME: expected an integer from "
	    "0 to 3600");
	assert_int_equal(unsetenv("HTTP_KEEPALIVE_TIME"), 0);
}

/* RUNAS and CHROOT: Kore's privilege separation, for root only. */
static void
test_privsep_keys(void **state)
{
	struct config	c;

	load_ok(&c);
	assert_null(c.runas);
	assert_null(c.chroot_dir);
	config_free(&c);

	assert_int_equal(setenv("RUNAS", "nobody", 1), 0);
	if (getuid() != 0) {
		load_fail("invalid RUNAS: only root can change user");
		assert_int_equal(unsetenv("RUNAS"), 0);
		assert_int_equal(setenv("CHROOT", "/", 1), 0);
		load_fail("invalid CHROOT: only root can chroot");
		return;
	}
	assert_int_equal(setenv("CHROOT", "/tmp", 1), 0);
	load_ok(&c);
	assert_string_equal(c.runas, "nobody");
	assert_string_equal(c.chroot_dir, "/tmp");
	config_free(&c);
	assert_int_equal(setenv("RUNAS", "no-such-user-here", 1), 0);
	load_fail("invalid RUNAS: no user no-such-user-here");
	assert_int_equal(setenv("RUNAS", "nobody", 1), 0);
	assert_int_equal(setenv("CHROOT", "/no/such/dir", 1), 0);
	load_fail("invalid CHROOT: not a directory");
	assert_int_equal(setenv("CHROOT", "/etc/passwd", 1), 0);
	load_fail("invalid CHROOT: not a directory");
}

/*
 * TLS_CERT_FILE and TLS_KEY_FILE: both or neither, readable files, kept
 * as absolute paths.
 */
static void
test_tls_keys(void **state)
{
	struct config	c;
	char		dir[] = "/tmp/userapi-tls-XXXXXX", file[64], rel[160];
	char		cwd[4096];
	int		fd;

	load_ok(&c);
	assert_null(c.tls_cert);
	assert_null(c.tls_key);
	config_free(&c);

	assert_non_null(mkdtemp(dir));
	(void)snprintf(file, sizeof(file), "%s/cert.pem", dir);
	assert_true((fd = open(file, O_WRONLY | O_CREAT, 0600)) >= 0);
	(void)close(fd);

	assert_int_equal(setenv("TLS_CERT_FILE", file, 1), 0);
	load_fail("invalid TLS_KEY_FILE: required with TLS_CERT_FILE");
	assert_int_equal(setenv("TLS_KEY_FILE", file, 1), 0);
	load_ok(&c);
	assert_string_equal(c.tls_cert, file);
	assert_string_equal(c.tls_key, file);
	config_free(&c);

	/* A relative path becomes absolute. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(setenv("TLS_KEY_FILE", "./cert.pem", 1), 0);
	load_ok(&c);
	assert_string_equal(c.tls_key, file);
	config_free(&c);
	assert_int_equal(chdir(cwd), 0);

	(void)snprintf(rel, sizeof(rel), "%s/none.pem", dir);
	assert_int_equal(setenv("TLS_KEY_FILE", rel, 1), 0);
	(void)snprintf(rel, sizeof(rel), "invalid TLS_KEY_FILE: %s/none.pem: "
	    "No such file or directory", dir);
	load_fail(rel);
	assert_int_equal(setenv("TLS_KEY_FILE", dir, 1), 0);
	(void)snprintf(rel, sizeof(rel), "invalid TLS_KEY_FILE: %s: "
	    "not a file", dir);
	load_fail(rel);
	assert_int_equal(setenv("TLS_KEY_FILE", "/tmp/a\nb", 1), 0);
	load_fail("invalid TLS_KEY_FILE: control character in the path");
	assert_int_equal(unsetenv("TLS_CERT_FILE"), 0);
	assert_int_equal(setenv("TLS_KEY_FILE", file, 1), 0);
	load_fail("invalid TLS_CERT_FILE: required with TLS_KEY_FILE");

	assert_int_equal(unlink(file), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, env_clear),
		cmocka_unit_test_setup(test_empty_is_default, env_clear),
		cmocka_unit_test_setup(test_int_ranges, env_clear),
		cmocka_unit_test_setup(test_int_bad, env_clear),
		cmocka_unit_test_setup(test_int_messages, env_clear),
		cmocka_unit_test_setup(test_err_short, env_clear),
		cmocka_unit_test_setup(test_argon2_memory, env_clear),
		cmocka_unit_test_setup(test_bind_ok, env_clear),
		cmocka_unit_test_setup(test_bind_bad, env_clear),
		cmocka_unit_test_setup(test_dev, env_clear),
		cmocka_unit_test_setup(test_log_format, env_clear),
		cmocka_unit_test_setup(test_strings, env_clear),
		cmocka_unit_test_setup(test_embedded_dsn, env_clear),
		cmocka_unit_test_setup(test_database_url_cwd, env_clear),
		cmocka_unit_test_setup(test_free_after_failure, env_clear),
		cmocka_unit_test_setup(test_ops_keys, env_clear),
		cmocka_unit_test_setup(test_privsep_keys, env_clear),
		cmocka_unit_test_setup(test_tls_keys, env_clear),
	};

	(void)env_clear(NULL);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
