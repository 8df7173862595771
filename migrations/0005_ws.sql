-- userapi migration 0005: the recent messages of the WebSocket bus (/ws).
--
-- Every message a client sends is stored here and announced with
-- pg_notify in the same statement (sql/ws.sql, ws_post); each worker of
-- every instance LISTENs and sends it to its own clients. The table is
-- what a worker reads after its LISTEN connection dropped, and what a
-- client reconnecting with ?last_id=N resumes from. It is pruned to the
-- last WS_HISTORY messages and WS_HISTORY_SECONDS (ws_prune); ws_state
-- remembers the highest id pruned, so a resume from before it is told
-- {"type":"reset"}.
--
-- msg is the frame as clients receive it, JSON built by ws_post.

CREATE TABLE ws_messages (
	id	bigserial PRIMARY KEY,
	at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	msg	text NOT NULL
);

CREATE TABLE ws_state (
	one		boolean PRIMARY KEY DEFAULT true
			CONSTRAINT ws_state_one_row CHECK (one),
	pruned_upto	bigint NOT NULL DEFAULT 0
);

INSERT INTO ws_state DEFAULT VALUES;
