/* userapi: argon2id password hashes (PHC strings), computed off the event loop. */

#include <sys/types.h>
#include <sys/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>

#include <kore/kore.h>
#include <kore/tasks.h>

#include "auth/password.h"
#include "config.h"

#define PASSWORD_SALT_LEN	16
#define PASSWORD_KEY_LEN	32

static char	dummy_hash[PASSWORD_HASH_MAX];

int
password_hash(const char *pw, size_t len, uint32_t m, uint32_t t, uint32_t p,
    char *out, size_t outlen)
{
	u_int8_t	salt[PASSWORD_SALT_LEN];

	if (getrandom(salt, sizeof(salt), 0) != sizeof(salt))
		return (-1);
	if (argon2id_hash_encoded(t, m, p, pw, len, salt, sizeof(salt),
	    PASSWORD_KEY_LEN, out, outlen) != ARGON2_OK)
		return (-1);
	return (0);
}

int
password_verify(const char *hash, const char *pw, size_t len)
{
	return (argon2id_verify(hash, pw, len) == ARGON2_OK);
}

size_t
password_msg(char *buf, size_t len, int op, const char *a, const char *b,
    const char *c)
{
	const char	*args[3];
	size_t		 off, n, i;

	args[0] = a;
	args[1] = b;
	args[2] = c;
	if (len < 1)
		return (0);
	buf[0] = (char)op;
	off = 1;
	for (i = 0; i < 3 && args[i] != NULL; i++) {
		n = strlen(args[i]);
		if (off + n + 1 > len)
			return (0);
		memcpy(buf + off, args[i], n + 1);
		off += n + 1;
	}
	return (off);
}

int
password_task(struct kore_task *task)
{
	char		 msg[PASSWORD_MSG_MAX], out[PASSWORD_HASH_MAX + 1];
	const char	*arg[3];
	u_int32_t	 len;
	size_t		 off, i;

	len = kore_task_channel_read(task, msg, sizeof(msg) - 1);
	if (len > sizeof(msg) - 1)
		len = 0;
	msg[len] = '\0';

	/* Split the NUL-separated arguments after the op byte. */
	memset(arg, 0, sizeof(arg));
	for (i = 0, off = 1; i < 3 && off < len; i++) {
		arg[i] = msg + off;
		off += strlen(msg + off) + 1;
	}

	out[0] = '\0';
	switch (len > 0 ? msg[0] : 0) {
	case PASSWORD_OP_HASH:
		if (arg[0] == NULL || password_hash(arg[0], strlen(arg[0]),
		    cfg.argon2_m_kib, cfg.argon2_t, cfg.argon2_p, out,
		    sizeof(out)) == -1)
			out[0] = '\0';
		break;
	case PASSWORD_OP_VERIFY:
		out[0] = (arg[1] != NULL &&
		    password_verify(arg[0], arg[1], strlen(arg[1]))) ? '1' : '0';
		out[1] = '\0';
		break;
	case PASSWORD_OP_CHANGE:
		out[0] = '0';
		out[1] = '\0';
		if (arg[2] != NULL &&
		    password_verify(arg[0], arg[1], strlen(arg[1])) &&
		    password_hash(arg[2], strlen(arg[2]), cfg.argon2_m_kib,
		    cfg.argon2_t, cfg.argon2_p, out + 1, sizeof(out) - 1) == 0)
			out[0] = '1';
		else
			out[1] = '\0';
		break;
	default:
		break;
	}

	explicit_bzero(msg, sizeof(msg));
	kore_task_channel_write(task, out, (u_int32_t)strlen(out));
	return (KORE_RESULT_OK);
}

void
password_dummy_init(void)
{
	u_int8_t	rnd[24];
	char		pw[sizeof(rnd) * 2 + 1];
	size_t		i;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		fatal("getrandom failed");
	for (i = 0; i < sizeof(rnd); i++)
		(void)snprintf(pw + i * 2, 3, "%02x", rnd[i]);
	if (password_hash(pw, strlen(pw), cfg.argon2_m_kib, cfg.argon2_t,
	    cfg.argon2_p, dummy_hash, sizeof(dummy_hash)) == -1)
		fatal("could not make the dummy password hash");
}

const char *
password_dummy(void)
{
	return (dummy_hash);
}
