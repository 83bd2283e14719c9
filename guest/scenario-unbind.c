// SPDX-License-Identifier: GPL-2.0
/*
 * Unbind the driver of a quarantined device, reset it, rebind: unbinding
 * proves nothing about the ATC, the reset lifts the quarantine.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static void run_unbind(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	char path[PATH_MAX], drv[32];
	int ret;

	if (!have(g, DEV_A)) {
		for (int j = 0; j < 5; j++)
			ktap_result(k, false, "device_A_present", NULL);
		return;
	}
	snprintf(drv, sizeof(drv), "%s", devs[DEV_A].pci->driver);
	ktap_result(k, do_quarantine(g, DEV_A, 700, &t), "A_quarantined",
		    "driver %s", drv);

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
	ret = write_file(path, bdf(DEV_A));
	pci_refresh(devs[DEV_A].pci);
	/* Unbinding proves nothing about the ATC: still quarantined */
	ktap_result(k, !ret && !devs[DEV_A].pci->driver[0] &&
		    quarantined(DEV_A) && !ats_on(DEV_A),
		    "unbound_still_quarantined", NULL);

	ktap_result(k, sysfs_reset(DEV_A) >= 0 &&
		    wait_quarantine(DEV_A, false, POLL_MS) >= 0,
		    "flr_of_unbound_device_lifts_quarantine", NULL);

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	ret = write_file(path, bdf(DEV_A));
	ktap_result(k, !ret && wait_disk_back(g, DEV_A, 20000) &&
		    wait_ats(DEV_A, true, POLL_MS) >= 0, "rebound_ats_on", NULL);
	ktap_result(k, io(g, DEV_A, 701, IO_BYTES), "A_io_intact", NULL);
	drain_kmsg(g);
}

const struct scenario scenario_unbind = {
	.name = "unbind_flr_rebind", .plan = 5, .run = run_unbind,
};
