#!/usr/bin/env bash
# `make bench`: the end-to-end figures the cover letter quotes, measured
# alone.  make check boots its scenarios beside its other checks, two at a
# time, and reuses the unpatched kernels' boots of earlier runs: its
# figures are under whatever load there was.  Here the benchmark boots of
# the series' kernel and of the base kernel (FLR through sysfs, and
# dma_map_benchmark) run one after the other, nothing reused, while this
# script holds the build lock (no kernel build of the workspace runs
# meanwhile; another make check would, between its builds, still boot).
#
# Needs the kernel images of a make check in build/images/.  Prints the
# figures and writes them to build/bench-figures.txt.
. "$(dirname "$0")/lib.sh"

series=$BUILD/images/series/Image
base=$BUILD/images/base/Image
if [ ! -f "$series" ] || [ ! -f "$base" ]; then
	die "no kernel images in $BUILD/images: run 'make check' first"
fi
QEMU=$("$TOP/scripts/qemu-build.sh") || die "building QEMU failed"
build_lock_take bench
mkdir -p "$BUILD/logs"
info "series $(cut -c1-12 "$BUILD/images/series/.key" 2>/dev/null), base $(cut -c1-12 "$BUILD/images/base/.key" 2>/dev/null): two boots, one at a time"
rc=0
SCENARIO_JOBS=1 QEMU=$QEMU "$TOP/scripts/scenarios.sh" --kernel "$series" --base-kernel "$base" \
	--only flrbench,dmabench --no-reuse >"$BUILD/logs/bench.ktap" 2>"$BUILD/logs/bench.log" || rc=$?
grep -E '^# (([^ ]+: )?bench: |total )' "$BUILD/logs/bench.ktap" | sed 's/^# //' |
	tee "$BUILD/bench-figures.txt"
if [ "$rc" -ne 0 ]; then
	grep -E '^not ok' "$BUILD/logs/bench.ktap" >&2 || true
	die "a benchmark boot failed (see $BUILD/logs/bench.ktap and $BUILD/logs/bench.log)"
fi
