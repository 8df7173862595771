#!/usr/bin/env bash
# userapi: run the libFuzzer targets: replay regressions, fuzz each for a while, print a table.
#
#   tests/fuzz/run.sh OUTDIR SECONDS TARGET...
#
# For each target: every input of tests/fuzz/regress/TARGET must run
# clean, then the target fuzzes SECONDS seconds from tests/fuzz/corpus/TARGET
# (new inputs kept in OUTDIR/corpus/TARGET). Prints one line per target
# (executions, edges covered, corpus size) and "fuzz: N passed, M failed";
# exits 1 when any target crashed, leaked or timed out.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd -P)
out=$1
secs=$2
shift 2

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

passed=0
failed=0
printf '%-18s %12s %8s %8s %s\n' target execs cov corpus result
for t in "$@"; do
	name=${t#fuzz_}
	log=$out/$t.log
	work=$out/corpus/$name
	mkdir -p "$work"
	: > "$log"
	ok=1
	if [ -d "$HERE/regress/$name" ] &&
	    [ -n "$(ls -A "$HERE/regress/$name")" ]; then
		"$out/$t" -runs=0 "$HERE"/regress/"$name"/* >>"$log" 2>&1 ||
		    ok=0
	fi
	if [ $ok -eq 1 ]; then
		"$out/$t" -max_total_time="$secs" -timeout=10 \
		    -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
		    -artifact_prefix="$out/crash-$name-" \
		    "$work" "$HERE/corpus/$name" >>"$log" 2>&1 || ok=0
	fi
	execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' \
	    "$log" | tail -n 1)
	cov=$(sed -nE 's/^#[0-9]+.*cov: ([0-9]+).*/\1/p' "$log" | tail -n 1)
	corp=$(ls "$work" | wc -l)
	if [ $ok -eq 1 ]; then
		res=ok
		passed=$((passed + 1))
	else
		res="FAILED (see $log)"
		failed=$((failed + 1))
		grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -n 5
	fi
	printf '%-18s %12s %8s %8s %s\n' "$name" "${execs:-0}" "${cov:-0}" \
	    "$corp" "$res"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
