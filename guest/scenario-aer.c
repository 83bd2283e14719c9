// SPDX-License-Identifier: GPL-2.0
/*
 * A fatal AER error on the quarantined device A: the link reset of the AER
 * recovery lifts the quarantine.  Runs in its own boot: the machine is not
 * the same afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "host.h"

static void run_aer(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	char reply[256], drv[32], path[PATH_MAX];
	unsigned char hdr[64];
	long long t0, wq, wa;
	int ret, n;
	bool ok;

	if (!have(g, DEV_A)) {
		ktap_result(k, false, "device_A_present", NULL);
		for (int j = 0; j < 4; j++)
			ktap_skip(k, "aer", "no device A");
		return;
	}
	snprintf(drv, sizeof(drv), "%s", devs[DEV_A].pci->driver);
	ok = !pci_cfg_read(devs[DEV_A].pci, 0, hdr, sizeof(hdr));
	ktap_result(k, ok && do_quarantine(g, DEV_A, 400, &t), "A_quarantined",
		    NULL);

	logwatch_start(w);
	t0 = now_ms();
	ret = host_request(reply, sizeof(reply), 30000,
			   "hmp pcie_aer_inject_error devA MALF_TLP");
	ktap_result(k, host_ok(g, reply, sizeof(reply), "aer", ret),
		    "fatal_aer_injected", "MALF_TLP on devA");
	/* AER recovery resets the link below A's root port */
	wq = wait_quarantine(DEV_A, false, 20000);
	wa = wait_ats(DEV_A, true, 5000);
	n = logwatch_count(w, LIFTED_MSG, bdf(DEV_A));
	ktap_diag(k, "bench: fatal AER -> quarantine lifted in %lld ms",
		  wq >= 0 ? now_ms() - t0 : -1);
	ktap_result(k, wq >= 0 && wa >= 0 && n == 1,
		    "link_reset_lifted_quarantine_ats_on",
		    "'%s' %d time(s), recovery: %s", LIFTED_MSG, n,
		    logwatch_count(w, "device recovery failed", NULL) > 0 ?
		    "failed (virtio has no error handlers)" : "ok");
	logwatch_stop(w);

	/*
	 * virtio-pci has no AER handlers, so nothing restored A's config space
	 * after the link reset: its BARs are gone and the driver, stuck with
	 * a device that forgot it, would spin in vp_reset() when unbound.  Do
	 * what a driver's slot_reset() would have done (restore the BARs and
	 * the command register), then rebind the driver.
	 */
	ok = restore_header(DEV_A, hdr);
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
	ok &= !write_file(path, bdf(DEV_A));
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	ok &= !write_file(path, bdf(DEV_A));
	ktap_result(k, ok && wait_disk_back(g, DEV_A, 20000),
		    "config_restored_driver_rebound", NULL);
	ktap_result(k, wait_ats(DEV_A, true, POLL_MS) >= 0 && !quarantined(DEV_A) &&
		    io(g, DEV_A, 401, IO_BYTES), "A_ats_on_io_intact", NULL);
	drain_kmsg(g);
}

const struct scenario scenario_aer = {
	.name = "aer", .plan = 5, .run = run_aer,
};
