/* userapi bench: WebSocket broadcast latency to many clients, measured by one epoll loop in C. */

/*
 * ws_bench TOKEN N MESSAGES RATE SIZE HOST:PORT [HOST:PORT...]
 *
 * N receiving sockets spread over the addresses (round robin), one
 * sending socket on the first, all authenticated with TOKEN. Once all
 * are open, the sender sends MESSAGES texts of SIZE bytes at RATE a
 * second, each "K SENT_NS padding" (CLOCK_REALTIME). Every receiver
 * notes when each message reached it, right after the read that
 * brought it, and answers the server's pings. The message's "at" (the
 * moment PostgreSQL stored it, same clock) splits each delivery in two:
 * send -> stored (the sender's frame, its worker, the INSERT) and
 * stored -> received (the commit, NOTIFY to every worker's LISTEN, the
 * worker's fan-out, the kernel, this loop). Per message, the spread is
 * the time from its first to its last delivery.
 *
 * One thread, non-blocking sockets, frames parsed in place: the client
 * costs little next to the service on a shared machine, and its own CPU
 * time is printed with the figures (one JSON line).
 */

#define _GNU_SOURCE

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE	65536
#define OPEN_TRIES	50
#define TAIL_SECONDS	30

struct conn {
	int		 fd;
	int		 sender;
	int64_t		 last_id;
	size_t		 len;
	unsigned char	 buf[BUF_SIZE];
};

struct msgstat {
	uint64_t	 first, last;
	uint32_t	 count;
};

static struct conn	**conns;
static int		 nconns;
static struct msgstat	*msgs;
static double		*lat, *stored_lat, *ingest;
static size_t		 nlat, ningest;
static uint64_t		 dups, last_recv;
static int		 nmessages;

static uint64_t
now_ns(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

static void
die(const char *what)
{
	fprintf(stderr, "ws_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

static double
pct(double *v, size_t n, double p)
{
	size_t	i;

	if (n == 0)
		return (-1);
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return (v[i < n ? i : n - 1]);
}

static void
write_all(int fd, const void *data, size_t len)
{
	const char	*p = data;
	ssize_t		 r;

	while (len > 0) {
		r = write(fd, p, len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN) {
			usleep(100);
			continue;
		}
		if (r <= 0)
			die("write");
		p += r;
		len -= (size_t)r;
	}
}

/* A masked client frame (the mask is zero: payload goes as it is). */
static void
send_frame(int fd, int op, const void *data, size_t len)
{
	unsigned char	hdr[14];
	size_t		hl;
	char		*f;

	hdr[0] = 0x80 | op;
	if (len < 126) {
		hdr[1] = 0x80 | len;
		hl = 2;
	} else {
		hdr[1] = 0x80 | 126;
		hdr[2] = len >> 8;
		hdr[3] = len & 0xff;
		hl = 4;
	}
	memset(hdr + hl, 0, 4);
	hl += 4;
	if ((f = malloc(hl + len)) == NULL)
		die("malloc");
	memcpy(f, hdr, hl);
	memcpy(f + hl, data, len);
	write_all(fd, f, hl + len);
	free(f);
}

/* A blocking connect and upgrade; -1 when the answer is not 101. */
static int
ws_open(const char *addr, const char *token)
{
	struct sockaddr_in	sin;
	char			host[64], req[2048], resp[4096];
	const char		*colon;
	size_t			got;
	ssize_t			r;
	int			fd, one = 1;

	if ((colon = strrchr(addr, ':')) == NULL ||
	    (size_t)(colon - addr) >= sizeof(host))
		return (-1);
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return (-1);

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return (-1);
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)snprintf(req, sizeof(req), "GET /ws HTTP/1.1\r\nHost: %s\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
	    host, token);
	write_all(fd, req, strlen(req));

	/* Byte by byte up to the blank line: nothing of a frame is lost. */
	got = 0;
	while (got < sizeof(resp) - 1) {
		if ((r = read(fd, resp + got, 1)) <= 0)
			break;
		got++;
		if (got >= 4 && !memcmp(resp + got - 4, "\r\n\r\n", 4))
			break;
	}
	resp[got] = '\0';
	if (strncmp(resp, "HTTP/1.1 101", 12)) {
		close(fd);
		return (-1);
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		die("fcntl");
	return (fd);
}

/* Seconds since the epoch, in ns, of "YYYY-MM-DDTHH:MM:SS.uuuuuuZ". */
static uint64_t
parse_at(const char *p)
{
	struct tm	tm;
	unsigned	us;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(p, "%4d-%2d-%2dT%2d:%2d:%2d.%6u", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us) != 7)
		return (0);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return ((uint64_t)timegm(&tm) * 1000000000ULL + (uint64_t)us * 1000);
}

/* {"type":"message","id":N,"from":..,"text":"K SENT ...","at":"..."} */
static void
on_text(struct conn *c, const char *p, size_t len, uint64_t now)
{
	const char	*id, *text, *at, *end = p + len;
	char		 tmp[64];
	uint64_t	 sent, at_ns;
	int64_t		 mid;
	long		 k;
	struct msgstat	*m;

	if (len < 20 || memcmp(p, "{\"type\":\"message\"", 17))
		return;
	if ((id = memmem(p, len, "\"id\":", 5)) == NULL ||
	    (text = memmem(p, len, "\"text\":\"", 8)) == NULL ||
	    (at = memmem(p, len, "\"at\":\"", 6)) == NULL)
		return;
	mid = strtoll(id + 5, NULL, 10);
	len = (size_t)(end - (text + 8));
	if (len > sizeof(tmp) - 1)
		len = sizeof(tmp) - 1;
	memcpy(tmp, text + 8, len);
	tmp[len] = '\0';
	if (sscanf(tmp, "%ld %lu", &k, &sent) != 2 || k < 0 ||
	    k >= nmessages)
		return;
	at_ns = parse_at(at + 6);

	if (mid <= c->last_id)
		dups++;
	c->last_id = mid;
	if (c->sender)
		return;
	lat[nlat] = (double)(now - sent) / 1e6;
	stored_lat[nlat] = at_ns ? (double)((int64_t)(now - at_ns)) / 1e6 : -1;
	nlat++;
	m = &msgs[k];
	if (m->count == 0) {
		m->first = now;
		ingest[ningest++] = at_ns ? (double)((int64_t)(at_ns - sent)) /
		    1e6 : -1;
	}
	m->last = now;
	m->count++;
	last_recv = now;
}

/* Read what is there and handle every whole frame. */
static void
on_readable(struct conn *c)
{
	unsigned char	*b;
	uint64_t	 now, n;
	size_t		 off, hl;
	ssize_t		 r;
	int		 op;

	for (;;) {
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			return;
		if (r <= 0) {
			fprintf(stderr, "ws_bench: a socket was closed\n");
			exit(1);
		}
		now = now_ns();
		c->len += (size_t)r;
		off = 0;
		for (;;) {
			b = c->buf + off;
			if (c->len - off < 2)
				break;
			op = b[0] & 0x0f;
			n = b[1] & 0x7f;
			hl = 2;
			if (n == 126) {
				if (c->len - off < 4)
					break;
				n = ((uint64_t)b[2] << 8) | b[3];
				hl = 4;
			} else if (n == 127) {
				fprintf(stderr, "ws_bench: frame too big\n");
				exit(1);
			}
			if (c->len - off < hl + n)
				break;
			if (op == 9)
				send_frame(c->fd, 10, b + hl, n);
			else if (op == 1)
				on_text(c, (const char *)b + hl, n, now);
			else if (op == 8) {
				fprintf(stderr, "ws_bench: closed by the "
				    "server\n");
				exit(1);
			}
			off += hl + n;
		}
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
}

int
main(int argc, char **argv)
{
	struct epoll_event	 ev, evs[256];
	struct rusage		 ru;
	struct conn		*snd;
	const char		*token;
	char			*text;
	double			*spread;
	uint64_t		 t0, next = 0, now, end, expected;
	double			 rate;
	int			 n, size, i, k, ep, naddr, tries, got, sent;
	size_t			 nspread;

	if (argc < 7) {
		fprintf(stderr, "usage: ws_bench TOKEN N MESSAGES RATE SIZE "
		    "HOST:PORT [HOST:PORT...]\n");
		return (2);
	}
	token = argv[1];
	n = atoi(argv[2]);
	nmessages = atoi(argv[3]);
	rate = atof(argv[4]);
	size = atoi(argv[5]);
	naddr = argc - 6;
	if (n < 1 || nmessages < 1 || rate <= 0 || size < 40 || size > 4000)
		return (2);

	expected = (uint64_t)n * (uint64_t)nmessages;
	if ((conns = calloc((size_t)n + 1, sizeof(*conns))) == NULL ||
	    (msgs = calloc((size_t)nmessages, sizeof(*msgs))) == NULL ||
	    (lat = calloc(expected + 1, sizeof(double))) == NULL ||
	    (stored_lat = calloc(expected + 1, sizeof(double))) == NULL ||
	    (ingest = calloc((size_t)nmessages, sizeof(double))) == NULL ||
	    (spread = calloc((size_t)nmessages, sizeof(double))) == NULL ||
	    (text = malloc((size_t)size + 1)) == NULL)
		die("calloc");
	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");

	/* The receivers, then the sender (its own copies are not timed). */
	for (i = 0; i <= n; i++) {
		if ((conns[i] = calloc(1, sizeof(struct conn))) == NULL)
			die("calloc");
		conns[i]->sender = i == n;
		for (tries = 0; tries < OPEN_TRIES; tries++) {
			conns[i]->fd = ws_open(argv[6 + (i == n ? 0 :
			    i % naddr)], token);
			if (conns[i]->fd != -1)
				break;
			usleep(100000 * (tries + 1));
		}
		if (conns[i]->fd == -1) {
			fprintf(stderr, "ws_bench: could not open socket %d\n",
			    i);
			return (1);
		}
		ev.events = EPOLLIN;
		ev.data.ptr = conns[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i]->fd, &ev) == -1)
			die("epoll_ctl");
		nconns++;
	}
	snd = conns[n];

	/* A second for the last upgrades' catch-up, pings answered. */
	end = now_ns() + 1000000000ULL;
	while ((now = now_ns()) < end) {
		got = epoll_wait(ep, evs, 256, (int)((end - now) / 1000000) + 1);
		for (i = 0; i < got; i++)
			on_readable(evs[i].data.ptr);
	}

	t0 = now_ns();
	sent = 0;
	end = 0;
	for (;;) {
		now = now_ns();
		if (sent < nmessages) {
			next = t0 + (uint64_t)((double)sent * 1e9 / rate);
			if (now >= next) {
				k = snprintf(text, (size_t)size + 1, "%d %lu ",
				    sent, (unsigned long)now_ns());
				memset(text + k, 'x', (size_t)(size - k));
				send_frame(snd->fd, 1, text, (size_t)size);
				if (++sent == nmessages)
					end = now_ns() + TAIL_SECONDS *
					    1000000000ULL;
				continue;
			}
		} else if (nlat >= expected || now >= end) {
			break;
		}
		if (sent < nmessages)
			k = (int)((next - now) / 1000000);
		else
			k = (int)((end - now) / 1000000) + 1;
		got = epoll_wait(ep, evs, 256, k);
		for (i = 0; i < got; i++)
			on_readable(evs[i].data.ptr);
	}

	nspread = 0;
	for (i = 0; i < nmessages; i++) {
		if (msgs[i].count > 0)
			spread[nspread++] = (double)(msgs[i].last -
			    msgs[i].first) / 1e6;
	}
	qsort(lat, nlat, sizeof(double), cmp_double);
	qsort(stored_lat, nlat, sizeof(double), cmp_double);
	qsort(ingest, ningest, sizeof(double), cmp_double);
	qsort(spread, nspread, sizeof(double), cmp_double);
	(void)getrusage(RUSAGE_SELF, &ru);

	printf("{\"clients\": %d, \"messages\": %d, \"rate\": %g, "
	    "\"size\": %d, \"expected\": %lu, \"delivered\": %zu, "
	    "\"duplicates\": %lu, \"p50_ms\": %.2f, \"p99_ms\": %.2f, "
	    "\"max_ms\": %.2f, \"delivered_per_s\": %.0f, "
	    "\"stored_p50_ms\": %.2f, \"stored_p99_ms\": %.2f, "
	    "\"to_store_p50_ms\": %.2f, \"to_store_p99_ms\": %.2f, "
	    "\"spread_p50_ms\": %.2f, \"spread_p99_ms\": %.2f, "
	    "\"client_cpu_s\": %.2f}\n",
	    n, nmessages, rate, size, (unsigned long)expected, nlat,
	    (unsigned long)dups, pct(lat, nlat, 50), pct(lat, nlat, 99),
	    nlat ? lat[nlat - 1] : -1,
	    last_recv > t0 ? (double)nlat / ((double)(last_recv - t0) / 1e9) :
	    0, pct(stored_lat, nlat, 50), pct(stored_lat, nlat, 99),
	    pct(ingest, ningest, 50), pct(ingest, ningest, 99),
	    pct(spread, nspread, 50), pct(spread, nspread, 99),
	    (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	return (0);
}
