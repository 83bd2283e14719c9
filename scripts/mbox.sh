#!/usr/bin/env bash
# The series as one mbox that could be sent as is, and a dry run of
# git send-email over it (no network is used).
#   scripts/mbox.sh [OUT]     (default build/mail/series.mbox)
# Recipients are the To:/Cc: headers `make export` put in every patch
# (the tree's get_maintainer.pl).  Whoever posts must re-sign first (README).
. "$(dirname "$0")/lib.sh"

out=${1:-$BUILD/mail/series.mbox}
mkdir -p "$(dirname "$out")"
files=("$TOP/patches/0000-cover-letter.patch")
while read -r p; do
	files+=("$TOP/patches/$p")
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/patches/series")
cat "${files[@]}" >"$out"
info "wrote $out (${#files[@]} messages)"

need git
log=$(dirname "$out")/send-email-dry-run.log
# send-email takes one message per file: give it the files, in order (the
# mbox holds the same messages).
git -C "$TOP" send-email --dry-run --confirm=never --no-annotate --quiet \
	--from="$PROJECT_NAME <$PROJECT_EMAIL>" "${files[@]}" </dev/null >"$log" 2>&1 ||
	die "git send-email --dry-run failed (see $log)"
ok=$(grep -c '^Dry-Sent ' "$log" || true)
[ "$ok" -eq "${#files[@]}" ] ||
	die "git send-email --dry-run accepted $ok of ${#files[@]} messages (see $log)"
info "git send-email --dry-run: $ok of ${#files[@]} messages OK"
