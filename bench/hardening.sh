#!/usr/bin/env bash
# userapi: bench of the hardening: the rate limiter's cost, and others' latency during a slowloris.
#
#   bench/hardening.sh BINARY
#
# Starts a private cluster (scripts/pgembed.sh in a temporary directory)
# and the service (WORKERS=2) on free ports, then, with wrk -t2 -c64 on
# GET /users/me without a token (the dispatcher, the limiter's hook and a
# 401, no database: the path where the limiter's share is largest):
#   - throughput with the limiter off (RATE_LIMIT_GENERAL=0), on with one
#     client address, and on with a different X-Forwarded-For address per
#     request through a trusted proxy (every request a new bucket, the
#     table churning); a limit no request reaches, so only its cost shows.
#     ROUNDS interleaved rounds of each, medians reported, with the
#     service's CPU time per request (all its processes, from /proc: less
#     noisy than req/s on a shared machine) and, from bench/rl_micro.c,
#     the nanoseconds of one rate-limit decision;
#   - p50/p99 of a light probe (wrk -t1 -c8 on GET /users/me) alone, then
#     while bench/slowloris.py holds 1,000 connections dribbling headers.
# Prints two markdown tables. Everything it starts is stopped by PID.
#
# BENCH_DURATION (seconds per run, default 5) and BENCH_ROUNDS (default 3).
set -euo pipefail

BIN=${1:?usage: bench/hardening.sh BINARY}
BIN=$(cd "$(dirname "$BIN")" && pwd -P)/$(basename "$BIN")
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
SLOW_CONNS=1000
PYTHON=/usr/bin/python3
TOP=$(cd "$(dirname "$0")/.." && pwd -P)
PGEMBED=$TOP/scripts/pgembed.sh

tmp=$(mktemp -d /tmp/userapi-bench-hardening.XXXXXX)
chmod 755 "$tmp"
svc_pid=""
slow_pid=""

cleanup() {
	[ -n "$slow_pid" ] && kill "$slow_pid" 2>/dev/null || true
	if [ -n "$svc_pid" ]; then
		kill -TERM "$svc_pid" 2>/dev/null || true
		wait "$svc_pid" 2>/dev/null || true
	fi
	PGEMBED_FAST=1 "$PGEMBED" stop "$tmp/pg" >/dev/null 2>&1 || true
	PGEMBED_FAST=1 "$PGEMBED" destroy "$tmp/pg" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

say() { echo "hardening bench: $*" >&2; }

free_port() {
	$PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

PGEMBED_FAST=1 "$PGEMBED" start "$tmp/pg" >/dev/null
dsn=$(PGEMBED_FAST=1 "$PGEMBED" dsn "$tmp/pg")
DATABASE_URL=$dsn JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
    "$BIN" migrate >/dev/null
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# start_service KEY=VALUE...: serve with these settings; sets url
start_service() {
	local port
	port=$(free_port)
	url="http://127.0.0.1:$port"
	env DATABASE_URL="$dsn" JWT_SECRET="$secret" WORKERS=2 \
	    BIND="127.0.0.1:$port" RATE_LIMIT_STRICT=0 "$@" \
	    "$BIN" serve >>"$tmp/service.log" 2>&1 &
	svc_pid=$!
	for _ in $(seq 200); do
		if curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	say "the service did not start"; tail -n 20 "$tmp/service.log" >&2
	exit 1
}

stop_service() {
	kill -TERM "$svc_pid"
	wait "$svc_pid" || true
	svc_pid=""
}

# A wrk script: every request from another address (X-Forwarded-For).
cat >"$tmp/xff.lua" <<'LUA'
local n = 0
request = function()
	n = n + 1
	local a = n % 16777216
	return wrk.format("GET", "/users/me", { ["X-Forwarded-For"] =
	    string.format("10.%d.%d.%d", (a >> 16) & 255, (a >> 8) & 255, a & 255) })
end
LUA

# CPU time (clock ticks) of the service: the parent and its workers.
svc_ticks() {
	local p t=0
	for p in $svc_pid $(pgrep -P "$svc_pid"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo "$t"
}

# wrk_run ARGS...: prints "req/s p50_ms p99_ms errors cpu_us_per_request"
wrk_run() {
	local out t0 t1
	t0=$(svc_ticks)
	out=$(wrk --latency "$@" 2>&1)
	t1=$(svc_ticks)
	$PYTHON - "$out" $((t1 - t0)) "$(getconf CLK_TCK)" <<'PY'
import re, sys
out = sys.argv[1]
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
p = dict((k, ms(v, u)) for k, v, u in
         re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M))
err = 0
for m in re.findall(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
    err += sum(int(x) for x in m)
n = int(re.search(r"(\d+) requests in", out).group(1))
cpu = int(sys.argv[2]) * 1e6 / int(sys.argv[3]) / max(n, 1)
print("%.0f %.2f %.2f %d %.1f" % (rps, p["50"], p["99"], err, cpu))
PY
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

say "limiter cost: $ROUNDS rounds of off / on / on with a new address per request, ${DURATION}s each"
: >"$tmp/off"; : >"$tmp/on"; : >"$tmp/xff"
for r in $(seq "$ROUNDS"); do
	for mode in off on xff; do
		case $mode in
		off) start_service RATE_LIMIT_GENERAL=0 ;;
		on) start_service RATE_LIMIT_GENERAL=1000000/1 ;;
		xff) start_service RATE_LIMIT_GENERAL=1000000/1 \
		    TRUSTED_PROXIES=127.0.0.1 ;;
		esac
		if [ $mode = xff ]; then
			res=$(wrk_run -t2 -c64 -d"${DURATION}s" -s "$tmp/xff.lua" "$url/users/me")
		else
			res=$(wrk_run -t2 -c64 -d"${DURATION}s" "$url/users/me")
		fi
		echo "$res" >>"$tmp/$mode"
		say "round $r $mode: $res"
		stop_service
	done
done
off=$(cut -d' ' -f1 "$tmp/off" | median)
offcpu=$(cut -d' ' -f5 "$tmp/off" | median)
cc -std=c99 -D_GNU_SOURCE -O2 -I"$TOP/src" -o "$tmp/rl_micro" \
    "$TOP/bench/rl_micro.c" "$TOP/src/ops/ratelimit.c" "$TOP/src/ops/netaddr.c"
micro=$("$tmp/rl_micro")

echo
echo "rate limiter cost: wrk -t2 -c64 -d${DURATION}s GET /users/me (401, no database), WORKERS=2, medians of $ROUNDS interleaved rounds, $(nproc) CPUs"
echo
echo "| limiter | req/s | vs off | service CPU us/request | vs off | p99 ms |"
echo "|---|---:|---:|---:|---:|---:|"
for mode in off on xff; do
	rps=$(cut -d' ' -f1 "$tmp/$mode" | median)
	p99=$(cut -d' ' -f3 "$tmp/$mode" | median)
	cpu=$(cut -d' ' -f5 "$tmp/$mode" | median)
	case $mode in
	off) name="off (RATE_LIMIT_GENERAL=0)" ;;
	on) name="on, one address" ;;
	xff) name="on, a new address per request (X-Forwarded-For)" ;;
	esac
	echo "| $name | $rps | $(awk -v a="$rps" -v b="$off" 'BEGIN { printf "%+.1f %%", (a - b) * 100 / b }') | $cpu | $(awk -v a="$cpu" -v b="$offcpu" 'BEGIN { printf "%+.1f %%", (a - b) * 100 / b }') | $p99 |"
done
echo
echo "$micro"

say "slowloris: a probe alone, then with $SLOW_CONNS dribbling connections"
start_service RATE_LIMIT_GENERAL=0
base=$(wrk_run -t1 -c8 -d"${DURATION}s" "$url/users/me")
port=${url##*:}
(ulimit -n 8192; exec $PYTHON "$TOP/bench/slowloris.py" 127.0.0.1 "$port" \
    "$SLOW_CONNS" $((DURATION + 8)) >"$tmp/slow.out" 2>&1) &
slow_pid=$!
sleep 5		# all connections open and dribbling
open=$(ss -Htn state established "( dport = :$port )" | wc -l)
loaded=$(wrk_run -t1 -c8 -d"${DURATION}s" "$url/users/me")
wait "$slow_pid" || true
slow_pid=""
stop_service

echo
echo "slowloris: $SLOW_CONNS connections dribbling headers one byte per second (reopened when closed; $open open while the probe ran); probe wrk -t1 -c8 -d${DURATION}s GET /users/me, WORKERS=2"
echo "$(cat "$tmp/slow.out")"
echo
echo "| probe | req/s | p50 ms | p99 ms | socket errors |"
echo "|---|---:|---:|---:|---:|"
read -r r50 p50 p99 e _ <<<"$base"
echo "| alone | $r50 | $p50 | $p99 | $e |"
read -r r50 p50 p99 e _ <<<"$loaded"
echo "| during the slowloris | $r50 | $p50 | $p99 | $e |"
