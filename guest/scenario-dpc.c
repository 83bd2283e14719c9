// SPDX-License-Identifier: GPL-2.0
/*
 * Downstream Port Containment of an ATS device: a fatal error of dpc-a
 * (below a root port with dpc=on) is contained, error recovery resets the
 * link.  virtio has no AER handlers, so the PCI core reports the recovery
 * failed; the guest restores the config space the reset wiped and rebinds
 * the driver.  dpc-a ends with ATS on, not quarantined, its data intact;
 * innocent, on another root port, does I/O throughout and is not touched.
 * Machine "recovery" (scripts/scenarios.py).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

#define PCI_EXT_CAP_ID_DPC	0x1d
#define DPC_STATUS		0x08
#define PCI_CAP_ID_EXP		0x10
#define EXP_LNKSTA		0x12
#define LNKSTA_DLLLA		0x2000

/* Released: DPC Trigger Status clear, Data Link Layer Link Active */
static bool port_released(const char *port, char *why, size_t size)
{
	uint16_t sts = 0xffff, lnk = 0;
	struct pci_dev p;
	unsigned int dpc, exp;

	if (pci_get(&p, port))
		return false;
	dpc = pci_find_ext_cap(&p, PCI_EXT_CAP_ID_DPC);
	exp = pci_find_cap(&p, PCI_CAP_ID_EXP);
	if (!dpc || !exp || pci_cfg_read16(&p, dpc + DPC_STATUS, &sts) ||
	    pci_cfg_read16(&p, exp + EXP_LNKSTA, &lnk))
		return false;
	snprintf(why, size, "DPC Status 0x%04x, Link Status 0x%04x", sts, lnk);
	return !(sts & DPC_TRIGGER) && (lnk & LNKSTA_DLLLA);
}

static void run_dpc(struct guest *g)
{
	struct fn a = { .serial = "dpc-a", .qdev = "devDA" };
	struct fn in = { .serial = "innocent", .qdev = "devDI" };
	struct ktap *k = &g->ktap;
	struct logwatch *w = &watch;
	char line[256], want[64], regs[64] = "";
	long long ms;
	struct bgio bg;
	bool ok;
	int n;

	if (!fn_find(&a, 10000) || !fn_find(&in, 10000) || !fn_save(&a)) {
		ktap_result(k, false, "devices_present", "dpc-a %s, innocent %s",
			    a.pci.bdf, in.pci.bdf);
		for (int j = 1; j < 8; j++)
			ktap_skip(k, "dpc", "devices missing");
		return;
	}
	ktap_diag(k, "dpc-a %s (%s) below %s, innocent %s (%s) below %s",
		  a.pci.bdf, a.disk.name, a.port, in.pci.bdf, in.disk.name,
		  in.port);
	ktap_result(k, fn_ats_on(&a) && fn_ats_on(&in) && fn_io(g, &a, 600, IO_BYTES),
		    "devices_present_ats_on_io", NULL);

	logwatch_start(w);
	bgio_start_disk(&bg, &in.disk);
	ok = aer_clear(a.pci.bdf) &&
	     inject_error(g, a.qdev, "MALF_TLP", 0, 0, false);
	snprintf(want, sizeof(want), "ERR_FATAL received from %s", a.pci.bdf);
	ok &= logwatch_wait(w, "DPC: containment event", a.port, 10000) >= 0;
	logwatch_line(w, "DPC: containment event", a.port, line, sizeof(line));
	ktap_result(k, ok && strstr(line, want), "fatal_error_contained",
		    "%s", line[0] ? line : "no containment event in 10 s");

	/* virtio has no AER handlers: the recovery resets, then fails */
	ok = logwatch_wait(w, RECOVERY_MSG, a.port, 30000) >= 0;
	ms = recovery_ms(a.port);
	ktap_diag(k, "bench: dpc: DPC containment of an ATS device, injection -> end of recovery %lld ms",
		  ms);
	logwatch_line(w, RECOVERY_MSG, a.port, line, sizeof(line));
	ok &= logwatch_count(w, RECOVERY_FAILED, a.port) == 1 &&
	      logwatch_count(w, NO_HANDLER_MSG, a.pci.bdf) == 1;
	ok &= port_released(a.port, regs, sizeof(regs));
	ktap_result(k, ok, "recovery_ran_port_released", "%s; %s",
		    line[0] ? line : "no end of recovery in 30 s", regs);

	/*
	 * The device answered after the link reset: done() re-attached it
	 * and nothing waited for it.  The driver's unmaps while it was frozen
	 * may have quarantined it; the reset lifted that.
	 */
	n = logwatch_count(w, DMA_BLOCKED_MSG, NULL) +
	    logwatch_count(w, NOT_READY_MSG, NULL);
	ktap_diag(k, "dpc-a: '%s' %d, '%s' %d line(s) during the recovery",
		  QUARANTINE_MSG, logwatch_count(w, QUARANTINE_MSG, a.pci.bdf),
		  LIFTED_MSG, logwatch_count(w, LIFTED_MSG, a.pci.bdf));
	ktap_result(k, n == 0, "not_blocked_nothing_waited",
		    "'%s' or '%s': %d line(s)", DMA_BLOCKED_MSG, NOT_READY_MSG,
		    n);

	ok = fn_restore_rebind(g, &a);
	ktap_result(k, ok, "config_restored_driver_rebound", "%s as %s",
		    a.pci.bdf, a.disk.name);
	ok &= fn_wait_ats(&a, POLL_MS) >= 0;
	ktap_result(k, ok && !fn_quarantined(&a) && fn_io(g, &a, 601, IO_BYTES),
		    "ats_on_not_quarantined_io_intact", NULL);

	innocent_untouched(g, w, &bg, &in, 0);
	n = logwatch_count(w, CMD_SYNC_MSG, NULL);
	ktap_result(k, n == 0, "no_cmd_sync_timeout", "%d line(s)", n);
	logwatch_stop(w);
	drain_kmsg(g);
}

const struct scenario scenario_dpc = {
	.name = "dpc", .plan = 8, .run = run_dpc,
};
