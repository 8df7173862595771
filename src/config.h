/* userapi: settings read from the environment (12-factor), checked once. */

#ifndef USERAPI_CONFIG_H
#define USERAPI_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_LOG_TEXT		0
#define CONFIG_LOG_JSON		1

struct config {
	char		*database_url;	/* libpq conninfo or URI */
	char		*bind_host;
	uint16_t	 bind_port;
	int		 workers;
	int		 dev;		/* USERAPI_DEV */
	int		 log_format;

	int		 db_pool_size;	/* connections per worker */
	int		 db_queue_max;	/* waiting queries per worker */
	int		 db_pipeline;	/* queries in flight per connection */
	int		 db_timeout_ms;	/* deadline of one query */

	size_t		 body_max;	/* JSON body limit, bytes */
	int		 tasks_max;	/* password jobs in flight per worker */
	int		 task_threads;	/* password threads per worker */
	int		 mail_max;	/* mail jobs in flight per worker */
	int		 mail_threads;	/* mail threads per worker */

	uint32_t	 argon2_m_kib;
	uint32_t	 argon2_t;
	uint32_t	 argon2_p;

	unsigned char	*jwt_secret;	/* JWT_SECRET or JWT_SECRET_FILE */
	size_t		 jwt_secret_len;
	char		*jwt_issuer;
	int		 token_expire_min;
	char		*admin_email;
	char		*admin_password;
	char		*smtp_url;	/* smtp://, smtps://, smtp+starttls:// */
	char		*smtp_ca_file;	/* SMTP_CA_FILE; NULL: the system's CAs */
	char		*mail_from;	/* a bare address */

	/* Operations (config_ops): rate limits, proxies, /metrics, drain. */
	uint32_t	 rate_strict_q;	/* RATE_LIMIT_STRICT q/w; q 0: off */
	uint32_t	 rate_strict_w;
	uint32_t	 rate_general_q;	/* RATE_LIMIT_GENERAL */
	uint32_t	 rate_general_w;
	int		 rate_table;	/* RATE_LIMIT_TABLE slots, power of 2 */
	char		*trusted_proxies;	/* TRUSTED_PROXIES CIDRs */
	char		*metrics_allow;	/* METRICS_ALLOW CIDRs; NULL: anyone */
	int		 shutdown_grace;	/* SHUTDOWN_GRACE_SECONDS */
	int		 header_timeout;	/* HTTP_HEADER_TIMEOUT, s */
	int		 body_timeout;	/* HTTP_BODY_TIMEOUT, s */
	int		 keepalive_time;	/* HTTP_KEEPALIVE_TIME, s; 0: off */
	int		 ws_timeout;	/* WEBSOCKET_TIMEOUT, s */
	int		 max_connections;	/* MAX_CONNECTIONS per instance */
	char		*runas;		/* RUNAS: workers' user (root only) */
	char		*chroot_dir;	/* CHROOT: workers' root (root only) */
	char		*tls_cert;	/* TLS_CERT_FILE, absolute; NULL: no TLS */
	char		*tls_key;	/* TLS_KEY_FILE, absolute (keymgr only) */

	/* Notification jobs (src/jobs). */
	int		 job_max_attempts;	/* sends of one job at most */
	int		 job_lease_seconds;	/* a claimed job's lease */
	int		 job_retry_max_seconds;	/* cap of the retry delay */
	int		 job_retention_hours;	/* sent jobs kept this long */
	int		 smtp_timeout_ms;	/* one mail's SMTP dialogue */

	/* WebSocket /ws (src/ws/) */
	int		 ws_max_message;	/* text bytes; over: close 1009 */
	int		 ws_rate;		/* messages per second ... */
	int		 ws_burst;		/* ... with this burst; over: 1008 */
	int		 ws_max_clients;	/* sockets per instance; over: 503 */
	int		 ws_max_queued;		/* unsent bytes per socket */
	int		 ws_history;		/* messages kept for resume */
	int		 ws_history_seconds;	/* ... and for at most this long */
	int		 ws_ping_seconds;	/* server pings */
	int		 ws_notify_max;		/* NOTIFY payload; bigger: the id */
	char		*ws_allowed_origins;	/* comma-separated, or NULL: any */
};

extern struct config	cfg;

/*
 * Fill *c from the environment (getenv), defaults for what is unset.
 * Returns 0, or -1 with a one-line message naming the key in err.
 * The strings in *c are malloc'd and live for the process.
 */
int	config_load(struct config *c, char *err, size_t errlen);

/* Dev mode's key, relative to the working directory. */
#define CONFIG_DEV_SECRET	"var/jwt-secret"

/* Where the key came from (*generated of config_secret). */
#define CONFIG_SECRET_GIVEN	0	/* JWT_SECRET or JWT_SECRET_FILE */
#define CONFIG_SECRET_KEPT	1	/* dev mode: var/jwt-secret, as before */
#define CONFIG_SECRET_NEW	2	/* dev mode: made now, kept in var/ */
#define CONFIG_SECRET_MEMORY	3	/* dev mode: var/ not writable */

/*
 * The token key, needed by `serve` only: JWT_SECRET, or the contents of
 * JWT_SECRET_FILE (one final newline dropped), at least 32 bytes. In dev
 * mode only, a missing key is the one kept in var/jwt-secret, made on
 * first use. *generated says which (CONFIG_SECRET_*). 0, or -1 with err.
 */
int	config_secret(struct config *c, int *generated, char *err,
	    size_t errlen);

/* Free what config_load allocated. */
void	config_free(struct config *c);

/* The conninfo of the private cluster under dir/var/run. */
char	*config_embedded_dsn(const char *dir);

#endif
