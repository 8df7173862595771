/* userapi: argon2id password hashes (PHC strings), computed off the event loop. */

#ifndef USERAPI_AUTH_PASSWORD_H
#define USERAPI_AUTH_PASSWORD_H

#include <stddef.h>
#include <stdint.h>

struct kore_task;

#define PASSWORD_HASH_MAX	256

/*
 * Hash pw (len bytes) with argon2id, m KiB, t passes, p lanes and a
 * 16-byte salt from getrandom. Writes the PHC string into out.
 * Blocking (tens of ms): call it from a task or the CLI. 0 or -1.
 */
int	password_hash(const char *pw, size_t len, uint32_t m, uint32_t t,
	    uint32_t p, char *out, size_t outlen);

/* Task body: reads a password from the channel, answers its PHC string
 * (empty on failure). Uses the ARGON2_* settings. */
int	password_hash_task(struct kore_task *);

#endif
