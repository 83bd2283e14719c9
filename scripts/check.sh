#!/usr/bin/env bash
# `make check`: every check of the workspace, in order, with per-stage
# times, ending with one line "N passed, N failed".
#
# Stages, in this order (README.md lists what each proves): deps, base
# tree, series applies, the four images the QEMU scenarios boot (which
# start then and boot while the later stages run), bisect build (arm64
# and x86_64, each commit), x86_64 without IOMMU and arm64 with modules,
# QEMU and its base-kernel ATS test, apply/export round trip, workspace
# self-tests, checkpatch --strict per patch, KUnit (arm64: from the debug
# kernel's scenario boot; x86_64: kunit.py exec), static analysis, mail,
# the 7.2 variant, the scenarios' results.  A new stage is one "stage
# NAME" block here and one line in README.md.  Each stage prints its wall
# time and the machine's busy CPU time meanwhile.  The figures the stages
# print (KUnit's and the scenarios' measurements) are gathered at the end,
# and kept in $BUILD/check-figures.txt for the cover letter.
#
# It works in its own worktree ($BUILD/check) of the base tree, so a
# developer's work in $KSRC is never touched.  Builds there share ccache
# with every other tree (see kbuild.sh), and a commit that already built
# is not built again.
. "$(dirname "$0")/lib.sh"

CHECK=${CHECK_TREE:-$BUILD/check}
RESULTS=$BUILD/check-results.txt
# One make check per workspace: a second one would share the results,
# logs, images and output directories of the first and mix them up.
mkdir -p "$BUILD"
exec 8>"$BUILD/.check.lock"
flock -n 8 || die "another make check is running in $TOP (see $BUILD/logs/check.log); wait for it or stop it"
LOGS=$BUILD/logs
mkdir -p "$LOGS"
: >"$RESULTS"
T0=$(date +%s)
# Everything printed also goes to the log the figures are gathered from
exec > >(tee "$LOGS/check.log") 2>&1

result() { # PASS|FAIL NAME [DETAIL]
	printf '%s %s%s\n' "$1" "$2" "${3:+ ($3)}" >>"$RESULTS"
	if [ "$1" = PASS ]; then
		printf '  ok      %s%s\n' "$2" "${3:+ ($3)}"
	else
		printf '  FAILED  %s%s\n' "$2" "${3:+ ($3)}"
	fi
}

STAGE=
STAGE_T=0
# Seconds the builds spent waiting for the build lock (another engineer's
# build on a shared machine); kbuild.sh adds one line per wait.
export LOCK_WAIT_LOG=$BUILD/lock-wait.log
: >"$LOCK_WAIT_LOG"
waited_total() { awk '{s += $1} END {print s + 0}' "$LOCK_WAIT_LOG"; }
STAGE_W=0
# The CPU time the whole machine spent busy so far (user, nice, system,
# interrupts; not a hypervisor's steal), in clock ticks: with the stage's
# wall time it shows whether the stage kept the CPUs full, whatever ran in
# the background meanwhile.
NCPU=$(nproc)
HZ=$(getconf CLK_TCK)
cpu_busy() { awk '/^cpu /{printf "%d\n", $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }
now_ms() { date +%s%3N; }
C0=$(cpu_busy)
T0_MS=$(now_ms)
STAGE_C=0
STAGE_MS=0
# cpu_share START_MS START_TICKS: "CPU N s, P %", the busy CPU seconds since
# then and their share of the CPUs' time
cpu_share() {
	local ms=$(($(now_ms) - $1)) c=$(($(cpu_busy) - $2))
	[ "$ms" -gt 0 ] || ms=1
	printf 'CPU %ds, %d%%' $((c / HZ)) $((c * 100000 / (HZ * ms * NCPU)))
}
stage() {
	stage_end
	STAGE=$1
	STAGE_T=$(date +%s)
	STAGE_W=$(waited_total)
	STAGE_C=$(cpu_busy)
	STAGE_MS=$(now_ms)
	echo
	echo "=== $STAGE"
}
stage_end() {
	[ -n "$STAGE" ] || return 0
	local now w c
	now=$(date +%s)
	w=$(($(waited_total) - STAGE_W))
	c=$(cpu_share "$STAGE_MS" "$STAGE_C")
	printf '=== %s: %ds (%s)%s\n' "$STAGE" $((now - STAGE_T)) "$c" \
		"$([ "$w" -gt 0 ] && echo " (${w}s of it waiting for others' builds)")"
	printf '%-28s %5ds  %-16s %s\n' "$STAGE" $((now - STAGE_T)) "$c" \
		"$([ "$w" -gt 0 ] && echo "(waited ${w}s)")" >>"$BUILD/check-times.txt"
	STAGE=
}

# Run a command with its output in a log file; on failure show the tail.
logged() { # LOGNAME CMD...
	local log=$LOGS/$1
	shift
	if "$@" >"$log" 2>&1; then
		return 0
	fi
	tail -n 25 "$log" | sed 's/^/    | /'
	echo "    (full log: $log)"
	return 1
}

finish() {
	stage_end
	local p f
	p=$(grep -c '^PASS ' "$RESULTS" || true)
	f=$(grep -c '^FAIL ' "$RESULTS" || true)
	echo
	echo "=== figures (measured, never asserted; the scenarios' beside the other checks: 'make bench' measures the cover letter's alone)"
	grep -E '^ +figure: |^ +# ([^ ]+: )?bench: ' "$LOGS/check.log" |
		sed 's/^ *//' | tee "$BUILD/check-figures.txt" || true
	echo
	echo "=== stage times (wall; the machine's busy CPU time meanwhile, and its share of the $NCPU CPUs' time)"
	cat "$BUILD/check-times.txt"
	printf '%-28s %5ds  %s\n' total $(($(date +%s) - T0)) "$(cpu_share "$T0_MS" "$C0")"
	printf '%-28s %5ds\n' "total without lock waits" $(($(date +%s) - T0 - $(waited_total)))
	if [ "$f" -gt 0 ]; then
		echo
		echo "failed checks:"
		grep '^FAIL ' "$RESULTS" | sed 's/^FAIL /  /'
	fi
	echo
	echo "$p passed, $f failed"
	[ "$f" -eq 0 ]
}

: >"$BUILD/check-times.txt"

# --- deps --------------------------------------------------------------------
stage deps
if logged deps.log "$TOP/scripts/deps.sh"; then
	result PASS "deps installed"
else
	result FAIL "deps installed"
fi

# --- base tree -----------------------------------------------------------------
stage base
if ! logged base.log "$TOP/scripts/fetch-base.sh"; then
	result FAIL "base tree $BASE fetched and verified"
	finish
	exit 1
fi
result PASS "base tree $BASE fetched and verified" "$(kgit config iommu-reset.version) $(kgit rev-parse --short "$BASE_TAG")"

# --- series applies ------------------------------------------------------------
# apply_series REPO TREE [VAR=VALUE...]: the series (series.sh apply, with
# VAR=VALUE in its environment) applied in a worktree of REPO of its own,
# TREE-apply, then TREE (a worktree of REPO, branch check) moved to the
# result with one checkout, which rewrites only the files that differ from
# what TREE had: kbuild rebuilds by modification times, and applying in
# TREE itself (back to the base, then every patch) would make every build
# after it recompile whatever includes a file the series touches.  The
# self-tests that apply broken series use TREE-apply too.
apply_series() {
	local repo=$1 tree=$2 t
	shift 2
	for t in "$tree" "$tree-apply"; do
		if [ ! -e "$t/.git" ]; then
			git -C "$repo" worktree prune
			git -C "$repo" worktree add -q --detach "$t" "$BASE_TAG"
		fi
		# The trees are the workspace's own: reset them, whatever a
		# previous (maybe interrupted) run left there.
		git -C "$t" am --abort >/dev/null 2>&1 || true
		git -C "$t" reset -q --hard
	done
	env "$@" KSRC="$tree-apply" SERIES_BRANCH=check-apply FORCE=1 \
		"$TOP/scripts/series.sh" apply "$tree-apply" &&
		git -C "$tree" checkout -q -B check "$(git -C "$tree-apply" rev-parse HEAD)"
}
stage apply
APPLY=$CHECK-apply
if logged apply.log apply_series "$KSRC" "$CHECK"; then
	npatches=$(git -C "$CHECK" rev-list --count "$BASE_TAG..HEAD")
	result PASS "series applies on $BASE" "$npatches patches"
else
	result FAIL "series applies on $BASE" "$(grep -m1 '^error:' "$LOGS/apply.log" | cut -c8-)"
	finish
	exit 1
fi

# --- side builds -----------------------------------------------------------------
# build_at, build_check, image_of, together: scripts/builds.sh (what a build
# depends on, and what make check remembers of the builds that passed).
. "$TOP/scripts/builds.sh"
# make check holds the build lock from here until its last build: it runs
# several builds at once on purpose (see together in builds.sh, and below).
build_lock_take "make check"
# The 7.2 variant's kernel and the patched QEMU need nothing the stages in
# front make: they are fetched and built from here on in the background,
# at the lowest priority, so that they take only the CPU time the stages
# in front leave (make's start-up, links, the single-threaded checks and
# boots) and hardly slow those (the scheduler gives them about 1/70 of a
# CPU that the others want).  Their stages (qemu, distro-7.2) report them
# from $SIDE.
SIDE=$BUILD/side
D=$BUILD/check-7.2
dpatches=$TOP/patches-7.2
rm -rf "$SIDE"
mkdir -p "$SIDE"
side_mark() { # NAME CMD...: "STATUS SECONDS" of CMD in $SIDE/NAME
	local name=$1 t st=FAIL
	shift
	t=$(date +%s)
	if "$@"; then
		st=PASS
	fi
	echo "$st $(($(date +%s) - t))" >"$SIDE/$name"
	[ $st = PASS ]
}
side_status() { cut -d' ' -f1 "$SIDE/$1" 2>/dev/null || echo FAIL; }
# side_wait NAME: until NAME is done (or the side builds ended without it)
side_wait() {
	while [ ! -e "$SIDE/$1" ] && kill -0 "$SIDE_PID" 2>/dev/null; do
		sleep 1
	done
}
side_7_2() {
	local dsrc
	dsrc=$(BASE=7.2 bash -c ". '$TOP/scripts/lib.sh'; echo \$KSRC")
	side_mark apply-7.2 apply_series "$dsrc" "$D" BASE=7.2 PATCHES="$dpatches" \
		>"$LOGS/apply-7.2.log" 2>&1 || return 0
	TREE=$D side_mark build-7.2 build_at arm64-kunit "$(git -C "$D" rev-parse check)" \
		>"$LOGS/build-7.2-arm64.log" 2>&1 || true
}
side_builds() {
	renice -n 19 -p "$BASHPID" >/dev/null 2>&1 || true
	# The downloads one after the other (one private apt configuration),
	# then QEMU's build first: the scenarios wait for it, while the 7.2
	# kernel is needed only by the distro-7.2 stage near the end.
	env BASE=7.2 "$TOP/scripts/fetch-base.sh" --fetch >"$LOGS/base-7.2.log" 2>&1 || true
	"$TOP/scripts/qemu-build.sh" --fetch >"$LOGS/qemu-fetch.log" 2>&1 || true
	side_mark qemu "$TOP/scripts/qemu-build.sh" >"$LOGS/qemu-build.log" 2>&1 &
	side_mark base-7.2 env BASE=7.2 "$TOP/scripts/fetch-base.sh" >>"$LOGS/base-7.2.log" 2>&1 || true
	if [ "$(side_status base-7.2)" = PASS ]; then
		side_7_2
	fi
	wait
}
side_builds &
SIDE_PID=$!

# --- builds --------------------------------------------------------------------

# report NAME LABEL LOG: the result of a build run together
report() {
	local st secs how
	read -r st secs how < <(together_result "$1")
	if [ "$st" = PASS ]; then
		result PASS "$2" "${how:-${secs}s, CPU $(together_cpu "$1")s}"
	else
		tail -n 25 "$LOGS/$3" | sed 's/^/    | /'
		echo "    (full log: $LOGS/$3)"
		result FAIL "$2"
	fi
}
commits=$(git -C "$CHECK" rev-list --reverse "$BASE_TAG..check")
head_commit=$(git -C "$CHECK" rev-parse check)
# (the keys are worked out once, here, not in each build's subshell)
for name in arm64 x86_64 arm64-debug x86_64-noiommu arm64-modules; do
	build_key $name >/dev/null
done

# The four kernel images the QEMU scenarios boot come first: the scenarios
# are the longest stage (minutes of boots whatever changed, the debug
# kernel's the longest), so they start as soon as the images exist and
# run beside every stage after this one.  Builds run together where they
# share a checkout (together: scripts/builds.sh): the base's arm64 and
# debug images with the base's x86_64 build (the bisect's first), then the
# series' two images.  Each image is kept with its .config in
# $BUILD/images (KUnit runs the series' debug one from there).  A tree
# that needs no build is not checked out: every checkout rewrites the
# files that differ, and kbuild rebuilds whatever includes them.
stage images
if ! { image_current arm64 "$BASE_TAG" "$BUILD/images/base" &&
	image_current arm64-debug "$BASE_TAG" "$BUILD/images/base-debug" &&
	built_before x86_64 "$BASE_TAG"; }; then
	git -C "$CHECK" checkout -q --detach "$BASE_TAG"
fi
together_start
together arm64 build-arm64-base.log image_of arm64 "$BASE_TAG" "$BUILD/images/base"
together x86_64 build-x86_64-base.log build_check x86_64 "$BASE_TAG"
together debug build-arm64-debug-base.log image_of arm64-debug "$BASE_TAG" "$BUILD/images/base-debug"
together_wait
report arm64 "arm64 build: base" build-arm64-base.log
report x86_64 "x86_64 build: base" build-x86_64-base.log
report debug "arm64 debug build: base" build-arm64-debug-base.log
git -C "$CHECK" checkout -q check
together_start
together arm64 build-arm64-series.log image_of arm64 "$head_commit" "$BUILD/images/series"
together debug build-arm64-debug-series.log image_of arm64-debug "$head_commit" "$BUILD/images/series-debug"
together_wait
# (the series' arm64 image has no result of its own: the bisect's build
# of the last patch is that build)
report debug "arm64 debug build: series" build-arm64-debug-series.log

# The scenarios start once QEMU is built (in the background since the
# apply stage), two boots at a time (a boot keeps about one CPU busy).
# Images that failed to build are not there: scenarios.sh skips their
# boots, whose build failure is reported above.
. "$TOP/scripts/kunit.sh"
start_scenarios() {
	local qemu
	side_wait qemu
	[ "$(side_status qemu)" = PASS ] &&
		qemu=$("$TOP/scripts/qemu-build.sh" --path 2>/dev/null) || return 0
	SCENARIO_JOBS=${SCENARIO_JOBS:-2} QEMU=$qemu exec "$TOP/scripts/scenarios.sh" \
		--kernel "$BUILD/images/series/Image" \
		--base-kernel "$BUILD/images/base/Image" \
		--debug-kernel "$BUILD/images/series-debug/Image" \
		--base-debug-kernel "$BUILD/images/base-debug/Image" \
		>"$LOGS/scenarios.ktap" 2>"$LOGS/scenarios.log"
}
SCENARIOS_PID=
if [ -f "$BUILD/images/series/Image" ]; then
	# (no log of an earlier run's boot may pass for this run's)
	rm -f "$LOGS"/scenarios/scenarios-*.log "$LOGS/scenarios.ktap"
	start_scenarios &
	SCENARIOS_PID=$!
	echo "  scenarios start as soon as QEMU is built (results in the scenarios stage)"
fi

# Every patch builds for arm64 and x86_64, each in its own incremental
# output directory; one checkout per commit serves both, and the two
# builds run at the same time.
stage bisect
i=0
declare -A head_ok=()
for c in $commits; do
	i=$((i + 1))
	subj=$(git -C "$CHECK" log -1 --format=%s "$c")
	if ! { built_before arm64 "$c" && built_before x86_64 "$c"; }; then
		git -C "$CHECK" checkout -q --detach "$c"
	fi
	together_start
	for name in arm64 x86_64; do
		together $name "build-$name-$i.log" build_check $name "$c"
	done
	together_wait
	for name in arm64 x86_64; do
		report $name "$name build: patch $i: $subj" "build-$name-$i.log"
		if [ "$c" = "$head_commit" ] && [ "$(together_result $name | cut -d' ' -f1)" = PASS ]; then
			head_ok[$name]=1
		fi
	done
done

# The whole series for x86_64 without any IOMMU support (the stubs), and
# for arm64 with ARM_SMMU_V3 and the KUnit suites as modules (exports for
# KUnit, module unload paths), each in its own output directory, one
# checkout for both.  The static analysis checks what the modules build
# compiles: every touched file, the SMMUv3 suite's included.
stage build-more
git -C "$CHECK" checkout -q --detach "$head_commit"
together_start
together noiommu build-x86_64-noiommu.log build_check x86_64-noiommu "$head_commit"
together modules build-arm64-modules.log build_check arm64-modules "$head_commit"
together_wait
report noiommu "x86_64-noiommu build: full series" build-x86_64-noiommu.log
report modules "arm64-modules build: full series" build-arm64-modules.log
git -C "$CHECK" checkout -q check

# --- QEMU: the SMMUv3 ATS model and the end-to-end scenarios -----------------------
stage qemu
# (built in the background since the apply stage)
side_wait qemu
QEMU_OK=
if [ "$(side_status qemu)" = PASS ] &&
	QEMU=$("$TOP/scripts/qemu-build.sh" --path 2>>"$LOGS/qemu-build.log"); then
	result PASS "qemu: patched QEMU built" "$QEMU"
	QEMU_OK=1
	# QEMU's own checkpatch on the QEMU patches (taken from the verified
	# tarball once; the binary may come from the cache without a tree).
	qcp=$CACHE/qemu/checkpatch-10.0.2.pl
	if [ ! -s "$qcp" ]; then
		"$TOP/scripts/qemu-build.sh" --fetch >/dev/null 2>&1 || true
		tar -xJOf "$CACHE/qemu/dl/qemu_10.0.2+ds.orig.tar.xz" qemu-10.0.2/scripts/checkpatch.pl >"$qcp.tmp" &&
			mv "$qcp.tmp" "$qcp"
	fi
	while read -r p; do
		if out=$(perl "$qcp" --no-tree "$TOP/qemu/patches/$p" 2>&1); then
			result PASS "qemu: checkpatch.pl $p"
		else
			echo "$out" | grep -E '^(ERROR|WARNING)' | head -n 10 | sed 's/^/    | /'
			result FAIL "qemu: checkpatch.pl $p"
		fi
	done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/qemu/patches/series")
	# The model on the unpatched base kernel: ATS on, an injected ATC
	# invalidation timeout reported by the kernel, the disk still working.
	if [ -f "$BUILD/images/base/Image" ]; then
		KERNEL=$BUILD/images/base/Image QEMU=$QEMU "$TOP/scripts/qemu-ats-test.sh" \
			>"$LOGS/qemu-ats-base.ktap" 2>"$LOGS/qemu-ats-base.log" || true
		grep -o '^# reused.*\|# bench: .*' "$LOGS/qemu-ats-base.ktap" | sed 's/^# /  base kernel: /' || true
		parse_ktap "$CHECK" "qemu-ats(base)" "$LOGS/qemu-ats-base.ktap"
	else
		result FAIL "qemu-ats(base): no base kernel image"
	fi
else
	tail -n 20 "$LOGS/qemu-build.log" | sed 's/^/    | /'
	result FAIL "qemu: patched QEMU built" "see $LOGS/qemu-build.log"
fi

# --- checks that need no build -----------------------------------------------
# They run here, while the scenarios boot, not before the builds: they are
# single-threaded and fill what the boots leave of the two CPUs.

# --- round trip ----------------------------------------------------------------
# Two exports of the check tree: with no git configuration, and with the
# settings that change what git prints.  They run at once (each is mostly
# get_maintainer.pl on one CPU).
stage round-trip
rt=$(mktemp -d)
rt2=$(mktemp -d)
cp "$TOP/patches/0000-cover-letter.patch" "$rt/"
cp "$TOP/patches/0000-cover-letter.patch" "$rt2/"
printf '[core]\n\tabbrev = 7\n[diff]\n\tnoprefix = true\n' >"$rt2.gitconfig"
env KSRC="$CHECK" GIT_CONFIG_GLOBAL="$rt2.gitconfig" "$TOP/scripts/series.sh" export "$rt2" \
	>"$LOGS/export-abbrev.log" 2>&1 &
abbrev_pid=$!
if logged export.log env KSRC="$CHECK" "$TOP/scripts/series.sh" export "$rt" &&
	diff -ru "$TOP/patches" "$rt" >"$LOGS/round-trip.diff"; then
	result PASS "apply then export is byte-identical"
else
	head -n 30 "$LOGS/round-trip.diff" | sed 's/^/    | /'
	# The usual cause after a change of recipients.txt: say so
	if grep -E '^[-+] ' "$LOGS/round-trip.diff" |
		grep -qiFf <("$TOP/scripts/series.sh" recipients 2>/dev/null | sed 's/.*<\(.*\)>/\1/' | grep .); then
		echo "    (recipients.txt changed since patches/ were exported: 'make export')"
	fi
	result FAIL "apply then export is byte-identical" "see $LOGS/round-trip.diff"
fi
# The exported bytes must not depend on the repository's size or on the
# user's git configuration (abbreviated ids in "index" lines differ between
# a fresh tree and a long-used one unless the export pins the length).
if wait "$abbrev_pid" && diff -ru "$TOP/patches" "$rt2" >"$LOGS/round-trip-config.diff"; then
	result PASS "export ignores the user's core.abbrev and diff settings"
else
	tail -n 25 "$LOGS/export-abbrev.log" | sed 's/^/    | /'
	head -n 30 "$LOGS/round-trip-config.diff" | sed 's/^/    | /'
	result FAIL "export ignores the user's core.abbrev and diff settings" "see $LOGS/round-trip-config.diff"
fi
rm -rf "$rt" "$rt2" "$rt2.gitconfig"

# --- workspace self-tests ------------------------------------------------------
stage selftest
while read -r st name; do
	result "$st" "workspace: $name"
done < <("$TOP/scripts/selftest.sh" "$CHECK" "$APPLY" 2>"$LOGS/selftest.log")
sed 's/^/    | /' "$LOGS/selftest.log"
git -C "$CHECK" checkout -q check

# --- checkpatch ----------------------------------------------------------------
stage checkpatch
# shellcheck source=checkpatch.sh
. "$TOP/scripts/checkpatch.sh"
for p in $(sed -e 's/#.*//' "$TOP/patches/series"); do
	if out=$(run_checkpatch "$CHECK" "$TOP/patches/$p"); then
		result PASS "checkpatch --strict $p"
	else
		echo "$out" | head -n 20 | sed 's/^/    | /'
		result FAIL "checkpatch --strict $p"
	fi
done

# --- KUnit ---------------------------------------------------------------------
# The suites of configs/kunit/.kunitconfig, parsed by the tree's kunit.py.
# On arm64 they run in the series' debug kernel (lockdep, KASAN), which has
# every option of that kunitconfig (checked with kunit.py's own parser)
# and the suites built in: its scenario boot runs them twice from debugfs
# for kmemleak, and the first run's results files are the per-case results
# (reported in the scenarios stage, once that boot ended).  A boot of its
# own for the same suites in the same kernel would cost a third run.
stage kunit
if [ -f "$BUILD/images/series-debug/.config" ] && [ -n "$SCENARIOS_PID" ]; then
	echo "  arm64: the debug kernel's scenario boot runs the suites (results in the scenarios stage)"
fi
# The core suite on x86_64, in the x86_64 kernel of the series (VT-d,
# ACPI): the software PCI bus must work with x86's PCI code too.
if { [ -z "$commits" ] || [ -n "${head_ok[x86_64]:-}" ]; } &&
	logged kunit-x86_64-build.log build_at x86_64 "$head_commit"; then
	exec_kunit "$CHECK" "$CHECK/.out-x86_64" "$TOP/configs/kunit/x86_64.kunitconfig" kunit-x86_64 x86_64
else
	result FAIL "kunit-x86_64: no x86_64 build of the series to run the suites in"
fi

stage static
if [ -n "$commits" ]; then
	while read -r st name; do
		result "$st" "static: $name"
	done < <("$TOP/scripts/static.sh" "$CHECK" "$head_commit" 2>"$LOGS/static.log")
	cat "$LOGS/static.log"
else
	echo "  (no patches: nothing touched)"
fi
git -C "$CHECK" checkout -q check

# --- mail-ready ------------------------------------------------------------------
stage mail
if logged mbox.log "$TOP/scripts/mbox.sh"; then
	grep '^>>> recipients' "$LOGS/mbox.log" | sed 's/^>>> /  /'
	result PASS "mail: mbox + git send-email --dry-run" "$(tail -n1 "$LOGS/mbox.log" | sed 's/^>>> //')"
else
	result FAIL "mail: mbox + git send-email --dry-run"
fi

# --- the distro kernel ----------------------------------------------------------
# The variant patches-7.2/ on Debian's linux-source-7.2: its own patches,
# then the main series unchanged.  It applies, its own patches pass
# checkpatch, and one arm64 build proves it builds and passes KUnit: the
# configuration is configs/arm64.config plus the kunitconfig (everything
# the arm64 test kernel compiles, and the suites) at -Os, run by kunit.py
# exec.  Fetched, applied and built in the background (side_builds).
stage distro-7.2
wait "$SIDE_PID" || true
build_lock_release
if [ "$(side_status base-7.2)" != PASS ]; then
	tail -n 20 "$LOGS/base-7.2.log" | sed 's/^/    | /'
	result FAIL "7.2: base tree fetched and verified"
elif [ "$(side_status apply-7.2)" != PASS ]; then
	result FAIL "7.2: series applies ($(basename "$dpatches")/)" "$(grep -m1 '^error:' "$LOGS/apply-7.2.log" | cut -c8-)"
else
	result PASS "7.2: series applies ($(basename "$dpatches")/)" \
		"$(git -C "$D" rev-list --count "$BASE_TAG..check") patches"
	while read -r p; do
		case "$p" in "$dpatches"/*) ;; *) continue ;; esac
		if out=$(run_checkpatch "$CHECK" "$p"); then
			result PASS "7.2: checkpatch --strict $(basename "$p")"
		else
			echo "$out" | head -n 20 | sed 's/^/    | /'
			result FAIL "7.2: checkpatch --strict $(basename "$p")"
		fi
	done < <(PATCHES=$dpatches "$TOP/scripts/series.sh" list)
	if [ "$(side_status build-7.2)" = PASS ]; then
		result PASS "7.2: arm64 build" "arm64.config + KUnit suites, $(cut -d' ' -f2 "$SIDE/build-7.2")s in the background"
		exec_kunit "$D" "$D/.out-arm64-kunit" "$TOP/configs/kunit/.kunitconfig" kunit-7.2
	else
		tail -n 25 "$LOGS/build-7.2-arm64.log" | sed 's/^/    | /'
		result FAIL "7.2: arm64 build" "arm64.config + KUnit suites"
	fi
	git -C "$D" checkout -q check
fi

stage scenarios
if [ -n "$SCENARIOS_PID" ] && [ -n "$QEMU_OK" ]; then
	wait "$SCENARIOS_PID" || true
	# The KUnit suites' first run in the debug kernel (see the kunit stage)
	if [ -f "$LOGS/scenarios/scenarios-debug.ktap.log" ]; then
		debugfs_kunit "$CHECK" "$BUILD/images/series-debug/.config" "$TOP/configs/kunit/.kunitconfig" \
			"$LOGS/scenarios/scenarios-debug.ktap.log" kunit
	else
		result FAIL "kunit: the debug kernel's scenario boot did not run"
	fi
	grep '^# ' "$LOGS/scenarios.ktap" | sed 's/^/  /' | head -n 60 || true
	# A skipped scenario is not counted, but always named with why
	sed -n 's/^ok [0-9]* \(.*\) # SKIP \(.*\)/  skipped: scenarios: \1 (\2)/p' \
		"$LOGS/scenarios.ktap"
	parse_ktap "$CHECK" scenarios "$LOGS/scenarios.ktap"
elif [ -n "$QEMU_OK" ]; then
	result FAIL "scenarios: no series kernel image (arm64 build failed)"
	result FAIL "kunit: no debug kernel boot ran the suites"
else
	echo "  (no QEMU: see the qemu stage)"
	result FAIL "kunit: no debug kernel boot ran the suites (no QEMU)"
fi

finish
