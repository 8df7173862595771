/* userapi: notification mails: the RFC 5322 message, and sending it over SMTP with libcurl. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "jobs/mail.h"

/* Output line limits: RFC 2045 6.7 (76) and RFC 2047 2 (75). */
#define QP_LINE_MAX	76
#define EW_LINE_MAX	75
/* Bytes of text per encoded-word: 4/3 of it in base64 fits in 75. */
#define EW_CHUNK	45

struct mail_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

struct mail_upload {
	const char	*p;
	size_t		 left;
};

/* One sender's view of the SMTP dialogue. */
struct mail_dialogue {
	char		 last[MAIL_ERROR_MAX];	/* the server's last line */
	const uint64_t	*deadline_ms;
	uint64_t	 give_up_ms;		/* SMTP_TIMEOUT_MS from the start */
	int		 expired;
	int		 timed_out;
};

static void	mail_put(struct mail_buf *, const void *, size_t);
static void	mail_puts(struct mail_buf *, const char *);
static void	mail_printf(struct mail_buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	mail_base64(struct mail_buf *, const unsigned char *, size_t);
static size_t	mail_utf8_cut(const unsigned char *, size_t, size_t);
static void	mail_qp(struct mail_buf *, const char *);
static void	mail_date(struct mail_buf *, time_t);
static size_t	mail_read(char *, size_t, size_t, void *);
static int	mail_progress(void *, curl_off_t, curl_off_t, curl_off_t,
		    curl_off_t);
static int	mail_debug(CURL *, curl_infotype, char *, size_t, void *);
static void	mail_printable(char *, size_t, const char *, size_t);
static void	mail_error(struct mail_result *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	mail_read_ca(const char *, char *, size_t);

/* The CA bundle of SMTP_CA_FILE: at most this big. */
#define MAIL_CA_MAX	(4 * 1024 * 1024)

static char		*smtp_url;
static struct curl_blob	 smtp_ca;		/* data NULL: the system's */
static long		 smtp_ssl;
static long		 smtp_timeout_ms;
static __thread CURL	*smtp_handle;

int
mail_address_ok(const char *addr)
{
	const unsigned char	*p;
	const char		*at;
	size_t			 len;

	len = strlen(addr);
	if (len < 3 || len > 254)
		return (0);
	for (p = (const unsigned char *)addr; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("<>()[],;:\"\\", *p))
			return (0);
	}
	if ((at = strchr(addr, '@')) == NULL || at == addr ||
	    at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return (0);
	return (1);
}

char *
mail_build(const struct mail *m, size_t *len)
{
	struct mail_buf	 b;
	const char	*domain, *p;
	char		*subject;

	if (!mail_address_ok(m->from) || !mail_address_ok(m->to))
		return (NULL);
	domain = strchr(m->from, '@') + 1;

	memset(&b, 0, sizeof(b));
	subject = mail_subject(m->subject);
	mail_printf(&b, "From: %s\r\n", m->from);
	mail_printf(&b, "To: %s\r\n", m->to);
	/* Up to 200 characters as encoded-words: longer than printf's buffer. */
	mail_puts(&b, "Subject: ");
	mail_puts(&b, subject);
	mail_puts(&b, "\r\n");
	free(subject);
	mail_puts(&b, "Date: ");
	mail_date(&b, m->date);
	mail_puts(&b, "\r\n");
	/* The job id: a mail sent again after a crash keeps its Message-ID. */
	mail_puts(&b, "Message-ID: <");
	for (p = m->id; *p != '\0'; p++) {
		if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z') || *p == '-')
			mail_put(&b, p, 1);
	}
	mail_printf(&b, "@%s>\r\n", domain);
	mail_puts(&b, "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "\r\n");
	mail_qp(&b, m->body);
	mail_put(&b, "", 1);
	*len = b.len - 1;
	return (b.p);
}

/*
 * Control characters (CR and LF among them) become spaces: a subject is
 * one header line whatever it holds. Plain ASCII that cannot be taken
 * for an encoded-word is written as it is; anything else as UTF-8
 * base64 encoded-words of whole characters, folded one per line.
 */
char *
mail_subject(const char *subject)
{
	struct mail_buf		 b, clean;
	const unsigned char	*p;
	size_t			 i, n, len;
	int			 plain;

	memset(&b, 0, sizeof(b));
	memset(&clean, 0, sizeof(clean));
	plain = strstr(subject, "=?") == NULL;
	for (p = (const unsigned char *)subject; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			mail_put(&clean, " ", 1);
			continue;
		}
		if (*p >= 0x80)
			plain = 0;
		mail_put(&clean, p, 1);
	}
	len = clean.len;
	mail_put(&clean, "", 1);
	if (plain && len <= 900) {
		mail_put(&b, clean.p, len);
	} else {
		p = (const unsigned char *)clean.p;
		for (i = 0; i < len; i += n) {
			n = mail_utf8_cut(p + i, len - i, EW_CHUNK);
			if (i > 0)
				mail_puts(&b, "\r\n ");
			mail_puts(&b, "=?UTF-8?B?");
			mail_base64(&b, p + i, n);
			mail_puts(&b, "?=");
		}
	}
	mail_put(&b, "", 1);
	free(clean.p);
	return (b.p);
}

/* How many bytes of p (len) fit in max without splitting a character. */
static size_t
mail_utf8_cut(const unsigned char *p, size_t len, size_t max)
{
	size_t	n;

	if (len <= max)
		return (len);
	n = max;
	while (n > 0 && (p[n] & 0xc0) == 0x80)
		n--;
	return (n == 0 ? max : n);
}

static void
mail_base64(struct mail_buf *b, const unsigned char *p, size_t len)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char			 out[4];
	unsigned int		 v;
	size_t			 i;

	for (i = 0; i < len; i += 3) {
		v = (unsigned int)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned int)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[0] = tab[(v >> 18) & 0x3f];
		out[1] = tab[(v >> 12) & 0x3f];
		out[2] = i + 1 < len ? tab[(v >> 6) & 0x3f] : '=';
		out[3] = i + 2 < len ? tab[v & 0x3f] : '=';
		mail_put(b, out, 4);
	}
}

/*
 * The body in quoted-printable (RFC 2045 6.7): every line break of the
 * text (CRLF, CR or LF) becomes CRLF; '=', bytes outside printable
 * ASCII, a space or tab ending a line and a '.' starting one are
 * encoded; lines are cut with soft breaks at 76 characters.
 */
static void
mail_qp(struct mail_buf *b, const char *text)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			 tok[3];
	size_t			 col, n;
	int			 eol;

	col = 0;
	for (p = (const unsigned char *)text; *p != '\0'; p++) {
		if (*p == '\r' || *p == '\n') {
			if (*p == '\r' && p[1] == '\n')
				p++;
			mail_puts(b, "\r\n");
			col = 0;
			continue;
		}
		eol = p[1] == '\0' || p[1] == '\r' || p[1] == '\n';
		if ((*p >= 0x21 && *p <= 0x7e && *p != '=' &&
		    !(*p == '.' && col == 0)) ||
		    ((*p == ' ' || *p == '\t') && !eol)) {
			tok[0] = (char)*p;
			n = 1;
		} else {
			tok[0] = '=';
			tok[1] = hex[*p >> 4];
			tok[2] = hex[*p & 0x0f];
			n = 3;
		}
		/* Room for the token and a soft break's '='. */
		if (col + n > QP_LINE_MAX - 1 && !(eol && col + n <=
		    QP_LINE_MAX)) {
			mail_puts(b, "=\r\n");
			col = 0;
			if (tok[0] == '.' && n == 1) {
				tok[0] = '=';
				tok[1] = '2';
				tok[2] = 'E';
				n = 3;
			}
		}
		mail_put(b, tok, n);
		col += n;
	}
	if (col > 0 || b->len == 0 || b->p[b->len - 1] != '\n')
		mail_puts(b, "\r\n");
}

/* RFC 5322 3.3 in UTC, without the locale: "Tue, 01 Dec 2026 22:23:33 +0000". */
static void
mail_date(struct mail_buf *b, time_t t)
{
	static const char	*days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
				    "Fri", "Sat" };
	static const char	*months[] = { "Jan", "Feb", "Mar", "Apr",
				    "May", "Jun", "Jul", "Aug", "Sep", "Oct",
				    "Nov", "Dec" };
	struct tm		 tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	mail_printf(b, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
mail_put(struct mail_buf *b, const void *p, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		b->cap = (b->len + len + 1) * 2 + 256;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			abort();
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

static void
mail_puts(struct mail_buf *b, const char *s)
{
	mail_put(b, s, strlen(s));
}

static void
mail_printf(struct mail_buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[1024];
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		abort();
	mail_put(b, buf, (size_t)n);
}

int
mail_setup(const char *url, const char *ca_file, long timeout_ms,
    char *err, size_t errlen)
{
	const char	*rest;
	size_t		 len;
	int		 tls;

	smtp_timeout_ms = timeout_ms;
	free(smtp_url);
	smtp_url = NULL;
	free(smtp_ca.data);
	memset(&smtp_ca, 0, sizeof(smtp_ca));

	if (!strncmp(url, "smtp+starttls://", 16)) {
		rest = url + 16;
		smtp_ssl = CURLUSESSL_ALL;
	} else if (!strncmp(url, "smtps://", 8)) {
		rest = url + 8;
		smtp_ssl = CURLUSESSL_ALL;
	} else if (!strncmp(url, "smtp://", 7)) {
		rest = url + 7;
		smtp_ssl = CURLUSESSL_NONE;
	} else {
		(void)snprintf(err, errlen, "invalid SMTP_URL: expected "
		    "smtp://, smtps:// or smtp+starttls://");
		return (-1);
	}
	tls = smtp_ssl == CURLUSESSL_ALL;
	/* user:password@ in the authority: AUTH, only over TLS. */
	len = strcspn(rest, "/?#");
	if (!tls && memchr(rest, '@', len) != NULL) {
		(void)snprintf(err, errlen, "invalid SMTP_URL: user:password@ "
		    "needs smtps:// or smtp+starttls:// (a password is never "
		    "sent in clear)");
		return (-1);
	}
	if (ca_file != NULL && mail_read_ca(ca_file, err, errlen) == -1)
		return (-1);

	/* libcurl's smtp:// with CURLUSESSL_ALL is STARTTLS, required. */
	len = strlen(rest) + sizeof("smtps://");
	if ((smtp_url = malloc(len)) == NULL)
		abort();
	(void)snprintf(smtp_url, len, "%s://%s",
	    strncmp(url, "smtps://", 8) ? "smtp" : "smtps", rest);
	return (0);
}

/* SMTP_CA_FILE into smtp_ca: a PEM file of at most 4 MiB with a certificate. */
static int
mail_read_ca(const char *path, char *err, size_t errlen)
{
	FILE	*fp;
	char	*buf;
	size_t	 len, n;

	if ((fp = fopen(path, "r")) == NULL) {
		(void)snprintf(err, errlen, "invalid SMTP_CA_FILE: could not "
		    "open %s: %s", path, strerror(errno));
		return (-1);
	}
	if ((buf = malloc(MAIL_CA_MAX + 1)) == NULL)
		abort();
	len = 0;
	while (len < MAIL_CA_MAX + 1 &&
	    (n = fread(buf + len, 1, MAIL_CA_MAX + 1 - len, fp)) > 0)
		len += n;
	(void)fclose(fp);
	buf[len > MAIL_CA_MAX ? MAIL_CA_MAX : len] = '\0';
	if (len > MAIL_CA_MAX ||
	    strstr(buf, "-----BEGIN CERTIFICATE-----") == NULL) {
		free(buf);
		(void)snprintf(err, errlen, "invalid SMTP_CA_FILE: %s is not "
		    "a PEM file of CA certificates (at most 4 MiB)", path);
		return (-1);
	}
	smtp_ca.data = buf;
	smtp_ca.len = len;
	smtp_ca.flags = CURL_BLOB_NOCOPY;
	return (0);
}

uint64_t
mail_now_ms(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

void
mail_send(const struct mail *m, const uint64_t *deadline_ms,
    struct mail_result *r)
{
	struct mail_upload	 up;
	struct mail_dialogue	 dlg;
	struct curl_slist	*rcpt;
	char			 errbuf[CURL_ERROR_SIZE], from[300], to[300];
	char			*msg;
	size_t			 len;
	long			 code;
	CURLcode		 rc;

	memset(r, 0, sizeof(*r));
	if ((msg = mail_build(m, &len)) == NULL) {
		r->outcome = MAIL_PERMANENT;
		mail_error(r, "invalid recipient address");
		return;
	}

	if (smtp_handle == NULL && (smtp_handle = curl_easy_init()) == NULL) {
		free(msg);
		r->outcome = MAIL_TEMPORARY;
		mail_error(r, "could not start libcurl");
		return;
	}
	/* A reset keeps the handle's live connection for the next mail. */
	curl_easy_reset(smtp_handle);

	(void)snprintf(from, sizeof(from), "<%s>", m->from);
	(void)snprintf(to, sizeof(to), "<%s>", m->to);
	if ((rcpt = curl_slist_append(NULL, to)) == NULL)
		abort();
	up.p = msg;
	up.left = len;
	memset(&dlg, 0, sizeof(dlg));
	dlg.deadline_ms = deadline_ms;
	dlg.give_up_ms = mail_now_ms() + (uint64_t)smtp_timeout_ms;
	errbuf[0] = '\0';

	(void)curl_easy_setopt(smtp_handle, CURLOPT_URL, smtp_url);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_USE_SSL, smtp_ssl);
	/*
	 * The server's certificate and name are verified (libcurl's
	 * default, never turned off): against SMTP_CA_FILE alone when set,
	 * else the system's bundle.
	 */
	if (smtp_ca.data != NULL) {
		(void)curl_easy_setopt(smtp_handle, CURLOPT_CAINFO_BLOB,
		    &smtp_ca);
		(void)curl_easy_setopt(smtp_handle, CURLOPT_CAINFO, NULL);
		(void)curl_easy_setopt(smtp_handle, CURLOPT_CAPATH, NULL);
	}
	(void)curl_easy_setopt(smtp_handle, CURLOPT_MAIL_FROM, from);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_MAIL_RCPT, rcpt);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_UPLOAD, 1L);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_READFUNCTION, mail_read);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_READDATA, &up);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_INFILESIZE_LARGE,
	    (curl_off_t)len);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_CONNECTTIMEOUT_MS,
	    smtp_timeout_ms < 10000 ? smtp_timeout_ms : 10000L);
	/*
	 * libcurl 7.88 does not apply TIMEOUT_MS to the wait for the answer
	 * to the end of DATA (only its 5 minute response timeout): the
	 * progress callback, called at least once a second, enforces both.
	 */
	(void)curl_easy_setopt(smtp_handle, CURLOPT_TIMEOUT_MS,
	    smtp_timeout_ms);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_SERVER_RESPONSE_TIMEOUT,
	    (smtp_timeout_ms + 999) / 1000);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_ERRORBUFFER, errbuf);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_NOPROGRESS, 0L);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_XFERINFOFUNCTION,
	    mail_progress);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_XFERINFODATA, &dlg);
	/* The debug callback keeps the server's last line for last_error. */
	(void)curl_easy_setopt(smtp_handle, CURLOPT_VERBOSE, 1L);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_DEBUGFUNCTION, mail_debug);
	(void)curl_easy_setopt(smtp_handle, CURLOPT_DEBUGDATA, &dlg);

	rc = curl_easy_perform(smtp_handle);
	code = 0;
	(void)curl_easy_getinfo(smtp_handle, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(rcpt);
	explicit_bzero(msg, len);
	free(msg);

	if (rc == CURLE_OK) {
		r->outcome = MAIL_SENT;
		return;
	}

	/*
	 * Nothing else of this connection can be trusted: drop it, without
	 * waiting long for the answer to QUIT.
	 */
	(void)curl_easy_setopt(smtp_handle, CURLOPT_SERVER_RESPONSE_TIMEOUT,
	    1L);
	curl_easy_cleanup(smtp_handle);
	smtp_handle = NULL;

	r->outcome = code >= 500 && code <= 599 ? MAIL_PERMANENT :
	    MAIL_TEMPORARY;
	if (dlg.expired) {
		mail_error(r, "abandoned: the job's lease was not renewed");
	} else if (dlg.timed_out || rc == CURLE_OPERATION_TIMEDOUT) {
		r->outcome = MAIL_TEMPORARY;
		mail_error(r, "Timeout: no answer from the SMTP server within "
		    "%ld ms", smtp_timeout_ms);
	} else if (code >= 400 && dlg.last[0] != '\0') {
		mail_error(r, "smtp: %s", dlg.last);
	} else if (rc == CURLE_USE_SSL_FAILED) {
		mail_error(r, "tls: STARTTLS is required but the SMTP server "
		    "does not offer it; nothing was sent");
	} else if (rc == CURLE_PEER_FAILED_VERIFICATION) {
		mail_error(r, "tls: the SMTP server's certificate is not "
		    "trusted (SMTP_CA_FILE): %s", errbuf[0] ? errbuf :
		    curl_easy_strerror(rc));
	} else if (rc == CURLE_SSL_CONNECT_ERROR) {
		mail_error(r, "tls: handshake with the SMTP server failed: %s",
		    errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else {
		mail_error(r, "%s%s%s", curl_easy_strerror(rc),
		    errbuf[0] ? ": " : "", errbuf);
	}
}

/* r->error from fmt, cut to size, non-printables as '?'. */
static void
mail_error(struct mail_result *r, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	mail_printable(r->error, sizeof(r->error), r->error,
	    strlen(r->error));
}

static size_t
mail_read(char *buf, size_t size, size_t n, void *arg)
{
	struct mail_upload	*up = arg;
	size_t			 len;

	len = size * n;
	if (len > up->left)
		len = up->left;
	memcpy(buf, up->p, len);
	up->p += len;
	up->left -= len;
	return (len);
}

/* Abandon the transfer past SMTP_TIMEOUT_MS or once the job's lease may have lapsed. */
static int
mail_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct mail_dialogue	*dlg = arg;
	uint64_t		 now;

	now = mail_now_ms();
	if (dlg->deadline_ms != NULL &&
	    now >= __atomic_load_n(dlg->deadline_ms, __ATOMIC_ACQUIRE)) {
		dlg->expired = 1;
		return (1);
	}
	if (now >= dlg->give_up_ms) {
		dlg->timed_out = 1;
		return (1);
	}
	return (0);
}

/* The server's lines (CURLINFO_HEADER_IN): keep the last one. */
static int
mail_debug(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	struct mail_dialogue	*dlg = arg;

	if (type != CURLINFO_HEADER_IN)
		return (0);
	while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
		size--;
	if (size > 0)
		mail_printable(dlg->last, sizeof(dlg->last), data, size);
	return (0);
}

/* Copy len bytes of in to out (NUL-terminated), non-printables as '?'. */
static void
mail_printable(char *out, size_t outlen, const char *in, size_t len)
{
	size_t	i;

	if (out == NULL || outlen == 0)
		return;
	if (len > outlen - 1)
		len = outlen - 1;
	for (i = 0; i < len; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[len] = '\0';
}
