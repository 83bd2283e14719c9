#!/usr/bin/env python3
"""End-to-end ATS quarantine scenarios in QEMU; host side.

    scenarios.py --qemu QEMU --initrd CPIO --kernel IMAGE [--base-kernel IMAGE]
                 [--debug-kernel IMAGE [--base-debug-kernel IMAGE]]
                 [--only LIST] [--variants LIST] [--logs DIR]

Everything a boot is made of is data below: MACHINES (devices, root ports,
functions), VARIANTS (CPUs, SMMUv3 properties) and BOOTS (which kernel,
machine, variants and guest scenarios, guest/scenario-<name>.c).  A new
topology or scenario is one entry there.

Each boot has two serial ports: the first is the kernel's console, written
whole to a file (the kernel log); the second carries the guest agent's KTAP
and its requests to the host (scripts/qmp.py, Host), answered on the same
port.  Kernel reports are judged on the kernel log alone, whole, and
attributed to the scenario during which they started (the agent marks each
scenario's start in the kernel log).

Prints one KTAP v1 document: one result per scenario and variant, the
guest's checks as its subtests plus one host check, that the kernel log of
that scenario holds no kernel splat (WARN, BUG, lockdep, KASAN, ...).
Benchmark figures are "# bench:" diagnostics, never asserted.  A variant
that needs what this QEMU lacks (an SMMUv3 property missing from
qom-list) is reported as SKIP with the reason, and runs by itself once the
property is there.  Logs go to --logs.  Exit status 0 only if everything
passed.
"""
import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp import (QMP, QMPError, Host, KTAP_LINE, pump_console_line,  # noqa: E402
                 smmu_properties)

# ---- machines ---------------------------------------------------------------
#
# A machine: the board (-machine), device defaults (-global), PCIe ports and
# switches in creation order (type, id, parent bus, more properties), and
# virtio-blk disks, all iommu_platform=on, told apart in the guest by their
# serial numbers: (qdev id suffix, serial, bus, function, ATS).  Functions
# of one slot ("0.0", "0.1", ...) have no ACS between them: one IOMMU group,
# one invalidation batch.  ATS disks also have AER.  "nvmes": QEMU NVMe
# controllers (no ATS, no AER capability; the nvme driver has AER
# handlers): (qdev id suffix, serial, bus).  The qdev id of a disk or an
# NVMe is "dev" + its suffix (what pcie_aer_inject_error names).  Another
# topology is another entry.
MACHINES = {
    "six-disks": {
        "board": "virt,iommu=smmuv3,gic-version=3",
        "globals": ["arm-smmuv3.ats=on"],
        "ports": [
            ("pcie-root-port", "rp1", "pcie.0", "chassis=1,slot=1,addr=2.0"),
            ("pcie-root-port", "rp2", "pcie.0", "chassis=2,slot=2,addr=3.0"),
            ("pcie-root-port", "rp3", "pcie.0", "chassis=3,slot=3,addr=4.0"),
            ("pcie-root-port", "rp4", "pcie.0", "chassis=4,slot=4,addr=5.0"),
        ],
        "disks": [
            ("A", "ats-a", "rp1", "0", True),
            ("B", "ats-b", "rp2", "0", True),
            ("C0", "mf-0", "rp3", "0.0", True),
            ("C1", "mf-1", "rp3", "0.1", True),
            ("C2", "mf-2", "rp3", "0.2", True),
            ("N", "noats", "rp4", "0", False),
        ],
    },
    # PCIe error recovery (scenario-dpc.c, scenario-dpc-atc.c,
    # scenario-switch-*.c).  dpc-a sits below a root port with Downstream
    # Port Containment, innocent on a root port of its own.  A switch
    # (x3130-upstream, two xio3130-downstream ports) has an ATS disk below
    # each downstream port; its errors go the AER way (no DPC).  The NVMe
    # is alone below a second switch: a fatal error of a switch's upstream
    # port recovers everything below the root port together, and a virtio
    # disk there (no AER handlers) would fail the NVMe's recovery too.
    "recovery": {
        "board": "virt,iommu=smmuv3,gic-version=3",
        "globals": ["arm-smmuv3.ats=on"],
        "ports": [
            ("pcie-root-port", "rp1", "pcie.0",
             "chassis=1,slot=1,addr=2.0,dpc=on"),
            ("pcie-root-port", "rp2", "pcie.0", "chassis=2,slot=2,addr=3.0"),
            ("pcie-root-port", "rp3", "pcie.0", "chassis=3,slot=3,addr=4.0"),
            ("x3130-upstream", "up3", "rp3", ""),
            ("xio3130-downstream", "dn31", "up3", "chassis=31,slot=0"),
            ("xio3130-downstream", "dn32", "up3", "chassis=32,slot=0"),
            ("pcie-root-port", "rp4", "pcie.0", "chassis=4,slot=4,addr=5.0"),
            ("x3130-upstream", "up4", "rp4", ""),
            ("xio3130-downstream", "dn41", "up4", "chassis=41,slot=0"),
        ],
        "disks": [
            ("DA", "dpc-a", "rp1", "0", True),
            ("DI", "innocent", "rp2", "0", True),
            ("SA", "sw-a", "dn31", "0", True),
            ("SB", "sw-b", "dn32", "0", True),
        ],
        "nvmes": [("SN", "sw-nvme", "dn41")],
    },
    # The same switch recovery without an IOMMU (scenario-noiommu.c): an
    # NVMe below a switch, a virtio disk (no ATS) on another root port.
    # The NVMe's own errors are contained by DPC at its downstream port:
    # AER cannot recover them (QEMU's nvme has no AER capability, the AER
    # driver finds no error status in it and does nothing).
    "noiommu": {
        "board": "virt,gic-version=3",
        "globals": [],
        "ports": [
            ("pcie-root-port", "rp1", "pcie.0", "chassis=1,slot=1,addr=2.0"),
            ("x3130-upstream", "up1", "rp1", ""),
            ("xio3130-downstream", "dn11", "up1", "chassis=11,slot=0,dpc=on"),
            ("pcie-root-port", "rp2", "pcie.0", "chassis=2,slot=2,addr=3.0"),
        ],
        "disks": [("NO", "ni-other", "rp2", "0", False)],
        "nvmes": [("NN", "ni-nvme", "dn11")],
    },
}

# ---- variants ---------------------------------------------------------------
#
# CPUs and SMMUv3 (arm-smmuv3) QOM properties.  x-atc-inv-timeout-delay-ms
# keeps a CMD_SYNC with a timed out ATC invalidation outstanding for that
# long before the SMMU reports it (longer than the kernel's 1 s poll); with
# one CPU, the CPU that polls is also the one that takes the SMMU's error
# interrupt.  The first variant is the default one: its results keep the
# plain scenario name, the others get "_<variant>" appended.
VARIANTS = {
    "smp2": {"smp": 2, "smmu": {}},
    "smp1": {"smp": 1, "smmu": {}},
    "smp2_delay1500": {"smp": 2, "smmu": {"x-atc-inv-timeout-delay-ms": 1500}},
    "smp1_delay1500": {"smp": 1, "smmu": {"x-atc-inv-timeout-delay-ms": 1500}},
}
DEFAULT_VARIANT = "smp2"

# ---- boots ------------------------------------------------------------------
#
# label: names the logs.  kernel: which --*-kernel image.  scenarios: run in
# this order in one boot.  variants: one boot per variant.  suffix: appended
# to result names (the same scenario on another kernel).  timeout: seconds.
# learn_splats: its kernel reports are what the unpatched kernel prints, and
# the only ones allowed in the boot whose allow_splats_from names it.
# append: more kernel parameters (guest.kernel=base tells the guest that
# the kernel is the unpatched one, for the scenarios that check the
# series' own behaviour and only measure the base kernel).
# demo: only run when selected by name (make demo).  reusable: the boot of
# an unpatched kernel depends only on its inputs, so the outcome of an
# earlier boot with the same kernel image, initramfs, QEMU binary, harness
# and boot description is reused (--no-reuse runs it anyway).  The store
# (--reuse-dir) is in the workspace's cache: a fresh clone reuses what
# another clone booted with the same inputs.
#
# Where the variants go (every boot costs minutes of one CPU's time): the
# scenarios that inject ATC timeouts and check the quarantine run in the
# default machine and in one CPU with the delayed report (the combination
# furthest from the default); scenarios that inject nothing (baseline,
# benchmarks, KUnit, soak, unplug) run once.
CORE = ["quarantine", "flr", "reset_method", "failed_reset", "batch",
        "unbind_flr_rebind"]
RECOVERY = ["dpc", "dpc_atc", "dpc_twice", "switch_endpoint",
            "switch_upstream"]
BOOTS = [
    {"label": "series", "kernel": "kernel", "machine": "six-disks",
     "variants": ["smp2", "smp1_delay1500"],
     "scenarios": ["baseline"] + CORE + ["flrbench", "dmabench"],
     "variant_scenarios": CORE},
    # The other two corners of the CPU x report delay matrix, for the
    # scenarios whose outcome depends on the detection: one device (and its
    # recovery, which the batch needs), and a batch with innocent and faulty
    # functions.  The guest runs them in its own order.
    {"label": "matrix", "kernel": "kernel", "machine": "six-disks",
     "variants": ["smp1", "smp2_delay1500"],
     "scenarios": ["quarantine", "flr", "batch"]},
    # A fatal error leaves the machine changed: its own boot
    {"label": "aer", "kernel": "kernel", "machine": "six-disks",
     "variants": ["smp2", "smp1_delay1500"], "scenarios": ["aer"]},
    # The benchmarks on the unpatched kernel, for comparison
    {"label": "base", "kernel": "base_kernel", "machine": "six-disks",
     "variants": ["smp2"], "scenarios": ["flrbench", "dmabench"],
     "suffix": "_base", "reusable": True},
    # Lockdep, KASAN, kmemleak.  The unpatched debug kernel's reports on
    # the same unplug are learnt first: only those may appear again.
    {"label": "base-debug", "kernel": "base_debug_kernel",
     "machine": "six-disks", "variants": ["smp2"], "scenarios": ["unplug"],
     "suffix": "_base", "learn_splats": True, "debug": True,
     "reusable": True},
    {"label": "debug", "kernel": "debug_kernel", "machine": "six-disks",
     "variants": ["smp2"], "scenarios": ["kunit_twice", "soak", "unplug"],
     "allow_splats_from": "base-debug", "debug": True},
    {"label": "demo", "kernel": "kernel", "machine": "six-disks",
     "variants": ["smp2"], "scenarios": ["demo"], "demo": True},
    # PCIe error recovery: DPC and AER link resets of ATS devices, below
    # root ports and switches.  Each scenario puts back what the error
    # broke, so they share one boot; the same boot of the unpatched kernel
    # gives the recovery times to compare with.
    {"label": "recovery", "kernel": "kernel", "machine": "recovery",
     "variants": ["smp2"], "scenarios": RECOVERY},
    {"label": "recovery-base", "kernel": "base_kernel", "machine": "recovery",
     "variants": ["smp2"], "scenarios": RECOVERY, "suffix": "_base",
     "append": "guest.kernel=base", "reusable": True},
    # Again on the lockdep/KASAN kernel: error recovery runs the hooks
    # under device locks and the group mutex, from its own callbacks
    {"label": "recovery-debug", "kernel": "debug_kernel",
     "machine": "recovery", "variants": ["smp2"], "scenarios": RECOVERY,
     "suffix": "_debug", "debug": True},
    # The same switch recovery on a machine without an IOMMU: the series
    # must change nothing there
    {"label": "noiommu", "kernel": "kernel", "machine": "noiommu",
     "variants": ["smp2"], "scenarios": ["noiommu"]},
    {"label": "noiommu-base", "kernel": "base_kernel", "machine": "noiommu",
     "variants": ["smp2"], "scenarios": ["noiommu"], "suffix": "_base",
     "append": "guest.kernel=base", "reusable": True},
]

SPLAT = re.compile(
    r"WARNING:|BUG:|Oops|Kernel panic|Unable to handle kernel|"
    r"possible circular locking|possible recursive locking|"
    r"inconsistent lock state|suspicious RCU usage|INFO: task .* blocked|"
    r"rcu: INFO:|KASAN|UBSAN|sleeping function called from invalid context|"
    r"suspected memory leak|hung_task|soft lockup|hard LOCKUP")

TOP_RESULT = re.compile(r"^(not )?ok (\d+) (\S+)")
MARK = re.compile(r"guest: scenario (\S+) (begin|end)$")


def qemu_args(opts, kernel, machine, variant, scenarios, workdir, append):
    m, v = MACHINES[machine], VARIANTS[variant]
    args = [opts.qemu, "-machine", m["board"], "-accel", "tcg",
            "-cpu", "cortex-a57", "-smp", str(v["smp"]), "-m", "512M",
            "-no-reboot"]
    for g in m["globals"]:
        args += ["-global", g]
    for prop, value in sorted(v["smmu"].items()):
        args += ["-global", "arm-smmuv3.%s=%s" % (prop, value)]
    args += ["-kernel", kernel, "-initrd", opts.initrd,
             "-append", "console=ttyAMA0 panic=-1 iommu.strict=1 "
             "guest.tty=ttyAMA1 guest.splat_check=0 guest.scenarios=%s %s"
             % (",".join(scenarios), append)]
    for kind, qid, bus, more in m["ports"]:
        args += ["-device", "%s,id=%s,bus=%s%s"
                 % (kind, qid, bus, "," + more if more else "")]
    for name, serial, bus, addr, ats in m["disks"]:
        img = os.path.join(workdir, "disk-%s.raw" % serial)
        with open(img, "wb") as f:
            f.truncate(16 << 20)
        args += ["-drive", "if=none,id=d%s,file=%s,format=raw,cache=unsafe"
                 % (name, img)]
        dev = ("virtio-blk-pci,id=dev%s,drive=d%s,bus=%s,addr=%s,serial=%s,"
               "iommu_platform=on" % (name, name, bus, addr, serial))
        if ats:
            dev += ",ats=on,aer=on"
        if addr == "0.0":
            dev += ",multifunction=on"
        args += ["-device", dev]
    for name, serial, bus in m.get("nvmes", []):
        img = os.path.join(workdir, "nvme-%s.raw" % serial)
        with open(img, "wb") as f:
            f.truncate(16 << 20)
        args += ["-drive", "if=none,id=d%s,file=%s,format=raw,cache=unsafe"
                 % (name, img),
                 "-device", "nvme,id=dev%s,drive=d%s,bus=%s,serial=%s"
                 % (name, name, bus, serial)]
    return args


def boot(args, ktap_path, klog_path, timeout):
    """Runs QEMU with the guest agent; returns (KTAP lines, kernel log
    lines, rc, diag)."""
    tmp = tempfile.mkdtemp(prefix="scen-")
    sock = os.path.join(tmp, "qmp.sock")
    cmd = args + ["-S", "-nodefaults", "-display", "none",
                  "-serial", "file:%s" % klog_path, "-serial", "stdio",
                  "-qmp", "unix:%s,server=on,wait=off" % sock]
    lines = []
    diag = ""
    with open(ktap_path, "wb") as log:
        log.write(("# " + " ".join(cmd) + "\n").encode())
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        timed_out = []

        def kill():
            timed_out.append(True)
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        qmp = None
        plan, done, killer = None, 0, []
        try:
            qmp = QMP(sock, proc=proc)
            smmus = qmp.find_type("arm-smmuv3")
            host = Host(qmp, smmus[0] if smmus else None)
            qmp.cmd("cont")
            for raw in proc.stdout:
                line = pump_console_line(raw, log, host, proc)
                if line is None:
                    continue
                lines.append(line)
                m = re.match(r"^1\.\.(\d+)$", line)
                if m and plan is None:
                    plan = int(m.group(1))
                if TOP_RESULT.match(line):
                    done += 1
                    if plan is not None and done == plan and not killer:
                        # A guest whose device is left broken (aer) may
                        # hang in its shutdown: results are complete
                        killer.append(threading.Timer(20, proc.kill))
                        killer[0].start()
            proc.wait()
            if killer and proc.returncode and not timed_out:
                diag = "killed 20 s after the last result (shutdown hung)"
        except QMPError as e:
            diag = "QMP: %s" % e
            proc.kill()
            out = proc.communicate()[0] or b""
            log.write(out)
            lines += out.decode("utf-8", "replace").splitlines()
        finally:
            timer.cancel()
            for k in killer:
                k.cancel()
            if qmp:
                qmp.close()
            shutil.rmtree(tmp, ignore_errors=True)
        if timed_out:
            diag = "timed out after %d s" % timeout
    try:
        with open(klog_path, "rb") as f:
            klog = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        klog = []
    return lines, [k.rstrip("\r") for k in klog], proc.returncode, diag


def boot_key(opts, b, variant, kernel, names, append):
    """What the outcome of a boot depends on, hashed."""
    h = hashlib.sha256()
    for path in (kernel, opts.initrd, opts.qemu, os.path.abspath(__file__),
                 os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "qmp.py")):
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    h.update(json.dumps([sorted(b.items()), variant, names, append,
                         MACHINES[b["machine"]], VARIANTS[variant]],
                        sort_keys=True, default=str).encode())
    return h.hexdigest()[:24]


def reusing_boot(opts, key, args, ktap_path, klog_path, timeout):
    """boot(), or the stored outcome of a boot with the same key."""
    store = os.path.join(opts.reuse_dir or os.path.join(opts.logs, "reuse"),
                         "%s.json" % key)
    if key:
        try:
            with open(store) as f:
                r = json.load(f)
            with open(ktap_path, "w") as f:
                f.write(r["ktap"])
            with open(klog_path, "w") as f:
                f.write("\n".join(r["klog"]) + "\n")
            return (r["lines"], r["klog"], r["rc"],
                    "; ".join(x for x in (r["diag"], "reused the outcome of "
                                          "an identical boot of %s"
                                          % r["when"]) if x))
        except (OSError, ValueError, KeyError):
            pass
    lines, klog, rc, diag = boot(args, ktap_path, klog_path, timeout)
    # Only a clean outcome is kept: a failure is never replayed
    if (key and not diag and rc == 0 and
            not any(line.startswith("not ok ") for line in lines)):
        os.makedirs(os.path.dirname(store), exist_ok=True)
        with open(ktap_path, errors="replace") as f:
            ktap = f.read()
        with open(store + ".tmp", "w") as f:
            json.dump({"lines": lines, "klog": klog, "rc": rc, "diag": diag,
                       "ktap": ktap, "when": time.strftime("%F %T")}, f)
        os.replace(store + ".tmp", store)
    return lines, klog, rc, diag


def split_guest(lines):
    """{scenario: (ok, block lines, result line)} and leftover lines."""
    out, block, pre = {}, [], None
    for line in lines:
        if pre is None:
            if line.startswith("KTAP version 1"):
                pre = block
                block = []
            else:
                block.append(line)
            continue
        if re.match(r"^1\.\.\d+$", line):
            continue
        m = TOP_RESULT.match(line)
        if m:
            out[m.group(3)] = (not m.group(1), block, line)
            block = []
        else:
            block.append(line)
    return out, pre or [], block


# ---- kernel reports -----------------------------------------------------------

LOCK_NAME = re.compile(r"\(([^()\s]+)\)\{")
REPORT_END = re.compile(r"---\[ end trace")
REPORT_LINES = 200

# The one known splat of the base kernel that may be allowed, by name
ALLOWED_IN = "pciehp_unconfigure_device"


def splat_report(lines, i):
    """The lines of the report that starts at lines[i]: up to its end
    marker or the next report.  Lines other CPUs printed meanwhile (the
    agent's scenario marks among them) stay in; they name no lock."""
    out = []
    for line in lines[i + 1:i + REPORT_LINES]:
        if REPORT_END.search(line) or SPLAT.search(line):
            break
        out.append(line)
    return out


def splat_signature(lines, i):
    """What identifies the splat that starts at lines[i]: its kind and,
    for lockdep reports, the lock classes it names (addresses, task names
    and timestamps differ between runs and kernels)."""
    kind = SPLAT.search(lines[i]).group(0)
    locks = set()
    for line in splat_report(lines, i):
        locks.update(LOCK_NAME.findall(line))
    return (kind, tuple(sorted(locks)))


def known_splats(base_lines):
    """An allow function for splats(): a splat passes if the unpatched
    base kernel printed one with the same signature, and that report is
    the lockdep circular-dependency report in pciehp_unconfigure_device
    that the base kernel prints when pciehp removes a device.  Nothing
    else is ever allowed."""
    known = set(splat_signature(base_lines, i)
                for i, l in enumerate(base_lines)
                if "possible circular locking" in l and
                any(ALLOWED_IN in x for x in splat_report(base_lines, i)))

    def allow(lines, found):
        heads = [i for i in found if "possible" in lines[i] or
                 "WARNING:" in lines[i] or "BUG:" in lines[i]]
        left = []
        for i in found:
            head = max([h for h in heads if h <= i] or [i])
            if (splat_signature(lines, head) not in known or
                    not any(ALLOWED_IN in x for x in splat_report(lines, head))):
                left.append(i)
        return left
    allow.known = known
    return allow


def splats_by_scenario(klog, names, allow=None):
    """{scenario: [splat lines]} of the kernel log: every splat line that
    allow() does not let pass, under the scenario whose begin mark comes
    last before it (lines before the first mark count for the first
    scenario).  The whole log is judged at once, so that a report is read
    whole even when a mark was printed in its middle."""
    found = [i for i, l in enumerate(klog) if SPLAT.search(l)]
    if allow:
        found = allow(klog, found)
    owner, cur = {}, names[0] if names else None
    for i, line in enumerate(klog):
        m = MARK.search(line)
        if m and m.group(2) == "begin" and m.group(1) in names:
            cur = m.group(1)
        owner[i] = cur
    out = {n: [] for n in names}
    for i in found:
        out.setdefault(owner[i], []).append(klog[i])
    return out


# ---- KTAP ---------------------------------------------------------------------

class Doc:
    def __init__(self):
        self.diags = []
        self.results = []

    def scenario(self, name, guest, found):
        """guest: (ok, block, line); found: the splat lines of its log."""
        gok, block, _ = guest
        lines, plan = [], None
        for line in block:
            if not KTAP_LINE.match(line):
                line = "    # agent: " + line
            m = re.match(r"^    1\.\.(\d+)$", line)
            if m and plan is None:
                plan = int(m.group(1))
                line = "    1..%d" % (plan + 1)
            lines.append(line)
        if plan is None:
            lines = ["    KTAP version 1", "    # Subtest: %s" % name,
                     "    1..1"] + [b for b in block if b.strip()]
            plan = 0
            gok = False
        if found:
            lines.append("    # first splat: %s" % found[0].strip()[:200])
        lines.append("    %s %d console_log_without_splats%s"
                     % ("not ok" if found else "ok", plan + 1,
                        " # %d splat line(s): %s"
                        % (len(found), found[0].strip()[:150])
                        if found else ""))
        self.results.append((gok and not found, name, lines))

    def fail(self, name, lines):
        self.results.append((False, name, lines))

    def skip(self, name, reason):
        self.results.append((True, name, ["SKIP", reason]))

    def emit(self):
        print("KTAP version 1")
        print("1..%d" % len(self.results))
        for d in self.diags:
            print("# " + d)
        for n, (ok, name, lines) in enumerate(self.results, 1):
            if lines and lines[0] == "SKIP":
                print("ok %d %s # SKIP %s" % (n, name, lines[1]))
                continue
            for line in lines:
                print(line)
            print("%s %d %s" % ("ok" if ok else "not ok", n, name))
        sys.stdout.flush()
        return all(r[0] for r in self.results)


def result_name(scenario, b, variant):
    name = scenario + b.get("suffix", "")
    if variant != DEFAULT_VARIANT:
        name += "_" + variant
    return name


def rename_subtest(lines, old, new):
    return ["    # Subtest: %s" % new if x == "    # Subtest: %s" % old else x
            for x in lines]


def dma_ratio(diags):
    """The series/base ratio of the dma_map_benchmark map and unmap
    latencies, from the "# bench:" lines of the boots labelled series and
    base (None unless both are there)."""
    got = {}
    for d in diags:
        m = re.match(r"(series|base): bench: dma_map_benchmark .*: "
                     r"map ([0-9.]+) us .*unmap ([0-9.]+) us", d)
        if m:
            got[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    if len(got) < 2 or 0 in got["base"]:
        return None
    (sm, su), (bm, bu) = got["series"], got["base"]
    # A reused base boot measured in another run, under another load
    when = [m.group(1) for m in (re.match(r"boot base \(.*reused the outcome "
                                          r"of an identical boot of ([^,]+)", d)
                                 for d in diags) if m]
    return ("bench: dma_map_benchmark series/base: map %.2fx, unmap %.2fx "
            "(series %.1f/%.1f us, base %.1f/%.1f us%s)"
            % (sm / bm, su / bu, sm, su, bm, bu,
               ", base measured %s in an earlier run" % when[0]
               if when else ""))


def run_boot(opts, doc, b, variant, kernel, names, allow=None, append=""):
    """Boots once with the scenarios names; adds their results.  Returns
    the kernel log."""
    label = b["label"] + ("" if variant == DEFAULT_VARIANT else
                          "-" + variant)
    ktap = os.path.join(opts.logs, "scenarios-%s.ktap.log" % label)
    klog = os.path.join(opts.logs, "scenarios-%s.console.log" % label)
    timeout = b.get("timeout") or (opts.debug_timeout if b.get("debug")
                                   else opts.timeout)
    t0 = time.monotonic()
    disks = tempfile.mkdtemp(prefix="disks-", dir=opts.logs)
    key = (boot_key(opts, b, variant, kernel, names, append)
           if b.get("reusable") and opts.reuse else None)
    try:
        lines, kernel_log, rc, diag = reusing_boot(
            opts, key, qemu_args(opts, kernel, b["machine"], variant, names,
                                 disks, append), ktap, klog, timeout)
    finally:
        shutil.rmtree(disks, ignore_errors=True)
    secs = time.monotonic() - t0
    doc.diags.append("boot %s (%s): %.1f s, %s, kernel log %s"
                     % (label, kernel, secs,
                        "; ".join(x for x in ("qemu exit %s" % rc, diag) if x),
                        klog))
    guest, pre, post = split_guest(lines)
    for line in lines:
        m = re.search(r"# (bench: .*)", line)
        if m:
            doc.diags.append("%s: %s" % (label, m.group(1)))
    found = splats_by_scenario(kernel_log, names, allow)
    tail = [k for k in kernel_log if k.strip()][-25:]
    for i, name in enumerate(names):
        rname = result_name(name, b, variant)
        g = guest.get(name)
        if not g:
            why = diag or "no result from the guest (exit %s)" % rc
            doc.fail(rname, ["    # scenario %s did not finish: %s"
                             % (name, why)] +
                     ["    # kernel log: " + t.strip() for t in tail])
            tail = []
            continue
        block = g[1]
        if i == 0:
            block = pre + block
        if i == len(names) - 1:
            block = block + post
        doc.scenario(rname, (g[0], rename_subtest(block, name, rname), g[2]),
                     found.get(name, []))
    return kernel_log


class Slots:
    """At most n holders at a time; of the threads waiting, the one of the
    lowest rank goes first.  No slot is given before every expected rank
    has either asked for one or left: the threads start in any order, and
    the first to run must not take a slot that a longer boot needs."""

    def __init__(self, n, expected=()):
        self.free = n
        self.waiting = []
        self.unseen = set(expected)
        self.cond = threading.Condition()

    def leave(self, rank):
        """rank will not ask for a slot (again)."""
        with self.cond:
            self.unseen.discard(rank)
            self.cond.notify_all()

    @contextlib.contextmanager
    def taken(self, rank):
        with self.cond:
            self.unseen.discard(rank)
            self.waiting.append(rank)
            # the last to arrive may not be the first to go
            self.cond.notify_all()
            while (self.unseen or self.free == 0 or
                   min(self.waiting) != rank):
                self.cond.wait()
            self.waiting.remove(rank)
            self.free -= 1
            self.cond.notify_all()
        try:
            yield
        finally:
            with self.cond:
                self.free += 1
                self.cond.notify_all()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--base-kernel")
    ap.add_argument("--debug-kernel",
                    help="kernel with lockdep, KASAN and kmemleak for the "
                    "soak and unplug scenarios")
    ap.add_argument("--base-debug-kernel",
                    help="unpatched debug kernel: splats it prints on unplug "
                    "are allowed")
    ap.add_argument("--soak-cycles", type=int, default=200)
    ap.add_argument("--debug-timeout", type=int, default=1500,
                    help="per debug boot, seconds")
    ap.add_argument("--only", default="",
                    help="scenario names (default: all but demo)")
    ap.add_argument("--variants", default="",
                    help="variant names (default: each boot's own list)")
    ap.add_argument("--logs", required=True)
    ap.add_argument("--timeout", type=int, default=420,
                    help="per boot, seconds")
    ap.add_argument("--no-reuse", dest="reuse", action="store_false",
                    help="boot the unpatched kernels even when an identical "
                    "boot's outcome is stored")
    ap.add_argument("--reuse-dir",
                    help="where the outcomes of reusable boots are stored "
                    "(default: LOGS/reuse)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="boots run at once (each is one QEMU process)")
    ap.add_argument("--append", default="",
                    help="more kernel parameters, e.g. loglevel=8")
    opts = ap.parse_args()
    os.makedirs(opts.logs, exist_ok=True)
    # One run at a time (make check, make demo and a developer share logs)
    lock = open(os.path.join(opts.logs, ".lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)

    only = set(x for x in opts.only.replace(",", " ").split() if x)
    want_variants = set(x for x in opts.variants.replace(",", " ").split()
                        if x)
    unknown = want_variants - set(VARIANTS)
    if unknown:
        sys.exit("scenarios.py: unknown variant(s) %s; known: %s"
                 % (", ".join(sorted(unknown)), ", ".join(VARIANTS)))
    kernels = {"kernel": opts.kernel, "base_kernel": opts.base_kernel,
               "debug_kernel": opts.debug_kernel,
               "base_debug_kernel": opts.base_debug_kernel}
    plan = []
    for b in BOOTS:
        for v in b["variants"]:
            if want_variants and v not in want_variants:
                continue
            names = (b["scenarios"] if v == DEFAULT_VARIANT
                     else b.get("variant_scenarios", b["scenarios"]))
            names = [n for n in names
                     if (n in only if only else not b.get("demo"))]
            if names:
                plan.append((b, v, names))
    if not plan:
        sys.exit("scenarios.py: nothing selected by --only '%s'" % opts.only)

    # What this QEMU's SMMUv3 offers decides which variants can run
    props = None
    if any(VARIANTS[v]["smmu"] for _, v, _ in plan):
        try:
            props = smmu_properties(opts.qemu)
        except QMPError as e:
            props = set()
            print("scenarios.py: qom-list of the SMMUv3 failed: %s" % e,
                  file=sys.stderr)

    t0 = time.monotonic()
    learnt = {}
    # Boots are independent but for the reports one learns for another:
    # up to --jobs of them run at once, each into its own document, merged
    # in the order of the plan.
    learners = set(b["label"] for b, _, _ in plan if b.get("learn_splats"))
    done = {label: threading.Event() for label in learners}

    # The longest chain first: the boots others learn from, then the debug
    # boots (the slowest); with boots side by side, one of them starting
    # last would make the tail.  Results keep the order of the plan.
    def rank(i):
        b = plan[i][0]
        return (0 if b.get("learn_splats") else 1 if b.get("debug") else 2, i)
    slots = Slots(max(1, opts.jobs), [rank(i) for i in range(len(plan))])
    docs = [Doc() for _ in plan]

    def learnt_from(src, doc, label):
        """The allow function for the reports of the boot that learns from
        src, made when the boot is judged: both boots run side by side,
        src (ranked first) is waited for only then.  Nothing is allowed
        if src did not run."""
        def allow(lines, found):
            done[src].wait()
            if src not in learnt:
                return found
            known = known_splats(learnt[src])
            doc.diags.append("%s: %d splat signature(s) on unplug, allowed "
                             "on %s: %s" % (
                                 src, len(known.known), label,
                                 "; ".join("%s %s" % (k, ",".join(l))
                                           for k, l in sorted(known.known))
                                 or "none"))
            return known(lines, found)
        return allow

    def one(i, doc, b, v, names):
        missing = sorted(set(VARIANTS[v]["smmu"]) - (props or set()))
        kernel = kernels[b["kernel"]]
        if missing:
            for n in names:
                doc.skip(result_name(n, b, v),
                         "variant %s: QEMU's arm-smmuv3 has no %s property "
                         "(qom-list)" % (v, ", ".join(missing)))
            return
        if not kernel:
            for n in names:
                doc.skip(result_name(n, b, v), "no --%s given"
                         % b["kernel"].replace("_", "-"))
            return
        append = " ".join(x for x in (opts.append, b.get("append")) if x)
        if b.get("debug"):
            append += " kunit.autorun=0 guest.soak_cycles=%d" % opts.soak_cycles
        allow = None
        src = b.get("allow_splats_from")
        if src in done:
            allow = learnt_from(src, doc, b["label"])
        if b.get("learn_splats"):
            # Its reports are what this run learns, not a failure
            allow = lambda lines, found: []  # noqa: E731
        with slots.taken(rank(i)):
            klog = run_boot(opts, doc, b, v, kernel, names, allow=allow,
                            append=append)
        if b.get("learn_splats"):
            learnt[b["label"]] = klog

    def guarded(i, doc, b, v, names):
        try:
            one(i, doc, b, v, names)
        except Exception as e:  # a harness bug fails the boot, loudly
            traceback.print_exc()
            for n in names:
                doc.fail(result_name(n, b, v),
                         ["    # harness error: %r" % e])
        finally:
            slots.leave(rank(i))
            if b["label"] in done:
                done[b["label"]].set()

    threads = [threading.Thread(target=guarded, args=(i, d) + p)
               for i, (d, p) in enumerate(zip(docs, plan))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    doc = Doc()
    for d in docs:
        doc.diags += d.diags
        doc.results += d.results
    ratio = dma_ratio(doc.diags)
    if ratio:
        doc.diags.append(ratio)
    doc.diags.append("total %.1f s (%d boot(s) at a time)"
                     % (time.monotonic() - t0, max(1, opts.jobs)))
    sys.exit(0 if doc.emit() else 1)


if __name__ == "__main__":
    main()
