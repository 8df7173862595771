#!/usr/bin/env bash
# userapi: run the tests (`make test`, `make unit`, `make e2e`) and print one summary line.
#
#   scripts/test.sh          unit tests, fuzz smoke run, lint, end-to-end tests
#   scripts/test.sh unit     cmocka tests (make -C tests/unit run)
#   scripts/test.sh fuzz     each libFuzzer target a few seconds plus its
#                            regression inputs (make -C tests/fuzz smoke)
#   scripts/test.sh e2e      pytest against the sanitizer build and a
#                            throwaway PostgreSQL cluster (tests/e2e)
#   scripts/test.sh lint     the API documents against their linters
#                            (redocly and spectral on openapi.json,
#                            @asyncapi/parser on asyncapi.json); one test
#                            per tool
#
# Every suite runs even when an earlier one failed. The last line is
# "N passed, M failed"; the exit status is 1 when anything failed, 2 on
# bad usage. Extra arguments after e2e go to pytest (e.g. -k name, -x).
set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd -P)
PYTHON=/usr/bin/python3

passed=0
failed=0
notes=()

usage() {
	echo "usage: scripts/test.sh [unit|fuzz|lint|e2e [pytest args...]]" >&2
	exit 2
}

# The count of the first group of regex $1 summed over file $2.
sum_matches() {
	sed -nE "s/$1/\\1/p" "$2" | awk '{ s += $1 } END { print s + 0 }'
}

run_unit() {
	local out rc p f

	if [ ! -f "$TOP/tests/unit/Makefile" ]; then
		notes+=("unit: skipped, tests/unit/Makefile does not exist yet")
		echo "== unit: skipped (no tests/unit/Makefile yet)"
		return 0
	fi
	echo "== unit: make -C tests/unit run"
	out=$(mktemp)
	make -C "$TOP/tests/unit" run 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	# cmocka: "[  PASSED  ] 5 test(s)." and "[  FAILED  ] 1 test(s), listed below:"
	p=$(sum_matches '^\[  PASSED  \] ([0-9]+) test.*' "$out")
	f=$(sum_matches '^\[  FAILED  \] ([0-9]+) test\(s\), listed below.*' "$out")
	rm -f "$out"
	# A build error or a crash leaves no count: it is one failure.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		notes+=("unit: make -C tests/unit run failed (exit $rc) without a test count")
	fi
	echo "unit: $p passed, $f failed"
	passed=$((passed + p))
	failed=$((failed + f))
}

run_fuzz() {
	local out rc p f

	echo "== fuzz: make -C tests/fuzz smoke"
	out=$(mktemp)
	make -C "$TOP/tests/fuzz" smoke 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	# run.sh: "fuzz: 7 passed, 0 failed" (one per target)
	p=$(sum_matches '^fuzz: ([0-9]+) passed.*' "$out")
	f=$(sum_matches '^fuzz: [0-9]+ passed, ([0-9]+) failed.*' "$out")
	rm -f "$out"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		notes+=("fuzz: make -C tests/fuzz smoke failed (exit $rc) without a count")
	fi
	echo "fuzz: $p passed, $f failed"
	passed=$((passed + p))
	failed=$((failed + f))
}

# The number before word $1 in pytest's summary line $2 ("3 failed, 9 passed in 1.2s").
count_of() {
	sed -nE "s/.*(^|[^0-9])([0-9]+) $1([^a-z]|\$).*/\\2/p" <<<"$2" | head -n 1 |
	    awk '{ print $1 + 0 } END { if (NR == 0) print 0 }'
}

run_e2e() {
	local out rc line p f e s

	local where=tests/e2e a

	# Test files or node ids among the arguments replace the whole suite.
	for a in "$@"; do
		case $a in
		tests/*) where= ;;
		esac
	done
	echo "== e2e: $PYTHON -m pytest -q $where $*"
	out=$(mktemp)
	(cd "$TOP" && "$PYTHON" -m pytest -q -p no:cacheprovider $where "$@") 2>&1 |
	    tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E ' in [0-9.]+s( \([0-9:]+\))?$' "$out" | tail -n 1)
	rm -f "$out"
	p=$(count_of passed "$line")
	f=$(count_of failed "$line")
	e=$(count_of 'errors?' "$line")
	s=$(count_of skipped "$line")
	f=$((f + e))
	# The end-of-run log check (a dead worker, a sanitizer report) or an
	# interrupted run fails pytest without failing a test: one failure.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		notes+=("e2e: pytest exited $rc with no failed test (log check, collection error or interrupted run)")
	fi
	echo "e2e: $p passed, $f failed, $s skipped"
	passed=$((passed + p))
	failed=$((failed + f))
}

# One linter over one document: passed when it reports no error and no
# warning. Rules switched off are in redocly.yaml and .spectral.yaml, each
# with its reason.
lint_one() {
	local name=$1 out rc
	shift
	out=$(cd "$TOP" && "$@" 2>&1)
	rc=$?
	echo "$out"
	if [ "$rc" -ne 0 ] || grep -qE 'You have [0-9]+ warning|Validation failed|[0-9]+ problems? \(' <<<"$out"; then
		notes+=("lint: $name failed")
		echo "lint: $name FAILED"
		return 1
	fi
	echo "lint: $name ok"
}

run_lint() {
	local p=0 f=0 bin="$TOP/node_modules/.bin"

	echo "== lint: redocly, spectral (assets/openapi.json), @asyncapi/parser (assets/asyncapi.json)"
	if [ ! -x "$bin/redocly" ] || [ ! -x "$bin/spectral" ] ||
	    [ ! -d "$TOP/node_modules/@asyncapi/parser" ]; then
		notes+=("lint: node_modules lacks the linters: run make (npm ci) first")
		echo "lint: 0 passed, 1 failed"
		failed=$((failed + 1))
		return
	fi
	if lint_one redocly "$bin/redocly" lint --config redocly.yaml \
	    assets/openapi.json; then p=$((p + 1)); else f=$((f + 1)); fi
	if lint_one spectral "$bin/spectral" lint --ruleset .spectral.yaml \
	    --fail-severity=hint assets/openapi.json; then p=$((p + 1)); else f=$((f + 1)); fi
	# The AsyncAPI document of /ws: @asyncapi/parser's schema and rules.
	if lint_one asyncapi node tests/lint/asyncapi.js assets/asyncapi.json; then
		p=$((p + 1)); else f=$((f + 1)); fi
	echo "lint: $p passed, $f failed"
	passed=$((passed + p))
	failed=$((failed + f))
}

case ${1:-all} in
all)
	[ $# -le 1 ] || usage
	run_unit
	run_fuzz
	run_lint
	run_e2e
	;;
fuzz)
	[ $# -eq 1 ] || usage
	run_fuzz
	;;
unit)
	[ $# -eq 1 ] || usage
	run_unit
	;;
lint)
	[ $# -eq 1 ] || usage
	run_lint
	;;
e2e)
	shift
	run_e2e "$@"
	;;
*)
	usage
	;;
esac

for n in "${notes[@]}"; do
	echo "note: $n"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
