/* userapi: notification mails: the RFC 5322 message, and sending it over SMTP with libcurl. */

#ifndef USERAPI_JOBS_MAIL_H
#define USERAPI_JOBS_MAIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MAIL_ERROR_MAX	256

/* What one mail is made of; the strings belong to the caller. */
struct mail {
	const char	*from;		/* MAIL_FROM: a bare address */
	const char	*to;		/* a bare address */
	const char	*subject;	/* UTF-8 */
	const char	*body;		/* UTF-8 text */
	const char	*id;		/* the job id: the Message-ID's left part */
	time_t		 date;
};

/* How a send ended. */
#define MAIL_SENT	0
#define MAIL_TEMPORARY	1	/* 4xx, no connection, timeout: retry */
#define MAIL_PERMANENT	2	/* 5xx or a bad address: fail at once */

struct mail_result {
	int	outcome;		/* MAIL_* */
	char	error[MAIL_ERROR_MAX];	/* printable ASCII, "" when sent */
};

/*
 * 1 when addr is a bare address that is safe in a header and in an SMTP
 * command: printable ASCII without spaces, '<', '>', '(', ')', ',', ';',
 * '"' or '\\', one '@' with something on both sides, at most 254 bytes.
 */
int	mail_address_ok(const char *addr);

/*
 * Build m as an RFC 5322 message (CRLF line ends): From, To, Subject
 * (RFC 2047 encoded-words when it is not plain ASCII; control characters
 * become spaces, so it stays one header), Date, Message-ID
 * (<id@domain of from>), MIME-Version, a UTF-8 text/plain body in
 * quoted-printable (only ASCII on the wire; a '.' starting a line is
 * encoded, so no line of the body can end the SMTP data). Returns a
 * malloc'd NUL-terminated message (length in *len), or NULL when from or
 * to is not a safe address (mail_address_ok).
 */
char	*mail_build(const struct mail *m, size_t *len);

/* The Subject header's value for subject (malloc'd), as mail_build writes it. */
char	*mail_subject(const char *subject);

/*
 * SMTP settings, once in the parent: url is smtp://, smtps:// or
 * smtp+starttls:// (STARTTLS required), with user:password@ for AUTH,
 * which needs TLS (smtps:// or smtp+starttls://): a password is never
 * sent in clear. ca_file (NULL: the system's CA bundle, as libcurl
 * finds it) is a PEM file of the certificates to trust for the SMTP
 * server instead; it is read here, so it works in a chroot and the
 * sandbox opens no file for it. The server's certificate and name are
 * always verified. Returns 0, or -1 with the reason in err (which
 * never holds the URL).
 */
int	mail_setup(const char *url, const char *ca_file, long timeout_ms,
	    char *err, size_t errlen);

/*
 * Send m (blocking: on a task thread, never on the event loop). The
 * transfer is abandoned as soon as the CLOCK_MONOTONIC time in
 * milliseconds passes *deadline_ms (read atomically, renewed by the
 * caller while it holds the job's lease). Each thread keeps one libcurl
 * handle, so a connection is reused across mails.
 */
void	mail_send(const struct mail *m, const uint64_t *deadline_ms,
	    struct mail_result *r);

/* CLOCK_MONOTONIC in milliseconds, as mail_send compares deadlines. */
uint64_t mail_now_ms(void);

#endif
