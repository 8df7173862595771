#!/usr/bin/env bash
# userapi: `make bench`: wrk on the service and pgbench on the same SELECT, over a private cluster; prints a table.
#
#   bench/run.sh BINARY
#
# Seeds 10,000 users into a cluster of its own (scripts/pgembed.sh in a
# temporary directory, durable settings, listening on 127.0.0.1 as well:
# the service connects over TCP, as a deployment would), serves them on a
# free port, runs wrk (-t2 -c64 -d10s) on GET /users/{random id} and GET
# /users?limit=10, then pgbench (-M prepared -c 16 -j 2 -T 10, over TCP
# too) on the very SELECT the service runs for GET /users/{id}
# (sql/users.sql, user_get), and on a bare SELECT of the same row by key
# (PostgreSQL's floor on this machine). Prints a markdown table: req/s, latency,
# errors, the ratio to pgbench's rate, and the CPU time per request of the
# service's processes and of PostgreSQL's (utime + stime from /proc/<pid>/stat
# of each process tree, reaped children included, over the measured
# window; wrk's own CPU is in neither), and the largest whole-tree PSS of
# the service seen while wrk ran (/proc/<pid>/smaps_rollup: the shared
# binary counted once, not once per process as RSS does). The machine's
# load average is printed before and after: other work on the machine
# lowers the rates and the ratios, not the CPU per request. Everything it
# starts is stopped by PID on exit, Ctrl-C included.
#
# Logins: first, before the cluster starts, bench/argon2id.py hashes one
# password at the service's argon2id cost and takes the median CPU time of
# 20 verifies (the libargon2 the service links); every seeded user gets
# that hash. Last, after pgbench, wrk (-t2 -c16) POSTs /token, each login
# a different account (bench/token.lua), and while it runs a second wrk
# (-t1 -c4) probes GET /healthz, each connection waiting 10 ms between
# requests: a probe, not a second load, which would take the CPUs the
# logins are meant to fill. The GET rows carry the admin's bearer token,
# which user_get checks in the same query. A second table
# gives logins/s against the physical limit, CPUs / the time of one verify,
# and /healthz's latency while the argon2id tasks fill the CPUs; a line says
# how the CPUs were shared meanwhile (the service, everything else, idle),
# since a busy machine lowers the first ratio.
#
# BENCH_DURATION (seconds, default 10) and BENCH_CONNECTIONS (wrk, default
# 64) shorten or widen a run; the table says what was used. The argon2id
# cost and the task threads are the service's settings, read from the
# environment with the service's defaults (ARGON2_MEMORY_KIB,
# ARGON2_ITERATIONS, ARGON2_PARALLELISM, TASK_THREADS, TASKS_MAX) and passed
# to it explicitly, so the verify the bench times is the one it serves.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
USERS=10000
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-64}
ADMIN_EMAIL=bench-admin@example.com
PYTHON=/usr/bin/python3
ARGON2_M=${ARGON2_MEMORY_KIB:-19456}
ARGON2_T=${ARGON2_ITERATIONS:-2}
ARGON2_P=${ARGON2_PARALLELISM:-1}
TASK_THREADS=${TASK_THREADS:-2}
TASKS_MAX=${TASKS_MAX:-64}
VERIFY_RUNS=20		# verifies timed, the median is kept
LOGIN_THREADS=2		# wrk -t on POST /token
LOGIN_CONNS=16		# wrk -c on POST /token, well under TASKS_MAX
HEALTH_CONNS=4		# wrk -c on GET /healthz meanwhile
HEALTH_DELAY_MS=10	# pause of each of those connections between requests

TOP=$(cd "$(dirname "$0")/.." && pwd -P)
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"
# The wrk scripts load bench/result.lua from here.
export BENCH_DIR=$TOP/bench
PGEMBED=$TOP/scripts/pgembed.sh

tmp=""
svc_pid=""
bg_pid=""
hz_pid=""
pg_started=0

die() {
	echo "bench: $*" >&2
	exit 1
}

say() {
	echo "bench: $*" >&2
}

# --- processes --------------------------------------------------------------

# The postmaster's pid (its backends are its children).
pg_pid() {
	head -n 1 "$tmp/pg/pgdata/postmaster.pid"
}

# CPU time of pid and its descendants, their reaped children included,
# in clock ticks.
tree_cpu_ticks() {
	local p sum=0 t

	for p in $(tree_pids "$1"); do
		t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null |
		    awk '{ print $12 + $13 + $14 + $15 }') || true
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# The machine's CPU time so far, all CPUs, clock ticks: "busy idle".
machine_ticks() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat
}

cleanup() {
	local rc=$?

	trap - EXIT INT TERM
	[ -z "$bg_pid" ] || stop_tree "$bg_pid"
	[ -z "$hz_pid" ] || stop_tree "$hz_pid"
	if [ -n "$svc_pid" ]; then
		stop_tree "$svc_pid"
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ] && [ "$rc" -ne 143 ] &&
		    [ -s "$tmp/service.log" ]; then
			say "last lines of the service's log:"
			tail -n 15 "$tmp/service.log" >&2
		fi
	fi
	if [ "$pg_started" = 1 ]; then
		"$PGEMBED" destroy "$tmp/pg" >/dev/null ||
		    say "could not stop the cluster in $tmp/pg"
	fi
	[ -z "$tmp" ] || rm -rf "$tmp"
	exit "$rc"
}

# --- setup ------------------------------------------------------------------

check_tools() {
	local t v

	for t in wrk curl strace "$PGBIN/pgbench" "$PGBIN/psql" "$PYTHON"; do
		command -v "$t" >/dev/null ||
		    die "$t not found (make deps-bench installs wrk, curl, strace, postgresql-15, python3)"
	done
	[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "invalid BENCH_DURATION: $DURATION"
	[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "invalid BENCH_CONNECTIONS: $CONNS"
	while IFS='=' read -r t v; do
		case $t in
		RATE_LIMIT_*)	continue ;;		# set here, not read
		esac
		[[ $v =~ ^[1-9][0-9]*$ ]] || die "invalid $t: $v"
	done < <(service_env)
}

sql() {
	"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL" "$@"
}

seed() {
	# Columns of migrations/0001_users.sql; the rest take their defaults.
	# Every user has the password of user.pw (one hash, see time_verify).
	sql -v hash="$hash" <<-EOF
	INSERT INTO users (name, email, age, is_active, is_admin, password_hash)
	SELECT 'Bench User ' || i, 'bench' || i || '@example.com', i % 100,
	    true, false, :'hash'
	FROM generate_series(1, $USERS) AS i;
	CREATE TABLE bench_ids (n int PRIMARY KEY, id uuid NOT NULL);
	INSERT INTO bench_ids
	SELECT row_number() OVER (ORDER BY id), id FROM users
	WHERE email LIKE 'bench%@example.com';
	VACUUM ANALYZE;
	EOF
	sql -c "SELECT id FROM bench_ids ORDER BY n" >"$tmp/ids"
	[ "$(wc -l <"$tmp/ids")" -eq "$USERS" ] ||
	    die "seeding gave $(wc -l <"$tmp/ids") ids, not $USERS"
	sql -c "SELECT u.email FROM bench_ids b JOIN users u USING (id)
	    ORDER BY b.n" >"$tmp/logins"
	[ "$(wc -l <"$tmp/logins")" -eq "$USERS" ] ||
	    die "seeding gave $(wc -l <"$tmp/logins") e-mails, not $USERS"
}

# One argon2id hash of user.pw at the service's cost, and the median time
# of one verify (CPU time of every thread; wall time too). Sets hash,
# v_cpu_us, v_wall_us.
time_verify() {
	local out=$tmp/argon2id.out line

	"$PYTHON" "$TOP/bench/argon2id.py" "$ARGON2_M" "$ARGON2_T" \
	    "$ARGON2_P" "$VERIFY_RUNS" <"$tmp/user.pw" >"$out" 2>&1 ||
	    die "timing argon2id failed: $(tail -n 3 "$out")"
	line=$(grep '^argon2id-result ' "$out") ||
	    die "no result from bench/argon2id.py: $(tail -n 3 "$out")"
	hash=$(field "$line" hash)
	v_cpu_us=$(field "$line" cpu_us)
	v_wall_us=$(field "$line" wall_us)
	if [[ $hash != "\$argon2id\$"* ]] || [[ ! $v_cpu_us =~ ^[1-9][0-9]*$ ]]; then
		die "bad result from bench/argon2id.py: $line"
	fi
}

# user_get's parameters in order, as the service binds them for GET
# /users/{id}, written for pgbench: THESE MUST MATCH user_get in
# sql/users.sql (the script stops when the count differs). :caller and :tv
# come from the admin's token (claims sub and tv), :n picks a random id.
USER_GET_PARAMS=(":caller" ":tv" "(SELECT id FROM bench_ids WHERE n = :n)")

# user_get of sql/users.sql, the text the service prepares, without its
# comments. With the argument 1 (for pgbench), a colon inside a string
# literal is written 'HH24:' || 'MI...': pgbench takes every ":word" for
# one of its variables, inside literals too (the to_char formats'
# HH24:MI:SS); the planner folds the constants back into one, so the
# executed plan is the service's.
user_get_sql() {
	[ -f "$TOP/sql/users.sql" ] || die "sql/users.sql not found"
	awk '/^-- name: / { on = ($3 == "user_get"); next } on' \
	    "$TOP/sql/users.sql" | awk -v pgbench="${1:-0}" '
	{
		out = ""
		for (i = 1; i <= length($0); i++) {
			c = substr($0, i, 1)
			if (quoted) {
				if (c == "'\''")
					quoted = 0
				else if (c == ":" && pgbench)
					c = ":'\'' || '\''"
			} else if (c == "'\''") {
				quoted = 1
			} else if (substr($0, i, 2) == "--") {
				break
			}
			out = out c
		}
		sub(/[[:space:]]*;?[[:space:]]*$/, "", out)
		if (out != "")
			print out
	}'
}

# user_get with $1.. replaced by the words given, checked against
# USER_GET_PARAMS.
user_get_bind() {
	local stmt=$1 n i

	shift
	[ -n "$stmt" ] || die "sql/users.sql has no user_get"
	n=$(grep -o '\$[0-9][0-9]*' <<<"$stmt" | tr -d '$' | sort -n | tail -n 1)
	[ "${n:-0}" -eq $# ] ||
	    die "user_get takes ${n:-0} parameters, bench/run.sh binds $#: update USER_GET_PARAMS"
	for ((i = n; i >= 1; i--)); do
		stmt=${stmt//\$$i/${!i}}
	done
	printf '%s\n' "$stmt"
}

pgbench_script() {
	printf '\\set n random(1, %d)\n' "$USERS"
	user_get_bind "$(user_get_sql 1)" "${USER_GET_PARAMS[@]}"
	printf ';\n'
}

# PostgreSQL's floor on this machine: a bare SELECT of the same row by its
# key (the same bench_ids lookup, no caller check, no formatting).
pgbench_bare_script() {
	printf '\\set n random(1, %d)\n' "$USERS"
	printf 'SELECT u.* FROM bench_ids b JOIN users u USING (id) WHERE b.n = :n;\n'
}

# Before measuring it: user_get with the admin's claims returns the user.
check_user_get() {
	local id out

	id=$(head -n 1 "$tmp/ids")
	out=$(user_get_bind "$(user_get_sql)" "'$caller'" "$tv" "'$id'" |
	    sql 2>&1) || die "user_get failed in psql: $out"
	[[ $out == *"$id"* ]] ||
	    die "user_get with the admin's token does not return user $id: $out"
}

free_port() {
	local p

	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found on 127.0.0.1"
}

# The argon2id cost and task settings of the service, for env(1).
# The rate limiter is off: wrk sends everything from one address (its
# cost is measured apart, by bench/hardening.sh).
service_env() {
	printf '%s\n' "ARGON2_MEMORY_KIB=$ARGON2_M" "ARGON2_ITERATIONS=$ARGON2_T" \
	    "ARGON2_PARALLELISM=$ARGON2_P" "TASK_THREADS=$TASK_THREADS" \
	    "TASKS_MAX=$TASKS_MAX" "RATE_LIMIT_STRICT=0" "RATE_LIMIT_GENERAL=0"
}

start_service() {
	# shellcheck disable=SC2046
	env $(service_env) WORKERS=2 USERAPI_DEV=1 LOG_FORMAT=text \
	    BIND="127.0.0.1:$port" "$bin" serve >"$tmp/service.log" 2>&1 &
	svc_pid=$!
	for _ in $(seq 200); do
		alive "$svc_pid" || die "the service exited at start-up"
		if curl -fsS -o /dev/null "$url/healthz" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	die "the service did not answer /healthz within 20 s"
}

# Log in as the bench's admin: GET /users needs one.
get_token() {
	local body

	body=$(curl -sS -X POST "$url/token" \
	    --data-urlencode "username=$ADMIN_EMAIL" \
	    --data-urlencode "password@$tmp/admin.pw" \
	    -w '\n%{http_code}') || die "POST /token failed"
	[ "${body##*$'\n'}" = 200 ] ||
	    die "POST /token answered ${body##*$'\n'}: ${body%$'\n'*}"
	body=${body%$'\n'*}
	token=$(printf '%s' "$body" |
	    sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
	[ -n "$token" ] || die "no access_token in $body"

	# The claims the service binds into user_get: sub and tv.
	claims=${token#*.}
	claims=${claims%%.*}
	while [ $(( ${#claims} % 4 )) -ne 0 ]; do
		claims+="="
	done
	claims=$(printf '%s' "$claims" | tr '_-' '/+' | base64 -d 2>/dev/null) ||
	    die "the token's claims are not base64url"
	caller=$(sed -n 's/.*"sub" *: *"\([^"]*\)".*/\1/p' <<<"$claims")
	tv=$(sed -n 's/.*"tv" *: *\([0-9][0-9]*\).*/\1/p' <<<"$claims")
	if [ -z "$caller" ] || [ -z "$tv" ]; then
		die "no sub or tv claim in the token: $claims"
	fi
}

# Each endpoint answers 200 before it is measured.
preflight() {
	local path code

	for path in "/users/$(head -n 1 "$tmp/ids")" "/users?limit=10"; do
		code=$(curl -sS -o "$tmp/preflight" -w '%{http_code}' \
		    -H "Authorization: Bearer $token" "$url$path") ||
		    die "GET $path failed"
		[ "$code" = 200 ] ||
		    die "GET $path answered $code: $(head -c 300 "$tmp/preflight")"
	done
	code=$(curl -sS -o "$tmp/preflight" -w '%{http_code}' -X POST \
	    --data-urlencode "username=$(head -n 1 "$tmp/logins")" \
	    --data-urlencode "password@$tmp/user.pw" "$url/token") ||
	    die "POST /token failed"
	if [ "$code" != 200 ] || ! grep -q '"access_token"' "$tmp/preflight"; then
		die "POST /token as a bench user answered $code: $(head -c 300 "$tmp/preflight")"
	fi
}

# --- measuring --------------------------------------------------------------

# wrk on one path while sampling the service's memory, and the CPU time
# the service and PostgreSQL spent meanwhile. Sets w_* for the table,
# c_svc_us and c_pg_us (CPU microseconds per request).
run_wrk() {
	local path=$1 out=$tmp/wrk.out s0 p0 s1 p1

	s0=$(tree_cpu_ticks "$svc_pid")
	p0=$(tree_cpu_ticks "$(pg_pid)")
	BENCH_PATH=$path BENCH_IDS=$tmp/ids BENCH_TOKEN=$token \
	    wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$TOP/bench/wrk.lua" \
	    "$url" >"$out" 2>&1 &
	bg_pid=$!
	watch_rss "$bg_pid"
	wait "$bg_pid" || die "wrk failed on $path: $(tail -n 3 "$out")"
	bg_pid=""
	s1=$(tree_cpu_ticks "$svc_pid")
	p1=$(tree_cpu_ticks "$(pg_pid)")
	[ "$watched_max" -le "$rss_max" ] || rss_max=$watched_max
	[ "$watched_pss" -le "$pss_max" ] || pss_max=$watched_pss
	wrk_read "$out" "$path"
	c_svc_us=$(per_request "$((s1 - s0))" "$w_n")
	c_pg_us=$(per_request "$((p1 - p0))" "$w_n")
}

# A short wrk run on $1 (GET /users/{id}) with strace counting the
# workers' system calls: a measure a busy machine does not skew. Sets
# sc_total (calls per request) and sc_send (send/sendto per request:
# the answer, plus the writes to PostgreSQL).
run_strace() {
	local path=$1 out=$tmp/wrk-strace.out p pids=() st_pid

	for p in $(ps -o pid= --ppid "$svc_pid"); do
		pids+=(-p "$p")
	done
	strace -c -f -o "$tmp/strace.out" "${pids[@]}" 2>/dev/null &
	st_pid=$!
	sleep 1
	BENCH_PATH=$path BENCH_IDS=$tmp/ids BENCH_TOKEN=$token \
	    wrk -t2 -c"$CONNS" -d4s -s "$TOP/bench/wrk.lua" \
	    "$url" >"$out" 2>&1 || die "wrk failed under strace: $(tail -n 3 "$out")"
	kill -INT "$st_pid"
	wait "$st_pid" || true
	wrk_read "$out" "$path"
	# strace -c: "% time, seconds, usecs/call, calls, [errors,] syscall".
	sc_total=$(awk -v n="$w_n" '$NF == "total" { printf "%.2f", $4 / n }' \
	    "$tmp/strace.out")
	sc_send=$(awk -v n="$w_n" '$NF == "sendto" || $NF == "send" {
		s += $4 } END { printf "%.2f", s / n }' "$tmp/strace.out")
}

# Microseconds of CPU per request: ticks $1 over $2 requests.
per_request() {
	awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN {
		printf "%.1f", (n > 0) ? t * 1e6 / hz / n : 0
	}'
}

# Until every process named exits, sample the service's total RSS and
# PSS every 0.25 s; the largest, in KiB, land in watched_max and
# watched_pss.
watch_rss() {
	local kib p running

	watched_max=0
	watched_pss=0
	while :; do
		running=0
		for p in "$@"; do
			! alive "$p" || running=1
		done
		[ "$running" -eq 1 ] || break
		kib=$(tree_rss_kib "$svc_pid")
		[ "$kib" -le "$watched_max" ] || watched_max=$kib
		kib=$(tree_pss_kib "$svc_pid")
		[ "$kib" -le "$watched_pss" ] || watched_pss=$kib
		sleep 0.25
	done
}

# The wrk-result line of file $1 (wrk on $2). Sets w_rps (every response),
# w_ok and w_ok_rps (responses under 400), w_p50, w_p99, w_err.
wrk_read() {
	local out=$1 line d

	line=$(grep '^wrk-result ' "$out") || die "no result from wrk on $2: $(tail -n 3 "$out")"
	d=$(field "$line" duration_us)
	w_n=$(field "$line" requests)
	w_rps=$(field "$line" requests | awk -v d="$d" '{ printf "%.0f", $1 / (d / 1e6) }')
	w_ok=$(( $(field "$line" requests) - $(field "$line" status) ))
	w_ok_rps=$(awk -v n="$(field "$line" requests)" \
	    -v s="$(field "$line" status)" -v d="$d" \
	    'BEGIN { printf "%.1f", (n - s) / (d / 1e6) }')
	w_p50=$(field "$line" p50_us)
	w_p99=$(field "$line" p99_us)
	w_err=$(( $(field "$line" status) + $(field "$line" connect) + \
	    $(field "$line" read) + $(field "$line" write) + \
	    $(field "$line" timeout) ))
}

# wrk POSTing /token for DURATION s and, from 1 s in until 1 s before its
# end, the /healthz probe; samples the service's RSS meanwhile, and takes
# the service's and the machine's CPU time. The lockout counts start empty.
# Sets t_* (logins/s are successful logins), h_* and cpu_*.
run_token() {
	local out=$tmp/token.out hz=$tmp/healthz.out s0 m0 s1 m1

	sql -c "DELETE FROM login_attempts"
	s0=$(tree_cpu_ticks "$svc_pid")
	m0=$(machine_ticks)
	BENCH_LOGINS=$tmp/logins BENCH_PASSWORD=$(cat "$tmp/user.pw") \
	    BENCH_THREADS=$LOGIN_THREADS wrk -t"$LOGIN_THREADS" \
	    -c"$LOGIN_CONNS" -d"${DURATION}s" -s "$TOP/bench/token.lua" \
	    "$url" >"$out" 2>&1 &
	bg_pid=$!
	[ "$hz_delay" -eq 0 ] || sleep "$hz_delay"
	BENCH_PATH=/healthz BENCH_TOKEN="" BENCH_DELAY_MS=$HEALTH_DELAY_MS \
	    wrk -t1 -c"$HEALTH_CONNS" -d"${hz_duration}s" \
	    -s "$TOP/bench/wrk.lua" "$url" >"$hz" 2>&1 &
	hz_pid=$!
	watch_rss "$bg_pid" "$hz_pid"
	wait "$bg_pid" || die "wrk failed on /token: $(tail -n 3 "$out")"
	bg_pid=""
	wait "$hz_pid" || die "wrk failed on /healthz: $(tail -n 3 "$hz")"
	hz_pid=""
	s1=$(tree_cpu_ticks "$svc_pid")
	m1=$(machine_ticks)
	token_rss_max=$watched_max

	wrk_read "$out" /token
	t_rps=$w_ok_rps t_p50=$w_p50 t_p99=$w_p99 t_err=$w_err t_ok=$w_ok
	wrk_read "$hz" /healthz
	h_rps=$w_rps h_p50=$w_p50 h_p99=$w_p99 h_err=$w_err

	# Ticks: the service's, the machine's busy and idle (all CPUs).
	cpu_svc=$((s1 - s0))
	cpu_busy=$(( ${m1% *} - ${m0% *} ))
	cpu_idle=$(( ${m1#* } - ${m0#* } ))
}

# The value of key in a "key=value key=value" line.
field() {
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# pgbench on the same cluster, running the script function $1 prints;
# sets p_* from its summary and its per-transaction log (latencies in
# microseconds, third column).
run_pgbench() {
	local out=$tmp/pgbench.out n p0 p1

	rm -f "$tmp"/pgbench_log.*
	"$1" >"$tmp/script.pgbench"
	p0=$(tree_cpu_ticks "$(pg_pid)")
	(cd "$tmp" && "$PGBIN/pgbench" -n -M prepared -c 16 -j 2 -T "$DURATION" \
	    -D caller="$caller" -D tv="$tv" -f "$tmp/script.pgbench" \
	    -l --log-prefix="$tmp/pgbench_log" "$DATABASE_URL") >"$out" 2>&1 &
	bg_pid=$!
	wait "$bg_pid" || die "pgbench failed: $(tail -n 3 "$out")"
	bg_pid=""
	p1=$(tree_cpu_ticks "$(pg_pid)")

	p_rps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | head -n 1)
	[ -n "$p_rps" ] || die "no tps in pgbench's output: $(tail -n 3 "$out")"
	p_rps=$(printf '%.0f' "$p_rps")
	p_err=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	p_err=${p_err:-0}
	cat "$tmp"/pgbench_log.* | awk '$3 ~ /^[0-9]+$/ { print $3 }' |
	    sort -n >"$tmp/pgbench.lat"
	n=$(wc -l <"$tmp/pgbench.lat")
	[ "$n" -gt 0 ] || die "pgbench logged no transactions"
	p_p50=$(sed -n "$(( (n * 50 + 99) / 100 ))p" "$tmp/pgbench.lat")
	p_p99=$(sed -n "$(( (n * 99 + 99) / 100 ))p" "$tmp/pgbench.lat")
	p_pg_us=$(per_request "$((p1 - p0))" "$n")
}

# --- report -----------------------------------------------------------------

# "met" or "missed": whether $1 >= $2 ($3 = ge) or $1 < $2 ($3 = lt).
target() {
	awk -v v="$1" -v lim="$2" -v op="$3" 'BEGIN {
		ok = (op == "ge") ? (v + 0 >= lim + 0) : (v + 0 < lim + 0)
		printf "%s", ok ? "met" : "missed"
	}'
}

# A row of the table: name, req/s, p50 us, p99 us, errors, CPU us per
# request of the service ("-" for none) and of PostgreSQL; the total
# also as a ratio to PostgreSQL's CPU per pgbench transaction, which
# carries over from one machine (and one load) to another better than µs.
row() {
	awk -v name="$1" -v rps="$2" -v p50="$3" -v p99="$4" -v err="$5" \
	    -v svc="$6" -v pg="$7" -v base="$p_rps" -v base_pg="$p_pg_us" \
	    'BEGIN {
		total = (svc == "-") ? pg : svc + pg
		printf "| %s | %d | %.2f | %.2f | %d | %.2f | %s | %.1f | %.1f | %.2f |\n",
		    name, rps, p50 / 1000, p99 / 1000, err, rps / base, svc,
		    pg, total, total / base_pg
	}'
}

# --- main -------------------------------------------------------------------

[ $# -eq 1 ] || { echo "usage: bench/run.sh BINARY" >&2; exit 2; }
bin=$(realpath -e "$1" 2>/dev/null) || die "$1 not found (make build)"
[ -x "$bin" ] || die "$bin is not executable"
check_tools

trap cleanup EXIT
trap 'say interrupted; exit 130' INT
trap 'say terminated; exit 143' TERM
tmp=$(mktemp -d /tmp/userapi-bench.XXXXXX)

say "timing $VERIFY_RUNS argon2id verifies at m=$ARGON2_M,t=$ARGON2_T,p=$ARGON2_P"
(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$tmp/user.pw")
time_verify

pg_port=$(free_port)
say "starting a private cluster in $tmp/pg, on 127.0.0.1:$pg_port"
unset PGEMBED_FAST
pg_started=1
PGEMBED_TCP_PORT=$pg_port "$PGEMBED" start "$tmp/pg" >/dev/null
DATABASE_URL=$("$PGEMBED" tcp-dsn "$tmp/pg") ||
    die "scripts/pgembed.sh cannot start a cluster on TCP"
export DATABASE_URL

say "migrating and seeding $USERS users"
"$bin" migrate >"$tmp/migrate.log" 2>&1 ||
    die "migrate failed: $(tail -n 3 "$tmp/migrate.log")"
seed
(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$tmp/admin.pw")
# shellcheck disable=SC2046
env $(service_env) ADMIN_PASSWORD="$(cat "$tmp/admin.pw")" \
    "$bin" create-admin "$ADMIN_EMAIL" >"$tmp/admin.log" 2>&1 </dev/null ||
    die "create-admin failed: $(tail -n 3 "$tmp/admin.log")"

port=$(free_port)
url=http://127.0.0.1:$port
say "serving on $url (WORKERS=2)"
start_service
get_token
preflight
check_user_get

rss_max=0
pss_max=0
load_before=$(cut -d ' ' -f 1-3 /proc/loadavg)
say "wrk -t2 -c$CONNS -d${DURATION}s GET /users/{id}"
log_mark=$(wc -l <"$tmp/service.log")
run_wrk "/users/{id}"
g_rps=$w_rps g_p50=$w_p50 g_p99=$w_p99 g_err=$w_err
g_svc=$c_svc_us g_pg=$c_pg_us
# How the requests spread over the workers: access lines per process id.
spread=$(tail -n +"$((log_mark + 1))" "$tmp/service.log" |
	awk '$4 == "access" { n[$3]++ } END { for (p in n) { printf "%s%d", s, n[p]; s = " / " } }')
say "wrk -t2 -c$CONNS -d${DURATION}s GET /users?limit=10"
run_wrk "/users?limit=10"
l_rps=$w_rps l_p50=$w_p50 l_p99=$w_p99 l_err=$w_err
l_svc=$c_svc_us l_pg=$c_pg_us
say "wrk -t2 -c$CONNS -d4s GET /users/{id} under strace -c"
run_strace "/users/{id}"
say "pgbench -M prepared -c 16 -j 2 -T $DURATION, a bare SELECT by key"
run_pgbench pgbench_bare_script
b_rps=$p_rps b_p50=$p_p50 b_p99=$p_p99 b_err=$p_err b_pg_us=$p_pg_us
say "pgbench -M prepared -c 16 -j 2 -T $DURATION, the same SELECT"
run_pgbench pgbench_script
load_after=$(cut -d ' ' -f 1-3 /proc/loadavg)
if [ "$DURATION" -ge 3 ]; then
	hz_delay=1 hz_duration=$((DURATION - 2))
else
	hz_delay=0 hz_duration=$DURATION
fi
say "wrk -t$LOGIN_THREADS -c$LOGIN_CONNS -d${DURATION}s POST /token, with wrk -t1 -c$HEALTH_CONNS -d${hz_duration}s GET /healthz (${HEALTH_DELAY_MS} ms pauses)"
run_token

echo
echo "userapi bench: $USERS users, wrk -t2 -c$CONNS -d${DURATION}s, WORKERS=2, $(nproc) CPUs, $(date -u +%Y-%m-%d)"
echo
echo "| endpoint | req/s | p50 ms | p99 ms | errors | ratio to pgbench | service CPU µs/req | PostgreSQL CPU µs/req | total CPU µs/req | total CPU / pgbench's |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
row "GET /users/{id}, bearer token" "$g_rps" "$g_p50" "$g_p99" "$g_err" \
    "$g_svc" "$g_pg"
row "GET /users?limit=10, bearer token" "$l_rps" "$l_p50" "$l_p99" "$l_err" \
    "$l_svc" "$l_pg"
row "pgbench, the same SELECT (-M prepared -c 16 -j 2)" "$p_rps" "$p_p50" \
    "$p_p99" "$p_err" - "$p_pg_us"
row "pgbench, a bare SELECT of the row by key" "$b_rps" "$b_p50" \
    "$b_p99" "$b_err" - "$b_pg_us"
echo
echo "service PSS max (all its processes): $(( (pss_max + 1023) / 1024 )) MiB; RSS max: $(( (rss_max + 1023) / 1024 )) MiB"
echo "GET /users/{id} requests per worker: ${spread:-unknown}"
echo "system calls of the workers per GET /users/{id} (strace -c, 4 s, its own run): $sc_total; of them send/sendto: $sc_send (the answer, plus the writes to PostgreSQL)"
echo "load average (1, 5, 15 min) before the GET runs: $load_before; after pgbench: $load_after"
g_ratio=$(awk -v r="$g_rps" -v b="$p_rps" 'BEGIN { printf "%.2f", r / b }')
g_cpu=$(awk -v a="$g_svc" -v b="$g_pg" 'BEGIN { printf "%.1f", a + b }')
g_pss=$(( (pss_max + 1023) / 1024 ))
echo "targets for GET /users/{id}: ratio to pgbench at least 0.60: $(target "$g_ratio" 0.60 ge) ($g_ratio);" \
    "service + PostgreSQL CPU at most 35 µs/request: $(target "$g_cpu" 35.05 lt) ($g_cpu);" \
    "PSS at most 40 MiB: $(target "$g_pss" 40.5 lt) ($g_pss MiB);" \
    "errors 0: $(target "$g_err" 1 lt) ($g_err);" \
    "p99 under 50 ms: $(target "$g_p99" 50000 lt) ($(awk -v u="$g_p99" 'BEGIN { printf "%.2f", u / 1000 }') ms)"

cores=$(nproc)
limit=$(awk -v c="$cores" -v us="$v_cpu_us" 'BEGIN { printf "%.1f", c * 1e6 / us }')
t_ratio=$(awk -v r="$t_rps" -v l="$limit" 'BEGIN { printf "%.2f", r / l }')
echo
echo "logins: wrk -t$LOGIN_THREADS -c$LOGIN_CONNS -d${DURATION}s POST /token, a different account each (of $USERS), WORKERS=2, TASK_THREADS=$TASK_THREADS, TASKS_MAX=$TASKS_MAX;" \
    "GET /healthz: wrk -t1 -c$HEALTH_CONNS -d${hz_duration}s during it, each connection pausing ${HEALTH_DELAY_MS} ms between requests"
echo
echo "| endpoint | req/s | p50 ms | p99 ms | errors | ratio to physical limit (cores / verify time) |"
echo "|---|---:|---:|---:|---:|---:|"
awk -v rps="$t_rps" -v p50="$t_p50" -v p99="$t_p99" -v err="$t_err" \
    -v ratio="$t_ratio" 'BEGIN {
	printf "| POST /token (logins/s) | %.1f | %.2f | %.2f | %d | %.2f |\n",
	    rps, p50 / 1000, p99 / 1000, err, ratio
}'
awk -v rps="$h_rps" -v p50="$h_p50" -v p99="$h_p99" -v err="$h_err" 'BEGIN {
	printf "| GET /healthz while /token saturated | %d | %.2f | %.2f | %d | - |\n",
	    rps, p50 / 1000, p99 / 1000, err
}'
echo
awk -v m="$ARGON2_M" -v t="$ARGON2_T" -v p="$ARGON2_P" -v n="$VERIFY_RUNS" \
    -v cpu="$v_cpu_us" -v wall="$v_wall_us" -v lim="$limit" -v c="$cores" 'BEGIN {
	printf "argon2id verify at m=%d,t=%d,p=%d: %.1f ms (median of %d, CPU time; wall %.1f ms); physical limit: %.1f logins/s on %d cores\n",
	    m, t, p, cpu / 1000, n, wall / 1000, lim, c
}'
echo "targets: logins/s at least 0.80 of the limit: $(target "$t_ratio" 0.80 ge) ($t_ratio);" \
    "/healthz p99 under 50 ms while /token is saturated: $(target "$h_p99" 50000 lt) ($(awk -v u="$h_p99" 'BEGIN { printf "%.2f", u / 1000 }') ms)"
awk -v svc="$cpu_svc" -v busy="$cpu_busy" -v idle="$cpu_idle" \
    -v c="$cores" -v hz="$(getconf CLK_TCK)" -v n="$t_ok" 'BEGIN {
	all = busy + idle
	if (all <= 0)
		all = 1
	per = 0
	if (n > 0)
		per = svc * 1000 / hz / n
	printf "CPU during the /token run: the service %.2f of %d cores (%.1f ms per login, the /healthz probe included), everything else %.2f, idle %.2f\n",
	    c * svc / all, c, per, c * (busy - svc) / all, c * idle / all
}'
echo "service RSS max while /token was saturated: $(( (token_rss_max + 1023) / 1024 )) MiB"

# The hardening figures (the rate limiter's cost, others' latency during
# a slowloris), on an instance and a cluster of their own.
if [ "${BENCH_HARDENING:-1}" != 0 ]; then
	echo
	"$TOP/bench/hardening.sh" "$bin"
fi

# Notifications (bench/notify.sh): a cluster, an SMTP sink and a service of
# their own. BENCH_NOTIFY=0 skips it.
if [ "${BENCH_NOTIFY:-1}" != 0 ]; then
	echo
	"$TOP/bench/notify.sh" "$bin"
fi

# WebSocket /ws (bench/ws.sh): idle sockets' memory, broadcast latency and
# throughput over two instances. BENCH_WS=0 skips it.
if [ "${BENCH_WS:-1}" != 0 ]; then
	echo
	"$TOP/bench/ws.sh" "$bin"
fi
