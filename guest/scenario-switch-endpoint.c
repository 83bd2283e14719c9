// SPDX-License-Identifier: GPL-2.0
/*
 * A fatal error of an ATS endpoint below a PCIe switch: AER recovery
 * resets the link of the switch's downstream port above sw-a (a secondary
 * bus reset of that port); the switch keeps its configuration.  virtio has
 * no AER handlers, so the recovery ends "failed" and the guest restores
 * sw-a's config space and rebinds its driver.  Nothing may wait for sw-a
 * or leave it DMA-blocked: it answered right after the reset.  sw-a ends
 * with ATS on, not quarantined, data intact; sw-b (the other downstream
 * port of the switch) does I/O throughout and, like the NVMe below the
 * other switch, is not touched.  The recovery time is printed (also on
 * the base kernel).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static void run_switch_endpoint(struct guest *g)
{
	struct fn a = { .serial = "sw-a", .qdev = "devSA" };
	struct fn b = { .serial = "sw-b", .qdev = "devSB" };
	struct fn nv = { .serial = "sw-nvme", .qdev = "devSN" };
	struct ktap *k = &g->ktap;
	struct logwatch *w = &watch;
	char up[16] = "", line[256];
	unsigned int bus_up = 0, bus_a = 0, bus_b = 0;
	long long ms;
	struct bgio bg;
	int n, nb, nn;
	bool ok;

	if (!fn_find(&a, 10000) || !fn_find(&b, 10000) || !fn_find(&nv, 10000) ||
	    !fn_save(&a) || pci_parent(a.port, up, sizeof(up))) {
		ktap_result(k, false, "devices_present", "sw-a %s, sw-b %s, nvme %s",
			    a.pci.bdf, b.pci.bdf, nv.pci.bdf);
		for (int j = 1; j < 6; j++)
			ktap_skip(k, "switch_endpoint", "devices missing");
		return;
	}
	ktap_diag(k, "sw-a %s below %s, sw-b %s below %s, switch upstream port %s",
		  a.pci.bdf, a.port, b.pci.bdf, b.port, up);
	bus_up = pci_bridge_buses(up);
	bus_a = pci_bridge_buses(a.port);
	bus_b = pci_bridge_buses(b.port);
	ktap_result(k, fn_ats_on(&a) && fn_ats_on(&b) &&
		    fn_io(g, &a, 1000, IO_BYTES) && fn_io(g, &nv, 1001, IO_BYTES),
		    "devices_present_ats_on_io", NULL);

	logwatch_start(w);
	bgio_start_disk(&bg, &b.disk);
	ok = aer_clear(a.pci.bdf) &&
	     inject_error(g, a.qdev, "MALF_TLP", 0, 0, false) &&
	     logwatch_wait(w, RECOVERY_MSG, a.port, 60000) >= 0;
	ms = recovery_ms(a.port);
	ktap_diag(k, "bench: switch_endpoint: fatal error below a switch's downstream port, injection -> end of recovery %lld ms",
		  ms);
	logwatch_line(w, RECOVERY_MSG, a.port, line, sizeof(line));
	ok &= logwatch_count(w, RECOVERY_FAILED, a.port) == 1 &&
	      logwatch_count(w, NO_HANDLER_MSG, a.pci.bdf) == 1;
	/* Only the downstream port's link was reset */
	ok &= pci_bridge_buses(up) == bus_up && pci_bridge_buses(a.port) == bus_a &&
	      pci_bridge_buses(b.port) == bus_b;
	ktap_result(k, ok, "recovery_reset_the_port_switch_kept_its_config",
		    "%s", line[0] ? line : "no end of recovery");
	ktap_diag(k, "sw-a: '%s' %d, '%s' %d line(s) during the recovery",
		  QUARANTINE_MSG, logwatch_count(w, QUARANTINE_MSG, a.pci.bdf),
		  LIFTED_MSG, logwatch_count(w, LIFTED_MSG, a.pci.bdf));

	/* sw-a answered after the reset: re-attached, nothing waited */
	n = logwatch_count(w, DMA_BLOCKED_MSG, NULL) +
	    logwatch_count(w, NOT_READY_MSG, NULL);
	logwatch_line(w, NOT_READY_MSG, NULL, line, sizeof(line));
	if (!line[0])
		logwatch_line(w, DMA_BLOCKED_MSG, NULL, line, sizeof(line));
	ktap_result(k, n == 0, "not_blocked_nothing_waited",
		    "'%s' or '%s': %d line(s)%s%s", DMA_BLOCKED_MSG,
		    NOT_READY_MSG, n, n ? ", first: " : "", line);

	ok = fn_restore_rebind(g, &a);
	ktap_result(k, ok, "config_restored_driver_rebound", "%s as %s",
		    a.pci.bdf, a.disk.name);
	ok &= fn_wait_ats(&a, POLL_MS) >= 0;
	ktap_result(k, ok && !fn_quarantined(&a) &&
		    fn_io(g, &a, 1002, IO_BYTES),
		    "ats_on_not_quarantined_io_intact", NULL);

	ok = bgio_stop(g, &bg, "sw-b");
	nb = logwatch_count(w, b.pci.bdf, NULL) + logwatch_count(w, b.port, NULL);
	nn = logwatch_count(w, nv.pci.bdf, NULL);
	ktap_result(k, ok && nb == 0 && nn == 0 && fn_ats_on(&b) &&
		    !fn_quarantined(&b) && fn_io(g, &nv, 1003, IO_BYTES),
		    "others_untouched_io_throughout",
		    "%d kernel message(s) about sw-b or its port, %d about the NVMe",
		    nb, nn);
	logwatch_stop(w);
	drain_kmsg(g);
}

const struct scenario scenario_switch_endpoint = {
	.name = "switch_endpoint", .plan = 6, .run = run_switch_endpoint,
};
