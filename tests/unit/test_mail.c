/* userapi: unit tests for the notification mail (src/jobs/mail.c): headers, encodings, injection. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "jobs/mail.h"

#define JOB_ID	"0193a6c4-5b1e-7c2a-9f3d-2a4b6c8d0e1f"

static char	*build(const char *, const char *, const char *);
static char	*header_block(const char *);
static int	 header_count(const char *, const char *);
static char	*header_value(const char *, const char *);
static char	*body_of(const char *);
static char	*qp_decode(const char *);
static char	*ew_decode(const char *);
static void	 assert_lines_short(const char *, size_t);

static char *
build(const char *to, const char *subject, const char *body)
{
	struct mail	 m;
	size_t		 len;
	char		*msg;

	m.from = "userapi@example.org";
	m.to = to;
	m.subject = subject;
	m.body = body;
	m.id = JOB_ID;
	m.date = 1796163813;	/* 2026-12-01T22:23:33Z */
	msg = mail_build(&m, &len);
	if (msg != NULL)
		assert_int_equal(strlen(msg), len);
	return (msg);
}

/* The headers: everything before the first empty line (malloc'd). */
static char *
header_block(const char *msg)
{
	const char	*end;

	end = strstr(msg, "\r\n\r\n");
	assert_non_null(end);
	return (strndup(msg, (size_t)(end - msg) + 2));
}

/* How many header lines start with name (e.g. "Bcc:"), case-insensitively. */
static int
header_count(const char *msg, const char *name)
{
	char		*h, *line, *save;
	int		 n;

	h = header_block(msg);
	n = 0;
	for (line = strtok_r(h, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncasecmp(line, name, strlen(name)) == 0)
			n++;
	}
	free(h);
	return (n);
}

/* The unfolded value of header name ("Subject"), malloc'd. */
static char *
header_value(const char *msg, const char *name)
{
	char		*h, *p, *out, *o;
	size_t		 nlen;

	h = header_block(msg);
	nlen = strlen(name);
	for (p = h; p != NULL && *p != '\0'; p = strstr(p, "\r\n") + 2) {
		if (strncmp(p, name, nlen) == 0 && p[nlen] == ':')
			break;
	}
	assert_non_null(p);
	assert_true(*p != '\0');
	p += nlen + 2;
	out = o = calloc(1, strlen(p) + 1);
	for (;;) {
		if (p[0] == '\r' && p[1] == '\n') {
			if (p[2] != ' ' && p[2] != '\t')
				break;
			p += 2;		/* unfold: CRLF WSP -> WSP */
			continue;
		}
		*o++ = *p++;
	}
	free(h);
	return (out);
}

static char *
body_of(const char *msg)
{
	const char	*p;

	p = strstr(msg, "\r\n\r\n");
	assert_non_null(p);
	return (strdup(p + 4));
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Quoted-printable to bytes; hard line breaks stay CRLF. */
static char *
qp_decode(const char *in)
{
	char	*out, *o;

	out = o = calloc(1, strlen(in) + 1);
	while (*in != '\0') {
		if (in[0] == '=' && in[1] == '\r' && in[2] == '\n') {
			in += 3;
		} else if (in[0] == '=') {
			assert_true(hexval(in[1]) >= 0 && hexval(in[2]) >= 0);
			*o++ = (char)(hexval(in[1]) * 16 + hexval(in[2]));
			in += 3;
		} else {
			*o++ = *in++;
		}
	}
	return (out);
}

static int
b64val(int c)
{
	const char	*tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char	*p;

	if (c == '\0' || (p = strchr(tab, c)) == NULL)
		return (-1);
	return ((int)(p - tab));
}

/* An unfolded header value of UTF-8 B encoded-words separated by spaces. */
static char *
ew_decode(const char *in)
{
	char		*out, *o;
	const char	*end;
	unsigned int	 v;
	int		 i, n, pad;

	out = o = calloc(1, strlen(in) + 1);
	while (*in != '\0') {
		if (*in == ' ') {
			in++;
			continue;
		}
		assert_memory_equal(in, "=?UTF-8?B?", 10);
		in += 10;
		end = strstr(in, "?=");
		assert_non_null(end);
		/* Each encoded-word, with its delimiters, fits in 75. */
		assert_true(end - in + 12 <= 75);
		while (in < end) {
			v = 0;
			pad = 0;
			for (i = 0; i < 4; i++) {
				if (in[i] == '=') {
					pad++;
					v <<= 6;
					continue;
				}
				n = b64val(in[i]);
				assert_true(n >= 0);
				v = (v << 6) | (unsigned int)n;
			}
			*o++ = (char)(v >> 16);
			if (pad < 2)
				*o++ = (char)((v >> 8) & 0xff);
			if (pad < 1)
				*o++ = (char)(v & 0xff);
			in += 4;
		}
		in = end + 2;
	}
	return (out);
}

static void
assert_lines_short(const char *s, size_t max)
{
	const char	*p, *nl;

	for (p = s; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p) - 1;
		else
			assert_true(nl > p && nl[-1] == '\r');
		assert_true((size_t)(nl - p) <= max + 1);
	}
}

/* Every header the contract names, once, in order, plain ASCII. */
static void
test_headers(void **state)
{
	const char	*want = "From: userapi@example.org\r\n"
	    "To: ada@example.com\r\nSubject: Welcome!\r\n"
	    "Date: Tue, 01 Dec 2026 22:23:33 +0000\r\n"
	    "Message-ID: <" JOB_ID "@example.org>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n";
	char		*msg, *v;
	size_t		 i;

	msg = build("ada@example.com", "Welcome!", "Hello Ada,\n\nwelcome.\n");
	assert_non_null(msg);
	assert_true(strncmp(msg, want, strlen(want)) == 0);
	for (i = 0; msg[i] != '\0'; i++)
		assert_true((unsigned char)msg[i] < 0x80);
	v = body_of(msg);
	assert_string_equal(v, "Hello Ada,\r\n\r\nwelcome.\r\n");
	free(v);
	assert_int_equal(header_count(msg, "Subject:"), 1);
	assert_int_equal(header_count(msg, "To:"), 1);
	free(msg);
}

/* CR and LF in a subject never start another header. */
static void
test_subject_injection(void **state)
{
	const char	*evil[] = {
		"Hi\r\nBcc: victim@example.net",
		"Hi\nBcc: victim@example.net",
		"Hi\rBcc: victim@example.net",
		"Hi\r\n\r\nbody injected",
		"Hi\r\n To: folded@example.net",
		"h\xc3\xa9\r\nBcc: victim@example.net",
	};
	char		*msg, *v, *d;
	size_t		 i;

	for (i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		msg = build("ada@example.com", evil[i], "x");
		assert_non_null(msg);
		assert_int_equal(header_count(msg, "Bcc:"), 0);
		assert_int_equal(header_count(msg, "To:"), 1);
		assert_int_equal(header_count(msg, " To:"), 0);
		v = body_of(msg);
		assert_string_equal(v, "x\r\n");
		free(v);
		/* The text survives, the breaks as spaces. */
		v = header_value(msg, "Subject");
		d = strncmp(v, "=?", 2) == 0 ? ew_decode(v) : strdup(v);
		assert_null(strchr(d, '\r'));
		assert_null(strchr(d, '\n'));
		assert_non_null(strstr(d, "Bcc: victim") ?
		    strstr(d, "Bcc: victim") : strstr(d, "inject") ?
		    strstr(d, "inject") : strstr(d, "folded"));
		free(d);
		free(v);
		free(msg);
	}
}

/* Non-ASCII subjects: RFC 2047 words of whole characters, round trip. */
static void
test_subject_encoded(void **state)
{
	const char	*subjects[] = {
		"Bienvenue, Zo\xc3\xab !",
		"\xe6\xac\xa2\xe8\xbf\x8e\xe6\xac\xa2\xe8\xbf\x8e\xe6\xac\xa2"
		    "\xe8\xbf\x8e\xe6\xac\xa2\xe8\xbf\x8e\xe6\xac\xa2\xe8\xbf"
		    "\x8e\xe6\xac\xa2\xe8\xbf\x8e\xe6\xac\xa2\xe8\xbf\x8e\xe6"
		    "\xac\xa2\xe8\xbf\x8e",
		"\xf0\x9f\x8e\x89 party \xf0\x9f\x8e\x89\xf0\x9f\x8e\x89"
		    "\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f"
		    "\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89",
		"looks =?UTF-8?B?encoded?= but is not",
	};
	char		*msg, *v, *d, *s;
	const char	*p;
	size_t		 i;

	for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		msg = build("ada@example.com", subjects[i], "x");
		assert_non_null(msg);
		v = header_value(msg, "Subject");
		d = ew_decode(v);
		assert_string_equal(d, subjects[i]);
		/* Each word decodes to whole UTF-8 characters. */
		s = mail_subject(subjects[i]);
		for (p = s; (p = strstr(p, "?B?")) != NULL; p += 3) {
			char	word[128], *w;
			size_t	wl;

			wl = (size_t)(strstr(p, "?=") - (p + 3));
			assert_true(wl < 100);
			(void)snprintf(word, sizeof(word), "=?UTF-8?B?%.*s?=",
			    (int)wl, p + 3);
			w = ew_decode(word);
			assert_true(strlen(w) == 0 ||
			    ((unsigned char)w[0] & 0xc0) != 0x80);
			free(w);
		}
		free(s);
		free(d);
		free(v);
		assert_lines_short(msg, 998);
		free(msg);
	}
}

/* The body: quoted-printable, ASCII only, short lines, exact round trip. */
static void
test_body_qp(void **state)
{
	char	 big[3000], *msg, *b, *d;
	size_t	 i;

	msg = build("ada@example.com", "s", "a=b caf\xc3\xa9 \ttrailing \n"
	    ".\n.hidden\nend");
	b = body_of(msg);
	for (i = 0; b[i] != '\0'; i++)
		assert_true((unsigned char)b[i] < 0x80);
	assert_null(strstr(b, "\r\n.\r\n"));
	assert_true(strncmp(b, "a=3Db caf=C3=A9 \ttrailing=20\r\n", 30) == 0);
	assert_non_null(strstr(b, "\r\n=2E\r\n=2Ehidden\r\n"));
	d = qp_decode(b);
	assert_string_equal(d, "a=b caf\xc3\xa9 \ttrailing \r\n.\r\n"
	    ".hidden\r\nend\r\n");
	free(d);
	free(b);
	free(msg);

	/* One long line with dots everywhere: soft breaks, no line of "." */
	for (i = 0; i < sizeof(big) - 1; i++)
		big[i] = i % 7 == 0 ? '.' : (i % 11 == 0 ? ' ' : 'x');
	big[sizeof(big) - 1] = '\0';
	msg = build("ada@example.com", "s", big);
	b = body_of(msg);
	assert_lines_short(b, 76);
	for (d = b; (d = strstr(d, "\r\n.")) != NULL; d++)
		fail_msg("a body line starts with a dot");
	d = qp_decode(b);
	assert_int_equal(strlen(d), strlen(big) + 2);
	assert_memory_equal(d, big, strlen(big));
	free(d);
	free(b);
	free(msg);
}

/* SMTP injection through the body is impossible: no bare dot line. */
static void
test_body_injection(void **state)
{
	char	*msg, *b;

	msg = build("ada@example.com", "s", "hi\r\n.\r\nMAIL FROM:<x@y>\r\n"
	    "RCPT TO:<victim@example.net>\r\nDATA\r\n");
	b = body_of(msg);
	assert_null(strstr(b, "\r\n.\r\n"));
	assert_true(strncmp(b, ".", 1) != 0);
	assert_int_equal(header_count(msg, "RCPT"), 0);
	free(b);
	free(msg);
}

static void
test_addresses(void **state)
{
	assert_true(mail_address_ok("ada@example.com"));
	assert_true(mail_address_ok("a.b+c@sub.example.com"));
	assert_false(mail_address_ok("ada@example.com\r\nRCPT TO:<x@y>"));
	assert_false(mail_address_ok("ada@example.com>"));
	assert_false(mail_address_ok("<ada@example.com"));
	assert_false(mail_address_ok("ada example@example.com"));
	assert_false(mail_address_ok("ada@@example.com"));
	assert_false(mail_address_ok("@example.com"));
	assert_false(mail_address_ok("ada@"));
	assert_false(mail_address_ok("ad\xc3\xa9@example.com"));
	assert_false(mail_address_ok(""));
	assert_null(build("x@y.z\r\nBcc: v@e.net", "s", "b"));
	assert_null(build("x@y.z,v@e.net", "s", "b"));
}

static void
test_setup(void **state)
{
	char	err[256], path[] = "/tmp/test_mail_ca.XXXXXX";
	FILE	*fp;
	int	 fd;

	assert_int_equal(mail_setup("smtp://localhost:1025", NULL, 1000, err,
	    sizeof(err)), 0);
	assert_int_equal(mail_setup("smtps://u:p@mail.example.com", NULL,
	    1000, err, sizeof(err)), 0);
	assert_int_equal(mail_setup("smtp+starttls://u:p@mail.example.com:587",
	    NULL, 1000, err, sizeof(err)), 0);
	assert_int_equal(mail_setup("http://example.com", NULL, 1000, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid SMTP_URL"));
	assert_int_equal(mail_setup("localhost:25", NULL, 1000, err,
	    sizeof(err)), -1);

	/* AUTH in clear is refused, and the message never shows the URL. */
	assert_int_equal(mail_setup("smtp://ada:s3cret@mail.example.com",
	    NULL, 1000, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "needs smtps:// or smtp+starttls://"));
	assert_null(strstr(err, "s3cret"));
	/* An '@' after the authority is no password. */
	assert_int_equal(mail_setup("smtp://mail.example.com/a@b", NULL, 1000,
	    err, sizeof(err)), 0);

	/* SMTP_CA_FILE: missing, not PEM, then a certificate. */
	assert_int_equal(mail_setup("smtps://mail.example.com",
	    "/nonexistent/ca.pem", 1000, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid SMTP_CA_FILE: could not open"));
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(fp = fdopen(fd, "w"));
	assert_true(fputs("not a certificate\n", fp) >= 0);
	assert_int_equal(fflush(fp), 0);
	assert_int_equal(mail_setup("smtps://mail.example.com", path, 1000,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not a PEM file"));
	assert_true(fputs("-----BEGIN CERTIFICATE-----\nMIIB\n"
	    "-----END CERTIFICATE-----\n", fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(mail_setup("smtps://mail.example.com", path, 1000,
	    err, sizeof(err)), 0);
	assert_int_equal(unlink(path), 0);
}

/* Nobody listens: a temporary failure, quickly, with curl's reason. */
static void
test_send_refused(void **state)
{
	struct mail		m;
	struct mail_result	r;
	uint64_t		deadline;
	char			err[256];

	assert_int_equal(mail_setup("smtp://127.0.0.1:1", NULL, 2000, err,
	    sizeof(err)), 0);
	memset(&m, 0, sizeof(m));
	m.from = "userapi@example.org";
	m.to = "ada@example.com";
	m.subject = "s";
	m.body = "b";
	m.id = JOB_ID;
	deadline = mail_now_ms() + 60000;
	mail_send(&m, &deadline, &r);
	assert_int_equal(r.outcome, MAIL_TEMPORARY);
	assert_non_null(strstr(r.error, "connect"));

	m.to = "bad address@example.com";
	mail_send(&m, &deadline, &r);
	assert_int_equal(r.outcome, MAIL_PERMANENT);
	assert_string_equal(r.error, "invalid recipient address");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_subject_injection),
		cmocka_unit_test(test_subject_encoded),
		cmocka_unit_test(test_body_qp),
		cmocka_unit_test(test_body_injection),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_setup),
		cmocka_unit_test(test_send_refused),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
