/* userapi: process entry points: subcommands, Kore hooks, the sandbox filter. */

#include <sys/types.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/hooks.h>
#include <kore/seccomp.h>

#include "admin.h"
#include "auth/password.h"
#include "auth/token.h"
#include "bg/bg.h"
#include "config.h"
#include "db/db.h"
#include "http/reply.h"
#include "jobs/runner.h"
#include "json/user_json.h"
#include "log.h"
#include "migrate.h"
#include "ops/ops.h"
#include "store/job_store.h"
#include "store/store.h"
#include "tls.h"
#include "version.h"
#include "ws/ws.h"

#define MAIN_PING_CHANNEL	"userapi_ping"

static void	main_usage(FILE *);
static void	main_bind(void);
static void	main_tick(void *, u_int64_t);
static void	main_ping(void *, const char *, const char *);

/*
 * The system calls userapi needs on top of Kore's worker whitelist, one
 * line each with its reason. Measured on Debian bookworm (glibc 2.36,
 * libpq 15, libcurl 7.88) with seccomp_tracing. What glibc itself needs
 * (newfstatat, clone3, rseq) is in Kore's lists (patches/kore/0006).
 * libcurl's TLS (OpenSSL: getrandom, reading the CA bundle) needs
 * nothing beyond Kore's list (tests/e2e/test_smtp_tls.py).
 */
#if defined(__SANITIZE_ADDRESS__)
#define ASAN_SYSCALLS						\
	KORE_SYSCALL_ALLOW(gettid),		/* ASan: thread start */ \
	KORE_SYSCALL_ALLOW(sched_getaffinity),	/* ASan: thread start */ \
	KORE_SYSCALL_ALLOW(sched_yield),	/* ASan: a contended spin lock */
#else
#define ASAN_SYSCALLS
#endif

KORE_SECCOMP_FILTER("userapi",
	ASAN_SYSCALLS
	KORE_SYSCALL_ALLOW(clone),		/* bg/: starting its threads */
	KORE_SYSCALL_ALLOW(set_robust_list),	/* glibc thread start */
	KORE_SYSCALL_ALLOW(eventfd2),		/* bg/: finished work wakes the loop */
	KORE_SYSCALL_ALLOW(getpeername),	/* libcurl */
	KORE_SYSCALL_ALLOW(uname),		/* libcurl, nss */
	KORE_SYSCALL_ALLOW(sendmmsg),		/* glibc DNS resolver */
	KORE_SYSCALL_ALLOW(getdents64),		/* libpq GSSAPI probe over TCP */
);

static void
main_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: userapi [command]\n"
	    "\n"
	    "commands:\n"
	    "  serve                 run the HTTP service (default)\n"
	    "  migrate [--wait SECONDS]\n"
	    "                        apply migrations/ and exit; wait up to\n"
	    "                        SECONDS for the database to be reachable\n"
	    "  create-admin EMAIL    create or promote an admin (password from\n"
	    "                        ADMIN_PASSWORD or stdin)\n"
	    "  --version             print the version\n"
	    "  --help                print this help\n"
	    "\n"
	    "Configuration comes from the environment; see README.md.\n");
}

/*
 * Runs in the parent before Kore reads its built-in configuration and
 * before anything is bound: subcommands run here and exit.
 */
void
kore_parent_configure(int argc, char **argv)
{
	const char	*cmd;
	char		 err[256];
	int		 i, generated;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);

	/*
	 * One malloc arena: the background threads' argon2id blocks (19 MiB)
	 * then live where malloc_trim can give them back once no work runs
	 * (bg_trim); a thread arena keeps its top for good.
	 */
	(void)mallopt(M_ARENA_MAX, 1);

	cmd = "serve";
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			main_usage(stdout);
			exit(0);
		}
		if (!strcmp(argv[i], "--version") ||
		    !strcmp(argv[i], "-v")) {
			printf("userapi %s (kore %s)\n", USERAPI_VERSION,
			    kore_version);
			exit(0);
		}
		/* kodev run passes Kore's -fnr: foreground, no privsep. */
		if (argv[i][0] == '-' &&
		    strspn(argv[i] + 1, "fnrq") == strlen(argv[i] + 1) &&
		    argv[i][1] != '\0')
			continue;
		if (argv[i][0] == '-') {
			fprintf(stderr, "userapi: unknown option %s\n", argv[i]);
			main_usage(stderr);
			exit(2);
		}
		cmd = argv[i];
		break;
	}

	if (config_load(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "userapi: %s\n", err);
		exit(2);
	}

	json_setup();
	log_setup();
	store_load();
	job_store_load();

	if (!strcmp(cmd, "migrate"))
		exit(migrate_command(cfg.database_url, argc - i - 1,
		    argv + i + 1));

	if (!strcmp(cmd, "create-admin")) {
		if (i + 2 != argc) {
			fprintf(stderr, "usage: userapi create-admin EMAIL\n");
			exit(2);
		}
		exit(admin_command(cfg.database_url, argv[i + 1]));
	}

	if (strcmp(cmd, "serve")) {
		fprintf(stderr, "userapi: unknown command %s\n", cmd);
		main_usage(stderr);
		exit(2);
	}

	if (i + 1 < argc) {
		fprintf(stderr, "userapi: serve takes no argument\n");
		exit(2);
	}
	if (cfg.tls_cert != NULL &&
	    tls_check(cfg.tls_cert, cfg.tls_key, err, sizeof(err)) == -1) {
		fprintf(stderr, "userapi: %s\n", err);
		exit(2);
	}
	if (config_secret(&cfg, &generated, err, sizeof(err)) == -1) {
		fprintf(stderr, "userapi: %s\n", err);
		exit(2);
	}
	if (cfg.admin_email != NULL && cfg.admin_password == NULL) {
		fprintf(stderr, "userapi: ADMIN_PASSWORD is not set: it is "
		    "required with ADMIN_EMAIL\n");
		exit(2);
	}
	if (generated == CONFIG_SECRET_NEW)
		log_warn("dev mode: generated a JWT secret and kept it in "
		    "%s (mode 0600), so tokens survive restarts; it is "
		    "never used outside dev mode", CONFIG_DEV_SECRET);
	else if (generated == CONFIG_SECRET_MEMORY)
		log_warn("dev mode: generated a random JWT secret (could not "
		    "keep it in %s); tokens will not survive a restart",
		    CONFIG_DEV_SECRET);
	token_setup(cfg.jwt_secret, cfg.jwt_secret_len, cfg.jwt_issuer);
	password_dummy_init();

	if (cfg.dev) {
		log_warn("dev mode (USERAPI_DEV): applying migrations at start");
		if (migrate_run(cfg.database_url) != 0)
			log_warn("migrations not applied; /readyz says 503 "
			    "until they are");
	}

	if (cfg.admin_email != NULL &&
	    admin_bootstrap(cfg.database_url, cfg.admin_email,
	    cfg.admin_password) == -1)
		log_error("could not create the admin of ADMIN_EMAIL");

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "userapi: could not initialise libcurl\n");
		exit(1);
	}
	if (jobs_setup(err, sizeof(err)) == -1) {
		fprintf(stderr, "userapi: %s\n", err);
		exit(2);
	}

	/*
	 * Privilege separation as Kore offers it, when started as root:
	 * the workers run as RUNAS and chroot to CHROOT.
	 * Unset, both are the container's job.
	 */
	kore_foreground = 1;
	skip_chroot = cfg.chroot_dir == NULL;
	skip_runas = cfg.runas == NULL;
	if (cfg.chroot_dir != NULL)
		kore_root_path = kore_strdup(cfg.chroot_dir);
	if (cfg.runas != NULL)
		kore_runas_user = kore_strdup(cfg.runas);

	ops_parent_setup();

	worker_count = (u_int8_t)cfg.workers;
	/*
	 * Timeouts and the connection cap: MAX_CONNECTIONS is shared out
	 * over the workers; each may open as many descriptors again for
	 * its database connections, background work and files.
	 */
	http_header_timeout = (u_int16_t)cfg.header_timeout;
	http_body_timeout = (u_int16_t)cfg.body_timeout;
	http_keepalive_time = (u_int16_t)cfg.keepalive_time;
	kore_websocket_timeout = (u_int64_t)cfg.ws_timeout * 1000;
	worker_max_connections = (u_int32_t)((cfg.max_connections +
	    cfg.workers - 1) / cfg.workers);
	worker_rlimit_nofiles = worker_max_connections * 2 + 1024;
	http_body_max = cfg.body_max * 2;
	ws_parent_init();
	reply_kore_setup();
	main_bind();

	log_info("userapi %s listening on %s:%u (%s) with %d workers",
	    USERAPI_VERSION, cfg.bind_host, cfg.bind_port,
	    cfg.tls_cert != NULL ? "https" : "http", cfg.workers);
}

/*
 * The listener and its domain come from the environment (BIND,
 * TLS_CERT_FILE, TLS_KEY_FILE): Kore's config has no env expansion.
 * With TLS, Kore's keymgr process alone reads the private key and signs
 * for the workers (patches/kore/0040); Kore allows TLS 1.2 and 1.3 only.
 */
static void
main_bind(void)
{
	struct kore_buf	 buf;
	FILE		*fp;

	kore_buf_init(&buf, 512);
	kore_buf_appendf(&buf, "server listener {\n\tbind %s %u\n"
	    "\ttls %s\n}\n", cfg.bind_host, cfg.bind_port,
	    cfg.tls_cert != NULL ? "yes" : "no");
	kore_buf_appendf(&buf, "domain * {\n\tattach listener\n");
	if (cfg.tls_cert != NULL)
		kore_buf_appendf(&buf, "\tcertfile %s\n\tcertkey %s\n",
		    cfg.tls_cert, cfg.tls_key);
	/* Every path enters the dispatcher (src/api/routes.c). */
	kore_buf_appendf(&buf, "\troute ^/ api_dispatch\n}\n");
	if ((fp = fmemopen(buf.data, buf.offset, "r")) == NULL)
		fatal("fmemopen: %s", errno_s);
	kore_parse_config_file(fp);
	(void)fclose(fp);
	kore_buf_cleanup(&buf);

	/*
	 * Started as root with RUNAS or CHROOT: the keymgr keeps root and
	 * the host's root directory (it is sandboxed by its own seccomp
	 * filter), so the key file may be readable by root alone and is
	 * never within the workers' reach.
	 */
	if (cfg.tls_cert != NULL && (cfg.runas != NULL ||
	    cfg.chroot_dir != NULL)) {
		keymgr_runas_user = kore_strdup("root");
		keymgr_root_path = kore_strdup("/");
	}
}

/*
 * Runs in each worker after the sandbox is on. The 1 s timer gives back
 * the memory of argon2id once no background work runs.
 */
void
kore_worker_configure(void)
{
	int	threads[BG_NKINDS], cap[BG_NKINDS];

	threads[BG_PASSWORD] = cfg.task_threads;
	cap[BG_PASSWORD] = cfg.tasks_max;
	threads[BG_MAIL] = cfg.mail_threads;
	cap[BG_MAIL] = cfg.mail_max;
	bg_init(threads, cap);

	(void)kore_timer_add(main_tick, 1000, NULL, 0);
	db_worker_init(cfg.database_url, cfg.db_pool_size, cfg.db_pipeline,
	    cfg.db_queue_max, cfg.db_timeout_ms);
	db_listen(MAIN_PING_CHANNEL, main_ping, NULL, NULL);
	ops_worker_setup();
	jobs_worker_init();
	ws_worker_init();
}

/*
 * NOTIFY userapi_ping, 'text': every worker of every instance logs it,
 * so an operator (or a test) sees that the LISTEN bus reaches them all.
 */
static void
main_ping(void *arg, const char *channel, const char *payload)
{
	log_info("listen: ping on channel %s: %.200s", channel, payload);
}

/* Runs in each worker as it exits, after the drain (src/ops/drain.c). */
void
kore_worker_teardown(void)
{
	db_worker_close();
}

static void
main_tick(void *arg, u_int64_t now)
{
	bg_trim();
	ops_tick();
}
