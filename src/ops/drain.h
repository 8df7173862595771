/* userapi: graceful drain on SIGTERM or SIGINT: refuse new work, finish what is in flight, exit in time. */

#ifndef USERAPI_OPS_DRAIN_H
#define USERAPI_OPS_DRAIN_H

/* 1 once this worker drains (new work refused, in-flight work finishing). */
int	drain_active(void);

#endif
