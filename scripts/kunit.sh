# shellcheck shell=bash
# KTAP results -> check results.  Needs result() from check.sh.
#
# run_kunit TREE KUNITCONFIG TAG [ARCH]
#                                  the tree's kunit.py run (configure, build
#                                  with ccache, boot in QEMU) for ARCH
#                                  (default arm64); one result per test case
# exec_kunit TREE OUTDIR KUNITCONFIG TAG
#                                  the tree's kunit.py exec on a kernel that
#                                  kbuild.sh already built in OUTDIR, once
#                                  kunit.py's own config parser agrees that
#                                  OUTDIR/.config has every option of
#                                  KUNITCONFIG; one result per test case
# debugfs_kunit TREE CONFIG KUNITCONFIG LOG TAG
#                                  the results of the suites a boot ran from
#                                  debugfs (the debug boot: its guest passes
#                                  the files on), CONFIG checked as by
#                                  exec_kunit; one result per test case
# parse_ktap TREE TAG KTAPFILE     any KTAP document (the QEMU scenarios),
#                                  parsed by the tree's own KTAP parser
#                                  (kunit.py parse); one result per case

# json_results TAG JSON: one result line per leaf test case of a kunit.py
# JSON report ("TAG: suite.case"); skipped cases are not counted.
json_results() {
	local tag=$1 json=$2 line
	if [ ! -s "$json" ]; then
		result FAIL "$tag: no results"
		return
	fi
	while read -r line; do
		result "${line%% *}" "$tag: ${line#* }"
	done < <(python3 - "$json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
out = []
def walk(g, path):
    for s in g.get("sub_groups", []):
        walk(s, path + [s["name"]])
    for c in g.get("test_cases", []):
        st = c.get("status", "FAIL")
        if st == "SKIP":
            continue
        out.append(("PASS" if st == "PASS" else "FAIL", ".".join(path + [c["name"]])))
walk(d, [])
if not out:
    out.append(("FAIL", "no test case ran"))
for st, n in out:
    print(st, n)
PY
	)
}

run_kunit() {
	local tree=$1 kconf=$2 tag=$3 arch=${4:-arm64} json=$LOGS/$3.json log=$LOGS/$3.log
	local cross=
	[ "$arch" = arm64 ] && cross=aarch64-linux-gnu-
	rm -f "$json"
	if ! (cd "$tree" && with_build_lock python3 tools/testing/kunit/kunit.py run \
		--arch="$arch" ${cross:+--cross_compile=$cross} --jobs="$JOBS" \
		--build_dir=".kunit-$arch" --kunitconfig="$kconf" --timeout=600 \
		--make_options="CC=ccache ${cross}gcc" \
		--json="$json") >"$log" 2>&1; then
		grep -E 'FAILED|not ok|ERROR|[Ee]rror:' "$log" | head -n 20 | sed 's/^/    | /' || true
	fi
	grep -E '^\[..:..:..\] (Testing complete|Elapsed time)' "$log" | sed 's/^/  /' || true
	json_results "$tag" "$json"
}

parse_ktap() {
	local tree=$1 tag=$2 ktap=$3 json=$LOGS/$2.json
	rm -f "$json"
	python3 "$tree/tools/testing/kunit/kunit.py" parse --json="$json" "$ktap" \
		>"$LOGS/$tag.parse.log" 2>&1 || true
	json_results "$tag" "$json"
}

# tcg_only QARCH: a directory with a qemu-system-QARCH that runs the real
# one without the hardware accelerators.  kunit.py asks for KVM first; a
# machine whose /dev/kvm opens but cannot run a guest (seen on a nested
# virtual machine here: no output at all until kunit.py's timeout) would
# fail the suites for the machine's sake.  The suites run under TCG
# everywhere, as arm64 always does on an x86_64 host: the same results
# whatever the host offers.
tcg_only() {
	local dir=$BUILD/tcg-only real
	real=$(command -v "qemu-system-$1") || die "missing qemu-system-$1: run 'make deps'"
	mkdir -p "$dir"
	cat >"$dir/qemu-system-$1.tmp" <<EOF_WRAPPER
#!/bin/bash
# Written by scripts/kunit.sh (tcg_only): $real without -accel kvm/hvf
args=()
while [ \$# -gt 0 ]; do
	if [ "\$1" = -accel ] && [ "\${2:-}" != tcg ]; then
		shift 2
		continue
	fi
	args+=("\$1")
	shift
done
exec $real "\${args[@]}"
EOF_WRAPPER
	chmod +x "$dir/qemu-system-$1.tmp"
	mv "$dir/qemu-system-$1.tmp" "$dir/qemu-system-$1"
	echo "$dir"
}

# kunit_config_ok TREE CONFIG KUNITCONFIG: kunit.py's own config parser
# agrees that CONFIG has every option of KUNITCONFIG; what it lacks on stdout.
kunit_config_ok() {
	python3 - "$1/tools/testing/kunit" "$3" "$2" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import kunit_config
want = kunit_config.parse_file(sys.argv[2])
have = kunit_config.parse_file(sys.argv[3])
if not want.is_subset_of(have):
    for a, b in want.conflicting_options(have):
        print("%s wanted, the build has %s" % (a, b))
    missing = [e for e in want.as_entries()
               if e.value != "n" and e not in have.as_entries()]
    for e in missing:
        print("%s wanted, the build lacks it" % e)
    sys.exit(1)
PY
}

# exec_kunit TREE OUT KUNITCONFIG TAG [ARCH]: run the suites of KUNITCONFIG
# in the kernel built in OUT (ARCH arm64 by default, or x86_64), after
# checking with kunit.py's parser that the kernel has that configuration.
exec_kunit() {
	local tree=$1 out=$2 kconf=$3 tag=$4 arch=${5:-arm64} json=$LOGS/$4.json log=$LOGS/$4.log
	# The workspace's kernels are configured over allnoconfig: the arm64
	# ones have only the GICv3 driver and boot the plain Image, so kunit.py
	# gets QEMU descriptions that say so (configs/kunit/qemu-*.py).  They do
	# not run the suites at boot unless told (kunit.autorun defaults to off
	# there; the debug boots run them from debugfs), so kunit.py exec asks.
	local qconf=$TOP/configs/kunit/qemu-$arch.py qarch=$arch
	[ "$arch" != arm64 ] || qarch=aarch64
	rm -f "$json"
	if ! kunit_config_ok "$tree" "$out/.config" "$kconf" >"$log" 2>&1; then
		sed 's/^/    | /' "$log"
		result FAIL "$tag: the kernel in $out has the KUnit configuration" \
			"$(basename "$kconf")"
		return
	fi
	if ! (cd "$tree" && PATH=$(tcg_only "$qarch"):$PATH python3 tools/testing/kunit/kunit.py exec \
		--build_dir="$out" --kunitconfig="$kconf" --qemu_config="$qconf" \
		--kernel_args=kunit.autorun=1 \
		--timeout=600 --json="$json") >>"$log" 2>&1; then
		grep -E 'FAILED|not ok|ERROR|[Ee]rror:' "$log" | head -n 20 | sed 's/^/    | /' || true
	fi
	grep -E '^\[..:..:..\] (Testing complete|Elapsed time)' "$log" | sed 's/^/  /' || true
	kunit_figures "$out/test.log" "$tag"
	json_results "$tag" "$json"
}

# The figures the suites print (kunit_info(), never asserted): what finding
# the faulty functions of a failed ATC invalidation batch costs, and how long
# the waits took.  Skipped cases are listed too: a case that needs a second
# CPU must not vanish from the totals unseen.
kunit_figures() {
	local raw=$1 tag=$2
	[ -f "$raw" ] || return 0
	# The console log has printk times: dropped, so that the same figure
	# printed by each polling mode of a case shows once
	grep -E '# [a-z0-9_]+: (ATC attribution|failures reported|no verdict|[0-9]+ errors raced)' "$raw" |
		sed -E -e 's/^\[ *[0-9.]+\] *//' -e "s/^ *# /  figure: ($tag) /" | sort -u || true
	grep -E '^(\[ *[0-9.]+\])? *ok [0-9]+ .* # SKIP' "$raw" |
		sed -E -e 's/^\[ *[0-9.]+\] *//' -e 's/^ */  skipped: /' || true
}

# debugfs_kunit TREE CONFIG KUNITCONFIG LOG TAG: the suites' results of a
# boot that ran them from debugfs: the guest's kunit_twice passes each
# suite's first results file on, line by line behind "# kunit-results: ",
# in its KTAP log LOG.  Each file is a KTAP document of one suite; they are
# joined into one (the suites numbered in order) for kunit.py parse.  The
# kernel's CONFIG is checked as exec_kunit does.
debugfs_kunit() {
	local tree=$1 config=$2 kconf=$3 src=$4 tag=$5 log=$LOGS/$5.log doc=$LOGS/$5.ktap
	if ! kunit_config_ok "$tree" "$config" "$kconf" >"$log" 2>&1; then
		sed 's/^/    | /' "$log"
		result FAIL "$tag: the kernel has the KUnit configuration" "$(basename "$kconf")"
		return
	fi
	python3 - "$src" >"$doc" <<'PY'
import re, sys
suites = []
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"# kunit-results: (.*)$", line.rstrip("\r\n"))
    if not m:
        continue
    text = m.group(1)
    if text == "KTAP version 1":        # a results file begins
        suites.append([])
    elif suites:
        suites[-1].append(text)
print("KTAP version 1")
print("1..%d" % len(suites))
for i, lines in enumerate(suites, 1):
    if lines and lines[0] == "1..1":
        lines = lines[1:]
    for t in lines:
        m = re.match(r"(not ok|ok) 1 (.*)", t)
        print("%s %d %s" % (m.group(1), i, m.group(2)) if m else t)
PY
	echo "  $tag: $(grep -c '^\(not \)\?ok ' "$doc") suite(s) from $src"
	kunit_figures "$doc" "$tag"
	parse_ktap "$tree" "$tag" "$doc"
}
