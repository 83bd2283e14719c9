#!/usr/bin/env bash
# Configure and build a kernel out of tree.
#
#   scripts/kbuild.sh NAME [make targets/vars...]
#
# NAME selects the arch and the fragments (configs/):
#   arm64        arm64.config                        -> Image
#   arm64-debug  arm64.config + arm64-debug.config   -> Image
#   x86_64       x86_64.config                       -> bzImage
#   x86_64-noiommu x86_64-noiommu.config             -> bzImage
# The .config is made with the tree's merge_config.sh over allnoconfig and
# only replaced when it changes, so re-runs are incremental.  Output goes to
# $KSRC/.out-NAME unless KOUT is set: a direct subdirectory of the source
# tree makes kbuild use relative source paths, so ccache hits are shared by
# every tree (worktrees, re-unpacked bases) that has the same file.  The
# kernel's own .gitignore ignores it.  Builds take the workspace build lock
# (never two kernel builds at once on this machine).
. "$(dirname "$0")/lib.sh"

name=${1:?usage: kbuild.sh NAME [make args...]}
shift
case "$name" in
arm64) arch=arm64 frags="arm64.config" target=Image ;;
arm64-debug) arch=arm64 frags="arm64.config arm64-debug.config" target=Image ;;
x86_64) arch=x86_64 frags="x86_64.config" target=bzImage ;;
x86_64-noiommu) arch=x86_64 frags="x86_64-noiommu.config" target=bzImage ;;
*) die "unknown build '$name'" ;;
esac
case "$arch" in
arm64) cross=aarch64-linux-gnu- ;;
x86_64) cross= ;;
esac

[ -f "$KSRC/Makefile" ] || die "no kernel tree at $KSRC: run 'make base' first"
need "${cross}gcc" ccache make flex bison bc

out=${KOUT:-$KSRC/.out-$name}
mkdir -p "$out"
kmake() {
	make -s -C "$KSRC" O="$out" ARCH="$arch" CROSS_COMPILE="$cross" \
		CC="ccache ${cross}gcc" HOSTCC="ccache gcc" -j"$JOBS" "$@"
}

configure() {
	local tmp paths=() f
	tmp=$out/.merge
	rm -rf "$tmp"
	mkdir -p "$tmp"
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
		cp "$tmp/.config" "$out/.config"
		info "$name: new .config"
	fi
	rm -rf "$tmp"
}

with_lock_body() {
	configure
	if [ $# -eq 0 ]; then
		kmake "$target"
	else
		kmake "$@"
	fi
}


mkdir -p "$CACHE"
exec 9>"$CACHE/build.lock"
flock 9
with_lock_body "$@"
