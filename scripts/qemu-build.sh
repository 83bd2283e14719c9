#!/usr/bin/env bash
# Fetch, verify, patch and build the QEMU used by the arm64 tests.
#
#   scripts/qemu-build.sh            build if needed; prints the binary path
#   scripts/qemu-build.sh --fetch    only fetch and verify the sources
#   scripts/qemu-build.sh --path     print the binary path if it is built
#                                    (exit 1 otherwise), never build
#   scripts/qemu-build.sh --dev      (re)build whatever is in $BUILD/qemu/src
#                                    as it stands (for working on the
#                                    patches); prints the build-tree binary
#   scripts/qemu-build.sh --export   rewrite qemu/patches/ from the commits
#                                    on top of tag 'base' in $BUILD/qemu/src
#
# Source: Debian's orig tarball of QEMU 10.0.2 (bookworm-backports), fetched
# with apt's tools through a private apt configuration under $BUILD/apt and
# checked against the pinned SHA256.  QEMU 10.0 needs Meson >= 1.5 and the
# +ds tarball has no vendored wheels, so Meson 1.7.0 is taken from the same
# suite as a pinned .deb and unpacked (not installed) into $CACHE.
#
# The result is keyed on the tarball hash, the Meson hash, the patches
# (qemu/patches/series and every patch it lists), the device selection and
# the configure flags: $CACHE/qemu/<key>/qemu-system-aarch64.  A re-run with
# the same key does nothing.  Only qemu-system-aarch64 is built, with the
# devices in qemu/aarch64-devices.mak, no GUI, no docs, no tools; compiles go
# through ccache and take the workspace build lock (unless the caller holds
# it: BUILD_LOCK_HELD, see lib.sh).
#
# Environment: QEMU_FETCH=never (use only the cache), QEMU_MIRROR (default
# http://deb.debian.org/debian).  stdout carries only the binary path.
. "$(dirname "$0")/lib.sh"

QEMU_VERSION=10.0.2
QEMU_SUITE=bookworm-backports
QEMU_SRCPKG_VER='1:10.0.2+ds-2+deb13u1~bpo12+1'
QEMU_TARBALL=qemu_10.0.2+ds.orig.tar.xz
QEMU_SHA256=0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1
MESON_VER='1.7.0-1~bpo12+1'
MESON_DEB='meson_1.7.0-1~bpo12+1_all.deb'
MESON_SHA256=4b86d2f2cb4431d03826fa4b2c3a89508edeb8140509e7e4b285285ec3175bbe

# Bump when the way the tree is prepared or built changes.
PREP_REV=2

MIRROR=${QEMU_MIRROR:-http://deb.debian.org/debian}
QDIR=$TOP/qemu
APTDIR=$BUILD/apt/qemu-$QEMU_SUITE
DLDIR=$CACHE/qemu/dl
WORK=$BUILD/qemu
SRC=$WORK/src
OUT=$WORK/build
MESON_DIR=$CACHE/qemu/meson-$MESON_VER

CONFIGURE_FLAGS=(
	--target-list=aarch64-softmmu
	--without-default-features
	--without-default-devices
	--with-devices-aarch64=iommu-reset
	--enable-fdt=system
	--enable-tcg
	--disable-docs
	--disable-tools
	--disable-download
	--disable-werror
	--disable-install-blobs
	--enable-strip
	# the binary is stripped anyway: no time spent making debug info
	--disable-debug-info
)

# info() of lib.sh prints on stdout; here stdout is for the path only.
log() { info "$@" >&2; }

apt_opts() {
	printf '%s\n' \
		-o "Dir::Etc::SourceList=$APTDIR/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o "Dir::State=$APTDIR/state" \
		-o "Dir::State::status=$APTDIR/state/status" \
		-o "Dir::Cache=$APTDIR/cache" \
		-o Debug::NoLocking=1 \
		-o Acquire::Languages=none \
		-o APT::Sandbox::User=root
}

private_apt() {
	local cmd=$1 opts
	shift
	mapfile -t opts < <(apt_opts)
	"$cmd" "${opts[@]}" "$@"
}

private_apt_update() {
	[ -f "$APTDIR/.updated" ] && return
	mkdir -p "$APTDIR/state/lists/partial" "$APTDIR/cache/archives/partial"
	: >"$APTDIR/state/status"
	{
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $QEMU_SUITE main"
		echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $QEMU_SUITE main"
	} >"$APTDIR/sources.list"
	private_apt apt-get -q update >"$APTDIR/update.log" 2>&1 ||
		die "apt-get update of the private '$QEMU_SUITE' list failed (see $APTDIR/update.log)"
	touch "$APTDIR/.updated"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# fetch_file NAME SHA256 URI-PRINTING-COMMAND...
# Looks NAME up in the output of the command (apt's --print-uris format:
# 'URI' NAME SIZE SHA256:HASH), checks that apt's signed index agrees with
# the pin, downloads it with apt-helper (which verifies the hash) and moves
# it into $DLDIR.  Nothing in $DLDIR changes on any mismatch.
fetch_file() {
	local name=$1 sha=$2 line uri idx_sha tmp
	shift 2
	if [ -f "$DLDIR/$name" ]; then
		[ "$(sha256_of "$DLDIR/$name")" = "$sha" ] && return
		die "cached $DLDIR/$name does not match the pinned SHA256 $sha; remove it to re-fetch"
	fi
	[ "${QEMU_FETCH:-}" = never ] && die "$name is not in $DLDIR and QEMU_FETCH=never"
	need apt-get sha256sum /usr/lib/apt/apt-helper
	private_apt_update
	line=$(private_apt "$@" 2>/dev/null | awk -v n="$name" '$2 == n') ||
		true
	[ -n "$line" ] || die "$MIRROR $QEMU_SUITE does not serve $name any more (pinned $sha)"
	uri=$(awk '{print $1}' <<<"$line" | tr -d "'")
	idx_sha=$(awk '{print $4}' <<<"$line")
	[ "$idx_sha" = "SHA256:$sha" ] ||
		die "$name: the archive index says ${idx_sha#SHA256:}, the pin is $sha; refusing it"
	mkdir -p "$DLDIR"
	tmp=$(mktemp "$DLDIR/.dl.XXXXXX")
	log "fetching $uri"
	if ! /usr/lib/apt/apt-helper download-file "$uri" "$tmp" "SHA256:$sha" >&2 ||
		[ "$(sha256_of "$tmp")" != "$sha" ]; then
		rm -f "$tmp"
		die "download of $name failed or its SHA256 is not $sha; nothing changed"
	fi
	mv "$tmp" "$DLDIR/$name"
}

fetch() {
	fetch_file "$QEMU_TARBALL" "$QEMU_SHA256" \
		apt-get source --print-uris "qemu=$QEMU_SRCPKG_VER"
	fetch_file "$MESON_DEB" "$MESON_SHA256" \
		apt-get download --print-uris "meson=$MESON_VER"
}

# Meson >= 1.5, unpacked from the pinned .deb; used via PYTHONPATH by
# QEMU's configure (its venv sees it) and by the generated build.ninja.
setup_meson() {
	if [ ! -f "$MESON_DIR/.sha256" ] || [ "$(cat "$MESON_DIR/.sha256")" != "$MESON_SHA256" ]; then
		need dpkg-deb
		rm -rf "$MESON_DIR"
		dpkg-deb -x "$DLDIR/$MESON_DEB" "$MESON_DIR" || die "cannot unpack $MESON_DEB"
		echo "$MESON_SHA256" >"$MESON_DIR/.sha256"
	fi
	export PYTHONPATH=$MESON_DIR/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}
}

series() {
	[ -f "$QDIR/patches/series" ] || return 0
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$QDIR/patches/series"
}

build_key() {
	local p
	{
		echo "prep $PREP_REV"
		echo "qemu $QEMU_SHA256"
		echo "meson $MESON_SHA256"
		echo "flags ${CONFIGURE_FLAGS[*]}"
		echo "devices $(sha256_of "$QDIR/aarch64-devices.mak")"
		while read -r p; do
			[ -f "$QDIR/patches/$p" ] || die "qemu/patches/series lists '$p', which does not exist"
			echo "patch $p $(sha256_of "$QDIR/patches/$p")"
		done < <(series)
	} | sha256sum | cut -c1-16
}

# Unpack the tarball into $SRC as a git tree (tag 'base') and apply the
# series with git am; a failing patch is named with the hunk git rejects.
prepare_source() {
	local key=$1 p n=0
	rm -rf "$SRC" "$OUT"
	mkdir -p "$SRC"
	log "unpacking $QEMU_TARBALL into $SRC"
	tar -xf "$DLDIR/$QEMU_TARBALL" -C "$SRC" --strip-components=1 --no-same-owner
	# Debian's +ds tarball lacks two things the build would ask for:
	# pycotap (only used by 'make check', not packaged for bookworm, and
	# the build is offline) and the edk2 firmware images (the tests boot
	# with -kernel, no firmware).
	sed -i '/^pycotap = /d' "$SRC/pythondeps.toml"
	sed -i 's/^edk2_targets = \[.*\]$/edk2_targets = []/' "$SRC/meson.build"
	grep -q '^edk2_targets = \[\]$' "$SRC/meson.build" ||
		die "cannot drop the edk2 blobs from QEMU's meson.build"
	(
		cd "$SRC" || exit
		git_det init -q -b master
		# (a build tree: its loose objects are never packed, see
		# fetch-base.sh)
		git_det config gc.auto 0
		git_det config maintenance.auto false
		git_det add -A -f .
		GIT_AUTHOR_DATE=$BASE_DATE GIT_COMMITTER_DATE=$BASE_DATE \
			git_det commit -q --no-verify -m "Base: QEMU $QEMU_VERSION ($QEMU_TARBALL)" \
			-m "SHA256 $QEMU_SHA256; without pycotap and the edk2 blobs (see qemu-build.sh)."
		git_det tag base
		git config user.name "$PROJECT_NAME"
		git config user.email "$PROJECT_EMAIL"
		git config core.hooksPath /dev/null
	)
	while read -r p; do
		n=$((n + 1))
		log "applying qemu/patches/$p"
		if ! GIT_COMMITTER_DATE=$BASE_DATE git_det -C "$SRC" am -q --keep-cr \
			"$QDIR/patches/$p" >"$WORK/am.log" 2>&1; then
			sed 's/^/  git am: /' "$WORK/am.log" >&2
			git -C "$SRC" am --abort >/dev/null 2>&1 || true
			rm -rf "$SRC"
			die "qemu/patches/$p (patch $n of the series) does not apply to QEMU $QEMU_VERSION"
		fi
	done < <(series)
	install_devices
	echo "$key" >"$SRC/.iommu-reset-key"
}

install_devices() {
	cp "$QDIR/aarch64-devices.mak" "$SRC/configs/devices/aarch64-softmmu/iommu-reset.mak"
}

configure_and_build() {
	local start=$SECONDS
	need ninja gcc ccache pkg-config python3
	if [ ! -f "$OUT/build.ninja" ]; then
		mkdir -p "$OUT"
		log "configuring QEMU $QEMU_VERSION in $OUT"
		(cd "$OUT" && "$SRC/configure" --cc="ccache gcc" --cxx="ccache g++" \
			--python=/usr/bin/python3 "${CONFIGURE_FLAGS[@]}") >"$WORK/configure.log" 2>&1 || {
			tail -n 30 "$WORK/configure.log" >&2
			rm -rf "$OUT"
			die "QEMU configure failed (see $WORK/configure.log)"
		}
	fi
	log "building qemu-system-aarch64 (-j$JOBS)"
	ninja -C "$OUT" -j"$JOBS" qemu-system-aarch64 >"$WORK/ninja.log" 2>&1 || {
		grep -B2 -A12 -m3 'error' "$WORK/ninja.log" >&2 || tail -n 30 "$WORK/ninja.log" >&2
		die "QEMU build failed (see $WORK/ninja.log)"
	}
	log "QEMU build took $((SECONDS - start)) s"
	echo $((SECONDS - start))
}

locked_build() {
	local key=$1 dest=$2 secs start=$SECONDS
	# Someone may have built it while we waited for the lock.
	[ -x "$dest/qemu-system-aarch64" ] && return
	if [ "$(cat "$SRC/.iommu-reset-key" 2>/dev/null)" != "$key" ]; then
		prepare_source "$key"
	fi
	configure_and_build >/dev/null
	secs=$((SECONDS - start))
	log "QEMU $key: unpack, patch, configure and build took $secs s"
	mkdir -p "$dest.tmp"
	strip -o "$dest.tmp/qemu-system-aarch64" "$OUT/qemu-system-aarch64"
	{
		echo "key=$key"
		echo "build_seconds=$secs"
		echo "built=$(date -u +%FT%TZ)"
		series | sed 's/^/patch=/'
	} >"$dest.tmp/build-info"
	rm -rf "$dest"
	mv "$dest.tmp" "$dest"
	prune "$dest"
}

# Keep the three newest builds.
prune() {
	local keep=$1 d
	find "$CACHE/qemu" -maxdepth 1 -name "$QEMU_VERSION-*" -printf '%T@ %p\n' |
		sort -rn | tail -n +4 | cut -d' ' -f2- | while read -r d; do
		[ "$d" = "$keep" ] || rm -rf "$d"
	done
}

export_patches() {
	[ -d "$SRC/.git" ] || die "no QEMU tree at $SRC"
	local n p
	n=$(git -C "$SRC" rev-list --count base..HEAD)
	[ "$n" -gt 0 ] || die "no commits on top of 'base' in $SRC"
	rm -f "$QDIR"/patches/*.patch
	git_det -C "$SRC" format-patch -q --zero-commit --no-signature \
		-o "$QDIR/patches" base..HEAD
	for p in "$QDIR"/patches/*.patch; do
		basename "$p"
	done >"$QDIR/patches/series"
	log "exported $n patch(es) to qemu/patches"
}

main() {
	local key dest mode=${1:-build}
	case "$mode" in
	build | --build) mode=build ;;
	--fetch | --path | --dev | --export) ;;
	*) die "usage: $0 [--fetch|--path|--dev|--export]" ;;
	esac
	if [ "$mode" = --export ]; then
		export_patches
		return
	fi
	key=$(build_key)
	dest=$CACHE/qemu/$QEMU_VERSION-$key
	if [ "$mode" = --path ]; then
		[ -x "$dest/qemu-system-aarch64" ] || die "QEMU $key is not built: run scripts/qemu-build.sh"
		echo "$dest/qemu-system-aarch64"
		return
	fi
	if [ "$mode" = build ] && [ -x "$dest/qemu-system-aarch64" ]; then
		log "QEMU $QEMU_VERSION ($key) is up to date"
		echo "$dest/qemu-system-aarch64"
		return
	fi
	fetch
	[ "$mode" = --fetch ] && return
	setup_meson
	mkdir -p "$WORK" "$CACHE"
	build_lock_take "QEMU"
	if [ "$mode" = --dev ]; then
		[ -d "$SRC/.git" ] || prepare_source "$key"
		install_devices
		configure_and_build >/dev/null
		echo "$OUT/qemu-system-aarch64"
		return
	fi
	locked_build "$key" "$dest"
	echo "$dest/qemu-system-aarch64"
}

main "$@"
