#!/usr/bin/env bash
# userapi: `make run`: the embedded cluster when DATABASE_URL is unset, migrate, then serve in the foreground.
#
# Ctrl-C stops the service; the cluster keeps running (`make stop` stops it).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: run.sh BINARY" >&2; exit 2; }
bin=$1
[ -x "$bin" ] || { echo "run.sh: $bin is not an executable" >&2; exit 1; }
TOP=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$TOP"

if [ -z "${DATABASE_URL:-}" ]; then
	scripts/pgembed.sh start
	DATABASE_URL=$(scripts/pgembed.sh dsn)
	export DATABASE_URL
fi
export BIND=${BIND:-127.0.0.1:8000}
if [ -z "${USERAPI_DEV:-}" ] && [ -z "${JWT_SECRET:-}" ] &&
    [ -z "${JWT_SECRET_FILE:-}" ]; then
	export USERAPI_DEV=1
	echo "run.sh: no JWT_SECRET: dev mode (USERAPI_DEV=1) for this local run"
fi

"$bin" migrate
scheme=http
[ -z "${TLS_CERT_FILE:-}" ] || scheme=https
echo "run.sh: serving on $scheme://$BIND (Ctrl-C stops; \`make stop\` stops the database)"
exec "$bin" serve
