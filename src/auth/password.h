/* userapi: argon2id password hashes (PHC strings), computed off the event loop. */

#ifndef USERAPI_AUTH_PASSWORD_H
#define USERAPI_AUTH_PASSWORD_H

#include <stddef.h>
#include <stdint.h>

#define PASSWORD_HASH_MAX	256
#define PASSWORD_INPUT_MAX	512	/* bytes of one password */

/*
 * Hash pw (len bytes) with argon2id, m KiB, t passes, p lanes and a
 * 16-byte salt from getrandom. Writes the PHC string into out.
 * Blocking (tens of ms): call it from a task or the CLI. 0 or -1.
 */
int	password_hash(const char *pw, size_t len, uint32_t m, uint32_t t,
	    uint32_t p, char *out, size_t outlen);

/* 1 when pw matches the PHC string hash, else 0. Blocking. */
int	password_verify(const char *hash, const char *pw, size_t len);

/* What a password job does. */
enum password_op {
	PASSWORD_OP_HASH,	/* pw -> out */
	PASSWORD_OP_VERIFY,	/* hash, pw -> ok */
	PASSWORD_OP_CHANGE	/* hash, pw, next -> ok, and out when ok */
};

/*
 * The message of one background password job (BG_PASSWORD): the inputs,
 * then what password_run leaves in it. password_run clears the inputs.
 */
struct password_job {
	enum password_op	 op;
	char			 hash[PASSWORD_HASH_MAX];
	char			 pw[PASSWORD_INPUT_MAX + 1];
	char			 next[PASSWORD_INPUT_MAX + 1];
	int			 ok;	/* VERIFY, CHANGE: pw matched hash */
	char			 out[PASSWORD_HASH_MAX];	/* "" on failure */
};

/*
 * A malloc'd job for op; hash and next may be NULL when op takes none.
 * NULL when an argument is longer than the job holds.
 */
struct password_job *password_job_new(enum password_op, const char *hash,
	    const char *pw, const char *next);

/* Clear and free a job (NULL is fine). */
void	password_job_free(struct password_job *);

/*
 * Run a job with the ARGON2_* settings (blocking: a BG_PASSWORD thread).
 * Takes a struct password_job as void * for bg_start.
 */
void	password_run(void *job);

/*
 * A hash of a random password with the configured cost, made once in
 * the parent: logins of unknown or inactive accounts are verified
 * against it, so they take as long as a wrong password.
 */
void	password_dummy_init(void);
const char *password_dummy(void);

#endif
