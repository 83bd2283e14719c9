// SPDX-License-Identifier: GPL-2.0
/*
 * A fatal error of a PCIe switch's upstream port: AER recovery resets the
 * link of the root port above it, which resets the whole switch, its bus
 * numbers included.
 *
 * The switch with the NVMe alone below it: the nvme driver has AER
 * handlers, the PCI core restores the switch's ports and the NVMe in their
 * slot_reset callbacks and the recovery succeeds, as on the base kernel.
 * The NVMe has no ATS: nothing of the IOMMU reset hooks may wait for it.
 *
 * The switch with sw-a and sw-b (ATS, virtio: no AER handlers): the
 * recovery fails, the PCI core restores nothing, and behind the switch's
 * wiped bus numbers the endpoints cannot answer.  The series must not
 * wait for them (no "not ready" line) and keeps their DMA blocked (done()
 * found them not answering).  The guest then puts the switch's
 * configuration back (bus numbers, windows, bridge and PCIe control, MSI,
 * command register of the three ports, saved before the error), which
 * makes the endpoints answer again, and recovers each endpoint: its config
 * space back, a reset through sysfs (which succeeds, so the IOMMU lifts
 * the block) and its driver bound again.  Both end with ATS on, not
 * quarantined, data intact.  Recovery times are printed (also on the base
 * kernel).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static void run_switch_upstream(struct guest *g)
{
	struct fn a = { .serial = "sw-a", .qdev = "devSA" };
	struct fn b = { .serial = "sw-b", .qdev = "devSB" };
	struct fn nv = { .serial = "sw-nvme", .qdev = "devSN" };
	struct ktap *k = &g->ktap;
	struct logwatch *w = &watch;
	char up3[16] = "", rp3[16] = "", up4[16] = "", rp4[16] = "";
	char line[256], wait[256];
	struct bridge_cfg cu, ca, cb;
	bool ok, base = base_kernel(g);
	int n, na, nb;

	if (!fn_find(&a, 10000) || !fn_find(&b, 10000) || !fn_find(&nv, 10000) ||
	    !fn_save(&a) || !fn_save(&b) ||
	    pci_parent(a.port, up3, sizeof(up3)) ||
	    pci_parent(up3, rp3, sizeof(rp3)) ||
	    pci_parent(nv.port, up4, sizeof(up4)) ||
	    pci_parent(up4, rp4, sizeof(rp4)) || !bridge_save(&cu, up3) ||
	    !bridge_save(&ca, a.port) || !bridge_save(&cb, b.port)) {
		ktap_result(k, false, "devices_present", "sw-a %s, sw-b %s, nvme %s",
			    a.pci.bdf, b.pci.bdf, nv.pci.bdf);
		for (int j = 1; j < 6; j++)
			ktap_skip(k, "switch_upstream", "devices missing");
		return;
	}
	ktap_diag(k, "switch %s (below %s): sw-a %s, sw-b %s; switch %s (below %s): NVMe %s",
		  up3, rp3, a.pci.bdf, b.pci.bdf, up4, rp4, nv.pci.bdf);
	ktap_result(k, fn_ats_on(&a) && fn_ats_on(&b) &&
		    fn_io(g, &a, 1100, IO_BYTES) && fn_io(g, &b, 1101, IO_BYTES) &&
		    fn_io(g, &nv, 1102, IO_BYTES), "devices_present_ats_on_io",
		    NULL);

	/* The NVMe's switch: the PCI core recovers everything */
	logwatch_start(w);
	ok = aer_clear(up4) && inject_error(g, "up4", "MALF_TLP", 0, 0, false) &&
	     logwatch_wait(w, RECOVERY_MSG, rp4, 60000) >= 0;
	ktap_diag(k, "bench: switch_upstream: NVMe switch, fatal error of its upstream port, injection -> end of recovery %lld ms",
		  recovery_ms(rp4));
	logwatch_line(w, RECOVERY_MSG, rp4, line, sizeof(line));
	n = logwatch_count(w, NOT_READY_MSG, NULL) +
	    logwatch_count(w, DMA_BLOCKED_MSG, NULL);
	ok &= logwatch_count(w, RECOVERY_OK, rp4) == 1 && n == 0 &&
	      logwatch_count(w, "restart after slot reset", NULL) == 1 &&
	      fn_find(&nv, 10000) && fn_io(g, &nv, 1103, IO_BYTES);
	ktap_result(k, ok, "nvme_switch_recovered_by_the_pci_core",
		    "%s; '%s' or '%s': %d line(s)", line, NOT_READY_MSG,
		    DMA_BLOCKED_MSG, n);
	logwatch_stop(w);

	/* The virtio switch: the recovery fails and must not wait */
	logwatch_start(w);
	ok = aer_clear(up3) && inject_error(g, "up3", "MALF_TLP", 0, 0, false) &&
	     logwatch_wait(w, RECOVERY_MSG, rp3, 120000) >= 0;
	ktap_diag(k, "bench: switch_upstream: virtio switch, fatal error of its upstream port, injection -> end of recovery %lld ms",
		  recovery_ms(rp3));
	logwatch_line(w, RECOVERY_MSG, rp3, line, sizeof(line));
	n = logwatch_count(w, NOT_READY_MSG, NULL);
	ok &= logwatch_count(w, RECOVERY_FAILED, rp3) == 1 && n == 0;
	ktap_diag(k, "switch after the recovery: %s buses 0x%06x (0x%06x before), sw-a %s, sw-b %s",
		  up3, pci_bridge_buses(up3), cu.cfg[0x18] |
		  cu.cfg[0x19] << 8 | cu.cfg[0x1a] << 16,
		  pci_present(a.pci.bdf) ? "answers" : "does not answer",
		  pci_present(b.pci.bdf) ? "answers" : "does not answer");
	logwatch_line(w, NOT_READY_MSG, NULL, wait, sizeof(wait));
	ktap_result(k, ok, "virtio_switch_recovery_failed_nothing_waited",
		    "%s; '%s': %d line(s)%s%s", line, NOT_READY_MSG, n,
		    n ? ", first: " : "", wait);
	na = logwatch_count(w, DMA_BLOCKED_MSG, a.pci.bdf);
	nb = logwatch_count(w, DMA_BLOCKED_MSG, b.pci.bdf);
	ktap_diag(k, "'%s': sw-a %d, sw-b %d line(s); '%s' sw-a %d, sw-b %d",
		  DMA_BLOCKED_MSG, na, nb, QUARANTINE_MSG,
		  logwatch_count(w, QUARANTINE_MSG, a.pci.bdf),
		  logwatch_count(w, QUARANTINE_MSG, b.pci.bdf));
	if (base)
		ktap_skip(k, "endpoints_that_did_not_answer_kept_blocked",
			  "base kernel: no IOMMU hooks in error recovery");
	else
		ktap_result(k, na == 1 && nb == 1,
			    "endpoints_that_did_not_answer_kept_blocked",
			    "'%s': sw-a %d, sw-b %d", DMA_BLOCKED_MSG, na, nb);

	/* The guest puts the switch back: the endpoints answer again */
	ok = bridge_restore(&cu) && bridge_restore(&ca) && bridge_restore(&cb);
	ktap_result(k, ok && pci_present(a.pci.bdf) && pci_present(b.pci.bdf),
		    "switch_config_restored_endpoints_answer",
		    "%s buses 0x%06x", up3, pci_bridge_buses(up3));

	/* Each endpoint: config space back, a reset, its driver again */
	ok = fn_restore_reset_rebind(g, &a) && fn_restore_reset_rebind(g, &b);
	n = logwatch_count(w, DMA_BLOCKED_MSG, NULL);
	ok &= fn_wait_ats(&a, POLL_MS) >= 0 && fn_wait_ats(&b, POLL_MS) >= 0 &&
	      !fn_quarantined(&a) && !fn_quarantined(&b);
	ktap_result(k, ok && n == na + nb && fn_io(g, &a, 1104, IO_BYTES) &&
		    fn_io(g, &b, 1105, IO_BYTES) && fn_io(g, &nv, 1106, IO_BYTES),
		    "endpoints_reset_rebound_ats_on_io_intact",
		    "sw-a as %s, sw-b as %s; '%s' %d line(s)", a.disk.name,
		    b.disk.name, LIFTED_MSG, logwatch_count(w, LIFTED_MSG, NULL));
	logwatch_stop(w);
	drain_kmsg(g);
}

const struct scenario scenario_switch_upstream = {
	.name = "switch_upstream", .plan = 6, .run = run_switch_upstream,
};
