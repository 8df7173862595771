/* userapi: argon2id password hashes (PHC strings), computed off the event loop. */

#ifndef USERAPI_AUTH_PASSWORD_H
#define USERAPI_AUTH_PASSWORD_H

#include <stddef.h>
#include <stdint.h>

struct kore_task;

#define PASSWORD_HASH_MAX	256
#define PASSWORD_INPUT_MAX	512	/* bytes of one password */

/* What a password task does (the first byte of its message). */
#define PASSWORD_OP_HASH	'H'	/* pw -> PHC string ("" on failure) */
#define PASSWORD_OP_VERIFY	'V'	/* hash, pw -> "1" or "0" */
#define PASSWORD_OP_CHANGE	'C'	/* hash, pw, new -> "1"+PHC or "0" */
#define PASSWORD_MSG_MAX	(1 + PASSWORD_HASH_MAX + 2 * PASSWORD_INPUT_MAX + 3)

/*
 * Hash pw (len bytes) with argon2id, m KiB, t passes, p lanes and a
 * 16-byte salt from getrandom. Writes the PHC string into out.
 * Blocking (tens of ms): call it from a task or the CLI. 0 or -1.
 */
int	password_hash(const char *pw, size_t len, uint32_t m, uint32_t t,
	    uint32_t p, char *out, size_t outlen);

/* 1 when pw matches the PHC string hash, else 0. Blocking. */
int	password_verify(const char *hash, const char *pw, size_t len);

/*
 * The task message for op with its NUL-separated arguments (b, c may be
 * NULL). Returns its length, or 0 when it does not fit.
 */
size_t	password_msg(char *buf, size_t len, int op, const char *a,
	    const char *b, const char *c);

/* Task body: runs one PASSWORD_OP_* message with the ARGON2_* settings. */
int	password_task(struct kore_task *);

/*
 * A hash of a random password with the configured cost, made once in
 * the parent: logins of unknown or inactive accounts are verified
 * against it, so they take as long as a wrong password.
 */
void	password_dummy_init(void);
const char *password_dummy(void);

#endif
