/* userapi: argon2id password hashes (PHC strings), computed off the event loop. */

#include <sys/types.h>
#include <sys/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>

#include <kore/kore.h>

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

struct password_job *
password_job_new(enum password_op op, const char *hash, const char *pw,
    const char *next)
{
	struct password_job	*job;

	if ((hash != NULL && strlen(hash) >= sizeof(job->hash)) ||
	    strlen(pw) >= sizeof(job->pw) ||
	    (next != NULL && strlen(next) >= sizeof(job->next)))
		return (NULL);
	if ((job = calloc(1, sizeof(*job))) == NULL)
		abort();
	job->op = op;
	if (hash != NULL)
		memcpy(job->hash, hash, strlen(hash) + 1);
	memcpy(job->pw, pw, strlen(pw) + 1);
	if (next != NULL)
		memcpy(job->next, next, strlen(next) + 1);
	return (job);
}

void
password_job_free(struct password_job *job)
{
	if (job == NULL)
		return;
	explicit_bzero(job, sizeof(*job));
	free(job);
}

void
password_run(void *arg)
{
	struct password_job	*job = arg;

	job->ok = 0;
	job->out[0] = '\0';
	switch (job->op) {
	case PASSWORD_OP_HASH:
		if (password_hash(job->pw, strlen(job->pw), cfg.argon2_m_kib,
		    cfg.argon2_t, cfg.argon2_p, job->out,
		    sizeof(job->out)) == -1)
			job->out[0] = '\0';
		break;
	case PASSWORD_OP_VERIFY:
		job->ok = password_verify(job->hash, job->pw,
		    strlen(job->pw));
		break;
	case PASSWORD_OP_CHANGE:
		job->ok = password_verify(job->hash, job->pw,
		    strlen(job->pw));
		if (job->ok && password_hash(job->next, strlen(job->next),
		    cfg.argon2_m_kib, cfg.argon2_t, cfg.argon2_p, job->out,
		    sizeof(job->out)) == -1)
			job->out[0] = '\0';
		break;
	}
	explicit_bzero(job->pw, sizeof(job->pw));
	explicit_bzero(job->next, sizeof(job->next));
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
