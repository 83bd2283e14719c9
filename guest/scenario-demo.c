// SPDX-License-Identifier: GPL-2.0
/*
 * make demo: the recovery story in a few lines.  Every step is also written
 * to the kernel log ("guest: demo: ..."), so that the host can draw the
 * timeline with the kernel's timestamps.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static void run_demo(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	char st[32], rm[64] = "", path[PATH_MAX];
	long long d, t0, lift;
	bool ok = true, q;

	if (!have(g, DEV_A)) {
		ktap_result(k, false, "recovered", "no device A");
		return;
	}
	ktap_diag(k, "demo: device %s: virtio-blk /dev/%s behind a PCIe root port, SMMUv3 with ATS",
		  bdf(DEV_A), devs[DEV_A].disk->name);
	ok &= ats_on(DEV_A) && io(g, DEV_A, 1, IO_BYTES);
	ktap_diag(k, "demo: ATS %s (ATSCtl.Enable%c), 1 MiB written and read back %s",
		  ats_on(DEV_A) ? "on" : "OFF", ats_on(DEV_A) ? '+' : '-',
		  ok ? "intact" : "FAILED");

	logwatch_start(w);
	kmsg_note("demo: ATC invalidation timeout armed for %s, I/O starts",
		  bdf(DEV_A));
	q = do_quarantine(g, DEV_A, 2, &t);
	ok &= q && t.io_ok;
	ktap_diag(k, "demo: injected ATC invalidation timeout (QEMU fails %ld CMD_SYNCs for the device) during I/O",
		  t.injected);
	quarantine_state(bdf(DEV_A), st, sizeof(st));
	kmsg_note("demo: after the I/O: ATS %s in config space, debugfs '%s'",
		  ats_on(DEV_A) ? "STILL ON" : "off", st);
	ktap_diag(k, "demo: quarantined %lld ms after the I/O started: ATS %s in config space, debugfs says '%s'",
		  t.to_ats_off, ats_on(DEV_A) ? "STILL ON" : "off", st);
	logwatch_read(w);
	{
		char *line = strstr(w->buf, QUARANTINE_MSG), *s, *e;

		if (line) {
			for (s = line; s > w->buf && s[-1] != '\n'; s--)
				;
			e = strchr(line, '\n');
			ktap_diag(k, "demo: kernel log: %.*s", (int)(e - s), s);
		}
	}
	ok &= io(g, DEV_A, 3, IO_BYTES);
	ktap_diag(k, "demo: I/O while quarantined (no ATS): %s",
		  ok ? "works, data intact" : "FAILED");
	kmsg_note("demo: I/O while quarantined (no ATS): %s",
		  ok ? "data intact" : "FAILED");

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf(DEV_A));
	read_file(path, rm, sizeof(rm));
	kmsg_note("demo: reset: echo 1 > /sys/bus/pci/devices/%s/reset",
		  bdf(DEV_A));
	t0 = now_ms();
	d = sysfs_reset(DEV_A);
	ok &= d >= 0;
	ktap_diag(k, "demo: echo 1 > /sys/bus/pci/devices/%s/reset (methods '%s'): %lld ms",
		  bdf(DEV_A), rm, d);
	ok &= wait_quarantine(DEV_A, false, POLL_MS) >= 0 &&
	      wait_ats(DEV_A, true, POLL_MS) >= 0;
	lift = now_ms() - t0;
	ok &= logwatch_count(w, LIFTED_MSG, bdf(DEV_A)) == 1;
	logwatch_stop(w);
	ok &= io(g, DEV_A, 4, IO_BYTES);
	kmsg_note("demo: recovered: ATS %s, 1 MiB I/O %s",
		  ats_on(DEV_A) ? "on" : "OFF", ok ? "intact" : "FAILED");
	ktap_diag(k, "demo: recovered %lld ms after the reset began: quarantine lifted, ATS %s, 1 MiB I/O %s",
		  lift, ats_on(DEV_A) ? "on" : "OFF", ok ? "intact" : "FAILED");
	ktap_result(k, ok, "recovered", NULL);
	drain_kmsg(g);
}

const struct scenario scenario_demo = {
	.name = "demo", .plan = 1, .run = run_demo,
};
