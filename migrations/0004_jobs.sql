-- userapi migration 0004: durable background jobs (notification mails).
--
-- A job is written by the statement that accepts the request, so it
-- survives any crash after the 202. Workers claim queued jobs that are due
-- with FOR UPDATE SKIP LOCKED; a claimed job is 'running' with a lease
-- (lease_owner, lease_until) that its worker renews while it sends. A
-- lease that lapsed belongs to a worker that died: the job is queued again
-- (or failed once it used max_attempts). Each claim counts one attempt.

CREATE TABLE jobs (
	id		uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	kind		text NOT NULL
			CONSTRAINT jobs_kind CHECK (kind IN ('email')),
	-- The user the job belongs to (its owner may read it); NULL once
	-- that user was deleted.
	user_id		uuid REFERENCES users (id) ON DELETE SET NULL,
	mail_to		text NOT NULL
			CONSTRAINT jobs_mail_to_format
			CHECK (octet_length(mail_to) BETWEEN 3 AND 254
			    AND mail_to LIKE '_%@_%'),
	subject		text NOT NULL
			CONSTRAINT jobs_subject_length
			CHECK (char_length(subject) BETWEEN 1 AND 200),
	body		text NOT NULL
			CONSTRAINT jobs_body_length
			CHECK (char_length(body) <= 10000),
	status		text NOT NULL DEFAULT 'queued'
			CONSTRAINT jobs_status
			CHECK (status IN ('queued', 'running', 'sent', 'failed')),
	attempts	integer NOT NULL DEFAULT 0
			CONSTRAINT jobs_attempts CHECK (attempts >= 0),
	max_attempts	integer NOT NULL
			CONSTRAINT jobs_max_attempts CHECK (max_attempts >= 1),
	run_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	lease_owner	text,
	lease_until	timestamptz,
	last_error	text,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	CONSTRAINT jobs_lease CHECK ((status = 'running') =
	    (lease_owner IS NOT NULL AND lease_until IS NOT NULL))
);

-- Claiming: queued jobs by due time; reclaiming: running jobs by lease.
CREATE INDEX jobs_queued_run_at ON jobs (run_at) WHERE status = 'queued';
CREATE INDEX jobs_running_lease ON jobs (lease_until)
	WHERE status = 'running';
-- Listing, newest first, all or by status; pruning sent jobs by age.
CREATE INDEX jobs_created_at_id ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_status_created_at_id ON jobs (status, created_at DESC,
	id DESC);
-- Deleting a user sets its jobs' user_id to NULL.
CREATE INDEX jobs_user_id ON jobs (user_id);
-- Pruning: sent jobs by the time they were sent.
CREATE INDEX jobs_sent_updated_at ON jobs (updated_at) WHERE status = 'sent';
