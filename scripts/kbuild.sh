#!/usr/bin/env bash
# Configure and build a kernel out of tree.
#
#   scripts/kbuild.sh NAME [make targets/vars...]
#
# NAME selects the arch and the fragments (configs/):
#   arm64        arm64.config                        -> Image
#   arm64-debug  arm64.config + arm64-debug.config + size.config -> Image
#   arm64-kunit  arm64.config + kunit/.kunitconfig + size.config -> Image
#                (the test kernel with the KUnit suites, run by kunit.py
#                exec)
#   arm64-modules arm64.config + arm64-modules.config -> Image + modules
#                (ARM_SMMU_V3 and the KUnit suites as modules), in a
#                directory of its own: sharing arm64's would switch the
#                .config there twice per make check, and each switch
#                rebuilds what the changed options reach and relinks
#   x86_64       x86_64.config                       -> bzImage (with the
#                core KUnit suite, run by kunit.py exec)
#   x86_64-noiommu x86_64-noiommu.config + size.config -> bzImage
#   scripts/kbuild.sh --frags NAME   prints NAME's fragment paths and exits
#   scripts/kbuild.sh --out NAME     prints NAME's output directory and exits
#   scripts/kbuild.sh --key NAME     prints a hash of what NAME's build depends
#                                    on besides the tree: arch, fragments,
#                                    compiler, linker, make and this
#                                    script; exits
# The .config is made with the tree's merge_config.sh over allnoconfig and
# only replaced when it changes, so re-runs are incremental.  Output goes to
# $KSRC/.out-NAME unless KOUT is set: a direct subdirectory of the source
# tree makes kbuild use relative source paths, so ccache hits are shared by
# every tree (worktrees, re-unpacked bases) that has the same file.  The
# kernel's own .gitignore ignores it.  Builds take the workspace build lock
# (never two kernel builds of different callers at once on this machine)
# unless their caller holds it (BUILD_LOCK_HELD, see lib.sh).
. "$(dirname "$0")/lib.sh"

query=
case "${1:-}" in
--frags|--out|--key) query=$1; shift ;;
esac
name=${1:?usage: kbuild.sh [--frags|--out|--key] NAME [make args...]}
shift
case "$name" in
arm64) arch=arm64 frags="arm64.config" target=Image ;;
arm64-debug) arch=arm64 frags="arm64.config arm64-debug.config size.config" target=Image ;;
arm64-kunit) arch=arm64 frags="arm64.config kunit/.kunitconfig size.config" target=Image ;;
arm64-modules) arch=arm64 frags="arm64.config arm64-modules.config" target="Image modules" ;;
x86_64) arch=x86_64 frags="x86_64.config" target=bzImage ;;
x86_64-noiommu) arch=x86_64 frags="x86_64-noiommu.config size.config" target=bzImage ;;
*) die "unknown build '$name'" ;;
esac
case "$arch" in
arm64) cross=aarch64-linux-gnu- ;;
x86_64) cross= ;;
esac
out=${KOUT:-$KSRC/.out-$name}
case "$query" in
--frags)
	for f in $frags; do echo "$TOP/configs/$f"; done
	exit 0
	;;
--out)
	echo "$out"
	exit 0
	;;
--key)
	{
		echo "$arch $target"
		for f in $frags; do cat "$TOP/configs/$f"; done
		# (sed reads to the end: head would let a tool die of SIGPIPE
		# at random, and pipefail would then cut the key short)
		"${cross}gcc" --version | sed -n 1p
		"${cross}ld" --version | sed -n 1p
		make --version | sed -n 1p
		cat "$0"
	} | sha256sum | cut -c1-16
	exit 0
	;;
esac

[ -f "$KSRC/Makefile" ] || die "no kernel tree at $KSRC: run 'make base' first"
need "${cross}gcc" ccache make flex bison bc

mkdir -p "$out"
kmake() {
	make -s -C "$KSRC" O="$out" ARCH="$arch" CROSS_COMPILE="$cross" \
		CC="ccache ${cross}gcc" HOSTCC="ccache gcc" -j"$JOBS" "$@"
}

# What the merged .config depends on: the fragments, the arch and the
# tree's Kconfig files and tools (as committed; "" when some are modified,
# then the .config is always made again).
config_key() {
	local f
	if [ -n "$(git -C "$KSRC" status --porcelain -- '*Kconfig*' scripts/kconfig 2>/dev/null)" ]; then
		return 0
	fi
	{
		echo "$arch $frags"
		for f in $frags; do cat "$TOP/configs/$f"; done
		git -C "$KSRC" ls-files -s -- '*Kconfig*' scripts/kconfig 2>/dev/null || echo "not git: $(date +%s%N)"
	} | sha256sum | cut -c1-32
}

configure() {
	local tmp paths=() f key
	key=$(config_key)
	# merge_config.sh costs a make run and a kconfig tool build: skip it
	# when nothing it reads changed since the .config was made
	if [ -n "$key" ] && [ -f "$out/.config" ] && [ "$(cat "$out/.config-key" 2>/dev/null)" = "$key" ]; then
		return 0
	fi
	rm -f "$out/.config-key"
	# The scratch directory is kept: its kconfig tools are built once
	tmp=$out/.merge
	mkdir -p "$tmp"
	rm -f "$tmp/.config"
	for f in $frags; do paths+=("$TOP/configs/$f"); done
	(cd "$KSRC" && ARCH=$arch CROSS_COMPILE=$cross CC="${cross}gcc" \
		scripts/kconfig/merge_config.sh -n -O "$tmp" "${paths[@]}") \
		>"$out/merge_config.log" 2>&1 ||
		die "merge_config.sh failed for $name (see $out/merge_config.log)"
	if grep -q "not in final .config\|Value requested" "$out/merge_config.log"; then
		grep -A3 "Value requested\|not in final" "$out/merge_config.log" |
			grep -v '^--$' | sed 's/^/  kconfig: /' >&2 || true
	fi
	if ! cmp -s "$tmp/.config" "$out/.config"; then
		# What the directory held is no longer what it will build
		rm -f "$out/.built-commit"
		cp "$tmp/.config" "$out/.config"
		info "$name: new .config"
	fi
	[ -z "$key" ] || echo "$key" >"$out/.config-key"
}

with_lock_body() {
	configure
	if [ $# -eq 0 ]; then
		# shellcheck disable=SC2086 # "Image modules": two targets
		kmake $target
	else
		kmake "$@"
	fi
}


build_lock_take "$name"
with_lock_body "$@"
