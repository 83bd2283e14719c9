#!/usr/bin/env python3
"""Host side of the QEMU tests: a small QMP client and a guest driver.

    qmp.py run [--log FILE] [--kernel-log FILE] [--timeout S] -- QEMU [ARGS...]

starts QEMU paused with a QMP socket and two serial ports: the first is
the kernel's console, written to --kernel-log; the second, on stdio, is the
guest agent's own (boot it with guest.tty=ttyAMA1).  It checks the machine
over QMP, resumes it and then follows the agent's port: the guest agent
(guest/) prints KTAP there, and asks the host for actions with
"@@HOST <seq> <request>" lines, answered on the port's input with
"@@GUEST <seq> <reply>" once done.  Neither side sleeps blindly.

Requests understood:
  arm-atc-timeout BDF[,BDF..] [COUNT] [once|sticky]
                                arm the SMMUv3's ATC invalidation timeout
                                for the PCI function BDF (by its qdev id
                                if it has one, else by stream ID)
  arm-atc-timeout-any [COUNT] [once|sticky]
                                arm it for every stream ID
  disarm-atc-timeout            disarm it; replies with the count injected
  stuck-after-reset BDF on|off  the function stops answering config
                                requests at its next reset, or answers again
  hmp COMMAND...                run an HMP command, e.g. pcie_aer_inject_error
  inject-error QDEV ERROR [ADDR MASK [arm]]
                                HMP pcie_aer_inject_error QDEV ERROR, an
                                error unless QEMU says "OK"; with ADDR (a
                                guest physical address, e.g. a port's DPC
                                Status through ECAM), the 16-bit register
                                there must have a MASK bit set right after
                                the injection, and the ATC invalidation
                                timeout is disarmed as soon as all MASK
                                bits are clear again (the kernel released
                                the containment); with "arm", the timeout
                                is armed for QDEV itself with the injection:
                                every ATC invalidation sent to it fails
                                until the release.  With ADDR the machine
                                is stopped from the injection until the
                                register was read (and the timeout armed)
  watch-result                  what that watch saw: "ok cleared after N ms
                                timeouts=K" (K: ATC invalidation timeouts
                                reported while armed, "-" if not armed) or
                                "ok pending"

The output is KTAP: host checks plus the guest's KTAP as a subtest.  The
exit status is 0 only if everything passed.  Only the standard library.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time


class QMPError(Exception):
    pass


class QMP:
    """Synchronous QMP client over a UNIX socket; events are kept aside.
    One command at a time, from any thread."""

    def __init__(self, path, timeout=30.0, proc=None):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if proc and proc.poll() is not None:
                    raise QMPError("QEMU exited with status %d"
                                   % proc.returncode)
                if time.monotonic() > deadline:
                    raise QMPError("cannot connect to QMP at %s" % path)
                time.sleep(0.05)  # waiting for QEMU to create the socket
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rwb")
        self.events = []
        self.lock = threading.Lock()
        greeting = self._read()
        if "QMP" not in greeting:
            raise QMPError("not a QMP greeting: %r" % greeting)
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise QMPError("QMP connection closed")
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        with self.lock:
            self.file.write(json.dumps(msg).encode() + b"\n")
            self.file.flush()
            while True:
                resp = self._read()
                if "event" in resp:
                    self.events.append(resp)
                elif "error" in resp:
                    raise QMPError("%s: %s" % (name, resp["error"]["desc"]))
                elif "return" in resp:
                    return resp["return"]

    def find_type(self, qom_type, root="/machine", depth=3):
        """QOM paths of the children of root (recursively) of a type."""
        found = []
        for prop in self.cmd("qom-list", path=root):
            t = prop["type"]
            if not t.startswith("child<"):
                continue
            path = root.rstrip("/") + "/" + prop["name"]
            if t == "child<%s>" % qom_type:
                found.append(path)
            elif depth > 1:
                found += self.find_type(qom_type, path, depth - 1)
        return found

    def pci_devices(self):
        """(bus, slot, function, qdev_id) of every PCI function."""
        out = []

        def walk(devices):
            for d in devices:
                out.append((d["bus"], d["slot"], d["function"],
                            d.get("qdev_id", "")))
                bridge = d.get("pci_bridge")
                if bridge:
                    walk(bridge.get("devices", []))
        for bus in self.cmd("query-pci"):
            walk(bus["devices"])
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Host:
    """Answers the guest's requests."""

    def __init__(self, qmp, smmu):
        self.qmp = qmp
        self.smmu = smmu
        self.injected = None
        self.watch = None

    def handle(self, req):
        words = req.split()
        if not words:
            return "error empty request"
        op, args = words[0], words[1:]
        try:
            fn = getattr(self, "req_" + op.replace("-", "_"))
        except AttributeError:
            return "error unknown request '%s'" % op
        try:
            return fn(*args)
        except (QMPError, TypeError, ValueError) as e:
            return "error %s" % e

    def _smmu(self):
        if not self.smmu:
            raise QMPError("the machine has no arm-smmuv3")
        return self.smmu

    def _set(self, prop, value):
        self.qmp.cmd("qom-set", path=self._smmu(), property=prop, value=value)

    def _sid_of(self, bdf):
        m = re.fullmatch(r"(?:[0-9a-f]{4}:)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])",
                         bdf.lower())
        if not m:
            raise ValueError("bad BDF %s" % bdf)
        bus, slot, fn = (int(x, 16) for x in m.groups())
        qdev_id = ""
        for b, s, f, i in self.qmp.pci_devices():
            if (b, s, f) == (bus, slot, fn):
                qdev_id = i
        return bus << 8 | slot << 3 | fn, qdev_id

    def _arm(self, dev, sid, count, mode):
        if mode not in ("once", "sticky"):
            raise ValueError("mode must be 'once' or 'sticky', not %s" % mode)
        self._set("x-atc-inv-timeout-dev", dev)
        self._set("x-atc-inv-timeout-sid", sid)
        self._set("x-atc-inv-timeout-sticky", mode == "sticky")
        self._set("x-atc-inv-timeout-count", int(count))

    def req_arm_atc_timeout(self, bdfs, count="1", mode="once"):
        """Arm for one device or a comma-separated list of them."""
        targets = [self._sid_of(b) for b in bdfs.split(",")]
        ids = [i for _, i in targets]
        if all(ids):
            self._arm(",".join(ids), -1, count, mode)
        elif len(targets) == 1:
            self._arm("", targets[0][0], count, mode)
        else:
            raise ValueError("devices without a qdev id in %s" % bdfs)
        return "ok dev=%s sid=%s count=%s mode=%s" % (
            ",".join(i or "-" for i in ids),
            ",".join("0x%x" % s for s, _ in targets), count, mode)

    def req_arm_atc_timeout_any(self, count="1", mode="once"):
        self._arm("", -1, count, mode)
        return "ok dev=- sid=any count=%s mode=%s" % (count, mode)

    def req_stuck_after_reset(self, bdf, state):
        """Makes a PCI function stop answering at its next reset (QEMU's
        x-stuck-after-reset, qemu/patches/0004), or answer again."""
        if state not in ("on", "off"):
            raise ValueError("state must be 'on' or 'off', not %s" % state)
        _, qdev_id = self._sid_of(bdf)
        if not qdev_id:
            raise ValueError("%s has no qdev id" % bdf)
        self.qmp.cmd("qom-set", path="/machine/peripheral/%s" % qdev_id,
                     property="x-stuck-after-reset", value=state == "on")
        return "ok %s stuck-after-reset=%s" % (qdev_id, state)

    def req_disarm_atc_timeout(self):
        self._set("x-atc-inv-timeout-count", 0)
        self.injected = self.qmp.cmd("qom-get", path=self._smmu(),
                                     property="x-atc-inv-timeouts")
        return "ok timeouts=%d" % self.injected

    def req_hmp(self, *words):
        out = self.qmp.cmd("human-monitor-command",
                           **{"command-line": " ".join(words)})
        return "ok " + " ".join(out.split())

    def _hmp(self, line):
        return self.qmp.cmd("human-monitor-command", **{"command-line": line})

    def _read16(self, addr):
        """A 16-bit register at a guest physical address (HMP xp)"""
        out = self._hmp("xp /1hx 0x%x" % addr)
        m = re.search(r":\s*0x([0-9a-f]+)", out)
        if not m:
            raise QMPError("xp 0x%x: %r" % (addr, out))
        return int(m.group(1), 16)

    def req_inject_error(self, qdev_id, error, addr=None, mask=None,
                         arm=None):
        """An error injected into a PCI function, see the module's doc.
        The watch polls every 2 ms: the kernel waits at least 100 ms
        between releasing a containment and re-attaching the functions
        below (pci_bridge_wait_for_secondary_bus())."""
        if self.watch and not self.watch.get("done"):
            raise ValueError("a watch is still pending")
        self.watch = None
        if arm not in (None, "arm") or (arm and addr is None):
            raise ValueError("'arm' needs ADDR MASK and is 'arm'")
        # The machine is stopped from the injection until the register
        # was read and the timeout armed: the guest sees all at once, and
        # cannot have released the port before the host looked
        before = None
        if arm:
            before = self.qmp.cmd("qom-get", path=self._smmu(),
                                  property="x-atc-inv-timeouts")
        if addr is not None:
            self.qmp.cmd("stop")
        try:
            out = " ".join(self._hmp("pcie_aer_inject_error %s %s"
                                     % (qdev_id, error)).split())
            if not out.startswith("OK "):
                raise QMPError("pcie_aer_inject_error: %s" % out)
            if addr is None:
                return "ok"
            addr, mask = int(addr, 0), int(mask, 0)
            value = self._read16(addr)
            if not value & mask:
                raise QMPError("0x%x reads 0x%04x after the injection, no "
                               "bit of 0x%x set" % (addr, value, mask))
            if arm:
                self._arm(qdev_id, -1, -1, "once")
        finally:
            if addr is not None:
                self.qmp.cmd("cont")
        watch = self.watch = {"t0": time.monotonic()}

        def poll():
            try:
                deadline = watch["t0"] + 120
                while self._read16(addr) & mask:
                    if time.monotonic() > deadline:
                        raise QMPError("0x%x still set after 120 s" % addr)
                    time.sleep(0.002)
                watch["ms"] = (time.monotonic() - watch["t0"]) * 1000
            except Exception as e:  # noqa: BLE001 (QEMU gone: end quietly)
                watch["error"] = str(e)
            try:
                if before is not None:
                    self._set("x-atc-inv-timeout-count", 0)
                    watch["timeouts"] = self.qmp.cmd(
                        "qom-get", path=self.smmu,
                        property="x-atc-inv-timeouts") - before
            except Exception as e:  # noqa: BLE001
                watch.setdefault("error", str(e))
            watch["done"] = True

        threading.Thread(target=poll, daemon=True).start()
        return "ok 0x%x=0x%04x" % (addr, value)

    def req_watch_result(self):
        w = self.watch
        if not w:
            raise ValueError("no watch")
        if not w.get("done"):
            return "ok pending"
        if "error" in w:
            return "error %s" % w["error"]
        return "ok cleared after %d ms timeouts=%s" % (
            w["ms"], w.get("timeouts", "-"))


def smmu_properties(qemu, timeout=30.0):
    """The QOM property names of the arm-smmuv3 of a virt machine with
    this QEMU binary (started paused, asked over QMP, stopped)."""
    tmp = tempfile.mkdtemp(prefix="qom-")
    sock = os.path.join(tmp, "qmp.sock")
    proc = subprocess.Popen(
        [qemu, "-machine", "virt,iommu=smmuv3", "-accel", "tcg", "-S",
         "-nodefaults", "-display", "none",
         "-qmp", "unix:%s,server=on,wait=off" % sock],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    qmp = None
    try:
        qmp = QMP(sock, timeout=timeout, proc=proc)
        smmus = qmp.find_type("arm-smmuv3")
        if not smmus:
            raise QMPError("the virt machine has no arm-smmuv3")
        return set(p["name"] for p in qmp.cmd("qom-list", path=smmus[0]))
    finally:
        if qmp:
            qmp.close()
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


KTAP_LINE = re.compile(r"^\s*(KTAP version \d+|\d+\.\.\d+|(not )?ok \d+|# )")
REQUEST = re.compile(r"@@HOST (\d+) (.*)")


class Report:
    def __init__(self):
        self.results = []

    def add(self, ok, name, diag=""):
        self.results.append((ok, name, diag, None))

    def add_sub(self, ok, name, lines):
        self.results.append((ok, name, "", lines))

    def emit(self):
        print("KTAP version 1")
        print("1..%d" % len(self.results))
        for n, (ok, name, diag, sub) in enumerate(self.results, 1):
            for line in sub or []:
                print("    " + line)
            print("%s %d %s%s" % ("ok" if ok else "not ok", n, name,
                                  " # " + diag if diag else ""))
        sys.stdout.flush()
        return all(r[0] for r in self.results)


def pump_console_line(raw, log, host, proc):
    """Log one console line; if it is a guest request, answer it over the
    console. Returns the decoded line, or None for a request."""
    log.write(raw)
    log.flush()
    line = raw.decode("utf-8", "replace").rstrip("\r\n")
    m = REQUEST.search(line)
    if not m:
        return line
    reply = host.handle(m.group(2))
    log.write(("# host: %s -> %s\n" % (m.group(2), reply)).encode())
    proc.stdin.write(("@@GUEST %s %s\n" % (m.group(1), reply)).encode())
    proc.stdin.flush()
    return None


def guest_verdict(lines):
    """Whether the guest's (top-level) KTAP is complete and all ok."""
    plan, results = None, []
    for line in lines:
        m = re.match(r"^(\d+)\.\.(\d+)$", line)
        if m and plan is None:
            plan = int(m.group(2))
        m = re.match(r"^(not )?ok (\d+)", line)
        if m:
            results.append(not m.group(1))
    if plan is None:
        return False, "no KTAP plan from the guest"
    if len(results) != plan:
        return False, "%d of %d results" % (len(results), plan)
    failed = results.count(False)
    return failed == 0, "%d passed, %d failed" % (plan - failed, failed)


def run(opts):
    report = Report()
    tmp = tempfile.mkdtemp(prefix="qmp-")
    sock = os.path.join(tmp, "qmp.sock")
    cmd = opts.qemu + ["-S", "-nodefaults", "-display", "none",
                       "-serial", "file:%s" % (opts.kernel_log or os.devnull),
                       "-serial", "stdio", "-qmp",
                       "unix:%s,server=on,wait=off" % sock]
    log = open(opts.log, "wb") if opts.log else open(os.devnull, "wb")
    log.write(("# " + " ".join(cmd) + "\n").encode())
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    timed_out = []

    def kill():
        timed_out.append(True)
        proc.kill()

    timer = threading.Timer(opts.timeout, kill)
    timer.start()
    qmp = host = None
    guest, tail = [], []
    try:
        qmp = QMP(sock, proc=proc)
        smmus = qmp.find_type("arm-smmuv3")
        smmu = smmus[0] if smmus else None
        diag = "no arm-smmuv3"
        if smmu:
            try:
                ats = qmp.cmd("qom-get", path=smmu, property="ats")
            except QMPError:
                ats = None  # an SMMUv3 model without the ATS patches
            diag = "%s ats=%s" % (smmu, ats)
        report.add(bool(smmu) and (ats or not opts.need_ats),
                   "qemu_smmuv3", diag)
        host = Host(qmp, smmu)
        qmp.cmd("cont")

        for raw in proc.stdout:
            line = pump_console_line(raw, log, host, proc)
            if line is None:
                pass
            elif KTAP_LINE.match(line):
                guest.append(line)
            else:
                tail = (tail + [line])[-30:]
        proc.wait()
    except QMPError as e:
        report.add(False, "qmp", str(e))
        proc.kill()
        out = proc.communicate()[0] or b""
        log.write(out)
        tail = out.decode("utf-8", "replace").splitlines()[-20:]
    finally:
        timer.cancel()
        if qmp:
            qmp.close()
        log.close()

    ok, diag = guest_verdict(guest)
    if timed_out:
        ok, diag = False, "timed out after %d s; %s" % (opts.timeout, diag)
    if not ok:
        guest += ["# agent: " + t for t in tail]
        try:
            with open(opts.kernel_log, "rb") as f:
                klog = f.read().decode("utf-8", "replace").splitlines()
        except (OSError, TypeError):
            klog = []
        guest += ["# kernel log: " + t.rstrip("\r") for t in klog[-30:]]
    guest.append("# " + diag)
    report.add_sub(ok, "guest", guest)
    if opts.need_ats:
        injected = host.injected if host else None
        report.add(bool(injected), "atc_timeouts_injected",
                   "x-atc-inv-timeouts=%s" % injected)
    report.add(proc.returncode == 0, "qemu_exit", "status %s" % proc.returncode)
    return 0 if report.emit() else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run QEMU and drive the guest agent")
    r.add_argument("--log", help="write the agent's port (KTAP) here")
    r.add_argument("--kernel-log", help="write the kernel's console here")
    r.add_argument("--timeout", type=int, default=300)
    r.add_argument("--need-ats", action="store_true",
                   help="require ats=on and at least one injected timeout")
    r.add_argument("qemu", nargs=argparse.REMAINDER)
    opts = ap.parse_args()
    if opts.qemu and opts.qemu[0] == "--":
        opts.qemu = opts.qemu[1:]
    if not opts.qemu:
        ap.error("no QEMU command line")
    sys.exit(run(opts))


if __name__ == "__main__":
    main()
