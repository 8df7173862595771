/* userapi: libFuzzer target: the notification mail builder (headers, encoded words, quoted-printable). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/mail.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The message on the wire: ASCII only, every line ends in CRLF (but
 * perhaps the body's last) and is
 * at most 998 bytes (RFC 5322 2.1.1), no line starts with '.' (it could
 * end the SMTP data), and the head has exactly one Subject and one To.
 */
static void
mail_check(const char *msg, size_t len)
{
	const char	*p, *q, *eol, *end;
	int		 head, subjects, tos;

	if (strlen(msg) != len)
		abort();
	head = 1;
	subjects = tos = 0;
	end = msg + len;
	for (p = msg; p < end; p = eol + 2) {
		/* The last line may lack its CRLF: libcurl adds it. */
		if ((eol = strstr(p, "\r\n")) == NULL) {
			if (head)
				abort();
			eol = end;
		}
		if (memchr(p, '\n', (size_t)(eol - p)) != NULL ||
		    memchr(p, '\r', (size_t)(eol - p)) != NULL)
			abort();
		if (eol - p > 998)
			abort();
		if (eol > p && *p == '.')
			abort();
		for (q = p; q < eol; q++) {
			if ((unsigned char)*q >= 0x80)
				abort();
		}
		if (head) {
			if (eol == p) {
				head = 0;
				continue;
			}
			if (!strncmp(p, "Subject:", 8))
				subjects++;
			if (!strncmp(p, "To:", 3))
				tos++;
		}
	}
	if (head || subjects != 1 || tos != 1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail	 m;
	char		*buf, *part[4], *msg, *subj;
	size_t		 i, n, len;

	if ((buf = malloc(size + 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';

	/* to, subject, body, id: separated by NUL bytes */
	part[0] = buf;
	for (i = 1, n = 0; i < 4; i++) {
		n += strlen(part[i - 1]) + 1;
		part[i] = n <= size ? buf + n : buf + size;
	}

	memset(&m, 0, sizeof(m));
	m.from = "userapi@example.com";
	m.to = part[0];
	m.subject = part[1];
	m.body = part[2];
	/* The id is a job's UUID: at most 64 bytes reach mail_build. */
	if (strlen(part[3]) > 64)
		part[3][64] = '\0';
	m.id = part[3];
	m.date = 1900000000;

	if ((msg = mail_build(&m, &len)) != NULL) {
		if (!mail_address_ok(m.to))
			abort();
		mail_check(msg, len);
		free(msg);
	} else if (mail_address_ok(m.to)) {
		abort();
	}
	/* The Subject value: one header, folded only with CRLF + space. */
	if ((subj = mail_subject(part[1])) != NULL) {
		for (i = 0; subj[i] != '\0'; i++) {
			if (subj[i] == '\r' && (subj[i + 1] != '\n' ||
			    subj[i + 2] != ' '))
				abort();
			if (subj[i] == '\n' && (i == 0 || subj[i - 1] != '\r'))
				abort();
		}
		free(subj);
	}
	free(buf);
	return (0);
}
