#!/usr/bin/env bash
# Static analysis of what the series touches, base vs series:
#   - scripts/kernel-doc -none on every touched .c/.h
#   - tools/docs/documentation-file-ref-check (broken Documentation/ refs)
#   - sparse (C=2) and W=1 on the touched objects, per build config: for
#     arm64 the modules configuration, which compiles every touched file
#     (make check builds it just before), for x86_64 the x86_64 one
# A finding counts against the series only if the base does not have it
# already (compared without line numbers).  Prints "PASS name" / "FAIL
# name" lines on stdout, figures and findings on stderr.
#   scripts/static.sh CHECK_TREE HEAD_COMMIT
. "$(dirname "$0")/lib.sh"

tree=${1:?usage: static.sh TREE HEAD}
head=${2:?usage: static.sh TREE HEAD}
base=$(git -C "$tree" rev-parse "$BASE_TAG")
tmp=$(mktemp -d)
LOGS_DIR=$BUILD/logs
mkdir -p "$LOGS_DIR"
trap 'rm -rf "$tmp"' EXIT

# The same trees, build configurations, checker and script give the same
# findings: the outcome of an identical earlier run whose checks all
# passed is shown again instead of being redone.  Nothing in the key or the
# findings depends on where the clone is: they are kept in the cache.
memo=$CACHE/static-memo/$({
	git -C "$tree" rev-parse "$base^{tree}" "$head^{tree}"
	for n in arm64-modules x86_64; do KSRC=$tree "$TOP/scripts/kbuild.sh" --key "$n"; done
	cat "$0" "$TOP/scripts/sparse-build.sh"
} | sha256sum | cut -c1-24)
if [ -f "$memo.out" ] && [ -f "$memo.err" ]; then
	cat "$memo.err" >&2
	echo "  (the same findings as an identical run of $(date -r "$memo.out" '+%F %T'))" >&2
	cat "$memo.out"
	exit 0
fi

static_main() {
mapfile -t touched < <(git -C "$tree" diff --name-only --diff-filter=AM "$base" "$head")
mapfile -t csrc < <(printf '%s\n' "${touched[@]}" | grep -E '\.[ch]$' || true)
mapfile -t cfiles < <(printf '%s\n' "${touched[@]}" | grep -E '\.c$' || true)

# new_findings NAME BASEFILE HEADFILE: the head's findings the base lacks.
# Findings are compared without line numbers, counted.  One exception: a
# finding on a line the series did not change (per $tmp/changed, the
# head's "file:line" of every added line) whose text the base reports too
# is the base's, however often it shows: sparse reports a problem of an
# unchanged inline function once per caller, and a new caller is not a
# new problem.
new_findings() {
	python3 - "$2" "$3" "$tmp/changed" <<'PY'
import collections, re, sys
def key(l):
    k = re.sub(r":\d+(:\d+)?", "", l).replace("../", "")
    return re.sub(r"^Warning: (\S+) \d+ ", r"Warning: \1 ", k)
def where(l):
    m = re.search(r"([\w./+-]+\.(?:c|h|rst|txt)):(\d+)", l)
    if not m:
        m = re.search(r"([\w./+-]+\.(?:c|h|rst|txt)) (\d+) ", l)
    return (m.group(1).replace("../", ""), int(m.group(2))) if m else None
def load(p):
    c = collections.Counter()
    for l in open(p, errors="replace"):
        l = l.strip()
        if l:
            c[key(l)] += 1
    return c
changed = set()
for l in open(sys.argv[3]):
    f, _, n = l.strip().rpartition(":")
    changed.add((f, int(n)))
b = load(sys.argv[1])
h = collections.Counter()
for l in open(sys.argv[2], errors="replace"):
    l = l.strip()
    if not l:
        continue
    w = where(l)
    if w and w not in changed and key(l) in b:
        continue
    h[key(l)] += 1
total = sum(load(sys.argv[2]).values())
new = h - b
print(f"{sum(b.values())} {total} {sum(new.values())}")
for k, n in new.items():
    print(f"{n}x {k}")
PY
}
# the head's added lines, "file:line" (for new_findings)
git -C "$tree" diff -U0 "$base" "$head" | awk '
/^\+\+\+ b\// { f = substr($0, 7); next }
/^@@/ {
	split($3, a, ",")
	l = substr(a[1], 2)
	n = (a[2] == "" ? 1 : a[2])
	for (i = 0; i < n; i++)
		print f ":" (l + i)
}' >"$tmp/changed"

report() { # NAME BASEFILE HEADFILE
	local out first
	out=$(new_findings "$1" "$2" "$3")
	first=$(head -n1 <<<"$out")
	set -- "$1" $first
	echo "  $1: base $2, series $3, new $4" >&2
	if [ "$4" -eq 0 ]; then
		echo "PASS $1: no new findings (base $2, series $3)"
	else
		tail -n +2 <<<"$out" | head -n 20 | sed 's/^/    | /' >&2
		echo "FAIL $1: $4 new findings"
	fi
}

at() { git -C "$tree" checkout -q --detach "$1"; }

# side_memo REV WHAT...: where the findings of one side (base or head) are
# kept: they depend on that side's tree (or on SIDE_INPUTS, see
# inputs_digest, when set), on what was asked (WHAT: the files, the build
# key) and on this script.  The base side never changes, so after the
# first run only the head's are made.
side_memo() {
	local rev=$1
	shift
	echo "$CACHE/static-memo/side-$({
		if [ -n "${SIDE_INPUTS:-}" ]; then
			echo "inputs $SIDE_INPUTS"
		else
			git -C "$tree" rev-parse "${!rev}^{tree}"
		fi
		printf '%s\n' "$@"
		cat "$0"
	} | sha256sum | cut -c1-24)"
}

# inputs_digest OUT OBJ...: a digest of what compiling OBJ... in OUT reads,
# taken from the checked-out tree: the content of every source and header
# kbuild's .cmd files list for them (generated ones included), and the
# tree's build files (Makefiles, Kbuild, Kconfig, scripts/), which decide
# the configuration and the commands.  A change of the series that no
# such file sees (another architecture's driver, say) leaves it, and the
# findings, as they were.  Fails when an object has no .cmd file: then
# the whole tree keys the findings.
inputs_digest() {
	local out=$1
	shift
	{
		(cd "$out" && python3 - "$@" <<'PY'
import hashlib, os, sys
paths = set()
for o in sys.argv[1:]:
    cmd = os.path.join(os.path.dirname(o), "." + os.path.basename(o) + ".cmd")
    if not os.path.isfile(cmd):
        sys.exit(1)
    for line in open(cmd):
        line = line.strip().rstrip("\\").strip()
        if line.startswith("source_"):
            paths.add(line.split(":=", 1)[1].strip())
        elif line and ":" not in line and not line.startswith("$("):
            paths.add(line)
for p in sorted(paths):
    try:
        h = hashlib.sha256(open(p, "rb").read()).hexdigest()
    except OSError:
        h = "missing"
    print(p, h)
PY
		) || return 1
		git -C "$tree" ls-files -s | grep -E '(Makefile|Kbuild|Kconfig)[^/]*$|	scripts/'
	} | sha256sum | cut -c1-24
}
mkdir -p "$CACHE/static-memo"

# --- kernel-doc and documentation refs ----------------------------------------
for rev in base head; do
	m=$(side_memo "$rev" docs "${csrc[@]}")
	if [ -f "$m.kdoc" ] && [ -f "$m.docref" ]; then
		cp "$m.kdoc" "$tmp/kdoc.$rev"
		cp "$m.docref" "$tmp/docref.$rev"
		continue
	fi
	at "${!rev}"
	: >"$tmp/kdoc.$rev"
	for f in "${csrc[@]}"; do
		[ -f "$tree/$f" ] || continue
		(cd "$tree" && scripts/kernel-doc -none "$f" >>"$tmp/kdoc.$rev" 2>&1) || true
	done
	(cd "$tree" && tools/docs/documentation-file-ref-check 2>&1 || true) >"$tmp/docref.$rev"
	cp "$tmp/kdoc.$rev" "$m.kdoc"
	cp "$tmp/docref.$rev" "$m.docref"
done
report "kernel-doc -none on ${#csrc[@]} touched files" "$tmp/kdoc.base" "$tmp/kdoc.head"
report "documentation-file-ref-check" "$tmp/docref.base" "$tmp/docref.head"

# --- sparse + W=1 -----------------------------------------------------------------
sparse=$("$TOP/scripts/sparse-build.sh") || {
	echo "FAIL sparse: not available"
	exit 0
}
for name in arm64-modules x86_64; do
	out=$(KSRC=$tree "$TOP/scripts/kbuild.sh" --out "$name")
	# The directory holds the base's objects for a while: its record of
	# what it holds comes back only once the head's are in again.
	stamp=$(cat "$out/.built-commit" 2>/dev/null || true)
	rm -f "$out/.built-commit"
	objs=()
	for f in "${cfiles[@]}"; do
		[ -f "$out/${f%.c}.o" ] && objs+=("${f%.c}.o")
	done
	if [ ${#objs[@]} -eq 0 ]; then
		continue
	fi
	# (the head's inputs, read while the head is checked out)
	at "$head"
	head_inputs=$(inputs_digest "$out" "${objs[@]}") || head_inputs=
	for rev in base head; do
		SIDE_INPUTS=
		[ "$rev" = head ] && SIDE_INPUTS=$head_inputs
		m=$(side_memo "$rev" sparse "$name" "$(KSRC=$tree "$TOP/scripts/kbuild.sh" --key "$name")" \
			"$sparse" "${objs[@]}" -- "${cfiles[@]}" "${csrc[@]}")
		if [ -f "$m.sparse" ]; then
			cp "$m.sparse" "$tmp/sparse.$name.$rev"
			continue
		fi
		at "${!rev}"
		have=()
		for o in "${objs[@]}"; do
			[ -f "$tree/${o%.o}.c" ] && have+=("$o")
		done
		: >"$tmp/sparse.$name.$rev"
		[ ${#have[@]} -gt 0 ] || continue
		KSRC=$tree "$TOP/scripts/kbuild.sh" "$name" C=2 CHECK="$sparse" W=1 "${have[@]}" \
			>"$tmp/build.$name.$rev" 2>&1 || true
		# kbuild silently skips the checker when it is unusable: that
		# must fail, not pass as "no findings".
		if grep -q "not available or not up to date" "$tmp/build.$name.$rev"; then
			echo "FAIL sparse ($name): kbuild rejected $sparse"
			continue 2
		fi
		cp "$tmp/build.$name.$rev" "$LOGS_DIR/static-build.$name.$rev.log" 2>/dev/null || true
		# Keep the diagnostics about the touched files themselves.
		grep -E '(warning|error):' "$tmp/build.$name.$rev" |
			grep -F -f <(printf '%s\n' "${cfiles[@]}" "${csrc[@]}") \
			>"$tmp/sparse.$name.$rev" || true
		cp "$tmp/sparse.$name.$rev" "$m.sparse"
	done
	if [ -n "$stamp" ] && [ "$(git -C "$tree" rev-parse HEAD)" = "${stamp%% *}" ] &&
		[ "$(KSRC=$tree "$TOP/scripts/kbuild.sh" --key "$name")" = "${stamp#* }" ]; then
		echo "$stamp" >"$out/.built-commit"
	fi
	report "sparse C=2 + W=1 ($name, ${#objs[@]} objects)" "$tmp/sparse.$name.base" "$tmp/sparse.$name.head"
done
at "$head"
}

# (in a subshell of its own, so that errexit stays in force there)
static_main >"$tmp/out" 2>"$tmp/err" &
wait $! || echo "FAIL static analysis: stopped early (see $LOGS_DIR/static.log)" >>"$tmp/out"
cat "$tmp/err" >&2
cat "$tmp/out"
if [ -s "$tmp/out" ] && ! grep -qv '^PASS ' "$tmp/out"; then
	mkdir -p "$(dirname "$memo")"
	cp "$tmp/err" "$memo.err"
	cp "$tmp/out" "$memo.out"
fi
