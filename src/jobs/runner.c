/* userapi: the job runner of each worker: claim, lease, send, report, reclaim, prune. */

/*
 * Every worker of every instance runs one. Nothing here blocks the event
 * loop: the statements go through db/, the SMTP dialogue runs on the
 * mail pool of bg/ (mail_send), and the runner only reacts to events:
 *
 * - a NOTIFY on userapi_jobs (a job was written, queued again or
 *   reclaimed) or the LISTEN connection coming back: claim what is due,
 *   at most as many jobs as this worker has free mail slots (MAIL_MAX);
 *   a claim that filled every slot claims again as soon as one frees
 * - one statement (job_take) at a time both records the mails that went
 *   out since the last one as sent and claims jobs for the slots that
 *   frees: under load, one round trip per batch of mails, not two per
 *   mail
 * - a claimed job is 'running' under a lease in this worker's name; the
 *   runner renews the leases of every job it holds (JOB_LEASE_SECONDS / 3)
 *   while its mail is sent and reported, and the sender abandons a mail
 *   whose lease could not be renewed in time, so a job is never sent by
 *   two workers at once
 * - the outcome is reported: sent; or queued again after a backoff
 *   (exponential, jittered, capped at JOB_RETRY_MAX_SECONDS; a timer
 *   claims it when due); or failed (5xx, or out of attempts). A report
 *   the database did not take is tried again on the next tick
 * - a slow tick reclaims jobs whose lease lapsed (their worker died),
 *   claims what fell due meanwhile (retries of other workers, missed
 *   notifications) and prunes old sent jobs
 */

#include <sys/types.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kore/kore.h>

#include "bg/bg.h"
#include "config.h"
#include "db/db.h"
#include "jobs/mail.h"
#include "jobs/runner.h"
#include "log.h"
#include "ops/drain.h"
#include "ops/metrics.h"
#include "store/job_store.h"

#define SLOT_FREE	0
#define SLOT_SENDING	1	/* the mail is on the mail pool */
#define SLOT_REPORT	2	/* sent or failed: telling the database */

/*
 * Claims are woken by NOTIFY; the tick claims this often anyway, for
 * retries other workers scheduled and then died, and jobs of a crashed
 * worker once reclaimed.
 */
#define JOBS_CATCHUP_MS		5000
#define JOBS_PRUNE_MS		60000
#define JOBS_PRUNE_BATCH	1000
#define JOBS_RETRY_BASE_MS	1000
#define JOBS_COUNT_MS		5000

struct job_slot {
	int			 state;
	int			 reporting;	/* report query in flight */
	int			 lost;		/* lease taken over: logged */
	char			 id[40];
	char			*to;
	char			*subject;
	char			*body;
	int			 attempts;
	int			 max_attempts;
	uint64_t		 lease_ms;	/* atomic: local lease end */
	struct mail_result	 result;	/* written by the sender */
};

static void	jobs_tick(void *, u_int64_t);
static void	jobs_claim(void);
static void	jobs_take(int);
static void	jobs_taken(void *, const struct store_take *);
static void	jobs_send(struct job_slot *, const struct job_claim *);
static void	jobs_send_run(void *);
static void	jobs_sent(void *, void *);
static void	jobs_report(struct job_slot *);
static void	jobs_failed(void *, const struct store_fail *);
static void	jobs_reported(struct job_slot *, enum store_status);
static void	jobs_slot_free(struct job_slot *);
static void	jobs_heartbeat(u_int64_t);
static void	jobs_beaten(void *, const struct store_ids *);
static void	jobs_reclaimed(void *, const struct store_count *);
static void	jobs_pruned(void *, const struct store_count *);
static void	jobs_retry_due(void *, u_int64_t);
static void	jobs_counted(void *, const struct store_job_counts *);
static double	jobs_backoff(int);
static void	jobs_db_state(int, const char *);

static struct job_slot	*slots;
static int		 nslots;
static char		 owner[96];
static int		 lease_s;
static int		 taking, claim_again, claim_asked, backlog;
static u_int64_t	 claim_sent_ms;
static int		 beating;
static u_int64_t	 beat_sent_ms, beat_next;
static int		 reclaiming, pruning;
static u_int64_t	 reclaim_next, catchup_next, prune_next;
static int		 db_down;
static unsigned long long stat_sent, stat_failed;
static long long	 counts[4];
static int		 counts_have, counting;
static u_int64_t	 counts_at;

int
jobs_setup(char *err, size_t errlen)
{
	return (mail_setup(cfg.smtp_url, cfg.smtp_ca_file, cfg.smtp_timeout_ms,
	    err, errlen));
}

void
jobs_worker_init(void)
{
	struct timespec		ts;
	char			host[64];
	u_int64_t		now, tick;

	nslots = cfg.mail_max;
	if ((slots = calloc((size_t)nslots, sizeof(*slots))) == NULL)
		abort();
	lease_s = cfg.job_lease_seconds;

	/* Unique per worker process: host, pid and start time. */
	if (gethostname(host, sizeof(host)) == -1)
		(void)snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = '\0';
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)snprintf(owner, sizeof(owner), "%s:%d:%lld.%06ld", host,
	    (int)getpid(), (long long)ts.tv_sec, ts.tv_nsec / 1000);
	srandom((unsigned int)(getpid() ^ ts.tv_nsec));

	/* A tick often enough to renew leases a third of the way in. */
	tick = (u_int64_t)lease_s * 1000 / 4;
	if (tick > 1000)
		tick = 1000;
	if (tick < 100)
		tick = 100;
	now = kore_time_ms();
	reclaim_next = now;
	catchup_next = now;
	prune_next = now + (u_int64_t)(random() % JOBS_PRUNE_MS);
	(void)kore_timer_add(jobs_tick, tick, NULL, 0);
	db_listen(JOBS_CHANNEL, jobs_notified, jobs_resumed, NULL);
}

void
jobs_notified(void *arg, const char *channel, const char *payload)
{
	jobs_claim();
}

void
jobs_resumed(void *arg)
{
	reclaim_next = 0;
	catchup_next = 0;
	jobs_tick(NULL, kore_time_ms());
}

int
jobs_busy(void)
{
	int	i, n;

	n = taking;
	for (i = 0; i < nslots; i++) {
		if (slots[i].state != SLOT_FREE)
			n++;
	}
	return (n);
}

void
jobs_metrics(struct metrics_extra *x)
{
	static const char	*names[4] = { "queued", "running", "sent",
				    "failed" };
	u_int64_t		 now;
	int			 i;

	now = kore_time_ms();
	if (!counting && (!counts_have || now - counts_at >= JOBS_COUNT_MS)) {
		counting = 1;
		(void)job_store_count(jobs_counted, NULL);
	}
	if (!counts_have)
		return;
	x->have_jobs = 1;
	for (i = 0; i < 4; i++) {
		x->job_status[i] = names[i];
		x->job_count[i] = counts[i];
	}
	x->njobs = 4;
}

static void
jobs_counted(void *arg, const struct store_job_counts *r)
{
	counting = 0;
	if (r->status != STORE_OK)
		return;
	memcpy(counts, r->counts, sizeof(counts));
	counts_have = 1;
	counts_at = kore_time_ms();
}

void
jobs_stats(int *inflight, unsigned long long *sent,
    unsigned long long *failed)
{
	int	i;

	*inflight = 0;
	for (i = 0; i < nslots; i++) {
		if (slots[i].state != SLOT_FREE)
			(*inflight)++;
	}
	*sent = stat_sent;
	*failed = stat_failed;
}

static void
jobs_tick(void *arg, u_int64_t now)
{
	int	i, sent;

	/* Outcomes the database did not take yet (it was down). */
	for (i = sent = 0; i < nslots; i++) {
		if (slots[i].state != SLOT_REPORT || slots[i].reporting)
			continue;
		if (slots[i].result.outcome == MAIL_SENT)
			sent = 1;
		else
			jobs_report(&slots[i]);
	}
	if (sent)
		jobs_take(0);

	if (now >= beat_next)
		jobs_heartbeat(now);

	if (now >= reclaim_next && !reclaiming) {
		reclaim_next = now + (u_int64_t)lease_s * 1000 / 2;
		reclaiming = 1;
		(void)job_store_reclaim(jobs_reclaimed, NULL);
	}

	if (now >= catchup_next) {
		catchup_next = now + JOBS_CATCHUP_MS;
		jobs_claim();
	}

	if (now >= prune_next && !pruning) {
		prune_next = now + JOBS_PRUNE_MS;
		pruning = 1;
		(void)job_store_prune(cfg.job_retention_hours,
		    JOBS_PRUNE_BATCH, jobs_pruned, NULL);
	}
}

/* Claim as many due jobs as there are free slots. */
static void
jobs_claim(void)
{
	jobs_take(1);
}

/*
 * Send job_take, unless one is in flight (its answer takes again): the
 * mails that went out and are not recorded yet are recorded as sent,
 * and with claim, as many due jobs are claimed as slots are free once
 * they are (none while draining: SIGTERM lets the jobs here finish).
 */
static void
jobs_take(int claim)
{
	char	*ids, *p;
	int	 i, n, nsent;

	if (taking) {
		claim_again |= claim;
		return;
	}
	if ((ids = malloc(3 + (size_t)nslots * (UUID_STR_LEN + 1))) == NULL)
		abort();
	p = ids;
	*p++ = '{';
	for (i = n = nsent = 0; i < nslots; i++) {
		if (slots[i].state == SLOT_FREE)
			n++;
		if (slots[i].state != SLOT_REPORT || slots[i].reporting ||
		    slots[i].result.outcome != MAIL_SENT)
			continue;
		slots[i].reporting = 1;
		if (nsent++ > 0)
			*p++ = ',';
		p = stpcpy(p, slots[i].id);
	}
	*p++ = '}';
	*p = '\0';

	n += nsent;
	if (!claim || drain_active())
		n = 0;
	if (n > 0 || nsent > 0) {
		taking = 1;
		claim_again = 0;
		claim_asked = n;
		claim_sent_ms = kore_time_ms();
		(void)job_store_take(owner, ids, n, lease_s, jobs_taken, NULL);
	}
	free(ids);
}

static void
jobs_taken(void *arg, const struct store_take *r)
{
	size_t	i, k;
	int	j;

	taking = 0;
	if (r->status != STORE_OK) {
		/* The tick records the sent mails again; claims wait. */
		for (j = 0; j < nslots; j++) {
			if (slots[j].state == SLOT_REPORT &&
			    slots[j].result.outcome == MAIL_SENT)
				slots[j].reporting = 0;
		}
		jobs_db_state(1, "could not record sent jobs or claim jobs");
		return;
	}
	jobs_db_state(0, NULL);

	for (j = 0; j < nslots; j++) {
		if (slots[j].state != SLOT_REPORT || !slots[j].reporting ||
		    slots[j].result.outcome != MAIL_SENT)
			continue;
		for (k = 0; k < r->nsent; k++) {
			if (!strcmp(r->sent[k], slots[j].id))
				break;
		}
		if (k == r->nsent)
			log_warn("job %s was sent after its lease was taken "
			    "over: it may be sent twice", slots[j].id);
		stat_sent++;
		jobs_slot_free(&slots[j]);
	}

	for (i = 0; i < r->n; i++) {
		if (r->claims[i].deleted) {
			stat_failed++;
			log_info("job %s failed: its user was deleted",
			    r->claims[i].id);
			continue;
		}
		for (j = 0; j < nslots; j++) {
			if (slots[j].state == SLOT_FREE)
				break;
		}
		if (j == nslots)
			fatal("jobs: claimed more jobs than free slots");
		jobs_send(&slots[j], &r->claims[i]);
	}

	/* A full batch may have left more behind. */
	if (claim_asked > 0)
		backlog = (int)r->n == claim_asked;
	/* Mails that went out meanwhile; more jobs when some may wait. */
	jobs_take(backlog || claim_again);
}

/* Take the claimed job into slot s and start its mail on the mail pool. */
static void
jobs_send(struct job_slot *s, const struct job_claim *c)
{
	memset(s, 0, sizeof(*s));
	s->state = SLOT_SENDING;
	(void)snprintf(s->id, sizeof(s->id), "%s", c->id);
	if ((s->to = strdup(c->to)) == NULL ||
	    (s->subject = strdup(c->subject)) == NULL ||
	    (s->body = strdup(c->body)) == NULL)
		abort();
	s->attempts = c->attempts;
	s->max_attempts = c->max_attempts;
	__atomic_store_n(&s->lease_ms, claim_sent_ms +
	    (u_int64_t)lease_s * 1000, __ATOMIC_RELEASE);

	/* The slot is the work's message; it is never abandoned. */
	if (bg_start(BG_MAIL, jobs_send_run, s, jobs_sent, NULL) == NULL) {
		s->result.outcome = MAIL_TEMPORARY;
		(void)snprintf(s->result.error, sizeof(s->result.error),
		    "too many mails in flight");
		s->state = SLOT_REPORT;
		jobs_report(s);
	}
}

/*
 * On a thread of the mail pool: send the slot's mail. The event loop
 * does not touch the slot until jobs_sent.
 */
static void
jobs_send_run(void *msg)
{
	struct job_slot	*s = msg;
	struct mail	 m;

	m.from = cfg.mail_from;
	m.to = s->to;
	m.subject = s->subject;
	m.body = s->body;
	m.id = s->id;
	m.date = time(NULL);
	mail_send(&m, &s->lease_ms, &s->result);
}

/* Back on the event loop: record the outcome. */
static void
jobs_sent(void *arg, void *msg)
{
	struct job_slot	*s = msg;

	s->state = SLOT_REPORT;
	if (s->result.outcome == MAIL_SENT)
		jobs_take(backlog);
	else
		jobs_report(s);
}

/* Record a failed attempt of slot s (sent mails go by jobs_take). */
static void
jobs_report(struct job_slot *s)
{
	s->reporting = 1;
	(void)job_store_fail(owner, s->id, s->result.error,
	    s->result.outcome == MAIL_PERMANENT, jobs_backoff(s->attempts),
	    jobs_failed, s);
}

static void
jobs_failed(void *arg, const struct store_fail *r)
{
	struct job_slot	*s = arg;

	if (r->status != STORE_OK) {
		jobs_reported(s, r->status);
		return;
	}
	if (!strcmp(r->job_status, "queued")) {
		log_info("job %s: attempt %d of %d failed (%s), retry in "
		    "%.1f s", s->id, s->attempts, s->max_attempts,
		    s->result.error, r->delay);
		(void)kore_timer_add(jobs_retry_due,
		    (u_int64_t)(r->delay * 1000) + 10, NULL,
		    KORE_TIMER_ONESHOT);
	} else if (!strcmp(r->job_status, "failed")) {
		stat_failed++;
		log_warn("job %s failed after %d attempt%s: %s", s->id,
		    s->attempts, s->attempts == 1 ? "" : "s",
		    s->result.error);
	}
	jobs_reported(s, r->status);
}

/* The failure of slot s was recorded (or not: the next tick tries again). */
static void
jobs_reported(struct job_slot *s, enum store_status status)
{
	s->reporting = 0;
	if (status != STORE_OK) {
		/* Still leased to us. */
		jobs_db_state(1, "could not record the outcome of a job");
		return;
	}
	jobs_db_state(0, NULL);
	jobs_slot_free(s);

	if (backlog)
		jobs_claim();
}

static void
jobs_slot_free(struct job_slot *s)
{
	free(s->to);
	free(s->subject);
	free(s->body);
	memset(s, 0, sizeof(*s));
	s->state = SLOT_FREE;
}

/* Renew the leases of every job this worker holds. */
static void
jobs_heartbeat(u_int64_t now)
{
	char	*ids, *p;
	size_t	 len;
	int	 i, n;

	if (beating)
		return;
	beat_next = now + (u_int64_t)lease_s * 1000 / 3;

	len = 3 + (size_t)nslots * 41;
	if ((ids = malloc(len)) == NULL)
		abort();
	p = ids;
	*p++ = '{';
	for (i = n = 0; i < nslots; i++) {
		if (slots[i].state == SLOT_FREE)
			continue;
		if (n++ > 0)
			*p++ = ',';
		memcpy(p, slots[i].id, strlen(slots[i].id));
		p += strlen(slots[i].id);
	}
	*p++ = '}';
	*p = '\0';
	if (n > 0) {
		beating = 1;
		beat_sent_ms = now;
		(void)job_store_heartbeat(owner, ids, lease_s, jobs_beaten,
		    NULL);
	}
	free(ids);
}

static void
jobs_beaten(void *arg, const struct store_ids *r)
{
	size_t	k;
	int	i;

	beating = 0;
	if (r->status != STORE_OK) {
		jobs_db_state(1, "could not renew job leases");
		return;
	}
	for (i = 0; i < nslots; i++) {
		if (slots[i].state == SLOT_FREE)
			continue;
		for (k = 0; k < r->n; k++) {
			if (!strcmp(r->ids[k], slots[i].id))
				break;
		}
		if (k < r->n) {
			__atomic_store_n(&slots[i].lease_ms, beat_sent_ms +
			    (u_int64_t)lease_s * 1000, __ATOMIC_RELEASE);
		} else if (!slots[i].lost && beat_sent_ms > 0) {
			slots[i].lost = 1;
			log_warn("job %s: lease lost (taken over after it "
			    "lapsed)", slots[i].id);
		}
	}
}

static void
jobs_reclaimed(void *arg, const struct store_count *r)
{
	reclaiming = 0;
	if (r->status == STORE_OK && r->n > 0) {
		log_info("reclaimed %lld job%s whose lease lapsed", r->n,
		    r->n == 1 ? "" : "s");
		jobs_claim();
	}
}

static void
jobs_pruned(void *arg, const struct store_count *r)
{
	pruning = 0;
	if (r->status == STORE_OK && r->n > 0)
		log_info("pruned %lld sent job%s older than %d hours", r->n,
		    r->n == 1 ? "" : "s", cfg.job_retention_hours);
}

static void
jobs_retry_due(void *arg, u_int64_t now)
{
	jobs_claim();
}

/*
 * Seconds before attempt attempts + 1: JOBS_RETRY_BASE_MS doubled per
 * attempt, capped at JOB_RETRY_MAX_SECONDS, then a random point in its
 * upper half, so retries of many jobs spread out.
 */
static double
jobs_backoff(int attempts)
{
	double	delay, cap;
	int	i;

	cap = cfg.job_retry_max_seconds;
	delay = JOBS_RETRY_BASE_MS / 1000.0;
	for (i = 1; i < attempts && delay < cap; i++)
		delay *= 2;
	if (delay > cap)
		delay = cap;
	return (delay / 2 + (delay / 2) * ((double)random() / RAND_MAX));
}

/* Log a database problem once when it starts, and once when it ends. */
static void
jobs_db_state(int down, const char *what)
{
	if (down && !db_down)
		log_warn("%s: database unavailable; jobs wait", what);
	else if (!down && db_down)
		log_info("jobs: database available again");
	db_down = down;
}
