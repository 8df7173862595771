#!/usr/bin/env bash
# userapi: the private PostgreSQL 15 cluster of `make run`, `make test` and `make bench`.
#
#   pgembed.sh start   [DIR]   initdb on first use, start, create database userapi
#   pgembed.sh stop    [DIR]   pg_ctl stop -m fast (nothing to do when stopped)
#   pgembed.sh status  [DIR]   exit 0 when running
#   pgembed.sh dsn     [DIR]   print the libpq conninfo (unix socket)
#   pgembed.sh tcp-dsn [DIR]   print the libpq conninfo over TCP (see below)
#   pgembed.sh psql    [DIR] [psql args...]   psql on it ($DATABASE_URL when set)
#   pgembed.sh destroy [DIR]   stop and delete the cluster's data
#
# DIR (default <repo>/var) holds pgdata/, run/ (the unix socket, mode 0700)
# and postgresql.log. The server listens on the socket only
# (listen_addresses ''), port 5432 only names the socket file, and the
# superuser userapi is trusted on it. PGEMBED_FAST=1 (the tests) turns off
# fsync, synchronous_commit and full_page_writes; never for `make run` data.
#
# PGEMBED_TCP_PORT=N at start also listens on 127.0.0.1:N (never on other
# addresses), where the superuser userapi is trusted too (so any local
# user can connect: for tests and benchmarks only). The socket file is
# then .s.PGSQL.N; stop, status, dsn and tcp-dsn read the port from the
# cluster's settings. A running cluster keeps its listen settings: stop it
# to change them.
#
# PostgreSQL refuses to run as root, so as root the server runs as the
# owner of pgdata (postgres for a new cluster). When that user cannot reach
# DIR, or the socket path would be too long for a unix socket, the data
# lives in /var/tmp/userapi-pg-<hash of DIR> and DIR/pgdata, DIR/run and
# DIR/postgresql.log are symlinks to it.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
PGPORT_DEFAULT=5432
PGUSER_NAME=userapi
PGDB_NAME=userapi
SOCK_MAX=100		# bytes of DIR/run/.s.PGSQL.5432, below sun_path's 108

TOP=$(cd "$(dirname "$0")/.." && pwd -P)

die() {
	echo "pgembed: $*" >&2
	exit 1
}

usage() {
	echo "usage: pgembed.sh start|stop|status|dsn|tcp-dsn|destroy [DIR]" >&2
	echo "       pgembed.sh psql [DIR] [psql args...]" >&2
	exit 2
}

# Set DIR (absolute, physical) from $1 or the default; create it when $2
# is "create".
set_dir() {
	local d=${1:-$TOP/var}

	if [ ! -e "$d" ]; then
		if [ "${2:-}" != create ]; then
			# stop, status, dsn: nothing there yet
			DIR=$(realpath -m "$d")
			return 0
		fi
		mkdir -p "$d" || die "could not create directory $d"
	fi
	[ -d "$d" ] || die "$d is not a directory"
	DIR=$(cd "$d" && pwd -P) || die "could not enter directory $d"
}

# Where the files really are: BASE is DIR, or the /var/tmp directory that
# DIR/pgdata links to (FALLBACK, empty when unused). Any other symlink
# DIR/pgdata is the user's own and is used as the data directory.
set_layout() {
	local target

	FALLBACK=""
	BASE=$DIR
	if [ -L "$DIR/pgdata" ]; then
		target=$(readlink "$DIR/pgdata")
		if [[ $target =~ ^/var/tmp/userapi-pg-[0-9a-f]{12}/pgdata$ ]]; then
			BASE=${target%/pgdata}
			FALLBACK=$BASE
		fi
	fi
	PGDATA_DIR=$BASE/pgdata
	SOCK_DIR=$BASE/run
	LOG_FILE=$BASE/postgresql.log
	set_port
}

# TCP_PORT (empty: unix socket only) and PGPORT_SOCK, the port that names
# the socket: from PGEMBED_TCP_PORT at start, else from the settings the
# cluster was last started with.
set_port() {
	local conf=$PGDATA_DIR/userapi.conf p

	TCP_PORT=""
	if [ "${CMD:-}" = start ]; then
		p=${PGEMBED_TCP_PORT:-}
		if [ -n "$p" ] && { ! [[ $p =~ ^[1-9][0-9]{0,4}$ ]] ||
		    [ "$p" -gt 65535 ]; }; then
			die "PGEMBED_TCP_PORT must be a port number, not $p"
		fi
		TCP_PORT=$p
	elif [ -f "$conf" ] && grep -q "^listen_addresses = '127.0.0.1'$" "$conf"; then
		TCP_PORT=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$conf")
	fi
	PGPORT_SOCK=${TCP_PORT:-$PGPORT_DEFAULT}
}

# The user the server runs as: empty for "this user". As root: the owner
# of pgdata when it exists, else postgres.
set_runas() {
	local owner

	RUNAS=""
	[ "$(id -u)" -eq 0 ] || return 0
	if [ -d "$PGDATA_DIR" ]; then
		owner=$(stat -L -c %U "$PGDATA_DIR")
		[ "$owner" != root ] ||
		    die "$PGDATA_DIR is owned by root; postgresql cannot run as root"
		RUNAS=$owner
	else
		id -u postgres >/dev/null 2>&1 ||
		    die "running as root needs the postgres user (Debian package postgresql-15)"
		RUNAS=postgres
	fi
}

# Run a command as the server's user, from /, so that a working directory
# the user cannot read causes no warnings, and without the lock's
# descriptor: a postmaster inheriting it would hold the lock for good.
as_owner() {
	if [ -n "$RUNAS" ]; then
		(cd / && runuser -u "$RUNAS" -- "$@") 9>&-
	else
		(cd / && "$@") 9>&-
	fi
}

check_binaries() {
	local b

	for b in initdb pg_ctl postgres psql; do
		[ -x "$PGBIN/$b" ] ||
		    die "$PGBIN/$b not found (Debian packages postgresql-15, postgresql-client-15)"
	done
}

running() {
	[ -f "$PGDATA_DIR/PG_VERSION" ] || return 1
	as_owner "$PGBIN/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1
}

# The socket directory that clients use: DIR/run when its path is short
# enough, else the real one.
client_sock_dir() {
	local sock="$DIR/run/.s.PGSQL.$PGPORT_SOCK"

	if [ ${#sock} -lt "$SOCK_MAX" ]; then
		echo "$DIR/run"
	else
		echo "$SOCK_DIR"
	fi
}

# A conninfo value, quoted when it needs to be.
conninfo_quote() {
	local v=$1

	case $v in
	*[[:space:]\'\\]* | "")
		v=${v//\\/\\\\}
		v=${v//\'/\\\'}
		echo "'$v'"
		;;
	*)
		echo "$v"
		;;
	esac
}

dsn() {
	echo "host=$(conninfo_quote "$(client_sock_dir)") port=$PGPORT_SOCK dbname=$PGDB_NAME user=$PGUSER_NAME"
}

# No TLS and no GSSAPI on loopback: libpq would otherwise probe for them.
tcp_dsn() {
	[ -n "$TCP_PORT" ] ||
	    die "postgresql in $DIR does not listen on TCP (start it with PGEMBED_TCP_PORT)"
	echo "host=127.0.0.1 port=$TCP_PORT dbname=$PGDB_NAME user=$PGUSER_NAME sslmode=disable gssencmode=disable"
}

# The first start in DIR: choose where the data goes, create the
# directories with the right owner. Sets the layout.
create_layout() {
	local sock="$DIR/run/.s.PGSQL.$PGPORT_SOCK" why="" hash base

	if [ ${#sock} -ge "$SOCK_MAX" ]; then
		why="socket path under $DIR is too long"
	elif [ "$(id -u)" -eq 0 ] &&
	    ! (cd / && runuser -u postgres -- test -x "$DIR"); then
		why="user postgres cannot reach $DIR"
	fi

	if [ -n "$why" ]; then
		hash=$(printf '%s' "$DIR" | sha256sum | cut -c1-12)
		base=/var/tmp/userapi-pg-$hash
		make_base "$base"
		echo "pgembed: $why; cluster data in $base (linked from $DIR)"
		rm -f "$DIR/pgdata" "$DIR/run" "$DIR/postgresql.log"
		ln -s "$base/pgdata" "$DIR/pgdata"
		ln -s "$base/run" "$DIR/run"
		ln -s "$base/postgresql.log" "$DIR/postgresql.log"
	fi
	set_layout
}

# The directory in /var/tmp that holds the data when DIR cannot: it must
# be ours, not something another user planted there.
make_base() {
	local base=$1 user=${RUNAS:-$(id -un)}

	if [ -e "$base" ] || [ -L "$base" ]; then
		if [ ! -d "$base" ] || [ -L "$base" ]; then
			die "$base exists and is not a directory"
		fi
		[ "$(stat -c %U "$base")" = "$user" ] ||
		    die "$base exists and is not owned by $user"
	else
		mkdir -m 0700 "$base" || die "could not create $base"
		[ -z "$RUNAS" ] || chown "$RUNAS:" "$base"
	fi
}

# Make the directories and the log file, owned by the server's user.
prepare_dirs() {
	local d

	for d in "$PGDATA_DIR" "$SOCK_DIR"; do
		if [ ! -d "$d" ]; then
			mkdir -m 0700 "$d" || die "could not create $d"
		fi
		[ -z "$RUNAS" ] || chown "$RUNAS:" "$d"
		chmod 0700 "$d"
	done
	[ -f "$LOG_FILE" ] || : >"$LOG_FILE" || die "could not create $LOG_FILE"
	[ -z "$RUNAS" ] || chown "$RUNAS:" "$LOG_FILE"
}

# The settings this script owns, rewritten at every start.
settings() {
	local sock=${SOCK_DIR//\'/\'\'}

	echo "# written by scripts/pgembed.sh at every start: edits are lost"
	if [ -n "$TCP_PORT" ]; then
		echo "listen_addresses = '127.0.0.1'"
	else
		echo "listen_addresses = ''"
	fi
	echo "port = $PGPORT_SOCK"
	echo "unix_socket_directories = '$sock'"
	echo "max_connections = 200"
	if [ "${PGEMBED_FAST:-}" = 1 ]; then
		echo "# PGEMBED_FAST=1: throwaway data, a crash may corrupt it"
		echo "fsync = off"
		echo "synchronous_commit = off"
		echo "full_page_writes = off"
	else
		echo "fsync = on"
		echo "synchronous_commit = on"
		echo "full_page_writes = on"
	fi
}

# With TCP: trust the superuser from 127.0.0.1 (initdb rejects TCP), as
# the first line of pg_hba.conf since the first match wins.
allow_tcp() {
	local hba=$PGDATA_DIR/pg_hba.conf
	local line="host all $PGUSER_NAME 127.0.0.1/32 trust # pgembed.sh"

	[ -n "$TCP_PORT" ] || return 0
	grep -qxF "$line" "$hba" && return 0
	as_owner sed -i "1i $line" "$hba" || die "could not write $hba"
}

# The listen settings a running cluster was started with must be ours.
same_listen() {
	local conf=$PGDATA_DIR/userapi.conf

	[ "$(grep -E '^(listen_addresses|port) = ' "$conf" 2>/dev/null)" = \
	    "$(settings | grep -E '^(listen_addresses|port) = ')" ] ||
	    die "postgresql in $DIR runs with other listen settings (PGEMBED_TCP_PORT); stop it first"
}

# Write pgdata/userapi.conf; returns 0 when it changed.
write_settings() {
	local conf=$PGDATA_DIR/userapi.conf new

	new=$(settings)
	if [ -f "$conf" ] && [ "$(cat "$conf")" = "$new" ]; then
		return 1
	fi
	printf '%s\n' "$new" | as_owner tee "$conf" >/dev/null ||
	    die "could not write $conf"
	return 0
}

do_initdb() {
	local opts=()

	[ "${PGEMBED_FAST:-}" = 1 ] && opts+=(--no-sync)
	if ! as_owner "$PGBIN/initdb" -D "$PGDATA_DIR" -U "$PGUSER_NAME" \
	    --auth-local=trust --auth-host=reject -E UTF8 --locale=C.UTF-8 \
	    "${opts[@]}" >>"$LOG_FILE" 2>&1; then
		die "initdb failed in $PGDATA_DIR (see $LOG_FILE)"
	fi
	echo "include_if_exists = 'userapi.conf'" |
	    as_owner tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null
}

# The last error of the server log, for a one-line message.
last_error() {
	grep -E 'FATAL|PANIC|ERROR|could not' "$LOG_FILE" 2>/dev/null |
	    tail -n 1 | sed -e 's/^.*\(FATAL\|PANIC\|ERROR\): *//'
}

# psql as the superuser on the maintenance database, through the real
# socket directory.
psql_admin() {
	"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "host=$(conninfo_quote \
	    "$SOCK_DIR") port=$PGPORT_SOCK dbname=postgres user=$PGUSER_NAME" \
	    "$@" 9>&-
}

create_database() {
	local exists

	exists=$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PGDB_NAME'" 2>&1) ||
	    die "could not query the cluster: $exists"
	[ "$exists" = 1 ] && return 0
	psql_admin -c "CREATE DATABASE $PGDB_NAME" >/dev/null 2>&1 ||
	    die "could not create database $PGDB_NAME"
}

# A reload is asynchronous: wait until the server shows the new fsync.
wait_reload() {
	local want=on

	[ "${PGEMBED_FAST:-}" = 1 ] && want=off
	for _ in $(seq 50); do
		[ "$(psql_admin -c 'SHOW fsync' 2>/dev/null)" = "$want" ] && return 0
		sleep 0.1
	done
	die "postgresql in $PGDATA_DIR did not apply its new settings (see $LOG_FILE)"
}

# Serialise start/stop/destroy on one DIR (two `make test` at once), then
# read the layout again: the holder before us may have created it.
lock_dir() {
	exec 9>>"$DIR/.pgembed.lock"
	flock 9
	set_layout
}

cmd_start() {
	local out err

	lock_dir
	set_runas
	if [ ! -e "$DIR/pgdata" ] && [ ! -L "$DIR/pgdata" ]; then
		create_layout
	elif [ -n "$FALLBACK" ] && [ ! -d "$FALLBACK" ]; then
		echo "pgembed: $FALLBACK has gone; creating a new cluster there"
		make_base "$FALLBACK"
	fi
	set_runas
	prepare_dirs

	if running; then
		same_listen
		# Settings that a reload applies (PGEMBED_FAST) follow this call.
		if write_settings; then
			as_owner "$PGBIN/pg_ctl" reload -s -D "$PGDATA_DIR" >/dev/null
			wait_reload
		fi
		create_database
		return 0
	fi

	if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
		[ -z "$(ls -A "$PGDATA_DIR")" ] ||
		    die "$PGDATA_DIR is not empty and holds no cluster"
		do_initdb
		echo "pgembed: created a new cluster in $PGDATA_DIR"
	fi
	write_settings || true
	allow_tcp
	if ! out=$(as_owner "$PGBIN/pg_ctl" start -D "$PGDATA_DIR" \
	    -l "$LOG_FILE" -w -t 60 -s 2>&1); then
		err=$(last_error)
		[ -n "$err" ] || err=$(printf '%s\n' "$out" | grep -v '^$' | head -n 1)
		die "could not start postgresql in $PGDATA_DIR: $err (see $LOG_FILE)"
	fi
	create_database
	echo "pgembed: postgresql running in $DIR"
}

cmd_stop() {
	[ -d "$DIR" ] || return 0
	lock_dir
	set_runas
	running || return 0
	as_owner "$PGBIN/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t 60 -s ||
	    die "could not stop postgresql in $PGDATA_DIR (see $LOG_FILE)"
}

cmd_status() {
	set_runas
	if running; then
		echo "pgembed: running in $DIR (pid $(head -n 1 "$PGDATA_DIR/postmaster.pid"))"
		return 0
	fi
	echo "pgembed: not running in $DIR"
	return 1
}

cmd_destroy() {
	cmd_stop
	rm -rf "$PGDATA_DIR" "$SOCK_DIR" "$LOG_FILE"
	rm -f "$DIR/pgdata" "$DIR/run" "$DIR/postgresql.log"
	[ -z "$FALLBACK" ] || rmdir "$FALLBACK" 2>/dev/null || true
	rm -f "$DIR/.pgembed.lock"
}

# psql on the cluster, started first when it is down (a running one keeps
# its settings).
cmd_psql() {
	set_runas
	running || cmd_start >/dev/null
	exec 9>&-
	exec "$PGBIN/psql" -d "$(dsn)" "$@"
}

[ $# -ge 1 ] || usage
cmd=$1
CMD=$cmd
shift
check_binaries

case $cmd in
psql)
	# DIR is the first argument when it names a directory.
	d=""
	if [ $# -ge 1 ] && [ -d "$1" ]; then
		d=$1
		shift
	fi
	if [ -n "${DATABASE_URL:-}" ]; then
		exec "$PGBIN/psql" -d "$DATABASE_URL" "$@"
	fi
	set_dir "$d" create
	set_layout
	set_runas
	cmd_psql "$@"
	;;
start | stop | status | dsn | tcp-dsn | destroy)
	[ $# -le 1 ] || usage
	if [ "$cmd" = start ]; then
		set_dir "${1:-}" create
	else
		set_dir "${1:-}"
	fi
	set_layout
	case $cmd in
	start) cmd_start ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	dsn) dsn ;;
	tcp-dsn) tcp_dsn ;;
	destroy) cmd_destroy ;;
	esac
	;;
*)
	usage
	;;
esac
