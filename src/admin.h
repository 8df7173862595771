/* userapi: the first admin: ADMIN_EMAIL at start-up and `userapi create-admin`. */

#ifndef USERAPI_ADMIN_H
#define USERAPI_ADMIN_H

/*
 * At start-up: create the ADMIN_EMAIL admin when absent; an existing
 * account is never changed (a warning says so when it is not an admin).
 * Blocking, in the parent. 0, or -1 (logged).
 */
int	admin_bootstrap(const char *conninfo, const char *email,
	    const char *password);

/*
 * `userapi create-admin EMAIL`: the password from ADMIN_PASSWORD or read
 * from stdin (without echo on a terminal); creates the admin or promotes
 * the existing account and sets its password. Returns the exit code.
 */
int	admin_command(const char *conninfo, const char *email);

#endif
