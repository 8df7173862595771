/* userapi: memory shared by the parent and its workers, mapped before the fork. */

#include <sys/mman.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/shm.h"

void *
shm_map(size_t len, const char *what)
{
	void	*p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "userapi: could not map %zu bytes for %s: %s\n",
		    len, what, strerror(errno));
		exit(1);
	}
	return (p);
}
