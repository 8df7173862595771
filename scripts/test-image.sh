#!/usr/bin/env bash
# userapi: `make test-image`: build the Dockerfile with podman and run the image against a throwaway PostgreSQL.
#
# 1. The base: scripts/mkbase.sh makes a debian:bookworm-slim-like image
#    with debootstrap (kept between runs; MKBASE_FORCE=1 remakes it).
# 2. podman build --format docker (OCI images drop HEALTHCHECK) with the
#    containers.conf of tests/image/ (default_ulimits: podman must not try
#    to raise rlimits where that is refused); host networking. The build
#    log is kept; warnings that matter fail the test.
# 3. A throwaway cluster (scripts/pgembed.sh, PGEMBED_TCP_PORT) on
#    127.0.0.1; in the image, with host networking: `userapi migrate
#    --wait`, then `userapi serve` detached. Checked: /healthz, /readyz,
#    /openapi.json, sign-up, login and /users/me, the user the process
#    runs as (not root), the image's HEALTHCHECK command (podman
#    healthcheck run), and that `podman stop` exits 0 with the service's
#    exit status 0. The image's size is reported.
#
# Prints "image: N passed, M failed" and exits 1 when anything failed.
# Everything it starts is stopped by its id; the logs stay in
# tests/artifacts/image/.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd -P)
BASE_TAG=${BASE_TAG:-localhost/userapi-base:bookworm-slim}
TAG=${IMAGE_TAG:-localhost/userapi:test}
ART=$TOP/tests/artifacts/image
export CONTAINERS_CONF=$TOP/tests/image/containers.conf

passed=0
failed=0
ctr=""
pgdir=""

ok() {
	passed=$((passed + 1))
	echo "ok - $*"
}

fail() {
	failed=$((failed + 1))
	echo "FAILED - $*"
}

# check DESCRIPTION COMMAND...: one test.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

finish() {
	if [ -n "$ctr" ]; then
		podman logs "$ctr" >"$ART/serve.log" 2>&1
		pm rm -f -t 0 "$ctr" >/dev/null 2>&1
	fi
	if [ -n "$pgdir" ]; then
		"$TOP/scripts/pgembed.sh" stop "$pgdir" >/dev/null 2>&1
		rm -rf "$pgdir"
	fi
	echo "image: $passed passed, $failed failed"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}
trap finish EXIT

# podman, without its complaints that no systemd runs its health-check
# timers here (the check is run by hand below).
pm() {
	podman "$@" 2> >(grep -v 'unable to get systemd connection' >&2)
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mkdir -p "$ART"
[ "$(id -u)" -eq 0 ] || { fail "podman and debootstrap need root here"; exit 1; }

# --- 1. the base ------------------------------------------------------------
if ! "$TOP/scripts/mkbase.sh" "$BASE_TAG"; then
	fail "base image (scripts/mkbase.sh)"
	exit 1
fi

# --- 2. the build -----------------------------------------------------------
echo "== podman build --format docker -t $TAG"
start=$(date +%s)
if podman build --format docker --network host --pull=never \
    --build-arg DEBIAN_IMAGE="$BASE_TAG" -t "$TAG" "$TOP" \
    >"$ART/build.log" 2>&1; then
	ok "podman build ($(($(date +%s) - start)) s)"
else
	tail -n 40 "$ART/build.log"
	fail "podman build (log: tests/artifacts/image/build.log)"
	exit 1
fi
# Warnings that matter: npm's engine checks, useradd's uid range,
# HEALTHCHECK or other instructions dropped, compiler warnings.
# (update-alternatives' notes about the manual pages the slim base leaves
# out, and c_rehash's about the bundle file, are expected.)
warnings=$(grep -nE 'EBADENGINE|npm (warn|WARN)|useradd warning|groupadd warning|not supported for OCI|HEALTHCHECK is not supported|: warning:' "$ART/build.log" |
    grep -vE 'update-alternatives: warning: skip creation of /usr/share/man/|rehash: warning: skipping ca-certificates.crt')
if [ -z "$warnings" ]; then
	ok "the build logs no warning that matters"
else
	echo "$warnings"
	fail "the build logs warnings"
fi
check "the image runs as user 10001" \
    test "$(podman image inspect --format '{{.Config.User}}' "$TAG")" = 10001:10001
hc=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$TAG")
check "the image keeps its HEALTHCHECK" grep -q '/healthz' <<<"$hc"

# --- 3. run it --------------------------------------------------------------
pgport=$(free_port)
pgdir=$(mktemp -d /var/tmp/userapi-image-pg.XXXXXX)
if ! PGEMBED_FAST=1 PGEMBED_TCP_PORT=$pgport "$TOP/scripts/pgembed.sh" start \
    "$pgdir" >"$ART/pg.log" 2>&1; then
	cat "$ART/pg.log"
	fail "a throwaway PostgreSQL on 127.0.0.1:$pgport"
	exit 1
fi
dsn=$("$TOP/scripts/pgembed.sh" tcp-dsn "$pgdir")
port=$(free_port)
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
env=(-e "DATABASE_URL=$dsn" -e "BIND=127.0.0.1:$port" -e "WORKERS=2"
    -e "JWT_SECRET=$secret")

# No systemd here to run podman's health-check timers: the check runs
# once below, by hand (podman healthcheck run).
check "userapi migrate --wait 30 in the image" \
    podman run --rm --network host --no-healthcheck "${env[@]}" "$TAG" \
    userapi migrate --wait 30

ctr=$(pm run -d --network host --health-interval disable "${env[@]}" \
    "$TAG") ||
    { fail "podman run (serve)"; exit 1; }
ready=0
for _ in $(seq 1 150); do
	if curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
		ready=1
		break
	fi
	sleep 0.2
done
check "/readyz is 200 within 30 s" test "$ready" -eq 1

url=http://127.0.0.1:$port
check "GET /healthz" curl -fsS -o /dev/null "$url/healthz"
check "GET /openapi.json" curl -fsS -o /dev/null "$url/openapi.json"
check "GET /docs" curl -fsS -o /dev/null "$url/docs"
email="image-$RANDOM@example.com"
check "POST /users is 201" test "$(curl -sS -o /dev/null -w '%{http_code}' \
    -H 'Content-Type: application/json' \
    -d "{\"name\":\"Image\",\"email\":\"$email\",\"password\":\"image-pw-1\"}" \
    "$url/users")" = 201
token=$(curl -fsS --data-urlencode "username=$email" \
    --data-urlencode "password=image-pw-1" "$url/token" |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
check "GET /users/me with the token" curl -fsS -o /dev/null \
    -H "Authorization: Bearer $token" "$url/users/me"
check "GET /nope is the JSON 404" test "$(curl -sS -w ' %{http_code}' "$url/nope")" = \
    '{"detail":"Not Found"} 404'

uids=$(podman top "$ctr" huser 2>/dev/null | tail -n +2 | sort -u | tr '\n' ' ')
check "every process runs as uid 10001 (podman top: $uids)" \
    test "$uids" = "10001 "
check "podman healthcheck run (the image's HEALTHCHECK command)" \
    podman healthcheck run "$ctr"

if pm stop -t 30 "$ctr" >/dev/null; then
	ok "podman stop exits 0"
else
	fail "podman stop"
fi
code=$(podman inspect --format '{{.State.ExitCode}}' "$ctr")
check "the service exits 0 on SIGTERM (exit status $code)" test "$code" = 0

size=$(podman image inspect --format '{{.Size}}' "$TAG")
base=$(podman image inspect --format '{{.Size}}' "$BASE_TAG")
bin=$(podman run --rm --no-healthcheck --entrypoint stat "$TAG" -c %s \
    /usr/local/bin/userapi)
awk -v tag="$TAG" -v size="$size" -v base="$base" -v bin="$bin" 'BEGIN {
	printf "image: %s is %.1f MB (base %.1f MB, the binary %.1f MB)\n",
	    tag, size / 1e6, base / 1e6, bin / 1e6 }' | tee "$ART/size.txt"
