# shellcheck shell=bash
# Kernel builds of the check tree, and what make check remembers of them.
# Sourced (after lib.sh) by check.sh and selftest.sh, never executed.
#
# Each output directory carries two records:
#   .built-commit  "COMMIT KEY": the commit (and build key, see kbuild.sh
#                  --key) the directory's objects and image are of, written
#                  only after a build that succeeded;
#   .built-trees   "TREE KEY" lines: every tree (git tree id, so a change of
#                  commit message only builds nothing again) that built
#                  with that key, for the per-commit build checks.
# TREE= selects another work tree than $CHECK.

# The key of build NAME: its arch, fragments, toolchain and kbuild.sh.
declare -A BUILD_KEYS=()
build_key() { # NAME
	if [ -z "${BUILD_KEYS[$1]:-}" ]; then
		BUILD_KEYS[$1]=$("$TOP/scripts/kbuild.sh" --key "$1")
	fi
	echo "${BUILD_KEYS[$1]}"
}

build_out() { # NAME
	KSRC=${TREE:-$CHECK} "$TOP/scripts/kbuild.sh" --out "$1"
}

# A configuration that differs from another in a few options starts its
# output directory as a copy of the other's, modification times kept
# (SEED_OF: NAME -> the other): kbuild then rebuilds what those options
# reach and what changed since, not every object: from an empty
# directory every object costs its preprocessing even when ccache has it
# (measured here: 747 CPU s for the modules configuration).  The copy's
# records are dropped: it holds nothing of NAME yet.
declare -A SEED_OF=([arm64-modules]=arm64)
seed_out() { # NAME OUT
	local from
	[ -n "${SEED_OF[$1]:-}" ] && [ ! -e "$2" ] || return 0
	from=$(build_out "${SEED_OF[$1]}")
	[ -f "$from/.config" ] || return 0
	rm -rf "$2.seed"
	cp -a "$from" "$2.seed" &&
		rm -f "$2.seed/.built-commit" "$2.seed/.built-trees" "$2.seed/.config-key" &&
		mv "$2.seed" "$2"
}

# build_at NAME COMMIT: the output directory of NAME holds COMMIT's build,
# for what uses the build (images, KUnit, static analysis).  Built unless
# the directory says it holds it already.
build_at() {
	local name=$1 commit tree=${TREE:-$CHECK} out key
	commit=$(git -C "$tree" rev-parse "$2")
	out=$(build_out "$name")
	key="$commit $(build_key "$name")"
	if [ "$(cat "$out/.built-commit" 2>/dev/null)" = "$key" ]; then
		return 0
	fi
	# (builds of one commit at once share the checkout made before them)
	[ "$(git -C "$tree" rev-parse HEAD)" = "$commit" ] ||
		git -C "$tree" checkout -q --detach "$commit"
	rm -f "$out/.built-commit"
	seed_out "$name" "$out"
	KSRC=$tree "$TOP/scripts/kbuild.sh" "$name" || return 1
	mkdir -p "$out"
	echo "$key" >"$out/.built-commit"
	echo "$(git -C "$tree" rev-parse "$commit^{tree}") ${key#* }" >>"$out/.built-trees"
}

# unaffected OUT FROM TO: no file that differs between commits FROM and TO
# is one that the build in OUT reads.  Kbuild lists every source and header
# a target was made from in the target's .cmd file; a file it reads without
# listing it there (Makefiles, Kconfig, scripts, tools) or of any other
# kind counts as read.
unaffected() {
	local out=$1 from=$2 to=$3 tree=${TREE:-$CHECK} f
	[ -d "$out" ] || return 1
	while read -r f; do
		case "$f" in
		MAINTAINERS | Documentation/*) continue ;;
		scripts/* | tools/* | *Makefile* | *Kbuild* | *Kconfig*) return 1 ;;
		*.c | *.h) ;;
		*) return 1 ;;
		esac
		if grep -rqF --include='.*.cmd' -- "$f" "$out"; then
			return 1
		fi
	done < <(git -C "$tree" diff --name-only "$from" "$to")
}

# built_before NAME COMMIT: COMMIT's tree built for NAME with its key
# (its per-commit build check is answered without a build or a checkout).
built_before() {
	local tree=${TREE:-$CHECK} treeid
	treeid=$(git -C "$tree" rev-parse "$2^{tree}")
	grep -qxF "$treeid $(build_key "$1")" "$(build_out "$1")/.built-trees" 2>/dev/null
}

# build_check NAME COMMIT: does COMMIT build for NAME?  Built, unless its
# tree built before with the same key, or nothing the directory's last
# build read differs from COMMIT (its objects would come out the same).
# BUILD_HOW says how it was answered when not by a build.
BUILD_HOW=
build_check() {
	local name=$1 commit tree=${TREE:-$CHECK} out key treeid last
	BUILD_HOW=
	commit=$(git -C "$tree" rev-parse "$2")
	out=$(build_out "$name")
	key=$(build_key "$name")
	treeid=$(git -C "$tree" rev-parse "$commit^{tree}")
	if built_before "$name" "$commit"; then
		BUILD_HOW="built before"
		return 0
	fi
	last=$(cat "$out/.built-commit" 2>/dev/null || true)
	if [ "${last#* }" = "$key" ] && unaffected "$out" "${last%% *}" "$commit"; then
		echo "$commit $key" >"$out/.built-commit"
		echo "$treeid $key" >>"$out/.built-trees"
		BUILD_HOW="nothing it compiles changed"
		return 0
	fi
	build_at "$name" "$commit"
}

# image_of NAME COMMIT DIR: DIR/Image is COMMIT's kernel image of NAME and
# DIR/.config its configuration (what kunit.py exec needs to run it after
# the output directory built something else); DIR/.key says which, so an
# unchanged one is not built again (BUILD_HOW).
image_key() { # NAME COMMIT
	echo "$(git -C "${TREE:-$CHECK}" rev-parse "$2^{tree}") $(build_key "$1")"
}
# image_current NAME COMMIT DIR: DIR holds COMMIT's image of NAME already
image_current() {
	[ -f "$3/Image" ] && [ -f "$3/.config" ] &&
		[ "$(cat "$3/.key" 2>/dev/null)" = "$(image_key "$1" "$2")" ]
}
image_of() {
	local name=$1 commit tree=${TREE:-$CHECK} dir=$3 key out
	BUILD_HOW=
	commit=$(git -C "$tree" rev-parse "$2")
	key=$(image_key "$name" "$commit")
	if image_current "$name" "$commit" "$dir"; then
		BUILD_HOW="built before"
		return 0
	fi
	rm -f "$dir/Image" "$dir/.config" "$dir/.key"
	build_at "$name" "$commit" || return 1
	out=$(build_out "$name")
	mkdir -p "$dir"
	cp "$out/arch/arm64/boot/Image" "$dir/Image"
	cp "$out/.config" "$dir/.config"
	echo "$key" >"$dir/.key"
}

# Builds at the same time.  A kernel build keeps both cores busy only
# while it compiles; make's start-up and the final links run on one.  Two
# builds at once (each in its own output directory, one checkout when both
# are kernels of one commit) fill each other's serial phases: measured
# here, the cold arm64 and x86_64 base builds took 729 s together against
# 557 s + 660 s one after the other.
#
#   together_start; together NAME LOG CMD...; ...; together_wait [NAME...]
#
# runs each CMD in the background with its output in $LOGS/LOG, under one
# hold of the build lock (the caller's, if it holds it): builds the caller
# runs itself meanwhile do not wait for it either.  together_wait waits for
# the NAMEs (default: all) and releases a lock together_start took once
# none is left.  Then together_result NAME prints
# "STATUS SECONDS HOW" (PASS or FAIL, the wall time, BUILD_HOW), in
# whatever order the caller reports them, and together_cpu NAME its CPU
# seconds.
TOGETHER=
TOGETHER_LOCKED=
declare -A TOGETHER_PIDS=()
together_start() {
	if [ -z "$TOGETHER" ]; then
		TOGETHER=$(mktemp -d)
	fi
	# (a caller that holds the lock already keeps it)
	if [ -z "${BUILD_LOCK_HELD:-}" ]; then
		build_lock_take builds
		TOGETHER_LOCKED=1
	fi
}
together() { # NAME LOG CMD...
	local name=$1 log=$LOGS/$2
	shift 2
	rm -f "$TOGETHER/$name"
	(
		t=$(date +%s)
		st=FAIL
		if "$@" >"$log" 2>&1; then
			st=PASS
		fi
		# the CPU time of the build's processes (times' second line:
		# the children's user and system time)
		times >"$TOGETHER/$name.times"
		echo "$st $(($(date +%s) - t)) ${BUILD_HOW:-}" >"$TOGETHER/$name"
	) &
	TOGETHER_PIDS[$name]=$!
}
together_wait() { # [NAME...]
	local name
	[ $# -gt 0 ] || set -- "${!TOGETHER_PIDS[@]}"
	for name; do
		[ -n "${TOGETHER_PIDS[$name]:-}" ] || continue
		wait "${TOGETHER_PIDS[$name]}" || true
		unset "TOGETHER_PIDS[$name]"
	done
	if [ ${#TOGETHER_PIDS[@]} -eq 0 ] && [ -n "$TOGETHER_LOCKED" ]; then
		TOGETHER_LOCKED=
		build_lock_release
	fi
}
together_result() { # NAME
	cat "$TOGETHER/$1" 2>/dev/null || echo "FAIL 0 "
}
# together_cpu NAME: the CPU seconds NAME's processes used
together_cpu() {
	awk 'NR == 2 {
		s = 0
		for (i = 1; i <= 2; i++) {
			split($i, a, "m")
			s += a[1] * 60 + a[2]
		}
		printf "%d\n", s
	}' "$TOGETHER/$1.times" 2>/dev/null || echo 0
}
