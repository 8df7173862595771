/* userapi: argon2id password hashes (PHC strings), computed off the event loop. */

#include <sys/types.h>
#include <sys/random.h>

#include <string.h>

#include <argon2.h>

#include <kore/kore.h>
#include <kore/tasks.h>

#include "auth/password.h"
#include "config.h"
#include "model/user.h"

#define PASSWORD_SALT_LEN	16
#define PASSWORD_KEY_LEN	32

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
password_hash_task(struct kore_task *task)
{
	char		pw[USER_PASSWORD_MAX * 4 + 1], out[PASSWORD_HASH_MAX];
	u_int32_t	len;

	len = kore_task_channel_read(task, pw, sizeof(pw));
	if (len > sizeof(pw))
		len = 0;
	out[0] = '\0';
	if (len > 0 && password_hash(pw, len, cfg.argon2_m_kib,
	    cfg.argon2_t, cfg.argon2_p, out, sizeof(out)) == -1)
		out[0] = '\0';
	explicit_bzero(pw, sizeof(pw));
	kore_task_channel_write(task, out, (u_int32_t)strlen(out));
	return (KORE_RESULT_OK);
}
