#!/usr/bin/env bash
# userapi: `make dev`: serve the dev build, rebuild and restart it whenever src/, conf/, sql/, migrations/ or assets/ change.
#
# The dev flavor of conf/build.conf (dev mode by default: a generated JWT
# secret, migrations applied at start) is built with kodev in the
# repository as `kodev run` builds it (objects in .objs, Kore from the
# patched copy in .build/kore: `make kodev-setup`), but linked into
# .build/dev so that it never replaces ./userapi. A build error is shown
# and the service keeps running the last good build. The embedded cluster
# (var/) is started when DATABASE_URL is unset. Ctrl-C stops the service;
# the cluster keeps running (`make stop`).
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$TOP"

APP=$(basename "$TOP")		# kodev names the binary after the directory
OUT=$TOP/.build/dev
LINK=$OUT/link			# kodev's output
BIN=$OUT/userapi		# the binary being served
LOG=$OUT/build.log
STAMP=$OUT/build.stamp		# the start of the last build
WATCH=(src conf sql migrations assets)
QUIET=0.3			# seconds without changes before a build

server_pid=""
watch_pid=""

say() {
	echo "dev.sh: $*"
}

die() {
	echo "dev.sh: $*" >&2
	exit 1
}

# Is the process alive (a zombie is not)?
alive() {
	local st

	st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st%% *}" != Z ]
}

start_server() {
	"$BIN" serve &
	server_pid=$!
	say "serving the new build (pid $server_pid) on http://${BIND:-127.0.0.1:8000}"
}

# SIGTERM, then SIGKILL after 10 s; reports how it ended.
stop_server() {
	local rc=0

	[ -n "$server_pid" ] || return 0
	if alive "$server_pid"; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 100); do
			alive "$server_pid" || break
			sleep 0.1
		done
		if alive "$server_pid"; then
			say "pid $server_pid ignored SIGTERM for 10 s; killing it"
			kill -KILL "$server_pid" 2>/dev/null || true
		fi
	fi
	wait "$server_pid" 2>/dev/null || rc=$?
	server_pid=""
	return "$rc"
}

# The service ended without being asked: say so once.
check_server() {
	local rc=0

	[ -n "$server_pid" ] || return 0
	alive "$server_pid" && return 0
	wait "$server_pid" 2>/dev/null || rc=$?
	say "the service exited with status $rc; waiting for a change"
	server_pid=""
}

# The EXIT trap: the service and the watcher go with this script.
# shellcheck disable=SC2317
cleanup() {
	trap - EXIT INT TERM
	stop_server || true
	if [ -n "$watch_pid" ]; then
		kill -TERM "$watch_pid" 2>/dev/null || true
		wait "$watch_pid" 2>/dev/null || true
	fi
	rm -f "$OUT/watch.fifo"
}

# kodev compares a source's mtime with its object's to the second and
# knows nothing of headers: drop the objects it would wrongly keep.
invalidate() {
	local f name

	[ -f "$STAMP" ] || return 0
	if [ -n "$(find src conf/build.conf -newer "$STAMP" \
	    \( -name '*.h' -o -name build.conf \) -print -quit)" ]; then
		rm -f .objs/*.c.o
		return 0
	fi
	while IFS= read -r -d '' f; do
		name=${f##*/}
		case $f in
		src/*) rm -f ".objs/$name.o" ;;
		conf/*) rm -f .objs/builtin_kore_conf.o ;;
		*)
			name=${name//[. -]/_}
			rm -f ".objs/$name.o"
			;;
		esac
	done < <(find src conf sql migrations assets/ -newer "$STAMP" \
	    -type f -print0)
}

# Build; on success serve the new binary when it differs from the one
# serving. Returns 1 when the build failed.
build() {
	invalidate
	touch "$STAMP"
	say "building"
	if ! KORE_BUILD_FLAVOR=dev KODEV_OUTPUT=$LINK kodev build \
	    >"$LOG" 2>&1; then
		# The compiler's and kodev's complaints, without the progress.
		grep -v -E '^(building |compiling |adding config|using flavor|CFLAGS=|LDFLAGS=|created |kore build: subprocess)' \
		    "$LOG" >&2 || true
		if [ -n "$server_pid" ]; then
			say "build failed (see above); still serving the last good build"
		else
			say "build failed (see above); nothing to serve yet"
		fi
		return 1
	fi
	if [ -n "$server_pid" ] && cmp -s "$LINK/$APP" "$BIN"; then
		say "built; the binary did not change"
		return 0
	fi
	cp "$LINK/$APP" "$BIN.new"
	mv -f "$BIN.new" "$BIN"
	stop_server || true
	start_server
}

# Editors' swap, backup and probe files are no reason to rebuild.
relevant() {
	local name=${1##*/}

	case $name in
	'' | .* | *~ | \#*\# | *.swp | *.swx | *.tmp) return 1 ;;
	esac
	[[ $name =~ ^[0-9]+$ ]] && return 1
	return 0
}

[ -f "conf/$APP.conf" ] ||
    die "conf/$APP.conf is missing: run make kodev-setup (make dev does)"
[ -f .objs/ldflags ] ||
    die ".objs has no Kore objects: run make kodev-setup (make dev does)"
command -v kodev >/dev/null || die "kodev not found (make deps)"
command -v inotifywait >/dev/null ||
    die "inotifywait not found (Debian package inotify-tools: make deps-dev)"

if [ -z "${DATABASE_URL:-}" ]; then
	scripts/pgembed.sh start
	DATABASE_URL=$(scripts/pgembed.sh dsn)
	export DATABASE_URL
fi

mkdir -p "$LINK"
rm -f "$STAMP" "$OUT/watch.fifo"
mkfifo "$OUT/watch.fifo"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Watch first, so that nothing saved during the first build is missed.
inotifywait -m -r -q -e close_write -e moved_to -e moved_from -e create \
    -e delete --format '%w%f' "${WATCH[@]}" >"$OUT/watch.fifo" &
watch_pid=$!
exec 3<"$OUT/watch.fifo"

build || true
say "watching ${WATCH[*]} (Ctrl-C stops)"

while read -r -u 3 path; do
	relevant "$path" || continue
	# Wait for the burst of events of one save (or of a checkout) to end.
	while read -r -t "$QUIET" -u 3 path; do :; done
	check_server
	build || true
done
die "the file watcher stopped"
