#!/usr/bin/env bash
# The patch queue <-> kernel tree round trip.
#
#   scripts/series.sh apply  [TREE]   base + patches/ as commits on branch
#                                     $SERIES_BRANCH (default 'series')
#   scripts/series.sh export [DIR]    commits base..HEAD of $KSRC -> patches/ (or DIR),
#                                     To:/Cc: from get_maintainer.pl, then
#                                     Cc: from recipients.txt ($RECIPIENTS)
#   scripts/series.sh status          what the tree has that patches/ lacks, and back
#   scripts/series.sh list            the patch files, in order, one path a line
#   scripts/series.sh recipients      the Cc: that recipients.txt adds, one a line
#
# apply refuses to run on a tree with uncommitted changes or with commits on
# top of the base that are not in patches/ (export them first, or FORCE=1).
# Commits are made with committer date = author date and the project
# identity, so the same patches give the same commit ids everywhere.
# A patch that does not apply leaves the tree as it was and is named.
#
# A series file lists patch files relative to its own directory, one a line
# ('#' starts a comment).  A variant for another base (patches-7.2/) does not
# copy the series: it lists only its own patches and takes the rest with
#
#   include ../patches/series          every patch of that series, in order
#   replace NAME FILE                  (before the include) use FILE instead
#                                      of the included patch NAME
#
# the way a quilt or debian/patches stack reuses upstream patches.  A
# replace that matches nothing is an error, so a renamed main patch is
# noticed.  Such a variant is written by hand, not exported.
. "$(dirname "$0")/lib.sh"

PATCHES=$(realpath -m "${PATCHES:-$TOP/patches}")
COVER=0000-cover-letter.patch
# Extra Cc of every exported patch and the cover letter (see recipients())
RECIPIENTS=$(realpath -m "${RECIPIENTS:-$TOP/recipients.txt}")

# The patch files of $PATCHES/series, one absolute path a line, with
# include/replace lines expanded (see above).
series_paths() {
	[ -f "$PATCHES/series" ] || die "$PATCHES/series is missing"
	python3 - "$PATCHES/series" <<'PY'
import os, sys

def expand(path, seen):
    path = os.path.realpath(path)
    if path in seen:
        sys.exit("error: %s includes itself" % path)
    here = os.path.dirname(path)
    out, repl = [], {}
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        sys.exit("error: %s" % e)
    for n, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        where = "%s:%d" % (path, n)
        if not words:
            continue
        if words[0] == "include" and len(words) == 2:
            for p in expand(os.path.join(here, words[1]), seen | {path}):
                out.append(repl.pop(os.path.basename(p), p))
        elif words[0] == "replace" and len(words) == 3:
            repl[words[1]] = os.path.join(here, words[2])
        elif len(words) == 1:
            out.append(os.path.join(here, words[0]))
        else:
            sys.exit("error: %s: cannot read '%s'" % (where, line.strip()))
    if repl:
        sys.exit("error: %s: replace names no included patch: %s"
                 % (path, ", ".join(sorted(repl))))
    return out

for p in expand(sys.argv[1], frozenset()):
    print(os.path.normpath(p))
PY
}

# Whether $PATCHES/series reuses another series (a hand-written variant).
series_is_variant() {
	grep -qE '^[[:space:]]*(include|replace)[[:space:]]' "$PATCHES/series"
}

# Stable patch ids of a list of patch files / of the commits base..REV.
patch_ids_files() {
	local f
	[ $# -gt 0 ] || return 0
	for f in "$@"; do cat "$f"; done | git patch-id --stable | awk '{print $1}' | sort
}
patch_ids_tree() { # TREE REV
	git -C "$1" log -p --no-merges "$BASE_TAG..$2" | git patch-id --stable | awk '{print $1}' | sort
}

require_tree() {
	local t=$1
	[ -d "$t/.git" ] || [ -f "$t/.git" ] || die "no kernel tree at $t: run 'make base' first"
	git -C "$t" rev-parse -q --verify "refs/tags/$BASE_TAG" >/dev/null ||
		die "$t has no '$BASE_TAG' tag: not a workspace tree"
}

require_clean() {
	local t=$1 dirty
	dirty=$(git -C "$t" status --porcelain --untracked-files=no)
	[ -z "$dirty" ] || die "kernel tree $t has uncommitted changes; commit (or stash) them first, nothing was changed:
$dirty"
	[ -d "$(git -C "$t" rev-parse --git-path rebase-apply)" ] &&
		die "kernel tree $t is in the middle of git am/rebase; finish or abort it first"
	return 0
}

cmd_apply() {
	local t=${1:-$KSRC} files=() f n=0 orig out branch=${SERIES_BRANCH:-series}
	require_tree "$t"
	require_clean "$t"
	# Never move a branch that another worktree has checked out.
	local wt
	wt=$(git -C "$t" worktree list --porcelain | awk -v b="branch refs/heads/$branch" \
		'/^worktree /{w=substr($0,10)} $0==b{print w}')
	if [ -n "$wt" ] && [ "$(cd "$wt" && pwd -P)" != "$(cd "$t" && pwd -P)" ]; then
		die "branch '$branch' is checked out in $wt; use SERIES_BRANCH=<name> for $t"
	fi
	mapfile -t files < <(series_paths || echo "!")
	[ ${#files[@]} -eq 0 ] || [ "${files[${#files[@]} - 1]}" != "!" ] ||
		die "cannot read $PATCHES/series"
	for f in "${files[@]}"; do
		[ -f "$f" ] || die "$PATCHES/series names $f, which does not exist"
	done

	if [ -z "${FORCE:-}" ] && git -C "$t" merge-base --is-ancestor "$BASE_TAG" HEAD 2>/dev/null; then
		local mine exported
		mine=$(patch_ids_tree "$t" HEAD)
		exported=$(patch_ids_files "${files[@]}")
		if [ -n "$mine" ] && [ "$mine" != "$exported" ] &&
			[ -n "$(comm -23 <(echo "$mine") <(echo "$exported"))" ]; then
			die "kernel tree $t has commits on top of '$BASE_TAG' that patches/ does not have.
Export them first ('make export') or re-run with FORCE=1 to drop them (they stay reachable in the reflog)."
		fi
	fi

	orig=$(git -C "$t" symbolic-ref -q --short HEAD || git -C "$t" rev-parse HEAD)
	# The series is built on a detached HEAD; the branch moves only once
	# every patch applied.
	git -C "$t" checkout -q --detach "$BASE_TAG"
	# One git am for the series: each run reads and writes the index of
	# the whole tree.  Where it stopped, HEAD tells.
	if [ ${#files[@]} -gt 0 ] &&
		! out=$(git_det -C "$t" am -q --committer-date-is-author-date --no-3way "${files[@]}" 2>&1); then
		n=$(($(git -C "$t" rev-list --count "$BASE_TAG..HEAD") + 1))
		f=${files[$((n - 1))]:-?}
		git -C "$t" am --abort >/dev/null 2>&1 || true
		git -C "$t" checkout -q "$orig"
		echo "$out" | sed 's/^/  git am: /' >&2
		local hunk
		hunk=$(echo "$out" | grep -m1 'patch failed:' | sed 's/.*patch failed: //')
		die "patch $n ($(basename "$f")) does not apply on $(git -C "$t" config iommu-reset.version || echo base)${hunk:+: first failing hunk at $hunk}; rebase needed. The tree was left as it was."
	fi
	git -C "$t" branch -f "$branch" HEAD
	git -C "$t" checkout -q "$branch"
	info "applied ${#files[@]} patches on $BASE_TAG: $t is at $(git -C "$t" rev-parse --short HEAD) (branch $branch)"
}

# fill_cover GENERATED OLD: put the subject and blurb of the kept cover
# letter into the one git format-patch generated (which carries the fresh
# shortlog, diffstat and base-commit).
fill_cover() {
	local gen=$1 old=$2
	python3 - "$gen" "$old" <<'PY'
import re, sys
gen, old = sys.argv[1], sys.argv[2]
g = open(gen).read()
o = open(old).read()
head, _, body = o.partition("\n\n")
# Unfold the header to read the subject.
head = re.sub(r"\n[ \t]+", " ", head)
m = re.search(r"^Subject: \[[^]]*\] ?(.*)$", head, re.M)
subject = m.group(1).strip() if m else "*** SUBJECT HERE ***"
# The blurb ends where format-patch's shortlog ("Name (N):") starts.
m = re.search(r"^\S.* \(\d+\):$", body, re.M)
blurb = (body[:m.start()] if m else body).rstrip("\n")
if "*** SUBJECT HERE ***" not in g or "*** BLURB HERE ***" not in g:
    sys.exit("format-patch cover letter template not recognised")
g = g.replace("*** SUBJECT HERE ***", subject, 1).replace("*** BLURB HERE ***", blurb, 1)
open(gen, "w").write(g)
PY
}

# recipients: "Name <email>" of every entry of $RECIPIENTS, in file order,
# each address once.  The file lists the people who reviewed or wrote
# earlier postings of this work (get_maintainer.pl cannot know them), one
# "Name <email>  # reason" a line; '#' lines and blank lines are skipped,
# an entry without a reason or address is an error naming the line.
recipients() {
	[ -f "$RECIPIENTS" ] || return 0
	python3 - "$RECIPIENTS" <<'PY'
import re, sys
path = sys.argv[1]
seen = set()
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    entry, hash_, reason = line.partition("#")
    entry, reason = entry.strip(), reason.strip()
    if not entry and (hash_ or not line.strip()):
        continue
    m = re.fullmatch(r'([^<>"@,]*?)\s*<([^<>\s@]+@[^<>\s@]+\.[^<>\s@]+)>', entry)
    if not m or not m.group(1):
        sys.exit("error: %s:%d: expected 'Name <email>  # reason', got '%s'"
                 % (path, n, line.rstrip("\n")))
    if not reason:
        sys.exit("error: %s:%d: %s has no reason ('# why they get the series')"
                 % (path, n, entry))
    name, addr = m.group(1), m.group(2)
    if addr.lower() in seen:
        continue
    seen.add(addr.lower())
    # RFC 5322: a name with specials is quoted (as get_maintainer.pl does)
    if re.search(r'[()<>\[\]:;@\\,."]', name):
        name = '"%s"' % name
    print("%s <%s>" % (name, addr))
PY
}

# addr_key "Name <a@b>" | a@b: the address, lower case (to find duplicates).
addr_key() {
	local a=$1
	if [[ $a == *"<"*">"* ]]; then
		a=${a##*<}
		a=${a%%>*}
	fi
	echo "${a,,}"
}

# get_maint TREE DIR OPTS...: addresses for the patches in DIR.  They
# depend only on the patches, the options, the tree's get_maintainer.pl,
# MAINTAINERS and .mailmap (the tree is clean, see require_clean) and the
# script's configuration files, so they are kept in the cache by those:
# make check exports the same series three times, two of them at once
# (the lock makes the second wait for the first's answer).
get_maint() {
	local t=$1 d=$2 key m f
	shift 2
	local patches=()
	for f in "$d"/[0-9]*.patch; do
		[ "$(basename "$f")" = "$COVER" ] || patches+=("$f")
	done
	key=$({
		printf '%s\n' "$@"
		git -C "$t" ls-tree HEAD -- scripts/get_maintainer.pl MAINTAINERS .mailmap
		for f in "$t" "$HOME" "$t/.scripts"; do
			cat "$f/.get_maintainer.conf" "$f/.get_maintainer.ignore" 2>/dev/null || true
		done
		cat "${patches[@]}"
	} | sha256sum | cut -c1-24)
	m=$CACHE/get-maintainer/$key
	mkdir -p "$CACHE/get-maintainer"
	(
		flock 9
		if [ ! -f "$m" ]; then
			(cd "$t" && ./scripts/get_maintainer.pl --no-rolestats --no-git --no-git-fallback \
				--no-multiline --separator $'\n' "$@" "${patches[@]}") >"$m.tmp" &&
				mv "$m.tmp" "$m"
		fi
	) 9>"$CACHE/get-maintainer/.lock"
	cat "$m"
}

cmd_export() {
	local dest=${1:-$PATCHES} t=$KSRC tmp count date
	require_tree "$t"
	require_clean "$t"
	if [ "$dest" = "$PATCHES" ] && [ -f "$PATCHES/series" ] && series_is_variant; then
		die "$PATCHES/series reuses another series (include/replace): it is written by hand.
Export the main series from a $BASE_TAG tree of the main base; write a variant's own
patch with 'git format-patch -1 --zero-commit --no-signature <commit>' into $PATCHES/."
	fi
	git -C "$t" merge-base --is-ancestor "$BASE_TAG" HEAD ||
		die "HEAD of $t is not on top of '$BASE_TAG'"
	[ -f "$PATCHES/$COVER" ] || die "$PATCHES/$COVER is missing (the cover letter is kept, not generated)"
	tmp=$(mktemp -d)
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT
	count=$(git -C "$t" rev-list --count "$BASE_TAG..HEAD")
	if [ "$count" -gt 0 ]; then
		# The user's and the system's git configuration stay out of the
		# exported bytes (diff.noprefix, diff.algorithm, format.* ...).
		# The subject prefix ("PATCH", "PATCH v2", "RFC PATCH" ...) is the
		# one of the kept cover letter: bump the version there.
		local prefix
		prefix=$(sed -n 's/^Subject: \[\(.*\) [0-9]*\/[0-9]*\].*/\1/p' "$PATCHES/$COVER" | head -n 1)
		fp() {
			GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git_det -C "$t" format-patch -q -o "$tmp" --cover-letter --base="$BASE_TAG" \
				--zero-commit --no-signature --no-thread --subject-prefix="${prefix:-PATCH}" "$@" "$BASE_TAG..HEAD"
		}
		# Recipients come from the tree's get_maintainer.pl over the whole
		# series: maintainers in To:, reviewers and lists in Cc:; then
		# the people of recipients.txt in Cc:, in the file's order, each
		# one not already there (same address, any case).
		local extra
		extra=$(recipients)
		fp
		local rcpt=() addr seen=" "
		while read -r addr; do
			rcpt+=(--to="$addr")
			seen+="$(addr_key "$addr") "
		done < <(get_maint "$t" "$tmp" --m --no-r --no-l)
		while read -r addr; do
			rcpt+=(--cc="$addr")
			seen+="$(addr_key "$addr") "
		done < <(get_maint "$t" "$tmp" --no-m --r --l)
		while read -r addr; do
			[ -n "$addr" ] || continue
			case "$seen" in *" $(addr_key "$addr") "*) continue ;; esac
			rcpt+=(--cc="$addr")
			seen+="$(addr_key "$addr") "
		done <<<"$extra"
		rm -f "$tmp"/*.patch
		fp "${rcpt[@]}"
		fill_cover "$tmp/$COVER" "$PATCHES/$COVER"
		# The cover letter takes the date of the newest patch, not "now",
		# so that exporting twice gives the same bytes.
		date=$(git -C "$t" log -1 --format=%aD HEAD)
		sed -i "0,/^Date: .*/s//Date: $date/" "$tmp/$COVER"
	else
		cp "$PATCHES/$COVER" "$tmp/$COVER"
	fi
	(cd "$tmp" && ls [0-9]*.patch | grep -vx "$COVER" >series || true)
	{
		echo "# Applied in this order onto the base (see README); the cover letter is not applied."
		cat "$tmp/series"
	} >"$tmp/series.new" && mv "$tmp/series.new" "$tmp/series"
	mkdir -p "$dest"
	rm -f "$dest"/[0-9]*.patch
	cp "$tmp"/*.patch "$tmp/series" "$dest/"
	info "exported $count patches from $(git -C "$t" rev-parse --short HEAD) to $dest"
}

cmd_status() {
	local t=$KSRC files=() f
	require_tree "$t"
	mapfile -t files < <(series_paths || echo "!")
	[ ${#files[@]} -eq 0 ] || [ "${files[${#files[@]} - 1]}" != "!" ] ||
		die "cannot read $PATCHES/series"
	local mine exported
	mine=$(patch_ids_tree "$t" HEAD)
	exported=$(patch_ids_files "${files[@]}")
	if [ "$mine" = "$exported" ]; then
		info "tree and $(basename "$PATCHES")/ hold the same ${#files[@]} patches"
	else
		echo "tree and $(basename "$PATCHES")/ differ: 'make export' to write the tree's commits there"
		return 1
	fi
}

case "${1:-}" in
list) series_paths ;;
recipients) recipients ;;
apply) shift; cmd_apply "$@" ;;
export) shift; cmd_export "$@" ;;
status) shift; cmd_status "$@" ;;
*) die "usage: series.sh apply [TREE] | export [DIR] | status | list | recipients" ;;
esac
