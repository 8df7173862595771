#!/usr/bin/env bash
# userapi: `make bench`'s notification part: jobs accepted/s, mails delivered/s, 202-to-mail delay, reads meanwhile.
#
#   bench/notify.sh BINARY
#
# Starts a cluster of its own (scripts/pgembed.sh in a temporary
# directory), an SMTP sink that accepts every mail at once
# (bench/notify_sink.py, which writes each mail's job id and arrival
# time), and the service (WORKERS=2, rate limits off) sending to it. Then:
#
# 1. paced: one client POSTs /users/{id}/notify at 100 jobs/s for
#    BENCH_DURATION seconds; the delay of each mail is its arrival at the
#    sink minus the 202's arrival at the client (same clock);
# 2. reads alone: wrk -t1 -c8 on GET /users/{id} (the baseline);
# 3. saturation: wrk -t2 -c32 POSTs /users/{id}/notify for BENCH_DURATION
#    seconds while wrk -t1 -c8 reads GET /users/{id}; after it, the bench
#    waits for the backlog to drain. Accepted/s is wrk's; delivered/s is
#    mails / (last arrival - first job's created_at); the delay of a mail
#    is its arrival minus its job's created_at (written by the statement
#    that answered 202);
# 4. backlog: BACKLOG jobs written at once by one INSERT (and one NOTIFY),
#    so that delivery is measured alone, not bounded by how fast jobs
#    are accepted: mails / (last arrival - the INSERT's commit), with
#    wrk -t1 -c8 reading GET /users/{id} for BENCH_DURATION seconds from
#    the INSERT on (mail must not starve requests);
# 5. the same backlog again with nothing else running, and the CPU time
#    (user + system, from /proc) that the service, PostgreSQL and the
#    sink spent on it per mail: a figure that other load on a shared
#    machine barely moves, unlike mails/s.
#
# Prints a markdown table. Everything it starts is stopped by PID on exit.
set -euo pipefail

DURATION=${BENCH_DURATION:-10}
RATE=100
BACKLOG=${BENCH_BACKLOG:-10000}
PYTHON=/usr/bin/python3
PGBIN=/usr/lib/postgresql/15/bin
TOP=$(cd "$(dirname "$0")/.." && pwd -P)
PGEMBED=$TOP/scripts/pgembed.sh
BIN=${1:?usage: bench/notify.sh BINARY}
ADMIN_EMAIL=bench-admin@example.com
ADMIN_PASSWORD=bench-admin-password
USER_EMAIL=bench-user@example.com
USER_PASSWORD=bench-user-password

tmp=$(mktemp -d /tmp/userapi-notify-bench.XXXXXX)
chmod 755 "$tmp"
pids=()
pg_started=0

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ "$pg_started" = 1 ]; then
		"$PGEMBED" stop "$tmp/pg" >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

sql() {
	"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$dsn" -c "$1"
}

for t in wrk "$PGBIN/psql"; do
	command -v "$t" >/dev/null || die "$t not found: run make deps-bench"
done
[ -x "$BIN" ] || die "no binary at $BIN"

say "starting a cluster in $tmp/pg"
PGEMBED_FAST=1 "$PGEMBED" start "$tmp/pg" >/dev/null
pg_started=1
dsn=$("$PGEMBED" dsn "$tmp/pg")

sink_port=$(free_port)
"$PYTHON" "$TOP/bench/notify_sink.py" "$sink_port" "$tmp/mails.txt" &
pids+=($!)

port=$(free_port)
url=http://127.0.0.1:$port
export DATABASE_URL=$dsn BIND=127.0.0.1:$port WORKERS=2 \
    JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
    ADMIN_EMAIL ADMIN_PASSWORD SMTP_URL=smtp://127.0.0.1:$sink_port \
    MAIL_FROM=bench@example.com RATE_LIMIT_GENERAL=0 RATE_LIMIT_STRICT=0 \
    LOG_FORMAT=text
"$BIN" migrate >/dev/null
"$BIN" serve >"$tmp/service.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	curl -fs "$url/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs "$url/healthz" >/dev/null || die "the service did not start"

# A user who notifies itself.
uid=$(curl -fs "$url/users" -H 'Content-Type: application/json' \
    -d "{\"name\":\"Bench User\",\"email\":\"$USER_EMAIL\",\"password\":\"$USER_PASSWORD\"}" |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
token=$(curl -fs "$url/token" -d "username=$USER_EMAIL&password=$USER_PASSWORD" |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# 1. paced: RATE jobs/s, delay from the 202 to the mail.
say "paced: $RATE jobs/s for $DURATION s"
"$PYTHON" - "$url" "$uid" "$token" "$RATE" "$DURATION" "$tmp/mails.txt" \
    >"$tmp/paced.txt" <<'EOF'
import http.client, json, sys, time, urllib.parse
url, uid, token, rate, duration, mails = sys.argv[1:7]
rate, duration = int(rate), int(duration)
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
hdr = {"Authorization": "Bearer " + token, "Content-Length": "0"}
sent = {}
start = time.time()
for i in range(rate * duration):
    due = start + i / rate
    now = time.time()
    if due > now:
        time.sleep(due - now)
    conn.request("POST", "/users/%s/notify" % uid, headers=hdr)
    r = conn.getresponse()
    body = r.read()
    assert r.status == 202, (r.status, body)
    sent[json.loads(body)["job_id"]] = time.time()
deadline = time.time() + 60
got = {}
while time.time() < deadline:
    with open(mails) as f:
        for line in f:
            k, t = line.split()
            if k in sent:
                got[k] = float(t)
    if len(got) == len(sent):
        break
    time.sleep(0.2)
d = sorted((got[k] - sent[k]) * 1000 for k in got)
pct = lambda p: d[min(len(d) - 1, int(len(d) * p))]
print("%d %d %.2f %.2f %.2f" % (len(sent), len(got), pct(0.5), pct(0.99),
      d[-1]))
EOF
read -r p_sent p_got p_p50 p_p99 p_max <"$tmp/paced.txt"

wrk_rate() {
	sed -nE 's/^Requests\/sec:[[:space:]]+([0-9.]+).*/\1/p' "$1"
}

# 2. reads alone.
say "GET /users/{id} alone for $DURATION s"
wrk -t1 -c8 -d"${DURATION}s" -H "Authorization: Bearer $token" \
    "$url/users/$uid" >"$tmp/read-alone.txt"

# 3. saturation, with reads meanwhile.
cat >"$tmp/notify.lua" <<EOF
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
EOF
before=$(wc -l <"$tmp/mails.txt")
t0=$(sql "SELECT extract(epoch FROM clock_timestamp())")
say "saturation: wrk -t2 -c32 on POST /users/{id}/notify for $DURATION s, reads meanwhile"
wrk -t1 -c8 -d"${DURATION}s" -H "Authorization: Bearer $token" \
    "$url/users/$uid" >"$tmp/read-load.txt" &
rpid=$!
wrk -t2 -c32 -d"${DURATION}s" -s "$tmp/notify.lua" \
    "$url/users/$uid/notify" >"$tmp/notify.txt"
wait "$rpid"
jobs_made=$(sql "SELECT count(*) FROM jobs WHERE created_at >= to_timestamp($t0)")
say "$jobs_made jobs accepted; waiting for their mails"
for _ in $(seq 600); do
	left=$(sql "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
	[ "$left" = 0 ] && break
	sleep 0.2
done
sleep 0.5
sql "COPY (SELECT id, extract(epoch FROM created_at) FROM jobs
    WHERE created_at >= to_timestamp($t0)) TO STDOUT" >"$tmp/created.txt"
tail -n +"$((before + 1))" "$tmp/mails.txt" >"$tmp/sat-mails.txt"
read -r s_made s_got s_rate s_p50 s_p99 <<<"$("$PYTHON" - "$tmp/created.txt" "$tmp/sat-mails.txt" <<'EOF'
import sys
created = dict((k, float(t)) for k, t in
               (line.split() for line in open(sys.argv[1])))
got = {}
dup = 0
for line in open(sys.argv[2]):
    k, t = line.split()
    if k in created:
        dup += k in got
        got[k] = float(t)
d = sorted((got[k] - created[k]) * 1000 for k in got)
pct = lambda p: d[min(len(d) - 1, int(len(d) * p))]
span = max(got.values()) - min(created.values())
print(len(created), len(got) - dup, "%.0f" % (len(got) / span),
      "%.1f" % pct(0.5), "%.1f" % pct(0.99))
EOF
)"
# CPU ticks (user + system, all threads) used so far by process $1 and
# its children: the service's parent and workers, the postmaster and its
# backends, the sink.
cpu_ticks() {
	local p t=0
	for p in "$1" $(ps -o pid= --ppid "$1"); do
		[ -r "/proc/$p/stat" ] || continue
		t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | cut -d' ' -f12,13 |
		    tr ' ' '+')))
	done
	echo "$t"
}

# A backlog of BACKLOG jobs written by one INSERT (and one NOTIFY):
# sets b_got and b_rate (mails / (last arrival - the INSERT's commit)).
backlog() {
	local before b0
	before=$(wc -l <"$tmp/mails.txt")
	b0=$(sql "WITH ins AS (INSERT INTO jobs (kind, user_id, mail_to,
		subject, body, max_attempts)
	    SELECT 'email', id, email, 'Backlog', 'A mail of the backlog.', 5
	    FROM users, generate_series(1, $BACKLOG) WHERE id = '$uid'
	    RETURNING 1)
	    SELECT extract(epoch FROM clock_timestamp()),
		pg_notify('userapi_jobs', '')
	    FROM (SELECT count(*) FROM ins) AS n" | cut -d'|' -f1)
	for _ in $(seq 1200); do
		[ "$(( $(wc -l <"$tmp/mails.txt") - before ))" -ge "$BACKLOG" ] &&
		    break
		sleep 0.1
	done
	read -r b_got b_rate <<<"$(tail -n +"$((before + 1))" "$tmp/mails.txt" |
	    awk -v t0="$b0" '{ n++; if ($2 > last) last = $2 }
		END { printf "%d %.0f\n", n, n / (last - t0) }')"
}

# 4. a backlog written at once: delivery alone, reads meanwhile.
say "backlog: $BACKLOG jobs in one INSERT, reads meanwhile"
wrk -t1 -c8 -d"${DURATION}s" -H "Authorization: Bearer $token" \
    "$url/users/$uid" >"$tmp/read-backlog.txt" &
rpid=$!
backlog
wait "$rpid"
r_got=$b_got r_rate=$b_rate

# 5. the same without reads: delivery alone, and the CPU it costs per
# mail (the machine's other load does not count in it).
say "backlog: $BACKLOG jobs in one INSERT, nothing else"
sleep 1
svc_pid=${pids[1]} sink_pid=${pids[0]}
pm_pid=$(head -1 "$tmp/pg/pgdata/postmaster.pid")
c0="$(cpu_ticks "$svc_pid") $(cpu_ticks "$pm_pid") $(cpu_ticks "$sink_pid")"
backlog
c1="$(cpu_ticks "$svc_pid") $(cpu_ticks "$pm_pid") $(cpu_ticks "$sink_pid")"
read -r cpu_svc cpu_pg cpu_sink <<<"$(echo $c0 $c1 | awk -v n="$b_got" \
    -v hz="$(getconf CLK_TCK)" '{ f = 1e6 / hz / n
	printf "%.0f %.0f %.0f\n", ($4 - $1) * f, ($5 - $2) * f, ($6 - $3) * f }')"

dups=$(awk '{print $1}' "$tmp/mails.txt" | sort | uniq -d | wc -l)
failed=$(sql "SELECT count(*) FROM jobs WHERE status = 'failed'")

cat <<EOF

### Notifications (WORKERS=2, MAIL_THREADS=${MAIL_THREADS:-4}, MAIL_MAX=${MAIL_MAX:-32}, ${DURATION} s per run)

| run | jobs accepted/s | mails delivered/s | delay p50 ms | delay p99 ms | mails / jobs |
|---|---:|---:|---:|---:|---:|
| paced, $RATE jobs/s | $RATE | $RATE | $p_p50 | $p_p99 | $p_got / $p_sent |
| saturation (wrk -t2 -c32) | $(wrk_rate "$tmp/notify.txt") | $s_rate | $s_p50 | $s_p99 | $s_got / $s_made |
| backlog of $BACKLOG jobs, reads meanwhile | - | $r_rate | - | - | $r_got / $BACKLOG |
| backlog of $BACKLOG jobs alone | - | $b_rate | - | - | $b_got / $BACKLOG |

CPU per mail while the backlog alone was delivered: service $cpu_svc µs,
PostgreSQL $cpu_pg µs, SMTP sink $cpu_sink µs.

| GET /users/{id} (wrk -t1 -c8) | req/s |
|---|---:|
| alone | $(wrk_rate "$tmp/read-alone.txt") |
| during the saturation run | $(wrk_rate "$tmp/read-load.txt") |
| while the backlog is delivered | $(wrk_rate "$tmp/read-backlog.txt") |

Mails delivered twice: $dups; jobs failed: $failed. Paced delay max: $p_max ms.
EOF
