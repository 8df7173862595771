#!/usr/bin/env bash
# userapi: process helpers that the bench scripts source: liveness, a process tree, its memory, stopping it.

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

# The sum of field $3 of /proc/<p>/$2 (in KiB) over pid $1 and its
# descendants.
tree_kib() {
	local p sum=0 kib

	for p in $(tree_pids "$1"); do
		kib=$(awk -v f="$3:" '$1 == f { print $2 }' "/proc/$p/$2" 2>/dev/null) || true
		sum=$((sum + ${kib:-0}))
	done
	echo "$sum"
}

# Resident memory of pid and its descendants, KiB.
tree_rss_kib() {
	tree_kib "$1" status VmRSS
}

# Proportional set size of pid and its descendants, KiB: pages shared
# between them (the binary, the parent's memory the workers inherited)
# are divided among the processes that map them.
tree_pss_kib() {
	tree_kib "$1" smaps_rollup Pss
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
