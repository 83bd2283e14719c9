// SPDX-License-Identifier: GPL-2.0
/*
 * Hot-unplug of a quarantined device: pciehp removes it, the IOMMU releases
 * it, its quarantine state goes away and kmemleak finds nothing.  Also run
 * on the unpatched debug kernel, whose reports on the same unplug are the
 * only ones allowed here (scripts/scenarios.py).
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

static bool dev_present(int i)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf(i));
	return !access(path, F_OK);
}

static void run_unplug(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	char reply[256], st[32], name[16];
	bool base, leakcheck;
	long long t0, w;
	int ret;

	if (!have(g, DEV_A)) {
		ktap_result(k, false, "device_A_present", NULL);
		for (int j = 1; j < 5; j++)
			ktap_skip(k, "unplug", "no device A");
		return;
	}
	ktap_result(k, true, "device_A_present", "%s", bdf(DEV_A));
	/* On the base kernel (no quarantine) this only unplugs A */
	base = quarantine_state("none", st, sizeof(st)) == NULL;
	leakcheck = kmemleak_clear();
	if (base)
		ktap_skip(k, "A_quarantined", "base kernel: no quarantine");
	else
		ktap_result(k, do_quarantine(g, DEV_A, 1000, &t),
			    "A_quarantined", NULL);

	/*
	 * device_del presses the slot's attention button: pciehp powers the
	 * slot off after its 5 s grace period and removes A, which releases
	 * it from the IOMMU while it is quarantined.
	 */
	snprintf(name, sizeof(name), "dev%s", "A");
	t0 = now_ms();
	ret = host_request(reply, sizeof(reply), 30000, "hmp device_del %s",
			   name);
	ret = host_ok(g, reply, sizeof(reply), "device_del", ret);
	while (ret && dev_present(DEV_A) && now_ms() - t0 < 30000)
		msleep(20);
	ktap_result(k, ret && !dev_present(DEV_A), "A_removed",
		    "after %lld ms", now_ms() - t0);
	if (base) {
		ktap_skip(k, "quarantine_state_released",
			  "base kernel: no quarantine");
	} else {
		/*
		 * The device leaves /sys/bus/pci/devices just before the
		 * IOMMU core releases it (BUS_NOTIFY_REMOVED_DEVICE): poll.
		 */
		w = wait_quarantine(DEV_A, false, POLL_MS);
		quarantine_state(bdf(DEV_A), st, sizeof(st));
		ktap_result(k, w >= 0, "quarantine_state_released",
			    "debugfs state for A: '%s' after %lld ms", st, w);
	}
	devs[DEV_A].pci = NULL;
	devs[DEV_A].disk = NULL;

	kmemleak_result(g, leakcheck);
	drain_kmsg(g);
}

const struct scenario scenario_unplug = {
	.name = "unplug", .plan = 5, .run = run_unplug,
};
