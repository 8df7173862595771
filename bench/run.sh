#!/usr/bin/env bash
# userapi: `make bench`: wrk on the service and pgbench on the same SELECT, over a private cluster; prints a table.
#
#   bench/run.sh BINARY
#
# Seeds 10,000 users into a cluster of its own (scripts/pgembed.sh in a
# temporary directory, durable settings), serves them on a free port, runs
# wrk (-t2 -c64 -d10s) on GET /users/{random id} and GET /users?limit=10,
# then pgbench (-M prepared -c 16 -j 2 -T 10) on the very SELECT the service
# runs for GET /users/{id} (sql/users.sql, user_get). Prints a markdown
# table and the service's largest total RSS (all its processes) seen while
# wrk ran. Everything it starts is stopped by PID on exit, Ctrl-C included.
#
# BENCH_DURATION (seconds, default 10) and BENCH_CONNECTIONS (wrk, default
# 64) shorten or widen a run; the table says what was used.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
USERS=10000
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-64}
ADMIN_EMAIL=bench-admin@example.com

TOP=$(cd "$(dirname "$0")/.." && pwd -P)
PGEMBED=$TOP/scripts/pgembed.sh

tmp=""
svc_pid=""
bg_pid=""
pg_started=0

die() {
	echo "bench: $*" >&2
	exit 1
}

say() {
	echo "bench: $*" >&2
}

# --- processes --------------------------------------------------------------

# Alive and not a zombie (a child we have not waited for yet).
alive() {
	local s

	s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ $s != Z* ]]
}

# pid and all its descendants.
tree_pids() {
	local c

	echo "$1"
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		tree_pids "$c"
	done
}

# Resident memory of pid and its descendants, KiB.
tree_rss_kib() {
	local p sum=0 kib

	for p in $(tree_pids "$1"); do
		kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || true
		sum=$((sum + ${kib:-0}))
	done
	echo "$sum"
}

# TERM a child of ours and its descendants; KILL what is left after 10 s.
stop_tree() {
	local pid=$1 pids

	pids=$(tree_pids "$pid")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		alive "$pid" || break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?

	trap - EXIT INT TERM
	[ -z "$bg_pid" ] || stop_tree "$bg_pid"
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
	local t

	for t in wrk curl "$PGBIN/pgbench" "$PGBIN/psql"; do
		command -v "$t" >/dev/null ||
		    die "$t not found (make deps-bench installs wrk, curl, postgresql-15)"
	done
	[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "invalid BENCH_DURATION: $DURATION"
	[[ $CONNS =~ ^[1-9][0-9]*$ ]] || die "invalid BENCH_CONNECTIONS: $CONNS"
}

sql() {
	"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL" "$@"
}

seed() {
	# Columns of migrations/0001_users.sql; the rest take their defaults.
	sql <<-EOF
	INSERT INTO users (name, email, age, is_active, is_admin)
	SELECT 'Bench User ' || i, 'bench' || i || '@example.com', i % 100,
	    true, false
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

start_service() {
	WORKERS=2 USERAPI_DEV=1 LOG_FORMAT=text BIND="127.0.0.1:$port" \
	    "$bin" serve >"$tmp/service.log" 2>&1 &
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
}

# --- measuring --------------------------------------------------------------

# wrk on one path while sampling the service's RSS. Sets w_* for the table.
run_wrk() {
	local path=$1 out=$tmp/wrk.out line kib max=0

	BENCH_PATH=$path BENCH_IDS=$tmp/ids BENCH_TOKEN=$token \
	    wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$TOP/bench/wrk.lua" \
	    "$url" >"$out" 2>&1 &
	bg_pid=$!
	while alive "$bg_pid"; do
		kib=$(tree_rss_kib "$svc_pid")
		[ "$kib" -le "$max" ] || max=$kib
		sleep 0.25
	done
	wait "$bg_pid" || die "wrk failed on $path: $(tail -n 3 "$out")"
	bg_pid=""
	[ "$max" -le "$rss_max" ] || rss_max=$max

	line=$(grep '^wrk-result ' "$out") || die "no result from wrk on $path: $(tail -n 3 "$out")"
	w_rps=$(field "$line" requests | awk -v d="$(field "$line" duration_us)" '{ printf "%.0f", $1 / (d / 1e6) }')
	w_p50=$(field "$line" p50_us)
	w_p99=$(field "$line" p99_us)
	w_err=$(( $(field "$line" status) + $(field "$line" connect) + \
	    $(field "$line" read) + $(field "$line" write) + \
	    $(field "$line" timeout) ))
}

# The value of key in a "key=value key=value" line.
field() {
	printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# pgbench on the same cluster; sets p_* from its summary and its
# per-transaction log (latencies in microseconds, third column).
run_pgbench() {
	local out=$tmp/pgbench.out n

	pgbench_script >"$tmp/user_get.pgbench"
	(cd "$tmp" && "$PGBIN/pgbench" -n -M prepared -c 16 -j 2 -T "$DURATION" \
	    -D caller="$caller" -D tv="$tv" -f "$tmp/user_get.pgbench" \
	    -l --log-prefix="$tmp/pgbench_log" "$DATABASE_URL") >"$out" 2>&1 &
	bg_pid=$!
	wait "$bg_pid" || die "pgbench failed: $(tail -n 3 "$out")"
	bg_pid=""

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
}

# --- report -----------------------------------------------------------------

row() {
	awk -v name="$1" -v rps="$2" -v p50="$3" -v p99="$4" -v err="$5" \
	    -v base="$p_rps" 'BEGIN {
		printf "| %s | %d | %.2f | %.2f | %d | %.2f |\n",
		    name, rps, p50 / 1000, p99 / 1000, err, rps / base
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

say "starting a private cluster in $tmp/pg"
unset PGEMBED_FAST
pg_started=1
"$PGEMBED" start "$tmp/pg" >/dev/null
DATABASE_URL=$("$PGEMBED" dsn "$tmp/pg")
export DATABASE_URL

say "migrating and seeding $USERS users"
"$bin" migrate >"$tmp/migrate.log" 2>&1 ||
    die "migrate failed: $(tail -n 3 "$tmp/migrate.log")"
seed
(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$tmp/admin.pw")
ADMIN_PASSWORD=$(cat "$tmp/admin.pw") "$bin" create-admin "$ADMIN_EMAIL" \
    >"$tmp/admin.log" 2>&1 </dev/null ||
    die "create-admin failed: $(tail -n 3 "$tmp/admin.log")"

port=$(free_port)
url=http://127.0.0.1:$port
say "serving on $url (WORKERS=2)"
start_service
get_token
preflight
check_user_get

rss_max=0
say "wrk -t2 -c$CONNS -d${DURATION}s GET /users/{id}"
run_wrk "/users/{id}"
g_rps=$w_rps g_p50=$w_p50 g_p99=$w_p99 g_err=$w_err
say "wrk -t2 -c$CONNS -d${DURATION}s GET /users?limit=10"
run_wrk "/users?limit=10"
l_rps=$w_rps l_p50=$w_p50 l_p99=$w_p99 l_err=$w_err
say "pgbench -M prepared -c 16 -j 2 -T $DURATION"
run_pgbench

echo
echo "userapi bench: $USERS users, wrk -t2 -c$CONNS -d${DURATION}s, WORKERS=2, $(nproc) CPUs, $(date -u +%Y-%m-%d)"
echo
echo "| endpoint | req/s | p50 ms | p99 ms | errors | ratio to pgbench |"
echo "|---|---:|---:|---:|---:|---:|"
row "GET /users/{id}" "$g_rps" "$g_p50" "$g_p99" "$g_err"
row "GET /users?limit=10" "$l_rps" "$l_p50" "$l_p99" "$l_err"
row "pgbench, the same SELECT (-M prepared -c 16 -j 2)" "$p_rps" "$p_p50" \
    "$p_p99" "$p_err"
echo
echo "service RSS max: $(( (rss_max + 1023) / 1024 )) MiB"
