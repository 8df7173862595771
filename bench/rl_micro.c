/* userapi bench: nanoseconds per rate-limit decision (rl_take), one address and a new address each time. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/netaddr.h"
#include "ops/ratelimit.h"

#define CALLS	5000000

static uint64_t
now_ns(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

int
main(void)
{
	struct rl_policy	 p = { 1000000, 1 };
	struct rl_result	 r;
	struct rl_table		*t;
	struct netaddr		 a;
	uint64_t		 t0, t1, t2, us;
	uint32_t		 i, v;
	void			*mem;

	if ((mem = calloc(1, rl_table_size(65536))) == NULL)
		abort();
	t = rl_table_init(mem, 65536, 0x1234, 0x5678);
	memset(&a, 0, sizeof(a));
	a.a[10] = a.a[11] = 0xff;
	a.a[12] = 10;

	us = 1000000;
	t0 = now_ns();
	for (i = 0; i < CALLS; i++)
		(void)rl_take(t, &a, 1, &p, us + i, &r);
	t1 = now_ns();
	for (i = 0; i < CALLS; i++) {
		v = i;
		memcpy(a.a + 13, &v, 3);
		(void)rl_take(t, &a, 1, &p, us + i, &r);
	}
	t2 = now_ns();
	printf("rl_take: %.0f ns one address, %.0f ns a new address each "
	    "call (%d calls, table of 65536)\n",
	    (double)(t1 - t0) / CALLS, (double)(t2 - t1) / CALLS, CALLS);
	free(mem);
	return (0);
}
