-- userapi: the statements on background jobs, prepared once per connection.
--
-- Request statements (notify, get, list, retry) take the caller as $1
-- (the token's sub) with $2 (its token version) and answer rows whose
-- first column is the outcome, as sql/users.sql does: ok; unauthorized
-- (401); forbidden (403); missing (404); conflict (409). Their job columns
-- are always: outcome, id, kind, status, attempts, last_error,
-- created_us, updated_us (timestamps as int8 microseconds since the Unix
-- epoch, formatted in C), read by name (src/store/job_store.c).
--
-- Runner statements (take, heartbeat, fail, reclaim, prune) take
-- the worker's lease owner name; a worker only ever changes the jobs it
-- holds. The wake-up channel is userapi_jobs.

-- name: job_notify
-- POST /users/{id}/notify: admin or the user itself. $1 caller, $2 token
-- version, $3 user id, $4 subject (NULL: "Welcome!"), $5 message (NULL: a
-- greeting naming the user), $6 max attempts. Writes the job and wakes
-- the runners in the same statement (the NOTIFY is sent at commit).
WITH caller AS (
	SELECT id, is_admin FROM users
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
), target AS (
	SELECT u.id, u.name, u.email FROM users u
	WHERE u.id = $3::uuid
	    AND EXISTS (SELECT 1 FROM caller c WHERE c.is_admin OR c.id = u.id)
), ins AS (
	INSERT INTO jobs (kind, user_id, mail_to, subject, body, max_attempts)
	SELECT 'email', t.id, t.email, coalesce($4::text, 'Welcome!'),
	    coalesce($5::text, format(E'Hello %s,\n\nwelcome to userapi: '
		'your account is ready.\n\nThis message was sent by userapi '
		'on request; there is no need to answer it.\n', t.name)),
	    $6::int4
	FROM target t
	RETURNING id
)
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM caller) THEN 'unauthorized'
    WHEN i.id IS NULL THEN 'missing' ELSE 'ok' END AS outcome,
    i.id,
    CASE WHEN i.id IS NOT NULL THEN pg_notify('userapi_jobs', '') END
	AS notified
FROM (SELECT 1) AS one
LEFT JOIN ins i ON true;

-- name: job_get
-- read-only
-- GET /jobs/{id}: admin or the user the job belongs to. $1 caller, $2
-- token version, $3 job id.
WITH caller AS (
	SELECT id, is_admin FROM users
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
)
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM caller) THEN 'unauthorized'
    WHEN j.id IS NULL THEN 'missing' ELSE 'ok' END AS outcome,
    j.id, j.kind, j.status, j.attempts, j.last_error,
    (extract(epoch FROM j.created_at) * 1000000)::int8 AS created_us,
    (extract(epoch FROM j.updated_at) * 1000000)::int8 AS updated_us
FROM (SELECT 1) AS one
LEFT JOIN jobs j ON j.id = $3::uuid
    AND EXISTS (SELECT 1 FROM caller c WHERE c.is_admin OR c.id = j.user_id);

-- name: job_list
-- read-only
-- GET /jobs: admins only, newest first. $1 caller, $2 token version,
-- $3 status (NULL: all), $4 skip, $5 limit.
WITH caller AS (
	SELECT id, is_admin FROM users
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
)
(SELECT 'ok' AS outcome, id, kind, status, attempts, last_error,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_us,
    (extract(epoch FROM updated_at) * 1000000)::int8 AS updated_us
FROM jobs
WHERE EXISTS (SELECT 1 FROM caller WHERE is_admin)
    AND ($3::text IS NULL OR status = $3::text)
ORDER BY created_at DESC, id DESC
OFFSET $4::int8
LIMIT $5::int8)
UNION ALL
SELECT CASE WHEN EXISTS (SELECT 1 FROM caller) THEN 'forbidden'
    ELSE 'unauthorized' END,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE NOT EXISTS (SELECT 1 FROM caller WHERE is_admin);

-- name: job_retry
-- POST /jobs/{id}/retry: admins only; a failed job is queued again with
-- its attempts reset (and the runners woken), anything else is a
-- conflict. $1 caller, $2 token version, $3 job id.
WITH caller AS (
	SELECT id, is_admin FROM users
	WHERE id = $1::uuid AND is_active AND token_version = $2::int8
), upd AS (
	UPDATE jobs
	SET status = 'queued', attempts = 0, run_at = clock_timestamp(),
	    updated_at = clock_timestamp()
	WHERE id = $3::uuid AND status = 'failed'
	    AND EXISTS (SELECT 1 FROM caller WHERE is_admin)
	RETURNING *
)
SELECT 'ok' AS outcome, id, kind, status, attempts, last_error,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_us,
    (extract(epoch FROM updated_at) * 1000000)::int8 AS updated_us,
    pg_notify('userapi_jobs', '') AS notified
FROM upd
UNION ALL
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM caller) THEN 'unauthorized'
    WHEN NOT EXISTS (SELECT 1 FROM caller WHERE is_admin) THEN 'forbidden'
    WHEN EXISTS (SELECT 1 FROM jobs WHERE id = $3::uuid) THEN 'conflict'
    ELSE 'missing' END,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE NOT EXISTS (SELECT 1 FROM upd);

-- name: job_take
-- The runner's one round trip per batch: the mails of jobs $2 (a uuid[]
-- literal, '{}' for none) went out, so those that worker $1 still holds
-- are sent (an error of an earlier attempt is cleared: last_error is
-- about the job as it stands; the log keeps every failed attempt); and
-- up to $3 (0: none) queued jobs that are due are claimed for $1 with a
-- lease of $4 seconds, each claim counting as an attempt. Jobs that
-- another worker is claiming right now are skipped, never waited for. A
-- job whose user was deleted (user_id NULL) is never sent: the claim
-- fails it with last_error 'user deleted' and answers it with that
-- status, so the runner counts it among the jobs it took. Answers a row
-- per claimed job (status running or failed), then a row per job now
-- sent (status sent, only its id).
WITH done AS (
	UPDATE jobs
	SET status = 'sent', lease_owner = NULL, lease_until = NULL,
	    last_error = NULL, updated_at = clock_timestamp()
	WHERE id = ANY ($2::uuid[]) AND status = 'running'
	    AND lease_owner = $1
	RETURNING id
), picked AS (
	SELECT id, user_id IS NULL AS orphan FROM jobs
	WHERE status = 'queued' AND run_at <= clock_timestamp()
	ORDER BY run_at
	LIMIT $3::int4
	FOR UPDATE SKIP LOCKED
), claimed AS (
	UPDATE jobs j
	SET status = CASE WHEN p.orphan THEN 'failed' ELSE 'running' END,
	    attempts = j.attempts + CASE WHEN p.orphan THEN 0 ELSE 1 END,
	    lease_owner = CASE WHEN p.orphan THEN NULL ELSE $1 END,
	    lease_until = CASE WHEN p.orphan THEN NULL
		ELSE clock_timestamp() + make_interval(secs => $4::int4) END,
	    last_error = CASE WHEN p.orphan THEN 'user deleted'
		ELSE j.last_error END,
	    updated_at = clock_timestamp()
	FROM picked p
	WHERE j.id = p.id
	RETURNING j.id, j.mail_to, j.subject, j.body, j.attempts,
	    j.max_attempts, j.status
)
SELECT id, mail_to, subject, body, attempts, max_attempts, status
FROM claimed
UNION ALL
SELECT id, NULL, NULL, NULL, NULL, NULL, 'sent' FROM done;

-- name: job_heartbeat
-- Renew the leases of the jobs worker $1 holds ($2, a uuid[] literal) for
-- $3 seconds from now; answers the ids still held.
UPDATE jobs
SET lease_until = clock_timestamp() + make_interval(secs => $3::int4)
WHERE id = ANY ($2::uuid[]) AND status = 'running' AND lease_owner = $1
RETURNING id;

-- name: job_fail
-- The mail of job $1 (held by worker $2) failed with error $3: failed at
-- once when $4 (permanent) or out of attempts, else queued again in $5
-- seconds. Answers the new status and the seconds until it is due.
UPDATE jobs
SET status = CASE WHEN $4::bool OR attempts >= max_attempts
	THEN 'failed' ELSE 'queued' END,
    run_at = CASE WHEN $4::bool OR attempts >= max_attempts THEN run_at
	ELSE clock_timestamp() + make_interval(secs => $5::float8) END,
    lease_owner = NULL, lease_until = NULL, last_error = $3,
    updated_at = clock_timestamp()
WHERE id = $1::uuid AND status = 'running' AND lease_owner = $2
RETURNING status, $5::float8 AS delay;

-- name: job_reclaim
-- Jobs whose lease lapsed (their worker died or lost the database):
-- queued again at once, or failed when out of attempts. Wakes the
-- runners when any was queued; answers how many were reclaimed.
WITH lapsed AS (
	UPDATE jobs
	SET status = CASE WHEN attempts >= max_attempts
		THEN 'failed' ELSE 'queued' END,
	    run_at = clock_timestamp(), lease_owner = NULL, lease_until = NULL,
	    last_error = 'lease expired: the worker sending it stopped',
	    updated_at = clock_timestamp()
	WHERE id IN (SELECT id FROM jobs
		WHERE status = 'running' AND lease_until < clock_timestamp()
		FOR UPDATE SKIP LOCKED)
	    AND status = 'running' AND lease_until < clock_timestamp()
	RETURNING status
)
SELECT count(*) AS n,
    CASE WHEN count(*) FILTER (WHERE status = 'queued') > 0
	THEN pg_notify('userapi_jobs', '') END AS notified
FROM lapsed;

-- name: job_prune
-- Delete up to $2 jobs sent more than $1 hours ago; answers how many.
WITH old AS (
	DELETE FROM jobs
	WHERE id IN (SELECT id FROM jobs
		WHERE status = 'sent'
		    AND updated_at < clock_timestamp() -
			make_interval(hours => $1::int4)
		LIMIT $2::int4
		FOR UPDATE SKIP LOCKED)
	RETURNING 1
)
SELECT count(*) AS n FROM old;

-- name: job_count
-- read-only
-- /metrics: jobs by status, in this order.
SELECT s.status,
    (SELECT count(*) FROM jobs j WHERE j.status = s.status) AS n
FROM unnest(ARRAY['queued', 'running', 'sent', 'failed']) WITH ORDINALITY
    AS s(status, n)
ORDER BY s.n;
