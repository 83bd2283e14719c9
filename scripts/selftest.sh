#!/usr/bin/env bash
# Self-tests of the workspace tooling: bad input gets a clear error and
# changes nothing.  Prints one "PASS name" / "FAIL name" line per test.
#   scripts/selftest.sh CHECK_TREE APPLY_TREE
# The tests that apply series (a broken one, one on a dirty tree) work in
# APPLY_TREE, a worktree of the same repository whose files nothing builds
# from (make check applies the series there); the others only read
# CHECK_TREE.
. "$(dirname "$0")/lib.sh"

tree=${1:?usage: selftest.sh CHECK_TREE APPLY_TREE}
atree=${2:?usage: selftest.sh CHECK_TREE APPLY_TREE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

t() { # NAME: run the rest of the test from stdin-less function, report
	if "$2"; then echo "PASS $1"; else echo "FAIL $1"; fi
}

# A cached .deb with one byte changed is rejected and removed, and with
# BASE_FETCH=never nothing else happens.
tampered_deb() {
	local deb name out
	deb=$(ls "$CACHE/debs/${BASE_PKG}_"*.deb | head -n1)
	name=$(basename "$deb")
	mkdir -p "$tmp/cache/debs" "$tmp/build"
	cp "$deb" "$tmp/cache/debs/$name"
	printf 'X' | dd of="$tmp/cache/debs/$name" bs=1 seek=100000 conv=notrunc status=none
	if out=$(CACHE=$tmp/cache BUILD=$tmp/build BASE_FETCH=never \
		"$TOP/scripts/fetch-base.sh" --fetch 2>&1); then
		echo "  tampered .deb was accepted" >&2
		return 1
	fi
	grep -q "does not match the pinned SHA256" <<<"$out" || {
		echo "  no hash error in: $out" >&2
		return 1
	}
	[ ! -e "$tmp/cache/debs/$name" ] || {
		echo "  tampered .deb was left in the cache" >&2
		return 1
	}
}

# The base commit id is the pinned one (only for the pinned version).
base_commit_pinned() {
	local want
	want=$(sed -n "s/^$BASE //p" "$TOP/base-commits.txt")
	[ -n "$want" ] || return 0
	[ "$(git -C "$KSRC" config iommu-reset.version)" = "$BASE_VER" ] || return 0
	[ "$(git -C "$KSRC" rev-parse "$BASE_TAG")" = "$want" ] || {
		echo "  base commit $(git -C "$KSRC" rev-parse "$BASE_TAG") != $want" >&2
		return 1
	}
}

# apply refuses a dirty tree and leaves the change in place.
dirty_tree_refused() {
	local f=$atree/MAINTAINERS out rc=0
	echo "selftest" >>"$f"
	if out=$(KSRC=$atree SERIES_BRANCH=check-apply FORCE=1 "$TOP/scripts/series.sh" apply "$atree" 2>&1); then
		echo "  apply accepted a dirty tree" >&2
		rc=1
	elif ! grep -q "uncommitted changes" <<<"$out"; then
		echo "  unclear error: $out" >&2
		rc=1
	fi
	[ "$(tail -n1 "$f")" = selftest ] || rc=1
	git -C "$atree" checkout -q -- MAINTAINERS
	return $rc
}

# A patch that does not apply is named with its first failing hunk, the
# message says "rebase needed", and the tree keeps its HEAD.
bad_patch_named() {
	local out head first rc=0
	mkdir -p "$tmp/patches"
	cp "$TOP/patches/0000-cover-letter.patch" "$tmp/patches/"
	cat >"$tmp/patches/0002-selftest-broken.patch" <<'P'
From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: iommu-reset series <iommu-reset-series@example.org>
Date: Thu, 1 Jan 2026 00:00:00 +0000
Subject: [PATCH] selftest: a patch that cannot apply

---
 MAINTAINERS | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/MAINTAINERS b/MAINTAINERS
--- a/MAINTAINERS
+++ b/MAINTAINERS
@@ -1,3 +1,3 @@
-this line is not in MAINTAINERS
+neither is this one
 nor this
 nor that
P
	# (after a patch that applies: the one that stops the series is named)
	first=$(PATCHES=$TOP/patches "$TOP/scripts/series.sh" list | head -n1)
	cp "$first" "$tmp/patches/"
	printf '%s\n0002-selftest-broken.patch\n' "$(basename "$first")" >"$tmp/patches/series"
	head=$(git -C "$atree" rev-parse HEAD)
	if out=$(PATCHES=$tmp/patches KSRC=$atree SERIES_BRANCH=check-apply FORCE=1 \
		"$TOP/scripts/series.sh" apply "$atree" 2>&1); then
		echo "  broken patch applied" >&2
		return 1
	fi
	grep -q "patch 2 (0002-selftest-broken.patch)" <<<"$out" && grep -q "rebase needed" <<<"$out" &&
		grep -q "first failing hunk at MAINTAINERS:1" <<<"$out" || {
		echo "  unclear error: $out" >&2
		rc=1
	}
	[ "$(git -C "$atree" rev-parse HEAD)" = "$head" ] || {
		echo "  HEAD moved" >&2
		rc=1
	}
	[ -z "$(git -C "$atree" status --porcelain --untracked-files=no)" ] || rc=1
	return $rc
}

# A missing tool is named, with the way to get it.
missing_tool_named() {
	local out
	out=$(. "$TOP/scripts/lib.sh"; need no-such-tool-xyz 2>&1) && return 1
	grep -q "missing tool 'no-such-tool-xyz': run 'make deps'" <<<"$out"
}

# The checkpatch stage fails on a finding (and passes a clean patch).
checkpatch_catches() {
	. "$TOP/scripts/checkpatch.sh"
	local p=$tmp/0001-selftest-checkpatch.patch
	cat >"$p" <<'P'
From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: iommu-reset series <iommu-reset-series@example.org>
Date: Thu, 1 Jan 2026 00:00:00 +0000
Subject: [PATCH] iommu: Selftest patch with a style problem

A patch that checkpatch must reject: trailing whitespace.

Signed-off-by: iommu-reset series <iommu-reset-series@example.org>
---
 drivers/iommu/iommu.c | 1 +
 1 file changed, 1 insertion(+)

diff --git a/drivers/iommu/iommu.c b/drivers/iommu/iommu.c
--- a/drivers/iommu/iommu.c
+++ b/drivers/iommu/iommu.c
@@ -1,3 +1,4 @@
 // SPDX-License-Identifier: GPL-2.0-only
+/* trailing whitespace */ 
 /*
  * Copyright (C) 2007-2008 Advanced Micro Devices, Inc.
P
	local out
	out=$(run_checkpatch "$tree" "$p" 2>&1) && return 1
	grep -q TRAILING_WHITESPACE <<<"$out"
}

# export adds the people of recipients.txt as Cc of every message and the
# cover letter: after get_maintainer.pl's addresses, in the file's order,
# each address once (one that get_maintainer.pl gives, in any case, is not
# repeated); an entry without a reason stops the export before it writes.
recipients_cc() {
	local first rc=0
	# an address get_maintainer.pl gives: the first To: of the first patch
	first=$(python3 -c '
import email, email.utils, sys
m = email.message_from_file(open(sys.argv[1]))
a = email.utils.getaddresses(m.get_all("To", []))
print(a[0][1] if a else "")' "$(PATCHES=$TOP/patches "$TOP/scripts/series.sh" list | head -n1)" 2>/dev/null || true)
	mkdir -p "$tmp/rcpt"
	cp "$TOP/patches/0000-cover-letter.patch" "$tmp/rcpt/"
	{
		echo "# selftest"
		echo "Alpha One <alpha@example.org>  # first"
		[ -z "$first" ] || echo "Someone Else <${first^^}>  # already a recipient"
		echo "Beta J. Two <beta@example.org>  # second"
		echo "Alpha Again <ALPHA@example.org>  # same address"
	} >"$tmp/recipients.txt"
	RECIPIENTS=$tmp/recipients.txt KSRC=$tree "$TOP/scripts/series.sh" export "$tmp/rcpt" \
		>"$tmp/rcpt.log" 2>&1 || {
		sed 's/^/  /' "$tmp/rcpt.log" >&2
		return 1
	}
	python3 - "$tmp/rcpt" "$first" <<'PY' >&2 || rc=1
import email, email.utils, glob, sys
d, first = sys.argv[1], sys.argv[2].lower()
bad = 0
files = sorted(glob.glob(d + "/*.patch"))
for f in files:
    m = email.message_from_file(open(f))
    to = email.utils.getaddresses(m.get_all("To", []))
    cc = email.utils.getaddresses(m.get_all("Cc", []))
    addrs = [a.lower() for _, a in to + cc]
    want = [("Alpha One", "alpha@example.org"), ("Beta J. Two", "beta@example.org")]
    why = []
    if cc[-2:] != want:
        why.append("Cc does not end with Alpha One, Beta J. Two: %s" % cc[-3:])
    if len(addrs) != len(set(addrs)):
        why.append("an address appears twice")
    if first and addrs.count(first) != 1:
        why.append("%s appears %d times" % (first, addrs.count(first)))
    if why:
        bad += 1
        print("  %s: %s" % (f.split("/")[-1], "; ".join(why)))
if len(files) < 2 or bad:
    sys.exit(1)
PY
	# a line without a reason: refused, named, nothing written
	printf 'Alpha One <alpha@example.org>\n' >"$tmp/recipients.txt"
	mkdir -p "$tmp/rcpt-bad"
	cp "$TOP/patches/0000-cover-letter.patch" "$tmp/rcpt-bad/"
	if RECIPIENTS=$tmp/recipients.txt KSRC=$tree "$TOP/scripts/series.sh" export "$tmp/rcpt-bad" \
		>"$tmp/rcpt.log" 2>&1; then
		echo "  an entry without a reason was accepted" >&2
		rc=1
	elif ! grep -q "recipients.txt:1: .* has no reason" "$tmp/rcpt.log"; then
		echo "  unclear error: $(cat "$tmp/rcpt.log")" >&2
		rc=1
	fi
	[ "$(ls "$tmp/rcpt-bad")" = 0000-cover-letter.patch ] || rc=1
	return $rc
}

# make check's build memory answers a build check without building only
# when it may: a tree that built before with the same key, or a commit
# that changes nothing the output directory's build read (per kbuild's
# .cmd files); anything else is built, and a failed build is not
# remembered.
build_memory() {
	local r=$tmp/bm out rc=0 c0 c k
	git init -q "$r"
	mkdir -p "$r/drivers" "$r/Documentation" "$r/scripts" "$r/include"
	for f in drivers/a.c drivers/b.c drivers/Makefile Documentation/x.rst scripts/s.c include/n.h; do
		echo one >"$r/$f"
	done
	git_det -C "$r" add -A
	git_det -C "$r" commit -q -m c0
	c0=$(git -C "$r" rev-parse HEAD)
	out=$r/.out-arm64
	mkdir -p "$out/drivers"
	echo 'deps_drivers/a.o := ../drivers/a.c ../include/linux/k.h' >"$out/drivers/.a.o.cmd"
	k=$(KSRC=$r "$TOP/scripts/kbuild.sh" --key arm64)
	echo "$c0 $k" >"$out/.built-commit"
	(
		CHECK=$r
		# shellcheck source=builds.sh
		. "$TOP/scripts/builds.sh"
		expect() { # FILE WANT(0 unaffected, 1 affected)
			local got=0
			echo two >"$r/$1"
			git_det -C "$r" commit -q -am "$1"
			c=$(git -C "$r" rev-parse HEAD)
			unaffected "$out" "$c0" "$c" || got=1
			git_det -C "$r" reset -q --hard "$c0"
			[ "$got" = "$2" ] || { echo "  $1: unaffected() said $got, want $2" >&2; return 1; }
		}
		expect Documentation/x.rst 0 && expect drivers/b.c 0 && expect include/n.h 0 &&
			expect drivers/a.c 1 && expect drivers/Makefile 1 && expect scripts/s.c 1 || exit 1
		# not compiled: answered, remembered, the directory moves on
		echo two >"$r/drivers/b.c"
		git_det -C "$r" commit -q -am b
		c=$(git -C "$r" rev-parse HEAD)
		build_check arm64 "$c" && [ "$BUILD_HOW" = "nothing it compiles changed" ] &&
			[ "$(cat "$out/.built-commit")" = "$c $k" ] || { echo "  unaffected commit not answered" >&2; exit 1; }
		# the same tree again (new commit id, same tree): built before
		git_det -C "$r" commit -q --amend -m b2
		build_check arm64 HEAD && [ "$BUILD_HOW" = "built before" ] ||
			{ echo "  remembered tree not answered" >&2; exit 1; }
		# a compiled file changed: built (this is no kernel tree, so the
		# build fails), and not remembered
		echo two >"$r/drivers/a.c"
		git_det -C "$r" commit -q -am a
		if build_check arm64 HEAD >/dev/null 2>&1; then
			echo "  affected commit passed without a build" >&2
			exit 1
		fi
		! grep -q "$(git -C "$r" rev-parse 'HEAD^{tree}')" "$out/.built-trees" ||
			{ echo "  failed build remembered" >&2; exit 1; }
	) || rc=1
	return $rc
}

# A seeded output directory (the modules build's) starts as a copy of the
# other configuration's with the objects' modification times (so kbuild
# rebuilds only what differs) and without its records (it holds nothing of
# its own configuration yet); an existing directory, or a seed that never
# configured, is left alone.
seeded_out() {
	local r=$tmp/so from to
	mkdir -p "$r"
	from=$r/.out-arm64
	to=$r/.out-arm64-modules
	(
		CHECK=$r
		# shellcheck source=builds.sh
		. "$TOP/scripts/builds.sh"
		mkdir -p "$from/drivers"
		seed_out arm64-modules "$to"
		[ ! -e "$to" ] || { echo "  seeded from a directory without .config" >&2; exit 1; }
		echo obj >"$from/drivers/a.o"
		touch -d '2001-01-01 00:00:00' "$from/drivers/a.o"
		echo 'CONFIG_X=y' >"$from/.config"
		echo "c k" >"$from/.built-commit"
		echo "t k" >"$from/.built-trees"
		echo k >"$from/.config-key"
		seed_out arm64-modules "$to"
		[ "$(stat -c %Y "$to/drivers/a.o")" = "$(stat -c %Y "$from/drivers/a.o")" ] &&
			[ -f "$to/.config" ] || { echo "  copy lost the objects or their times" >&2; exit 1; }
		[ ! -e "$to/.built-commit" ] && [ ! -e "$to/.built-trees" ] && [ ! -e "$to/.config-key" ] ||
			{ echo "  copy kept the other configuration's records" >&2; exit 1; }
		echo mine >"$to/drivers/a.o"
		seed_out arm64-modules "$to"
		[ "$(cat "$to/drivers/a.o")" = mine ] || { echo "  existing directory overwritten" >&2; exit 1; }
		seed_out arm64 "$from.none"
		[ ! -e "$from.none" ] || { echo "  a configuration without a seed was seeded" >&2; exit 1; }
	)
}

# Builds run together really run at once, under one hold of the build
# lock (the builds inside, which take the lock themselves, do not wait for
# it) that lasts until the last of them is waited for, and each reports
# its own status, log and BUILD_HOW.
together_runs() {
	local d=$tmp/tg
	mkdir -p "$d/logs"
	(
		# (make check runs this holding its own lock)
		unset BUILD_LOCK_HELD
		LOGS=$d/logs
		CACHE=$d/cache
		# shellcheck source=builds.sh
		. "$TOP/scripts/builds.sh"
		# each side starts, then waits (10 s at most) for the other to
		# have started: run one after the other, both would fail
		side() { # ME OTHER RC
			touch "$d/$1"
			for _ in $(seq 100); do
				[ -e "$d/$2" ] && break
				sleep 0.1
			done
			[ -e "$d/$2" ] || { echo "$2 never started while $1 ran"; return 1; }
			with_build_lock echo "locked build inside $1"
			BUILD_HOW="how $1"
			return "$3"
		}
		together_start
		together a a.log side a b 0
		together b b.log side b a 3
		together c c.log side c go 0
		together_wait a b
		# c still runs: the lock is still held
		if flock -n "$CACHE/build.lock" true; then
			echo "  build lock released while c ran" >&2
			exit 1
		fi
		touch "$d/go"
		together_wait
		[ "$(together_result c | cut -d' ' -f1)" = PASS ] || { echo "  c: $(together_result c)" >&2; exit 1; }
		read -r st secs how < <(together_result a)
		[ "$st $how" = "PASS how a" ] || { echo "  a: $st $secs $how" >&2; exit 1; }
		[ "$(together_result b | cut -d' ' -f1)" = FAIL ] || { echo "  b's failure not reported" >&2; exit 1; }
		grep -q "locked build inside b" "$d/logs/b.log" || { echo "  b's log lost" >&2; exit 1; }
		# the lock is free again
		flock -n "$CACHE/build.lock" true || { echo "  build lock still held" >&2; exit 1; }
	) || return 1
}

# The scenarios' boot slots: whatever order the boots' threads arrive in,
# and whichever of them skip, every boot gets a slot, never more than the
# slots at once, and with one slot they go lowest rank first.
scenario_slots() {
	python3 - "$TOP/scripts/scenarios.py" <<'PY' >&2
import importlib.util, random, sys, threading, time
spec = importlib.util.spec_from_file_location("scenarios", sys.argv[1])
sc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sc)
rnd = random.Random(1)
for trial in range(150):
    n, jobs = rnd.randint(1, 8), rnd.randint(1, 3)
    ranks = [(rnd.randint(0, 2), i) for i in range(n)]
    skip = set(rnd.sample(range(n), rnd.randint(0, n - 1)))
    delay = [rnd.random() * 0.01 for _ in range(n)]
    slots = sc.Slots(jobs, ranks)
    order, held, most = [], [0], [0]
    lock = threading.Lock()

    def boot(i):
        time.sleep(delay[i])
        if i not in skip:
            with slots.taken(ranks[i]):
                with lock:
                    order.append(ranks[i])
                    held[0] += 1
                    most[0] = max(most[0], held[0])
                time.sleep(0.002)
                with lock:
                    held[0] -= 1
        slots.leave(ranks[i])
    threads = [threading.Thread(target=boot, args=(i,), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    want = sorted(r for i, r in enumerate(ranks) if i not in skip)
    if any(t.is_alive() for t in threads):
        sys.exit("  trial %d: a boot never got a slot (%d of %d ran)"
                 % (trial, len(order), len(want)))
    if sorted(order) != want or most[0] > jobs:
        sys.exit("  trial %d: ran %s, %d at once" % (trial, order, most[0]))
    if jobs == 1 and order != want:
        sys.exit("  trial %d: one slot, order %s" % (trial, order))
PY
}

# The debug boot's KUnit results files, joined for kunit.py parse: every
# case of every suite counts, a failing one fails, a file cut short (no
# closing line of its suite) fails its suite, and no file at all is no
# pass.
debugfs_results() {
	local log=$tmp/boot.ktap.log out
	# (result(), as check.sh has it, into a file)
	result() { echo "$1 $2" >>"$tmp/kt.results"; }
	local LOGS=$tmp
	# shellcheck source=kunit.sh
	. "$TOP/scripts/kunit.sh"
	sed 's/^/    # kunit-results: /' >"$log" <<'KTAP'
KTAP version 1
1..1
    KTAP version 1
    # Subtest: one
    1..2
    ok 1 a
    not ok 2 b
not ok 1 one
KTAP version 1
1..1
    KTAP version 1
    # Subtest: two
    1..1
    ok 1 c
ok 1 two
KTAP version 1
1..1
    KTAP version 1
    # Subtest: three
    1..2
    ok 1 d
KTAP
	: >"$tmp/kt.results"
	debugfs_kunit "$tree" "$TOP/configs/kunit/.kunitconfig" "$TOP/configs/kunit/.kunitconfig" \
		"$log" kt >/dev/null 2>&1
	out=$(sort "$tmp/kt.results" | tr '\n' ';')
	case "$out" in
	"FAIL kt: one.b;FAIL kt: three"*) ;;
	*)
		echo "  joined results: $out" >&2
		return 1
		;;
	esac
	grep -q '^PASS kt: one.a$' "$tmp/kt.results" && grep -q '^PASS kt: two.c$' "$tmp/kt.results" || {
		echo "  passing cases lost: $out" >&2
		return 1
	}
	: >"$tmp/kt.results"
	: >"$log"
	debugfs_kunit "$tree" "$TOP/configs/kunit/.kunitconfig" "$TOP/configs/kunit/.kunitconfig" \
		"$log" kt >/dev/null 2>&1
	if grep -q '^PASS' "$tmp/kt.results" || ! grep -q '^FAIL' "$tmp/kt.results"; then
		echo "  no results file, yet: $(tr '\n' ';' <"$tmp/kt.results")" >&2
		return 1
	fi
}

# recipients_cc exports the whole series, most of this script's time: it
# runs beside the other tests (none changes the check tree, whose export
# refuses a dirty tree).
t "export adds recipients.txt as Cc, once each, after get_maintainer.pl" recipients_cc \
	>"$tmp/rcpt.result" 2>"$tmp/rcpt.err" &
rcpt_pid=$!
t "checkpatch stage fails on a finding" checkpatch_catches
t "tampered download rejected" tampered_deb
t "base commit id is the pinned one" base_commit_pinned
t "missing tool is named" missing_tool_named
t "build memory skips only unchanged builds" build_memory
t "seeded output directory: a copy with its times, without records" seeded_out
t "builds run together run at once, each with its own result" together_runs
t "scenario boots all get a slot, lowest rank first" scenario_slots
t "debug boot's KUnit results: every case counts, a cut file fails" debugfs_results
t "apply refuses a dirty tree" dirty_tree_refused
t "patch that does not apply is named" bad_patch_named
wait "$rcpt_pid" || true
cat "$tmp/rcpt.err" >&2
if [ -s "$tmp/rcpt.result" ]; then
	cat "$tmp/rcpt.result"
else
	echo "FAIL export adds recipients.txt as Cc, once each, after get_maintainer.pl"
fi
