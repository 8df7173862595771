#!/usr/bin/env bash
# userapi: make a debian:bookworm-slim-like base image with debootstrap and podman, for `make test-image`.
#
#   scripts/mkbase.sh [TAG]        default TAG: localhost/userapi-base:bookworm-slim
#
# Where no registry is reachable, the Dockerfile's base image is made here:
# debootstrap --variant=minbase bookworm from the Debian mirror that this
# machine's apt already uses (read from /etc/apt/sources.list and
# /etc/apt/sources.list.d; this script names no host), then cleaned as the
# official slim image is (dpkg path excludes for documentation, manual
# pages and locales; apt's docker-clean and no translations), and
# imported with `podman import` as TAG. The image's own apt sources are
# the machine's Debian entries for bookworm.
#
# TLS from this machine may go through an intercepting proxy whose CA is
# among the host's local certificates (/usr/local/share/ca-certificates):
# they are copied in and update-ca-certificates runs, so apt, npm and curl
# in the image trust what the host trusts. ca-certificates is therefore
# in the base (the official slim image leaves it out).
#
# Needs root, debootstrap and podman (packages.txt, role image-test).
# Skips the work when TAG exists, unless MKBASE_FORCE=1.
set -euo pipefail

TAG=${1:-localhost/userapi-base:bookworm-slim}
SUITE=bookworm

die() {
	echo "mkbase: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap)"
command -v debootstrap >/dev/null || die "debootstrap missing: scripts/deps.sh image-test"
command -v podman >/dev/null || die "podman missing: scripts/deps.sh image-test"

if [ "${MKBASE_FORCE:-0}" != 1 ] && podman image exists "$TAG"; then
	echo "mkbase: $TAG exists (MKBASE_FORCE=1 makes it again)"
	exit 0
fi

# The machine's Debian sources for the suite, as "deb URI SUITE COMPONENTS"
# lines: one-line .list files and deb822 .sources files alike. Only entries
# of the suite itself (bookworm, bookworm-updates, bookworm-security).
apt_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v suite="$SUITE" '
		    $1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) ~ "^" suite "(-|$)") {
				line = "deb " $i
				for (j = i + 1; j <= NF; j++) line = line " " $j
				print line
			}
		    }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v suite="$SUITE" '
		    function flush(   n, s, u, i, j, us, ss) {
			if (types ~ /(^| )deb( |$)/ && enabled != "no") {
				n = split(uris, us, " "); s = split(suites, ss, " ")
				for (i = 1; i <= n; i++) for (j = 1; j <= s; j++)
					if (ss[j] ~ "^" suite "(-|$)")
						print "deb " us[i] " " ss[j] " " comps
			}
			types = uris = suites = comps = enabled = ""
		    }
		    /^[ \t]*#/ { next }
		    /^[ \t]*$/ { flush(); next }
		    {
			key = tolower($1); sub(/:$/, "", key)
			val = $0; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types") types = val
			else if (key == "uris") uris = val
			else if (key == "suites") suites = val
			else if (key == "components") comps = val
			else if (key == "enabled") enabled = tolower(val)
		    }
		    END { flush() }' "$f"
	done
}

sources=$(apt_sources | awk '!seen[$0]++')
[ -n "$sources" ] || die "no $SUITE entry in /etc/apt/sources.list(.d)"
# The mirror of the suite itself (not -updates or -security).
mirror=$(awk -v suite="$SUITE" '$3 == suite { print $2; exit }' <<<"$sources")
[ -n "$mirror" ] || die "no entry for the suite $SUITE itself in the apt sources"

work=$(mktemp -d /var/tmp/userapi-mkbase.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

echo "mkbase: debootstrap --variant=minbase $SUITE from $mirror"
debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$root" \
    "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

# dpkg leaves out what the slim image leaves out, from now on ...
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# as debian:bookworm-slim: no documentation, manual pages or locales
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
# ... and what debootstrap installed already goes now.
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/{groff,info,linda,lintian,locale,man}/*

# apt as in the official images: no package cache kept, no translations.
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'APT::AutoRemove::SuggestsImportant "false";' \
    >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"

# The machine's Debian sources for the suite.
printf '%s\n' "$sources" >"$root/etc/apt/sources.list"

# The host's local CAs (an intercepting proxy's among them).
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
	cp /usr/local/share/ca-certificates/*.crt \
	    "$root/usr/local/share/ca-certificates/"
fi
chroot "$root" update-ca-certificates >/dev/null 2>&1 ||
    die "update-ca-certificates failed in the base"

rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log \
    "$root"/var/log/apt/* "$root"/tmp/* "$root"/root/.cache
: >"$root/etc/machine-id"

echo "mkbase: podman import as $TAG"
tar -C "$root" --numeric-owner -cf - . |
    podman import --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase $SUITE, slim" - "$TAG" >/dev/null
podman image inspect --format '{{.Size}}' "$TAG" |
    awk -v tag="$TAG" '{ printf "mkbase: %s, %.1f MB\n", tag, $1 / 1e6 }'
