#!/usr/bin/env bash
# userapi: generated clients are a test: types from the served /openapi.json, a scenario compiled with tsc --strict, run against the service.
#
#   tests/client/run.sh BASE_URL      e.g. http://127.0.0.1:8000
#
# openapi-typescript turns the document the service serves into
# tests/client/generated/api.d.ts; tsc --strict compiles scenario.mts
# against it (with openapi-fetch) into .build/client/; node runs it against
# BASE_URL. Any step failing fails the script: a document change that breaks
# generated clients, or a client that the service answers otherwise than
# its document says. All three tools are pinned in package.json.
set -euo pipefail

base=${1:?usage: tests/client/run.sh BASE_URL}
TOP=$(cd "$(dirname "$0")/../.." && pwd -P)
bin=$TOP/node_modules/.bin
for tool in openapi-typescript tsc; do
	[ -x "$bin/$tool" ] || { echo "$bin/$tool is missing: run make (npm ci)" >&2; exit 1; }
done

cd "$TOP/tests/client"
rm -rf generated "$TOP/.build/client"
mkdir -p generated
echo "== openapi-typescript $base/openapi.json"
"$bin/openapi-typescript" "$base/openapi.json" -o generated/api.d.ts
echo "== tsc --strict"
"$bin/tsc" -p . --strict
echo "== node scenario.mjs $base"
node "$TOP/.build/client/scenario.mjs" "$base"
