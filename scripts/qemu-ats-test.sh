#!/usr/bin/env bash
# ATS on the emulated SMMUv3, and an injected ATC invalidation timeout.
#
#   scripts/qemu-ats-test.sh
#
# Boots the arm64 kernel (default: the base build, $KSRC/.out-arm64) on the
# workspace's patched QEMU (scripts/qemu-build.sh) with
#   -machine virt,iommu=smmuv3,gic-version=3 -global arm-smmuv3.ats=on
# and a virtio-blk-pci disk with ats=on behind a pcie-root-port.  The guest
# agent (guest/, as /init) checks that ATSCtl.Enable is set once the SMMUv3
# driver attached the device, does block I/O, asks the host to arm an ATC
# invalidation timeout for that function (QOM properties of the SMMU, set
# over QMP by scripts/qmp.py), and expects "ATC invalidate timeout" in the
# kernel log with the disk still working afterwards.
#
# stdout is KTAP; the exit status is 0 only if every test passed.  The
# console log is kept in $BUILD/qemu-ats-test/console.log.
#
# Environment: KERNEL=path/to/Image, QEMU=path/to/qemu-system-aarch64
# (default: built by scripts/qemu-build.sh), TIMEOUT (seconds, default 300),
# QEMU_EXTRA (more QEMU arguments, e.g. "-trace smmuv3_*atc*").
. "$(dirname "$0")/lib.sh"

WORK=$BUILD/qemu-ats-test
KERNEL=${KERNEL:-$KSRC/.out-arm64/arch/arm64/boot/Image}
TIMEOUT=${TIMEOUT:-300}

need python3 make aarch64-linux-gnu-gcc
[ -f "$KERNEL" ] || die "no kernel at $KERNEL: run 'scripts/kbuild.sh arm64' (or set KERNEL)"
if [ -z "${QEMU:-}" ]; then
	QEMU=$("$TOP/scripts/qemu-build.sh")
fi
[ -x "$QEMU" ] || die "no QEMU binary at '$QEMU'"

read -ra extra <<<"${QEMU_EXTRA:-}"
mkdir -p "$WORK"
make -s -C "$TOP/guest" O="$WORK/guest" >&2 || die "building the guest agent failed"

# A scratch disk: the guest overwrites its first MiB
rm -f "$WORK/disk0.raw"
truncate -s 16M "$WORK/disk0.raw"

info "kernel $KERNEL" >&2
info "qemu $QEMU" >&2
exec python3 "$TOP/scripts/qmp.py" run --need-ats --timeout "$TIMEOUT" \
	--log "$WORK/console.log" -- \
	"$QEMU" -machine virt,iommu=smmuv3,gic-version=3 -accel tcg \
	-cpu cortex-a57 -smp 2 -m 512M -no-reboot \
	-global arm-smmuv3.ats=on \
	-kernel "$KERNEL" -initrd "$WORK/guest/initramfs.cpio" \
	-append "console=ttyAMA0 panic=-1 iommu.strict=1 guest.scenarios=ats" \
	-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1 \
	-drive if=none,id=d0,file="$WORK/disk0.raw",format=raw,cache=unsafe \
	-device virtio-blk-pci,id=disk0,drive=d0,bus=rp0,ats=on,iommu_platform=on \
	"${extra[@]}"
