/* userapi: token buckets per client address and route class in a fixed table shared by the workers. */

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ratelimit.h"

#define RL_USEC		1000000ULL

static struct rl_slot	*rl_slot_find(struct rl_table *, uint64_t, uint64_t,
			    uint64_t);

size_t
rl_table_size(size_t nslots)
{
	return (sizeof(struct rl_table) + nslots * sizeof(struct rl_slot));
}

struct rl_table *
rl_table_init(void *mem, size_t nslots, uint64_t k0, uint64_t k1)
{
	struct rl_table	*t;

	t = mem;
	t->k0 = k0;
	t->k1 = k1;
	t->mask = nslots - 1;
	atomic_init(&t->evictions, 0);
	return (t);
}

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

uint64_t
rl_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
	const uint8_t	*in;
	uint64_t	 v0, v1, v2, v3, m, b;
	size_t		 i, left;

	in = data;
	v0 = 0x736f6d6570736575ULL ^ k0;
	v1 = 0x646f72616e646f6dULL ^ k1;
	v2 = 0x6c7967656e657261ULL ^ k0;
	v3 = 0x7465646279746573ULL ^ k1;
	b = (uint64_t)len << 56;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&m, in + i, 8);	/* little-endian hosts (x86, arm64) */
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	left = len - i;
	while (left > 0) {
		left--;
		b |= (uint64_t)in[i + left] << (8 * left);
	}
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return (v0 ^ v1 ^ v2 ^ v3);
}

/*
 * The slot of key: its own, a free one (claimed), or the candidate with
 * the oldest tat (taken over, its bucket restarting full).
 */
static struct rl_slot *
rl_slot_find(struct rl_table *t, uint64_t key, uint64_t h, uint64_t now_us)
{
	struct rl_slot	*s, *oldest;
	uint64_t	 k, tat, oldest_tat;
	size_t		 i;

	oldest = NULL;
	oldest_tat = UINT64_MAX;
	for (i = 0; i < RL_PROBES; i++) {
		s = &t->slots[(h + i) & t->mask];
		k = atomic_load_explicit(&s->key, memory_order_acquire);
		if (k == key)
			return (s);
		if (k == 0) {
			if (atomic_compare_exchange_strong(&s->key, &k, key)) {
				atomic_store(&s->tat, 0);
				return (s);
			}
			if (k == key)
				return (s);
		}
		tat = atomic_load_explicit(&s->tat, memory_order_relaxed);
		if (tat < oldest_tat) {
			oldest_tat = tat;
			oldest = s;
		}
	}

	/* Every candidate belongs to another key: take the oldest. */
	k = atomic_load(&oldest->key);
	if (atomic_compare_exchange_strong(&oldest->key, &k, key)) {
		(void)atomic_exchange(&oldest->tat, 0);
		if (oldest_tat > now_us)
			atomic_fetch_add_explicit(&t->evictions, 1,
			    memory_order_relaxed);
	}
	return (oldest);
}

int
rl_take(struct rl_table *t, const struct netaddr *addr, unsigned int cls,
    const struct rl_policy *p, uint64_t now_us, struct rl_result *r)
{
	struct rl_slot	*s;
	uint8_t		 buf[17];
	uint64_t	 key, h, tat, next, window, interval, ahead;

	memset(r, 0, sizeof(*r));
	r->allowed = 1;
	if (p->q == 0)
		return (1);

	memcpy(buf, addr->a, 16);
	buf[16] = (uint8_t)cls;
	h = rl_siphash(t->k0, t->k1, buf, sizeof(buf));
	key = h | 1;			/* never 0, the free mark */
	s = rl_slot_find(t, key, h >> 32, now_us);

	window = (uint64_t)p->w * RL_USEC;
	interval = window / p->q;
	if (interval == 0)
		interval = 1;

	tat = atomic_load_explicit(&s->tat, memory_order_relaxed);
	for (;;) {
		next = (tat > now_us ? tat : now_us) + interval;
		ahead = next - now_us;
		if (ahead > window) {
			/* Refused: the token frees up when next - window. */
			r->allowed = 0;
			r->remaining = 0;
			r->retry_after = (uint32_t)((ahead - window +
			    RL_USEC - 1) / RL_USEC);
			if (r->retry_after == 0)
				r->retry_after = 1;
			ahead = (tat > now_us ? tat : now_us) - now_us;
			r->reset = (uint32_t)((ahead + RL_USEC - 1) / RL_USEC);
			return (0);
		}
		if (atomic_compare_exchange_weak_explicit(&s->tat, &tat, next,
		    memory_order_relaxed, memory_order_relaxed))
			break;
	}
	r->remaining = (uint32_t)((window - ahead) / interval);
	r->reset = (uint32_t)((ahead + RL_USEC - 1) / RL_USEC);
	return (1);
}

int
rl_policy_parse(const char *s, struct rl_policy *p)
{
	char		*ep;
	unsigned long	 q, w;

	p->q = 0;
	p->w = 1;
	if (s[0] < '0' || s[0] > '9')
		return (-1);
	q = strtoul(s, &ep, 10);
	if (*ep == '\0' && q == 0)
		return (0);
	if (*ep != '/' || ep[1] < '0' || ep[1] > '9' || q > 1000000)
		return (-1);
	w = strtoul(ep + 1, &ep, 10);
	if (*ep != '\0' || w == 0 || w > 86400)
		return (-1);
	p->q = (uint32_t)q;
	p->w = (uint32_t)w;
	return (0);
}
