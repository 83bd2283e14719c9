# shellcheck shell=bash
# Common settings for the workspace scripts. Sourced, never executed.
#
# Everything the workspace produces lives in $BUILD (ignored by git);
# downloads and compiler caches live in $CACHE (outside the clone) so a
# re-run or CI on the same machine does not fetch or compile twice.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommu-reset}
JOBS=${JOBS:-2}

# Base tree selection: BASE=7.3 (default, pinned 7.3-rc7) or BASE=7.2 (the
# distro kernel, Debian sid).
BASE=${BASE:-7.3}
case "$BASE" in
7.3)
	BASE_SUITE=experimental
	BASE_PKG=linux-source-7.3
	BASE_VER='7.3~rc7-1~exp1'
	BASE_SHA256=8bf8ca5ea8b1b307ca698db982ba48d6d223263b4d3dfb1973d055e316c44e75
	;;
7.2)
	BASE_SUITE=sid
	BASE_PKG=linux-source-7.2
	BASE_VER='7.2.13-1'
	BASE_SHA256=30a8c5fc63f9028a62e6d7b3f7f43bee67425dbce2a05fceba83f9b87c92083d
	;;
*)
	echo "error: BASE must be 7.3 or 7.2 (got '$BASE')" >&2
	exit 2
	;;
esac

# The kernel tree for the 7.3 base is $BUILD/linux; other bases get their
# own tree so switching never throws work away.
if [ "$BASE" = 7.3 ]; then
	KSRC=${KSRC:-$BUILD/linux}
else
	KSRC=${KSRC:-$BUILD/linux-$BASE}
fi
# Callers may pass a relative KSRC; scripts cd around, so make it absolute.
KSRC=$(realpath -m "$KSRC")
BASE_TAG=base

# The one neutral identity used for the base commit, the series' authorship
# and Signed-off-by. Whoever posts the series re-signs it (see README).
PROJECT_NAME='iommu-reset series'
PROJECT_EMAIL='iommu-reset-series@example.org'

# Deterministic base commit: fixed identity and date.
BASE_DATE='2026-01-01T00:00:00+0000'

export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
export CCACHE_COMPILERCHECK=content
# Depend mode: the compiler's own dependency output (kbuild always asks for
# it) keys the cache, so a miss costs one compile instead of a preprocessor
# run plus a compile: a third less time for a cold kernel build here.  (Its
# cost, no hits between different sources that preprocess the same, does
# not arise: no two configurations here share preprocessed files.)
export CCACHE_DEPEND=${CCACHE_DEPEND:-1}
# A hit (and the record a miss leaves) costs a hash of every header the
# object was made from, a few hundred files per kernel object: with the
# inode cache each file is hashed once for all compiles while it stays
# unchanged.  Measured here on 40 kernel objects, three runs each: hits
# take about a tenth less CPU time (4.0-4.4 s against 4.6-4.8 s), misses
# the same within the noise.
export CCACHE_INODECACHE=${CCACHE_INODECACHE:-1}
# Kernel builds with the same source in different places share hits.
export CCACHE_BASEDIR=$BUILD
export CCACHE_NOHASHDIR=1
# Reproducible kernel builds also help ccache.
export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026'
export KBUILD_BUILD_USER=iommu-reset
export KBUILD_BUILD_HOST=workspace

die() {
	echo "error: $*" >&2
	exit 1
}

warn() {
	echo "WARNING: $*" >&2
}

info() {
	echo ">>> $*"
}

need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 ||
			die "missing tool '$t': run 'make deps' (installs it with apt-get)"
	done
}

# All heavy builds take this lock: the machine has two cores and two
# kernel builds at once from different callers would only make both slow.
# (make check runs the two builds of one commit at once on purpose, see
# build_lock_take.)
with_build_lock() {
	if [ -n "${BUILD_LOCK_HELD:-}" ]; then
		"$@"
		return
	fi
	mkdir -p "$CACHE"
	flock "$CACHE/build.lock" "$@"
}

# build_lock_take WHO: take the build lock for the rest of this shell (fd
# 9) and export BUILD_LOCK_HELD, so that the builds it starts, whose
# serial phases (make's start-up, the links) overlap, do not wait for it.
# On a shared machine the wait for someone else's build is not this
# build's time: it is told, and added up where $LOCK_WAIT_LOG says.
build_lock_take() {
	local t waited
	[ -z "${BUILD_LOCK_HELD:-}" ] || return 0
	mkdir -p "$CACHE"
	exec 9>"$CACHE/build.lock"
	t=$(date +%s)
	flock 9
	waited=$(($(date +%s) - t))
	if [ "$waited" -gt 1 ]; then
		info "$1: waited ${waited}s for the build lock" >&2
		[ -z "${LOCK_WAIT_LOG:-}" ] || echo "$waited" >>"$LOCK_WAIT_LOG"
	fi
	export BUILD_LOCK_HELD=$$
}

build_lock_release() {
	[ "${BUILD_LOCK_HELD:-}" = $$ ] || return 0
	unset BUILD_LOCK_HELD
	flock -u 9
	exec 9>&-
}

kgit() {
	git -C "$KSRC" "$@"
}

# git settings that make commit ids and exported bytes independent of the
# machine. core.abbrev is fixed because git's default scales the length of
# abbreviated ids (the "index" lines of a patch) with the number of objects
# in the repository, which differs between a fresh and a long-used tree.
git_det() {
	git -c user.name="$PROJECT_NAME" -c user.email="$PROJECT_EMAIL" \
		-c core.autocrlf=false -c core.fileMode=true -c commit.gpgsign=false \
		-c core.abbrev=12 -c core.hooksPath=/dev/null "$@"
}
