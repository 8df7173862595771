#!/usr/bin/env bash
# userapi: install the Debian packages of packages.txt that the given roles need and are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

roles=" $* "
want=$(awk -v roles="$roles" '
	/^#/ || NF < 2 { next }
	{ for (i = 2; i <= NF; i++) if (index(roles, " " $i " ")) { print $1; break } }
' packages.txt)

# What installed packages provide counts too: a nodejs that bundles npm
# provides (and conflicts with) Debian's npm.
provided=$(dpkg-query -W -f='${Status}\t${Provides}\n' 2>/dev/null |
	awk -F '\t' '$1 ~ /ok installed/ { print $2 }' | tr ',' '\n' |
	sed -e 's/([^)]*)//' -e 's/^ *//' -e 's/ *$//' | sort -u)

missing=()
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" &&
	    ! grep -qxF "$p" <<<"$provided"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then sudo="sudo"; else
		echo "userapi: missing packages; run as root: apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing or stale on a fresh machine.
if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; then
	$sudo apt-get update -q
	$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
