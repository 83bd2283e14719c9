#!/usr/bin/env bash
# `make demo`: the ATS quarantine and its recovery, shown in QEMU.
#
#   scripts/demo.sh
#
# On a fresh machine it installs what is missing (scripts/deps.sh), fetches
# the base tree (scripts/fetch-base.sh), applies the series in the check
# worktree ($BUILD/check, as scripts/check.sh does) and builds the arm64
# kernel, and builds the patched QEMU (scripts/qemu-build.sh) and the guest
# agent.  What is already built is reused: the kernel image in
# $BUILD/images/series/Image (also written by `make check`) as long as it is
# newer than patches/ and configs/arm64.config.  Then it boots the VM and
# tells the story: device, ATS on -> injected ATC invalidation timeout ->
# quarantined (ATS off) -> reset via sysfs -> recovered (ATS on, data
# intact), with timings, and a one-line verdict.  Exit status 0 on PASS.
# Logs: $BUILD/logs/demo-*.log.
. "$(dirname "$0")/lib.sh"

LOGS=$BUILD/logs
CHECK=${CHECK_TREE:-$BUILD/check}
IMAGE=$BUILD/images/series/Image
mkdir -p "$LOGS"
T0=$(date +%s)

say() { printf '%s\n' "$*"; }
elapsed() { local s=$(($(date +%s) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# step "what" LOG CMD...: runs CMD with its output in LOG, showing elapsed
# time every 10 s while it runs; on failure shows the log's tail and exits.
step() {
	local what=$1 log=$LOGS/$2 t pid rc
	shift 2
	t=$(date +%s)
	"$@" >"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		if [ -t 1 ]; then
			printf '\r  .. %s (%s)' "$what" "$(elapsed "$t")"
		elif [ $((($(date +%s) - t) % 30)) -eq 0 ] && [ $(($(date +%s) - t)) -gt 0 ]; then
			printf '  .. %s (%s)\n' "$what" "$(elapsed "$t")"
		fi
		sleep 1
	done
	rc=0
	wait "$pid" || rc=$?
	[ -t 1 ] && printf '\r\033[K'
	if [ "$rc" -ne 0 ]; then
		say "  FAILED: $what (see $log)"
		tail -n 15 "$log" | sed 's/^/    | /'
		say "VERDICT: FAIL - could not prepare the demo ($what)"
		exit 1
	fi
	say "  done: $what ($(elapsed "$t"))"
}

fresh_image() {
	[ -f "$IMAGE" ] || return 1
	[ -z "$(find "$TOP/patches" "$TOP/configs/arm64.config" -newer "$IMAGE" 2>/dev/null)" ]
}

build_series_kernel() {
	git -C "$KSRC" worktree prune
	if [ ! -e "$CHECK/.git" ]; then
		git -C "$KSRC" worktree add -q --detach "$CHECK" "$BASE_TAG"
	fi
	git -C "$CHECK" am --abort >/dev/null 2>&1 || true
	git -C "$CHECK" reset -q --hard
	KSRC=$CHECK SERIES_BRANCH=check FORCE=1 "$TOP/scripts/series.sh" apply "$CHECK"
	KSRC=$CHECK "$TOP/scripts/kbuild.sh" arm64
	mkdir -p "$(dirname "$IMAGE")"
	cp "$CHECK/.out-arm64/arch/arm64/boot/Image" "$IMAGE"
}

# Cold-path figures, measured with empty caches on 2 cores (make check's
# stage times), scaled to this machine's cores.
EST_BASE=90 EST_KERNEL=660 EST_QEMU=360 EST_BOOT=60
ncpu=$(nproc)
scale() { echo $(($1 * 2 / (ncpu < 1 ? 1 : ncpu))); }
mins() { printf '~%d min' $((($1 + 59) / 60)); }

# timeline KERNEL_LOG: the demo's steps (the agent's "guest: demo:" lines)
# and the kernel's own quarantine and lift lines, on the kernel's clock,
# drawn as a time line from the moment the timeout was armed.
timeline() {
	python3 - "$1" <<'PY'
import re, sys
try:
    log = open(sys.argv[1], errors="replace").read().splitlines()
except OSError:
    sys.exit(1)
TS = re.compile(r"^\[\s*(\d+\.\d+)\]\s*(.*)$")
events = []
for line in log:
    m = TS.match(line.strip())
    if not m:
        continue
    t, msg = float(m.group(1)), m.group(2)
    if "guest: demo: " in msg:
        text = msg.split("guest: demo: ", 1)[1]
        mark = {"ATC": "*", "after": "|", "I/O": "|", "reset": "R",
                "recovered": "+"}.get(text.split()[0].rstrip(":"), "|")
        events.append((t, mark, text))
    elif "ATC invalidate timeout" in msg:
        events.append((t, "!", "kernel: " + re.sub(r"^\S+ \S+: ", "", msg)))
    elif re.search(r"ATC invalidation (timed out|did not complete)", msg):
        events.append((t, "X", "kernel: " + re.sub(r"^\S+ \S+: ", "", msg)))
    elif "ATS quarantine lifted" in msg:
        events.append((t, "^", "kernel: " + re.sub(r"^\S+ \S+: ", "", msg)))
if not events:
    sys.exit(1)
t0 = events[0][0]
print("== timeline (kernel clock; ms after the ATC invalidation timeout was armed)")
print("        ms")
prev = None
for t, mark, text in events:
    ms = (t - t0) * 1000
    if prev is not None and ms - prev > 200:
        print("           :")
    print("   %7.0f  %s  %s" % (ms, mark, text[:110]))
    prev = ms
print("           *: armed  !: SMMU reports the timeout  X: quarantined  R: reset  ^: lifted  +: recovered")
at = {}
for t, mark, _ in events:
    at.setdefault(mark, t)
def span(a, b):
    return "%.0f ms" % ((at[b] - at[a]) * 1000) if a in at and b in at else "?"
print("   timeout -> quarantine %s | quarantined, I/O without ATS %s | reset -> lifted %s"
      % (span("*", "X"), span("X", "R"), span("R", "^")))
PY
}

say "== make demo: quarantine of a device whose ATC invalidation timed out, and its recovery"
# Say up front what this run has to do and how long that takes.
plan=() total=0
if ! git -C "$KSRC" rev-parse -q --verify "$BASE_TAG" >/dev/null 2>&1; then
	plan+=("base tree $(mins "$(scale $EST_BASE)")")
	total=$((total + $(scale $EST_BASE)))
fi
if ! fresh_image; then
	plan+=("kernel build $(mins "$(scale $EST_KERNEL)")")
	total=$((total + $(scale $EST_KERNEL)))
fi
if ! "$TOP/scripts/qemu-build.sh" --path >/dev/null 2>&1; then
	plan+=("QEMU build $(mins "$(scale $EST_QEMU)")")
	total=$((total + $(scale $EST_QEMU)))
fi
total=$((total + EST_BOOT))
if [ ${#plan[@]} -gt 0 ]; then
	say "   this run builds what is missing: $(IFS=,; echo "${plan[*]}" | sed 's/,/, /g'), then boots the VM (~1 min):"
	say "   about $(mins $total) in all on $ncpu CPU(s); later runs reuse everything and take ~1 min"
else
	say "   everything is built: booting the VM takes ~1 min"
fi
step "dependencies (apt-get, only what is missing)" demo-deps.log "$TOP/scripts/deps.sh"
if ! git -C "$KSRC" rev-parse -q --verify "$BASE_TAG" >/dev/null 2>&1; then
	step "base tree: fetch + verify Linux 7.3-rc7" demo-base.log "$TOP/scripts/fetch-base.sh"
fi
if fresh_image; then
	say "  reuse: kernel with the series ($IMAGE)"
else
	step "kernel: apply the series and build arm64 (cold: $(mins "$(scale $EST_KERNEL)"))" \
		demo-kernel.log build_series_kernel
fi
step "QEMU 10.0.2 with the SMMUv3 ATS model (cold: $(mins "$(scale $EST_QEMU)"))" demo-qemu.log "$TOP/scripts/qemu-build.sh"
QEMU=$(grep "/qemu-system-aarch64$" "$LOGS/demo-qemu.log" | tail -n 1)
[ -x "$QEMU" ] || { say "VERDICT: FAIL - no QEMU binary ($QEMU)"; exit 1; }
GUEST=$BUILD/scenarios/guest
step "guest agent (static aarch64 /init)" demo-guest.log make -s -C "$TOP/guest" O="$GUEST"

say "== booting arm64 virt + SMMUv3 (ATS on), the series kernel, 6 virtio-blk disks"
t=$(date +%s)
rc=0
python3 "$TOP/scripts/scenarios.py" --qemu "$QEMU" --initrd "$GUEST/initramfs.cpio" \
	--kernel "$IMAGE" --logs "$LOGS/scenarios" --only demo --timeout 300 \
	>"$LOGS/demo.ktap" 2>"$LOGS/demo-run.log" || rc=$?
sed -n 's/^ *# demo: /  /p' "$LOGS/demo.ktap"
splat=$(sed -n 's/^ *not ok [0-9]* console_log_without_splats # //p' "$LOGS/demo.ktap")
[ -n "$splat" ] && say "  kernel log: $splat"
timeline "$LOGS/scenarios/scenarios-demo.console.log" || true
if [ "$rc" -eq 0 ]; then
	say "VERDICT: PASS - device quarantined on the ATC timeout and recovered by a sysfs reset, data intact (VM $(elapsed "$t"), total $(elapsed "$T0"))"
else
	say "VERDICT: FAIL - see $LOGS/demo.ktap and $LOGS/scenarios/scenarios-demo.console.log"
	exit 1
fi
