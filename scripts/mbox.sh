#!/usr/bin/env bash
# The series as one mbox that could be sent as is, and a dry run of
# git send-email over it (no network is used).
#   scripts/mbox.sh [OUT]     (default build/mail/series.mbox)
# Recipients are the To:/Cc: headers `make export` put in every patch
# (the tree's get_maintainer.pl, then recipients.txt).  The dry run's own
# log says whom git send-email would send each message to: every person of
# recipients.txt must be among them for every message, or patches/ were
# exported before recipients.txt changed ('make export' again).
# Whoever posts must re-sign first (README).
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
git -C "$TOP" send-email --dry-run --confirm=never --no-annotate \
	--from="$PROJECT_NAME <$PROJECT_EMAIL>" "${files[@]}" </dev/null >"$log" 2>&1 ||
	die "git send-email --dry-run failed (see $log)"
ok=$(grep -c '^Result: OK' "$log" || true)
[ "$ok" -eq "${#files[@]}" ] ||
	die "git send-email --dry-run accepted $ok of ${#files[@]} messages (see $log)"

# Whom each message goes to (the SMTP envelope of the dry run), and the
# people of recipients.txt among them.
"$TOP/scripts/series.sh" recipients >"$log.recipients"
python3 - "$log" "$log.recipients" <<'PY' || die "recipients.txt and patches/ disagree: 'make export' puts its people in Cc:"
import re, sys
log, extra = sys.argv[1], sys.argv[2]
msgs = [re.findall(r"^RCPT TO:<([^>]*)>", m, re.M)
        for m in open(log).read().split("Dry-OK. Log says:")[1:]]
people = [re.match(r'"?(.*?)"? <([^>]*)>$', l.strip()).groups()
          for l in open(extra) if l.strip()]
rcpt = {a.lower() for m in msgs for a in m}
per = sorted(len(m) for m in msgs)
print(">>> recipients: %d addresses, %d to %d per message" % (len(rcpt), per[0], per[-1]))
missing = []
for name, addr in people:
    n = sum(addr.lower() in {a.lower() for a in m} for m in msgs)
    if n != len(msgs):
        missing.append("%s <%s> (on %d of %d messages)" % (name, addr, n, len(msgs)))
if people:
    print(">>> recipients.txt: %s: %s" % (
        "on every message" if not missing else "MISSING",
        ", ".join(n for n, _ in people)))
for m in missing:
    print("    missing: " + m)
sys.exit(1 if missing else 0)
PY
info "git send-email --dry-run: $ok of ${#files[@]} messages OK"
