// SPDX-License-Identifier: GPL-2.0
/*
 * A reset that fails: the function never comes back from its FLR.  The
 * device stays quarantined and DMA-blocked until a later reset succeeds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

#define RESET_FAILED_MSG	"reset failed, DMA stays blocked"

static void run_failed_reset(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	unsigned char hdr[64];
	char path[PATH_MAX], drv[32], rm[64] = "";
	long long d, t0;
	bool ok;
	int nf, nl;

	if (!have(g, DEV_A)) {
		ktap_result(k, false, "device_A_present", NULL);
		for (int j = 1; j < 6; j++)
			ktap_skip(k, "failed_reset", "no device A");
		return;
	}
	snprintf(drv, sizeof(drv), "%s", devs[DEV_A].pci->driver);
	ok = do_quarantine(g, DEV_A, 500, &t);
	/*
	 * A's driver lets go first: the function will lose its config space
	 * and nothing must touch its BARs meanwhile.  Only FLR is allowed so
	 * that one reset attempt fails (the kernel gives up 60 s after an
	 * FLR), not one per reset method.
	 */
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
	ok &= !write_file(path, bdf(DEV_A));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf(DEV_A));
	read_file(path, rm, sizeof(rm));
	ok &= !write_file(path, "flr");
	ok &= !pci_cfg_read(devs[DEV_A].pci, 0, hdr, sizeof(hdr));
	ktap_result(k, ok, "A_quarantined_unbound_flr_only",
		    "driver %s, reset_method was '%s'", drv, rm);

	/* The function never comes back from the FLR */
	logwatch_start(w);
	ok = stuck_after_reset(g, DEV_A, true);
	t0 = now_ms();
	d = sysfs_reset(DEV_A);
	ktap_result(k, ok && d < 0, "reset_fails",
		    "writing 'reset' %s after %lld ms",
		    d < 0 ? strerror((int)-d) : "succeeded", now_ms() - t0);
	nf = logwatch_count(w, RESET_FAILED_MSG, bdf(DEV_A));
	nl = logwatch_count(w, LIFTED_MSG, NULL);
	ktap_result(k, nf == 1 && nl == 0 && quarantined(DEV_A),
		    "A_stays_quarantined_and_blocked",
		    "'%s' %d time(s), '%s' %d time(s)", RESET_FAILED_MSG, nf,
		    LIFTED_MSG, nl);

	/* It answers again, with its reset config space: nothing lifts */
	ok = stuck_after_reset(g, DEV_A, false);
	pci_refresh(devs[DEV_A].pci);
	ktap_result(k, ok && quarantined(DEV_A) && !ats_on(DEV_A),
		    "device_back_still_quarantined", NULL);

	/*
	 * Put back the BARs and the command register the failed reset could
	 * not restore, then a reset that succeeds lifts the quarantine.
	 */
	ok = restore_header(DEV_A, hdr);
	d = sysfs_reset(DEV_A);
	ok &= d >= 0 && wait_quarantine(DEV_A, false, POLL_MS) >= 0 &&
	      wait_ats(DEV_A, true, POLL_MS) >= 0;
	nl = logwatch_count(w, LIFTED_MSG, bdf(DEV_A));
	logwatch_stop(w);
	ktap_result(k, ok && nl == 1, "successful_reset_lifts_quarantine",
		    "'%s' %d time(s)", LIFTED_MSG, nl);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf(DEV_A));
	write_file(path, "default");
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	ok = !write_file(path, bdf(DEV_A)) && wait_disk_back(g, DEV_A, 20000);
	ktap_result(k, ok && wait_ats(DEV_A, true, POLL_MS) >= 0 &&
		    io(g, DEV_A, 501, IO_BYTES), "rebound_ats_on_io_intact",
		    NULL);
	drain_kmsg(g);
}

const struct scenario scenario_failed_reset = {
	.name = "failed_reset", .plan = 6, .run = run_failed_reset,
};
