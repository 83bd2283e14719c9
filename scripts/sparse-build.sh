#!/usr/bin/env bash
# Build the sparse the kernel's C=2 checks need and print its path.
#
# Debian 12's sparse (0.6.4) is too old for 7.x kernels (kbuild's
# scripts/checker-valid.sh rejects it: no __typeof_unqual__), so the
# workspace builds sparse 0.6.5~rc1 from the orig tarball of Debian sid's
# source package, fetched through a private apt configuration under
# $BUILD/apt/ and checked against the pinned SHA256.  The binary is cached
# in $CACHE; a re-run does nothing.
. "$(dirname "$0")/lib.sh"

VER=0.6.5~rc1
TARBALL=sparse_0.6.5~rc1.orig.tar.gz
SHA256=3ac8855ec7f3ab92f325be0f64347ccc2b10f8b4d7c2906783ee8e2bdab3f0de
DEST=$CACHE/sparse-$VER
BIN=$DEST/sparse

if [ -x "$BIN" ]; then
	echo "$BIN"
	exit 0
fi
need apt-get make gcc sha256sum
APTDIR=$BUILD/apt/sid-src
mkdir -p "$APTDIR/state/lists/partial" "$APTDIR/cache/archives/partial" "$CACHE/dl"
: >"$APTDIR/state/status"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${BASE_MIRROR:-http://deb.debian.org/debian} sid main" \
	>"$APTDIR/sources.list"
opts=(-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State=$APTDIR/state" -o "Dir::State::status=$APTDIR/state/status"
	-o "Dir::Cache=$APTDIR/cache" -o Debug::NoLocking=1 -o Acquire::Languages=none)

dl=$CACHE/dl/$TARBALL
if [ ! -f "$dl" ] || [ "$(sha256sum "$dl" | cut -d' ' -f1)" != "$SHA256" ]; then
	rm -f "$dl"
	apt-get "${opts[@]}" -q update >"$APTDIR/update.log" 2>&1 ||
		die "apt-get update of the private deb-src list failed (see $APTDIR/update.log)"
	uri=$(apt-get "${opts[@]}" source --print-uris "sparse=$VER-2" 2>/dev/null |
		awk -v t="$TARBALL" '$2 == t { gsub("\x27", "", $1); print $1 }')
	[ -n "$uri" ] || die "sparse $VER source is not served any more (needed for sparse checks)"
	/usr/lib/apt/apt-helper download-file "$uri" "$dl.tmp" "SHA256:$SHA256" >/dev/null 2>&1 ||
		die "download of $TARBALL failed or its SHA256 is not $SHA256"
	mv "$dl.tmp" "$dl"
fi
work=$BUILD/sparse
rm -rf "$work"
mkdir -p "$work"
tar -xzf "$dl" -C "$work" --strip-components=1
with_build_lock make -s -C "$work" -j"$JOBS" sparse \
	HAVE_LIBXML=no HAVE_SQLITE=no HAVE_GTK=no HAVE_LLVM=no >"$work/build.log" 2>&1 ||
	die "building sparse failed (see $work/build.log)"
mkdir -p "$DEST"
cp "$work/sparse" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
echo "$BIN"
