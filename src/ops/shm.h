/* userapi: memory shared by the parent and its workers, mapped before the fork. */

#ifndef USERAPI_OPS_SHM_H
#define USERAPI_OPS_SHM_H

#include <stddef.h>

/*
 * len bytes of zeroed memory (MAP_SHARED | MAP_ANONYMOUS): mapped in the
 * parent before it forks, the workers inherit the same pages, and update
 * them with C11 atomics only. Failure is fatal (exits 1 with a message):
 * it happens at start-up or not at all.
 */
void	*shm_map(size_t len, const char *what);

#endif
