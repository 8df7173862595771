/* userapi: unit tests of src/ops/ratelimit.c and src/ops/netaddr.c (buckets, eviction, CIDRs, X-Forwarded-For). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/netaddr.h"
#include "ops/ratelimit.h"

#define SEC	1000000ULL
#define T0	(1000 * SEC)

static struct netaddr	addr(const char *);
static struct rl_table	*table(size_t);
static const char	*show(const struct netaddr *);

static struct netaddr
addr(const char *s)
{
	struct netaddr	a;

	if (netaddr_parse(s, strlen(s), &a) == -1)
		fail_msg("not an address: %s", s);
	return (a);
}

static const char *
show(const struct netaddr *a)
{
	static char	buf[64];

	return (netaddr_str(a, buf, sizeof(buf)));
}

static struct rl_table *
table(size_t n)
{
	void	*mem;

	if ((mem = calloc(1, rl_table_size(n))) == NULL)
		abort();
	return (rl_table_init(mem, n, 0x0123456789abcdefULL,
	    0xfedcba9876543210ULL));
}

static void
parse_addresses(void **state)
{
	struct netaddr	a;
	const char	*bad[] = { "", " ", "1.2.3", "1.2.3.4.5", "256.1.1.1",
			    "1.2.3.4:", "1.2.3.4:x", "::g", "[::1", "[::1]x",
			    "[1.2.3.4]", "example.com", "1.2.3.4/8", NULL };
	int		i;

	a = addr("192.0.2.1");
	assert_string_equal(show(&a), "192.0.2.1");
	a = addr(" 192.0.2.1:8080 ");
	assert_string_equal(show(&a), "192.0.2.1");
	a = addr("2001:DB8::1");
	assert_string_equal(show(&a), "2001:db8::1");
	a = addr("[2001:db8::1]:443");
	assert_string_equal(show(&a), "2001:db8::1");
	a = addr("::ffff:10.0.0.1");
	assert_string_equal(show(&a), "10.0.0.1");
	for (i = 0; bad[i] != NULL; i++) {
		if (netaddr_parse(bad[i], strlen(bad[i]), &a) != -1)
			fail_msg("accepted %s", bad[i]);
	}
}

static void
parse_cidrs(void **state)
{
	struct cidr_list	 l;
	struct netaddr		 a;
	char			 err[80];
	const char		*bad[] = { "10.0.0.0/33", "1.2.3.4/", "::1/129",
				    "abc", "10.0.0.0/8,x", "[::1]/128",
				    "1.2.3.4:80", "10.0.0.0/-1", "10/8",
				    "10.0.0.0/8/8", NULL };
	int			 i;

	assert_int_equal(cidr_list_parse("10.0.0.0/8, ::1/128 192.168.1.1,"
	    "2001:db8::/33", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 4);
	a = addr("10.255.0.1");
	assert_true(cidr_list_match(&l, &a));
	a = addr("11.0.0.1");
	assert_false(cidr_list_match(&l, &a));
	a = addr("::1");
	assert_true(cidr_list_match(&l, &a));
	a = addr("::2");
	assert_false(cidr_list_match(&l, &a));
	a = addr("192.168.1.1");
	assert_true(cidr_list_match(&l, &a));
	a = addr("192.168.1.2");
	assert_false(cidr_list_match(&l, &a));
	a = addr("2001:db8:7fff::1");
	assert_true(cidr_list_match(&l, &a));
	a = addr("2001:db8:8000::1");
	assert_false(cidr_list_match(&l, &a));
	cidr_list_free(&l);

	/* 0.0.0.0/0 is every IPv4 address and no IPv6 one; ::/0 is all. */
	assert_int_equal(cidr_list_parse("0.0.0.0/0", &l, err,
	    sizeof(err)), 0);
	a = addr("203.0.113.9");
	assert_true(cidr_list_match(&l, &a));
	a = addr("2001:db8::1");
	assert_false(cidr_list_match(&l, &a));
	cidr_list_free(&l);
	assert_int_equal(cidr_list_parse("::/0", &l, err, sizeof(err)), 0);
	assert_true(cidr_list_match(&l, &a));
	cidr_list_free(&l);

	/* a host address with bits set past the prefix is the prefix */
	assert_int_equal(cidr_list_parse("172.16.5.4/12", &l, err,
	    sizeof(err)), 0);
	a = addr("172.31.0.1");
	assert_true(cidr_list_match(&l, &a));
	a = addr("172.32.0.1");
	assert_false(cidr_list_match(&l, &a));
	cidr_list_free(&l);

	assert_int_equal(cidr_list_parse("", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	assert_false(cidr_list_match(&l, &a));

	for (i = 0; bad[i] != NULL; i++) {
		err[0] = '\0';
		if (cidr_list_parse(bad[i], &l, err, sizeof(err)) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_true(err[0] != '\0');
		assert_null(l.v);
	}
}

static void
client(const char *peer, const char *trusted, const char *const *xff,
    size_t n, const char *want)
{
	struct cidr_list	l;
	struct netaddr		p, out;
	char			err[80];

	assert_int_equal(cidr_list_parse(trusted, &l, err, sizeof(err)), 0);
	p = addr(peer);
	netaddr_client(&p, xff, n, &l, &out);
	if (strcmp(show(&out), want))
		fail_msg("peer %s, xff %s: got %s, want %s", peer,
		    n ? xff[n - 1] : "-", show(&out), want);
	cidr_list_free(&l);
}

static void
forwarded_for(void **state)
{
	const char	*one[] = { "203.0.113.7" };
	const char	*chain[] = { "198.51.100.1, 203.0.113.7, 10.0.0.2" };
	const char	*spoof[] = { "1.1.1.1, 203.0.113.7" };
	const char	*junk[] = { "203.0.113.7, not-an-address" };
	const char	*junk_mid[] = { "203.0.113.7, bogus, 10.0.0.3" };
	const char	*two[] = { "203.0.113.7", "10.0.0.3" };
	const char	*alltrusted[] = { "10.0.0.9, 10.0.0.3" };
	const char	*empty[] = { " , ," };
	const char	*v6[] = { "[2001:db8::7]:443" };

	/* untrusted peer: the header is ignored */
	client("192.0.2.5", "10.0.0.0/8", one, 1, "192.0.2.5");
	client("192.0.2.5", "", one, 1, "192.0.2.5");
	/* trusted peer: right-most untrusted hop */
	client("10.0.0.1", "10.0.0.0/8", one, 1, "203.0.113.7");
	client("10.0.0.1", "10.0.0.0/8", chain, 1, "203.0.113.7");
	/* a client cannot push its own pick: what it sent stays left */
	client("10.0.0.1", "10.0.0.0/8", spoof, 1, "203.0.113.7");
	/* a hop that is no address stops the walk at the trusted proxy */
	client("10.0.0.1", "10.0.0.0/8", junk, 1, "10.0.0.1");
	client("10.0.0.1", "10.0.0.0/8", junk_mid, 1, "10.0.0.3");
	/* several headers are one list, in order */
	client("10.0.0.1", "10.0.0.0/8", two, 2, "203.0.113.7");
	/* every hop trusted: the left-most */
	client("10.0.0.1", "10.0.0.0/8", alltrusted, 1, "10.0.0.9");
	client("10.0.0.1", "10.0.0.0/8", empty, 1, "10.0.0.1");
	client("10.0.0.1", "10.0.0.0/8", NULL, 0, "10.0.0.1");
	client("::1", "::1/128", v6, 1, "2001:db8::7");
}

static void
siphash_vector(void **state)
{
	uint8_t		key[16], msg[15];
	uint64_t	k0, k1;
	size_t		i;

	/* The reference vector of the SipHash paper (appendix A). */
	for (i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	memcpy(&k0, key, 8);
	memcpy(&k1, key + 8, 8);
	assert_true(rl_siphash(k0, k1, msg, sizeof(msg)) ==
	    0xa129ca6149be45e5ULL);
}

static void
policies(void **state)
{
	struct rl_policy	p;
	const char		*bad[] = { "", "10", "a/b", "10/0", "-1/60",
				    "10/60x", "10/", "/60", " 10/60",
				    "10/86401", "1000001/60", NULL };
	int			i;

	assert_int_equal(rl_policy_parse("10/60", &p), 0);
	assert_int_equal(p.q, 10);
	assert_int_equal(p.w, 60);
	assert_int_equal(rl_policy_parse("0", &p), 0);
	assert_int_equal(p.q, 0);
	assert_int_equal(rl_policy_parse("0/60", &p), 0);
	assert_int_equal(p.q, 0);
	for (i = 0; bad[i] != NULL; i++) {
		if (rl_policy_parse(bad[i], &p) != -1)
			fail_msg("accepted %s", bad[i]);
	}
}

static void
bucket(void **state)
{
	struct rl_table		*t;
	struct rl_policy	 p = { 3, 60 };
	struct rl_result	 r;
	struct netaddr		 a, b;

	t = table(1024);
	a = addr("192.0.2.1");
	b = addr("192.0.2.2");

	/* a full bucket: q requests at once, then refused */
	assert_true(rl_take(t, &a, 1, &p, T0, &r));
	assert_int_equal(r.remaining, 2);
	assert_int_equal(r.reset, 20);
	assert_true(rl_take(t, &a, 1, &p, T0, &r));
	assert_int_equal(r.remaining, 1);
	assert_true(rl_take(t, &a, 1, &p, T0, &r));
	assert_int_equal(r.remaining, 0);
	assert_int_equal(r.reset, 60);
	assert_false(rl_take(t, &a, 1, &p, T0, &r));
	assert_int_equal(r.remaining, 0);
	assert_int_equal(r.retry_after, 20);
	assert_int_equal(r.reset, 60);
	/* refusals cost nothing: still 20 s */
	assert_false(rl_take(t, &a, 1, &p, T0 + 1, &r));
	assert_int_equal(r.retry_after, 20);

	/* other addresses and other classes have their own buckets */
	assert_true(rl_take(t, &b, 1, &p, T0, &r));
	assert_true(rl_take(t, &a, 2, &p, T0, &r));
	assert_int_equal(r.remaining, 2);

	/* one token back every w/q = 20 s */
	assert_false(rl_take(t, &a, 1, &p, T0 + 19 * SEC, &r));
	assert_int_equal(r.retry_after, 1);
	assert_true(rl_take(t, &a, 1, &p, T0 + 20 * SEC, &r));
	assert_int_equal(r.remaining, 0);
	assert_false(rl_take(t, &a, 1, &p, T0 + 20 * SEC, &r));

	/* idle for a window: full again, never more than q */
	assert_true(rl_take(t, &a, 1, &p, T0 + 500 * SEC, &r));
	assert_int_equal(r.remaining, 2);

	/* q = 0: off */
	p.q = 0;
	assert_true(rl_take(t, &a, 1, &p, T0 + 500 * SEC, &r));
	free(t);
}

static void
eviction(void **state)
{
	struct rl_table		*t;
	struct rl_policy	 p = { 1, 60 };
	struct rl_result	 r;
	struct netaddr		 a, first;
	char			 buf[32];
	int			 i, refused;

	/* RL_PROBES slots: every key shares them */
	t = table(RL_PROBES);
	first = addr("198.51.100.1");
	assert_true(rl_take(t, &first, 0, &p, T0, &r));
	assert_false(rl_take(t, &first, 0, &p, T0, &r));
	for (i = 2; i <= RL_PROBES; i++) {
		(void)snprintf(buf, sizeof(buf), "198.51.100.%d", i);
		a = addr(buf);
		assert_true(rl_take(t, &a, 0, &p, T0 + (uint64_t)i, &r));
	}
	assert_int_equal(t->evictions, 0);
	/* one more live key: the oldest (first) is taken over */
	a = addr("198.51.100.200");
	assert_true(rl_take(t, &a, 0, &p, T0 + 100, &r));
	assert_int_equal(t->evictions, 1);
	/* ... so first's bucket restarted full: it errs towards admitting */
	assert_true(rl_take(t, &first, 0, &p, T0 + 200, &r));
	assert_int_equal(t->evictions, 2);

	/* long after: full buckets are replaced without counting */
	for (i = 0; i < 100; i++) {
		(void)snprintf(buf, sizeof(buf), "2001:db8::%x", i);
		a = addr(buf);
		assert_true(rl_take(t, &a, 0, &p, T0 + 1000 * SEC +
		    (uint64_t)i * 61 * SEC, &r));
	}
	assert_int_equal(t->evictions, 2);
	free(t);

	/*
	 * A flood of distinct addresses through a small table: memory is
	 * the table's, and a client that keeps sending in the flood is
	 * still refused most of the time (the flood evicts oldest first).
	 */
	t = table(4096);
	first = addr("192.0.2.77");
	refused = 0;
	for (i = 0; i < 200000; i++) {
		(void)snprintf(buf, sizeof(buf), "10.%d.%d.%d",
		    (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
		a = addr(buf);
		(void)rl_take(t, &a, 0, &p, T0 + (uint64_t)i, &r);
		if (i % 100 == 0 && !rl_take(t, &first, 0, &p,
		    T0 + (uint64_t)i, &r))
			refused++;
	}
	assert_true(refused > 1900);
	assert_true(t->evictions > 0);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_addresses),
		cmocka_unit_test(parse_cidrs),
		cmocka_unit_test(forwarded_for),
		cmocka_unit_test(siphash_vector),
		cmocka_unit_test(policies),
		cmocka_unit_test(bucket),
		cmocka_unit_test(eviction),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
