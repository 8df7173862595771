#!/usr/bin/env bash
# userapi: WebSocket benchmark: memory of idle sockets, broadcast latency and throughput over two instances.
#
#   bench/ws.sh BINARY
#
# A private cluster (scripts/pgembed.sh in a temporary directory), two
# instances of BINARY on it (WORKERS=2 each), one user and its token. Then:
#
# 1. Idle sockets: the PSS of instance A's whole process tree (the sum of
#    Pss in /proc/<pid>/smaps_rollup: shared pages counted once) with no
#    socket, then with BENCH_WS_IDLE authenticated sockets open and idle
#    (default 10000); prints the total and the cost per socket.
# 2. Broadcast: BENCH_WS_CLIENTS receivers (default 1000) spread over
#    both instances, one sender on A sending BENCH_WS_MESSAGES messages
#    (default 30) at BENCH_WS_RATE a second (default 1); each text
#    carries its send time, each receiver its receive time (same clock):
#    latency p50/p99/max and deliveries per second, split at the moment
#    PostgreSQL stored the message (its "at"): send -> stored and
#    stored -> received, and the spread of each message from its first
#    to its last delivery. Run twice: with the message in the NOTIFY
#    payload (the default) and with the id only (WS_NOTIFY_MAX=0: each
#    worker reads the message from the table), the choice the service
#    makes for messages over NOTIFY's 8000 bytes.
# 3. Throughput: BENCH_WS_FAST_MESSAGES (default 500) at
#    BENCH_WS_FAST_RATE a second (default 50): 50,000 deliveries a
#    second asked of 2 CPUs that also run the clients and PostgreSQL.
#
# The idle sockets are held by bench/ws.py (python3, asyncio); the
# broadcast clients are bench/ws_bench.c (one epoll loop in C, built here
# with cc), which costs little CPU next to the service, so the figures
# are the service's. Prints markdown tables with the load average at the
# end of each run. Everything started is stopped by PID on exit.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
PYTHON=/usr/bin/python3
IDLE=${BENCH_WS_IDLE:-10000}
CLIENTS=${BENCH_WS_CLIENTS:-1000}
MESSAGES=${BENCH_WS_MESSAGES:-30}
RATE=${BENCH_WS_RATE:-1}
FAST_MESSAGES=${BENCH_WS_FAST_MESSAGES:-500}
FAST_RATE=${BENCH_WS_FAST_RATE:-50}
SIZE=${BENCH_WS_SIZE:-100}

TOP=$(cd "$(dirname "$0")/.." && pwd -P)
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"
PGEMBED=$TOP/scripts/pgembed.sh
BIN=${1:-}

tmp=""
pids=()
pg_started=0

die() {
	echo "bench-ws: $*" >&2
	exit 1
}

say() {
	echo "bench-ws: $*" >&2
}

cleanup() {
	local rc=$? p

	trap - EXIT INT TERM
	for p in "${pids[@]}"; do
		stop_tree "$p"
	done
	if [ -n "${BENCH_WS_LOGS:-}" ] && [ -n "$tmp" ]; then
		mkdir -p "$BENCH_WS_LOGS" && cp "$tmp"/*.log "$BENCH_WS_LOGS"/ ||
		    say "could not copy the logs to $BENCH_WS_LOGS"
	fi
	if [ "$pg_started" = 1 ]; then
		"$PGEMBED" destroy "$tmp/pg" >/dev/null ||
		    say "could not stop the cluster in $tmp/pg"
	fi
	[ -z "$tmp" ] || rm -rf "$tmp"
	exit "$rc"
}

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start NAME PORT [VAR=VALUE...]: an instance in the background; its pid
# in $svc.
start() {
	local name=$1 port=$2

	shift 2
	env DATABASE_URL="$DATABASE_URL" BIND="127.0.0.1:$port" WORKERS=2 \
	    JWT_SECRET="$JWT_SECRET" WS_MAX_CLIENTS=$((IDLE + CLIENTS + 100)) \
	    MAX_CONNECTIONS=$((IDLE + CLIENTS + 2000)) RATE_LIMIT_GENERAL=0 \
	    RATE_LIMIT_STRICT=0 \
	    WS_RATE=100000 WS_BURST=100000 "$@" \
	    "$BIN" serve >>"$tmp/$name.log" 2>&1 &
	svc=$!
	pids+=("$svc")
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return 0
		sleep 0.1
	done
	tail -n 20 "$tmp/$name.log" >&2
	die "$name did not start"
}

[ -n "$BIN" ] && [ -x "$BIN" ] || die "usage: bench/ws.sh BINARY"
for t in curl cc "$PGBIN/psql" "$PYTHON"; do
	command -v "$t" >/dev/null || die "$t not found"
done
BIN=$(cd "$(dirname "$BIN")" && pwd -P)/$(basename "$BIN")

trap cleanup EXIT INT TERM
tmp=$(mktemp -d /tmp/userapi-bench-ws-XXXXXX)
chmod 755 "$tmp"
# The clients hold IDLE + CLIENTS sockets: as many descriptors as allowed.
ulimit -n "$(ulimit -Hn)"
cc -std=c99 -O2 -Wall -Wextra -Werror -o "$tmp/ws_bench" \
    "$TOP/bench/ws_bench.c"

say "starting a cluster in $tmp/pg"
"$PGEMBED" start "$tmp/pg" >/dev/null
pg_started=1
DATABASE_URL=$("$PGEMBED" dsn "$tmp/pg")
JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export DATABASE_URL JWT_SECRET
env DATABASE_URL="$DATABASE_URL" "$BIN" migrate >/dev/null

port_a=$(free_port)
start a "$port_a"
pid_a=$svc
url_a=http://127.0.0.1:$port_a
curl -fs -XPOST "$url_a/users" -H 'content-type: application/json' \
    -d '{"name":"Bench","email":"ws-bench@example.com","password":"ws-bench-pw"}' \
    >/dev/null
token=$(curl -fs -XPOST "$url_a/token" \
    -d 'username=ws-bench@example.com&password=ws-bench-pw' |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# --- 1. idle sockets ----------------------------------------------------------
sleep 1
pss0=$(tree_pss_kib "$pid_a")
say "opening $IDLE idle sockets"
mkfifo "$tmp/hold"
"$PYTHON" "$TOP/bench/ws.py" idle "$url_a" "$token" "$IDLE" \
    <"$tmp/hold" >"$tmp/idle.out" &
idle_pid=$!
pids+=("$idle_pid")
exec 3>"$tmp/hold"
for _ in $(seq 1200); do
	grep -q '^ready' "$tmp/idle.out" 2>/dev/null && break
	kill -0 "$idle_pid" 2>/dev/null || {
		tail -n 5 "$tmp/a.log" >&2
		die "the idle client failed"
	}
	sleep 0.1
done
grep -q '^ready' "$tmp/idle.out" || die "the idle sockets did not open"
sleep 2
pss1=$(tree_pss_kib "$pid_a")
echo >&3
exec 3>&-
wait "$idle_pid" || true
still=$(awk '/^open/ { print $2 }' "$tmp/idle.out")

# --- 2. and 3. broadcast ------------------------------------------------------
port_b=$(free_port)
start b "$port_b"
url_b=http://127.0.0.1:$port_b

# broadcast MESSAGES RATE: one JSON line, with the load average after it.
broadcast() {
	local out

	out=$("$tmp/ws_bench" "$token" "$CLIENTS" "$1" "$2" "$SIZE" \
	    "127.0.0.1:$port_a" "127.0.0.1:$port_b")
	echo "${out%\}}, \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
}

say "broadcast: $CLIENTS clients, $MESSAGES messages at $RATE/s"
inline=$(broadcast "$MESSAGES" "$RATE")
say "broadcast: $FAST_MESSAGES messages at $FAST_RATE/s"
fast=$(broadcast "$FAST_MESSAGES" "$FAST_RATE")

# The same with the id-only NOTIFY payload.
for p in "${pids[@]}"; do
	stop_tree "$p"
done
pids=()
start a "$port_a" WS_NOTIFY_MAX=0
start b "$port_b" WS_NOTIFY_MAX=0
say "broadcast, id-only NOTIFY: $MESSAGES messages at $RATE/s"
idonly=$(broadcast "$MESSAGES" "$RATE")
say "broadcast, id-only NOTIFY: $FAST_MESSAGES messages at $FAST_RATE/s"
idfast=$(broadcast "$FAST_MESSAGES" "$FAST_RATE")

field() {
	"$PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

echo
echo "WebSocket /ws ($(nproc) CPUs; service, clients and PostgreSQL share them)"
echo
echo "| idle sockets | open at the end | PSS before | PSS with them | per socket |"
echo "|---|---|---|---|---|"
awk -v n="$IDLE" -v s="$still" -v a="$pss0" -v b="$pss1" 'BEGIN {
	printf "| %d | %s | %.1f MiB | %.1f MiB | %.2f KiB |\n", n, s,
	    a / 1024, b / 1024, (b - a) / n }'
echo
echo "| broadcast, $CLIENTS clients on 2 instances x 2 workers | rate | delivered / expected | duplicates | p50 ms | p99 ms | max ms | deliveries/s | send -> stored p50 / p99 ms | stored -> received p50 / p99 ms | spread p50 / p99 ms | client CPU s | load average |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for row in "message in NOTIFY|$inline" "message in NOTIFY|$fast" \
    "id in NOTIFY, row read|$idonly" "id in NOTIFY, row read|$idfast"; do
	name=${row%%|*}
	j=${row#*|}
	printf "| %s | %s/s | %s / %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s | %s | %s |\n" \
	    "$name" "$(field "$j" rate)" "$(field "$j" delivered)" \
	    "$(field "$j" expected)" "$(field "$j" duplicates)" \
	    "$(field "$j" p50_ms)" "$(field "$j" p99_ms)" \
	    "$(field "$j" max_ms)" "$(field "$j" delivered_per_s)" \
	    "$(field "$j" to_store_p50_ms)" "$(field "$j" to_store_p99_ms)" \
	    "$(field "$j" stored_p50_ms)" "$(field "$j" stored_p99_ms)" \
	    "$(field "$j" spread_p50_ms)" "$(field "$j" spread_p99_ms)" \
	    "$(field "$j" client_cpu_s)" "$(field "$j" load)"
done
