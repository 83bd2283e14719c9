#!/usr/bin/env bash
# End-to-end ATS quarantine scenarios in QEMU.
#
#   scripts/scenarios.sh [--kernel IMAGE] [--base-kernel IMAGE]
#                        [--debug-kernel IMAGE [--base-debug-kernel IMAGE]]
#                        [--soak-cycles N] [--only LIST] [--variants LIST]
#                        [--no-reuse]
#
# Builds the guest agent (guest/) and the patched QEMU (scripts/qemu-build.sh,
# or $QEMU), and runs the boots that scripts/scenarios.py describes as data
# (machines, variants, which scenarios in which boot).  --only takes scenario
# names (e.g. "baseline,flr"), --variants variant names (e.g. "smp1").
# stdout: one KTAP v1 document; logs in $BUILD/logs/scenarios/ (per boot the
# kernel log and the agent's KTAP) and on stderr.  Exit status 0 only if
# every scenario passed.
#
# Defaults: --kernel build/images/series/Image, --base-kernel
# build/images/base/Image (what scripts/check.sh copies there).
. "$(dirname "$0")/lib.sh"

KERNEL=$BUILD/images/series/Image
BASE_KERNEL=$BUILD/images/base/Image
DEBUG_KERNEL=
BASE_DEBUG_KERNEL=
SOAK=200
ONLY=
VARIANTS=
REUSE=()
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) KERNEL=$2; shift 2 ;;
	--base-kernel) BASE_KERNEL=$2; shift 2 ;;
	--debug-kernel) DEBUG_KERNEL=$2; shift 2 ;;
	--base-debug-kernel) BASE_DEBUG_KERNEL=$2; shift 2 ;;
	--soak-cycles) SOAK=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--variants) VARIANTS=$2; shift 2 ;;
	--no-reuse) REUSE=(--no-reuse); shift ;;
	-h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done

need python3 make aarch64-linux-gnu-gcc
[ -f "$KERNEL" ] || die "no kernel at $KERNEL (--kernel)"
if [ -z "${QEMU:-}" ]; then
	QEMU=$("$TOP/scripts/qemu-build.sh") || die "building QEMU failed"
fi
[ -x "$QEMU" ] || die "no QEMU binary at '$QEMU'"

LOGDIR=$BUILD/logs/scenarios
GUEST=$BUILD/scenarios/guest
mkdir -p "$LOGDIR" "$GUEST"
make -s -C "$TOP/guest" O="$GUEST" KSRC="$KSRC" >&2 || die "building the guest agent failed"

args=(--qemu "$QEMU" --initrd "$GUEST/initramfs.cpio" --kernel "$KERNEL"
	--logs "$LOGDIR" --reuse-dir "$CACHE/scenarios/reuse" --only "$ONLY" --variants "$VARIANTS" --jobs "${SCENARIO_JOBS:-1}")
[ -n "$BASE_KERNEL" ] && [ -f "$BASE_KERNEL" ] && args+=(--base-kernel "$BASE_KERNEL")
# A debug kernel that failed to build is reported by the build stage; the
# scenarios that need it are then skipped, not failed twice.
[ -n "$DEBUG_KERNEL" ] && [ -f "$DEBUG_KERNEL" ] && args+=(--debug-kernel "$DEBUG_KERNEL")
[ -n "$BASE_DEBUG_KERNEL" ] && [ -f "$BASE_DEBUG_KERNEL" ] &&
	args+=(--base-debug-kernel "$BASE_DEBUG_KERNEL")
args+=(--soak-cycles "$SOAK" "${REUSE[@]}")
info "kernel $KERNEL" >&2
exec python3 "$TOP/scripts/scenarios.py" "${args[@]}"
