#!/usr/bin/env python3
"""End-to-end ATS quarantine scenarios in QEMU (issue 6); host side.

    scenarios.py --qemu QEMU --initrd CPIO --kernel IMAGE [--base-kernel IMAGE]
                 [--debug-kernel IMAGE [--base-debug-kernel IMAGE]]
                 [--only LIST] [--logs DIR]

Boots the kernel on -machine virt with an ATS-capable SMMUv3 and these
virtio-blk disks (all iommu_platform=on, each ATS one with aer=on):

    ats-a   device A   ats=on, root port rp1
    ats-b   device B   ats=on, root port rp2
    mf-0    device C0  ats=on, rp3 function 0 \\ one slot, no ACS between
    mf-1    device C1  ats=on, rp3 function 1 | them: one IOMMU group,
    mf-2    device C2  ats=on, rp3 function 2 / one invalidation batch
    noats   device N   no ATS, root port rp4

runs the guest agent's scenarios (guest/scenario-e2e.c), answers its host
requests (scripts/qmp.py), and prints one KTAP v1 document: one result per
scenario, the guest's checks as its subtests plus one host check, that the
console log of that scenario holds no kernel splat (WARN, BUG, lockdep,
KASAN, ...).  Benchmark figures are "# bench:" diagnostics, never asserted.
Console logs go to --logs.  Exit status 0 only if everything passed.
"""
import argparse
import fcntl
import os
import shutil
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp import QMP, QMPError, Host, KTAP_LINE, pump_console_line  # noqa: E402

# (number in issue 6, name in the guest, which boot runs it)
SCENARIOS = [
    (1, "baseline", "main"),
    (2, "quarantine", "main"),
    (3, "flr", "main"),
    (6, "reset_method", "main"),
    (5, "failed_reset", "main"),  # waits 60 s for a function that is gone
    (8, "batch", "main"),
    (7, "unbind_flr_rebind", "main"),
    (4, "aer", "aer"),           # own boot: after a fatal error
    (0, "flrbench", "main"),     # benchmark: also run on the base kernel
    (0, "dmabench", "main"),     # benchmark: also run on the base kernel
    (0, "kunit_twice", "debug"),  # KUnit suites twice, then kmemleak
    (10, "soak", "debug"),       # debug kernel (lockdep, KASAN, kmemleak)
    (9, "unplug", "debug"),      # removes A: last; also on the base kernel
    (0, "demo", "main"),    # make demo: only with --only demo
]

SPLAT = re.compile(
    r"WARNING:|BUG:|Oops|Kernel panic|Unable to handle kernel|"
    r"possible circular locking|possible recursive locking|"
    r"inconsistent lock state|suspicious RCU usage|INFO: task .* blocked|"
    r"rcu: INFO:|KASAN|UBSAN|sleeping function called from invalid context|"
    r"suspected memory leak|hung_task|soft lockup|hard LOCKUP")

TOP_RESULT = re.compile(r"^(not )?ok (\d+) (\S+)")


def machine(opts, kernel, initrd, scenarios, workdir, extra_append=""):
    disks = [("A", "ats-a", "rp1", "0", True), ("B", "ats-b", "rp2", "0", True),
             ("C0", "mf-0", "rp3", "0.0", True),
             ("C1", "mf-1", "rp3", "0.1", True),
             ("C2", "mf-2", "rp3", "0.2", True),
             ("N", "noats", "rp4", "0", False)]
    args = [opts.qemu, "-machine", "virt,iommu=smmuv3,gic-version=3",
            "-accel", "tcg", "-cpu", "cortex-a57", "-smp", "2", "-m", "512M",
            "-no-reboot", "-global", "arm-smmuv3.ats=on",
            "-kernel", kernel, "-initrd", initrd,
            "-append", "console=ttyAMA0 panic=-1 iommu.strict=1 "
            "guest.splat_check=0 guest.scenarios=%s %s"
            % (",".join(scenarios), extra_append)]
    for n in range(1, 5):
        args += ["-device", "pcie-root-port,id=rp%d,bus=pcie.0,chassis=%d,"
                 "slot=%d,addr=%d.0" % (n, n, n, n + 1)]
    for name, serial, bus, addr, ats in disks:
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
    return args


def boot(args, log_path, timeout):
    """Runs QEMU with the guest agent; returns (console lines, rc, diag)."""
    tmp = tempfile.mkdtemp(prefix="scen-")
    sock = os.path.join(tmp, "qmp.sock")
    cmd = args + ["-S", "-nodefaults", "-display", "none", "-serial", "stdio",
                  "-qmp", "unix:%s,server=on,wait=off" % sock]
    lines = []
    diag = ""
    with open(log_path, "wb") as log:
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
        if timed_out:
            diag = "timed out after %d s" % timeout
    return lines, proc.returncode, diag


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
    return out, (pre or []) + ([] if pre is None else []), block


LOCK_NAME = re.compile(r"\(([^()\s]+)\)\{")
REPORT_END = re.compile(r"---\[ end trace|^\s*#?\s*(ok|not ok) \d+ ")


# The one known splat of the base kernel that may be allowed, by name
ALLOWED_IN = "pciehp_unconfigure_device"


def splat_report(lines, i):
    """The lines of the report that starts at lines[i]."""
    out = []
    for line in lines[i + 1:i + 200]:
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


def splats(lines, allow=None):
    """Splat lines, minus the reports allow() lets pass."""
    found = [i for i, l in enumerate(lines) if SPLAT.search(l)]
    if allow:
        found = allow(lines, found)
    return [lines[i] for i in found]


class Doc:
    def __init__(self):
        self.diags = []
        self.results = []

    def scenario(self, num, name, guest, host_ok, host_diag):
        """guest: (ok, block, line) or None."""
        lines = []
        if guest:
            gok, block, _ = guest
            plan = None
            for line in block:
                if not KTAP_LINE.match(line):
                    line = "    # console: " + line
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
            lines.append("    %s %d console_log_without_splats%s"
                         % ("ok" if host_ok else "not ok", plan + 1,
                            " # " + host_diag if host_diag else ""))
            ok = gok and host_ok
        else:
            ok = False
            lines = ["    # scenario %d did not run: %s" % (num, host_diag)]
        self.results.append((ok, name, lines))

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


def run_boot(opts, doc, label, kernel, entries, allow=None, append="",
             timeout=None):
    """Boots once with the scenarios of entries; adds their results."""
    names = [e[1] for e in entries]
    log = os.path.join(opts.logs, "scenarios-%s.console.log" % label)
    t0 = time.monotonic()
    disks = tempfile.mkdtemp(prefix="disks-", dir=opts.logs)
    try:
        lines, rc, diag = boot(machine(opts, kernel, opts.initrd, names,
                                       disks, append), log,
                                timeout or opts.timeout)
    finally:
        shutil.rmtree(disks, ignore_errors=True)
    secs = time.monotonic() - t0
    doc.diags.append("boot %s (%s): %.1f s, %s, console log %s"
                     % (label, kernel, secs,
                        "; ".join(x for x in ("qemu exit %s" % rc, diag) if x),
                        log))
    guest, pre, post = split_guest(lines)
    for line in lines:
        m = re.search(r"# (bench: .*)", line)
        if m:
            doc.diags.append("%s: %s" % (label, m.group(1)))
    tail = [l for l in post if l.strip()][-25:]
    for i, (num, name, _) in enumerate(entries):
        g = guest.get(name)
        if not g:
            why = diag or "no result from the guest (exit %s)" % rc
            doc.results.append((False, name, [
                "    # scenario %s did not finish: %s" % (name, why)] +
                ["    # console: " + t.strip() for t in tail]))
            tail = []
            continue
        block = g[1]
        if i == 0:
            block = pre + block
        if i == len(entries) - 1:
            block = block + post
        found = splats(block, allow.get(name) if allow else None)
        host_diag = "%d splat line(s)%s" % (
            len(found), ": " + found[0].strip()[:150] if found else "")
        doc.scenario(num, name, (g[0], g[1], g[2]), not found,
                     host_diag if found else "")
        if found:
            doc.results[-1][2].insert(-1, "    # first splat: %s"
                                      % found[0].strip()[:200])
    return lines


def rename(doc, old, new, idx=-1):
    """Renames a result (a scenario run on another kernel)."""
    r = doc.results[idx]
    doc.results[idx] = (r[0], new, [
        "    # Subtest: %s" % new if x == "    # Subtest: %s" % old else x
        for x in r[2]])


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
    ap.add_argument("--only", default="")
    ap.add_argument("--logs", required=True)
    ap.add_argument("--timeout", type=int, default=420,
                    help="per boot, seconds")
    ap.add_argument("--append", default="",
                    help="more kernel parameters, e.g. guest.console_level=8")
    opts = ap.parse_args()
    os.makedirs(opts.logs, exist_ok=True)
    # One run at a time (make check, make demo and a developer share logs)
    lock = open(os.path.join(opts.logs, ".lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)

    only = set(x for x in opts.only.replace(",", " ").split() if x)
    sel = [s for s in SCENARIOS
           if (not only and s[1] != "demo") or s[1] in only or
           str(s[0]) in only]
    if not sel:
        sys.exit("scenarios.py: nothing selected by --only '%s'" % opts.only)

    doc = Doc()
    t0 = time.monotonic()
    main_entries = [s for s in sel if s[2] == "main"]
    if main_entries:
        run_boot(opts, doc, "series", opts.kernel, main_entries,
                 append=opts.append)
    aer = [s for s in sel if s[2] == "aer"]
    if aer:
        run_boot(opts, doc, "aer", opts.kernel, aer, append=opts.append)
    # The benchmarks on the unpatched base kernel, for comparison
    bench = [(0, s[1], "base") for s in sel if s[1] in ("flrbench", "dmabench")]
    if bench and opts.base_kernel:
        run_boot(opts, doc, "base", opts.base_kernel, bench,
                 append=opts.append)
        for n, (_, name, _) in enumerate(reversed(bench), 1):
            rename(doc, name, name + "_base", -n)
    debug = [s for s in sel if s[2] == "debug"]
    if debug and not opts.debug_kernel:
        for s in debug:
            doc.skip(s[1], "needs --debug-kernel (lockdep, KASAN, kmemleak)")
    elif debug:
        # Splats the unpatched kernel prints on the same unplug are not ours
        allow = None
        if any(s[1] == "unplug" for s in debug) and opts.base_debug_kernel:
            # Its splats are what this run learns, not a failure
            lines = run_boot(opts, doc, "base-debug", opts.base_debug_kernel,
                             [(9, "unplug", "debug")],
                             append=opts.append + " kunit.autorun=0",
                             timeout=opts.debug_timeout,
                             allow={"unplug": lambda lines, found: []})
            rename(doc, "unplug", "unplug_base")
            known = known_splats(lines)
            doc.diags.append("base-debug: %d splat signature(s) on unplug, "
                             "allowed on the series: %s" % (
                                 len(known.known),
                                 "; ".join("%s %s" % (k, ",".join(l))
                                           for k, l in sorted(known.known))
                                 or "none"))
            allow = {"unplug": known}
        run_boot(opts, doc, "debug", opts.debug_kernel, debug, allow=allow,
                 append=opts.append + " kunit.autorun=0 guest.soak_cycles=%d"
                 % opts.soak_cycles,
                 timeout=opts.debug_timeout)
    doc.diags.append("total %.1f s" % (time.monotonic() - t0))
    sys.exit(0 if doc.emit() else 1)


if __name__ == "__main__":
    main()
