#!/usr/bin/env bash
# Fetch, verify and unpack the base kernel tree.
#
#   scripts/fetch-base.sh            fetch (cached) + unpack into $KSRC
#   scripts/fetch-base.sh --fetch    only fetch and verify the .deb
#
# The .deb is fetched with apt's own tools through a private apt
# configuration under $BUILD/apt (own sources list, state and cache
# directories); the system's apt configuration is not touched.  The file is
# cached in $CACHE/debs and its SHA256 is checked against the pinned value
# every time it is used.
#
# Environment: BASE=7.3|7.2, BASE_FETCH=never (use only the cache),
# BASE_MIRROR (default http://deb.debian.org/debian).
. "$(dirname "$0")/lib.sh"

MIRROR=${BASE_MIRROR:-http://deb.debian.org/debian}
APTDIR=$BUILD/apt/$BASE_SUITE
DEBDIR=$CACHE/debs

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
	local cmd=$1
	shift
	local opts
	mapfile -t opts < <(apt_opts)
	"$cmd" "${opts[@]}" "$@"
}

private_apt_update() {
	mkdir -p "$APTDIR/state/lists/partial" "$APTDIR/cache/archives/partial"
	: >"$APTDIR/state/status"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $BASE_SUITE main" \
		>"$APTDIR/sources.list"
	private_apt apt-get -q update >"$APTDIR/update.log" 2>&1 ||
		die "apt-get update of the private '$BASE_SUITE' list failed (see $APTDIR/update.log)"
}

# sha256_ok FILE SHA256
sha256_ok() {
	[ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

deb_name() { # PKG VER
	echo "${1}_${2//:/%3a}_all.deb"
}

# Prints the path of a verified .deb and records the version in
# $BUILD/base-$BASE.version.
fetch_deb() {
	local ver=$BASE_VER sha=$BASE_SHA256 deb tmp avail
	mkdir -p "$DEBDIR" "$BUILD"
	deb=$DEBDIR/$(deb_name "$BASE_PKG" "$ver")

	if [ -f "$deb" ]; then
		if sha256_ok "$deb" "$sha"; then
			echo "$ver" >"$BUILD/base-$BASE.version"
			echo "$deb"
			return
		fi
		warn "cached $deb does not match the pinned SHA256 $sha: removing it"
		rm -f "$deb"
	fi
	[ "${BASE_FETCH:-}" = never ] &&
		die "$BASE_PKG $ver is not in the cache ($DEBDIR) and BASE_FETCH=never"

	need apt-get apt-cache sha256sum
	private_apt_update >&2
	avail=$(private_apt apt-cache madison "$BASE_PKG" | awk -F'|' '{gsub(/ /,"",$2); print $2}')
	if ! grep -qxF "$ver" <<<"$avail"; then
		local newest
		newest=$(head -n1 <<<"$avail")
		[ -n "$newest" ] || die "$BASE_PKG is not served by $MIRROR $BASE_SUITE at all"
		{
			echo "################################################################"
			echo "WARNING: pinned $BASE_PKG $ver is no longer served."
			echo "WARNING: falling back to $BASE_PKG $newest (not verified against a"
			echo "WARNING: pinned hash; apt checked it against the signed index)."
			echo "WARNING: the series may need a rebase."
			echo "################################################################"
		} >&2
		ver=$newest
		sha=$(private_apt apt-cache show "$BASE_PKG=$ver" | awk '/^SHA256:/ {print $2; exit}')
		deb=$DEBDIR/$(deb_name "$BASE_PKG" "$ver")
	fi

	tmp=$(mktemp -d "$DEBDIR/.dl.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT
	(cd "$tmp" && private_apt apt-get -q download "$BASE_PKG=$ver") >&2 ||
		die "download of $BASE_PKG $ver failed"
	local got
	got=$(ls "$tmp"/*.deb)
	if ! sha256_ok "$got" "$sha"; then
		die "SHA256 mismatch for downloaded $BASE_PKG $ver: expected $sha, got $(sha256sum "$got" | cut -d' ' -f1); file rejected"
	fi
	mv "$got" "$deb"
	echo "$ver" >"$BUILD/base-$BASE.version"
	echo "$deb"
}

# Unpack the .deb's tarball into $KSRC as a git repository with one
# deterministic commit tagged $BASE_TAG.
unpack() {
	local deb=$1 ver=$2 tmp tarball id
	if [ -d "$KSRC/.git" ] && kgit rev-parse -q --verify "refs/tags/$BASE_TAG" >/dev/null; then
		if [ "$(kgit config --get iommu-reset.deb-sha256 || true)" = "$(sha256sum "$deb" | cut -d' ' -f1)" ]; then
			info "base tree $KSRC already unpacked from $BASE_PKG $ver (base $(kgit rev-parse --short "$BASE_TAG"))"
			return
		fi
		die "$KSRC was unpacked from another base; move it away (it may hold work) and re-run"
	fi
	[ -e "$KSRC" ] && [ -n "$(ls -A "$KSRC" 2>/dev/null)" ] &&
		die "$KSRC exists and is not a workspace base tree; move it away and re-run"

	need ar tar xz git
	info "unpacking $BASE_PKG $ver into $KSRC"
	tmp=$(mktemp -d "$BUILD/.unpack.XXXXXX")
	(cd "$tmp" && ar x "$deb" data.tar.xz && tar -xf data.tar.xz ./usr/src/) ||
		die "$deb is not a readable Debian package"
	tarball=$(ls "$tmp"/usr/src/linux-source-*.tar.xz)
	mkdir -p "$KSRC.tmp"
	tar -xf "$tarball" -C "$KSRC.tmp" --strip-components=1 --no-same-owner
	rm -rf "$tmp"

	(
		cd "$KSRC.tmp"
		git_det init -q -b master
		git_det config core.autocrlf false
		# A build tree, never pushed or cloned: its ~90,000 loose objects
		# stay loose.  Otherwise the first commit or git am makes git pack
		# them in the background, minutes of CPU time that the builds
		# want, for disk space only.
		git_det config gc.auto 0
		git_det config maintenance.auto false
		# Everything in the tarball is tracked, whatever .gitignore says.
		git_det add -A -f .
		GIT_AUTHOR_DATE=$BASE_DATE GIT_COMMITTER_DATE=$BASE_DATE \
			git_det -c user.name="Debian $BASE_PKG" -c user.email="debian-kernel@lists.debian.org" \
			commit -q --no-verify -m "Base: Debian $BASE_PKG $ver" \
			-m "Unpacked from $(basename "$deb") (SHA256 $(sha256sum "$deb" | cut -d' ' -f1))."
		git_det tag "$BASE_TAG"
		git config iommu-reset.deb-sha256 "$(sha256sum "$deb" | cut -d' ' -f1)"
		git config iommu-reset.version "$ver"
		git config user.name "$PROJECT_NAME"
		git config user.email "$PROJECT_EMAIL"
		git config core.hooksPath /dev/null
	)
	mv "$KSRC.tmp" "$KSRC"
	id=$(kgit rev-parse "$BASE_TAG")
	info "base commit $id (tag '$BASE_TAG') for $BASE_PKG $ver"
}

main() {
	local deb ver
	deb=$(fetch_deb)
	ver=$(cat "$BUILD/base-$BASE.version")
	info "using $BASE_PKG $ver ($deb)"
	[ "${1:-}" = --fetch ] && return
	unpack "$deb" "$ver"
}

main "$@"
