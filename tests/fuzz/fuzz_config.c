/* userapi: libFuzzer target: the configuration read from the environment. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The input is lines KEY=VALUE: each becomes an environment variable
 * (anything else is skipped), then config_load reads them. It must
 * accept or refuse with a message naming a key, never crash or leak.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 c;
	char		*buf, *line, *next, *eq, err[256];

	if ((buf = malloc(size + 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';

	(void)clearenv();
	for (line = buf; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((eq = strchr(line, '=')) == NULL || eq == line)
			continue;
		*eq = '\0';
		(void)setenv(line, eq + 1, 1);
	}

	err[0] = '\0';
	if (config_load(&c, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
	}
	config_free(&c);
	(void)clearenv();
	free(buf);
	return (0);
}
