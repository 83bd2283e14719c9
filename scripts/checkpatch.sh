# shellcheck shell=bash
# run_checkpatch TREE PATCH: the tree's checkpatch.pl --strict on one patch
# file.  Prints what it finds; fails on any error, warning or check.
#
# An exception is allowed only with a written reason, one per line in
# checkpatch-exceptions.txt:   <patch file name> <CHECKPATCH_TYPE> <reason>
run_checkpatch() {
	local tree=$1 patch=$2 name ignore=() type reason f
	name=$(basename "$patch")
	f=${CHECKPATCH_EXCEPTIONS:-$TOP/checkpatch-exceptions.txt}
	if [ -f "$f" ]; then
		while read -r p type reason; do
			case "$p" in '' | '#'*) continue ;; esac
			[ "$p" = "$name" ] || continue
			[ -n "$reason" ] || {
				echo "checkpatch-exceptions.txt: $p $type has no reason"
				return 1
			}
			ignore+=(--ignore "$type")
		done <"$f"
	fi
	# A clean verdict is kept: the same patch, exceptions and checkpatch
	# (the tree's scripts/ and LICENSES/, as committed) are clean again.
	# In the cache, not the clone: the key names everything the verdict
	# depends on, wherever the clone is.
	local memo
	memo=$CACHE/checkpatch-memo/$({
		cat "$patch"
		echo "${ignore[*]}"
		git -C "$tree" rev-parse HEAD:scripts HEAD:LICENSES 2>/dev/null || date +%s%N
		git -C "$tree" status --porcelain -- scripts LICENSES 2>/dev/null
	} | sha256sum | cut -c1-24)
	[ ! -f "$memo" ] || return 0
	# checkpatch runs scripts/spdxcheck.py with "python3", which needs
	# python3-ply and python3-git: Debian's python3, whatever else is first
	# in PATH.  Any output or a non-zero exit is a failure.
	local out rc=0
	out=$(cd "$tree" && PATH=/usr/bin:$PATH ./scripts/checkpatch.pl --strict --quiet --no-summary \
		--show-types "${ignore[@]}" "$patch" 2>&1) || rc=$?
	if [ -n "$out" ] || [ "$rc" -ne 0 ]; then
		[ -n "$out" ] && echo "$out"
		echo "checkpatch.pl exit status $rc"
		return 1
	fi
	mkdir -p "${memo%/*}"
	: >"$memo"
	return 0
}
