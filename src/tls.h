/* userapi: checks TLS_CERT_FILE and TLS_KEY_FILE at start, in a child process, so the parent never holds the key. */

#ifndef USERAPI_TLS_H
#define USERAPI_TLS_H

#include <stddef.h>

int	tls_check(const char *cert, const char *key, char *err,
	    size_t errlen);

#endif
