/* userapi: token buckets per client address and route class in a fixed table shared by the workers. */

#ifndef USERAPI_OPS_RATELIMIT_H
#define USERAPI_OPS_RATELIMIT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/netaddr.h"

/*
 * One bucket per (address, class), kept as GCRA's "theoretical arrival
 * time" (tat): the bucket holds q tokens refilled evenly over w seconds;
 * a request costs one token (advances tat by w/q); it is refused when
 * tat would be more than w ahead of now. tat <= now is a full bucket.
 * Both words are single atomics (compare-and-swap): no lock, and no
 * allocation after rl_table_size bytes were mapped.
 */
struct rl_slot {
	_Atomic uint64_t	key;	/* keyed hash of (address, class); 0: free */
	_Atomic uint64_t	tat;	/* microseconds, rl clock; 0: full */
};

/*
 * Open addressing over a power-of-two table: a key lives in one of the
 * RL_PROBES slots from its hash. When all of them hold other keys, the
 * one with the oldest tat is taken over (eviction rule): a slot whose
 * tat is past is a full bucket, the same as no entry, so nothing is
 * lost; only when every candidate is still refilling does one client's
 * bucket restart full (the limiter errs towards letting a request in).
 * A flood of distinct addresses thus churns the table but never grows it.
 */
#define RL_PROBES	8

struct rl_table {
	uint64_t		k0, k1;		/* SipHash key, random per boot */
	size_t			mask;		/* slots - 1 */
	_Atomic uint64_t	evictions;	/* live buckets taken over */
	struct rl_slot		slots[];
};

/* A policy: q requests per w seconds (burst q); q == 0 is off. */
struct rl_policy {
	uint32_t	q;
	uint32_t	w;
};

struct rl_result {
	int		allowed;
	uint32_t	remaining;	/* requests left now */
	uint32_t	reset;		/* seconds until the bucket is full */
	uint32_t	retry_after;	/* seconds, when refused */
};

/* Bytes of a table of nslots (a power of two). */
size_t	rl_table_size(size_t nslots);

/* Set up a zeroed table of nslots in mem (rl_table_size bytes). */
struct rl_table	*rl_table_init(void *mem, size_t nslots, uint64_t k0,
		    uint64_t k1);

/*
 * Take one token from the bucket of (addr, cls) under p at now_us
 * (monotonic microseconds, > 0). Fills *r; returns r->allowed.
 */
int	rl_take(struct rl_table *, const struct netaddr *addr, unsigned int cls,
	    const struct rl_policy *p, uint64_t now_us, struct rl_result *r);

/* "10/60" (10 requests per 60 s), "0" (off). 0, or -1 when malformed. */
int	rl_policy_parse(const char *s, struct rl_policy *p);

/* SipHash-2-4 of data under (k0, k1). */
uint64_t rl_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len);

#endif
