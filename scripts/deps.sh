#!/usr/bin/env bash
# Install what a fresh Debian 12 machine lacks, with apt-get.  Idempotent:
# only missing packages are installed, and nothing runs when none is.
#   scripts/deps.sh [LIST...]   (default: deps.txt and qemu/build-deps.txt)
. "$(dirname "$0")/lib.sh"

lists=("$@")
if [ ${#lists[@]} -eq 0 ]; then
	lists=("$TOP/deps.txt")
	[ -f "$TOP/qemu/build-deps.txt" ] && lists+=("$TOP/qemu/build-deps.txt")
fi

mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "${lists[@]}" | grep -v '^$' | sort -u)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	info "deps: all ${#pkgs[@]} packages present"
	exit 0
fi
info "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
# Lists may be stale or absent on a fresh machine; update once.
mkdir -p "$BUILD"
log=$BUILD/deps.log
$SUDO apt-get -q update >"$log" 2>&1 || warn "apt-get update reported errors (continuing; see $log)"
if ! $SUDO apt-get -q install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
	tail -n 20 "$log" >&2
	die "apt-get install failed for: ${missing[*]} (full log: $log)"
fi
info "deps: done"
