// SPDX-License-Identifier: GPL-2.0
/*
 * Baseline: every device is there, ATS is on where the device has it, the
 * quarantine state in debugfs is readable and empty, and block I/O with
 * checksums works on every disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static void run_baseline(struct guest *g)
{
	struct ktap *k = &g->ktap;
	char st[32];
	bool ok;

	find_devs(g);
	ok = true;
	for (int i = 0; i < NR_DEVS; i++)
		ok &= have(g, i);
	ktap_result(k, ok, "devices_present",
		    "A=%s B=%s C0=%s C1=%s C2=%s N=%s", bdf(DEV_A), bdf(DEV_B),
		    bdf(DEV_C0), bdf(DEV_C1), bdf(DEV_C2), bdf(DEV_N));

	ok = true;
	for (int i = DEV_A; i <= DEV_C2; i++)
		ok &= ats_on(i);
	ktap_result(k, ok, "ats_enabled_on_ats_devices", NULL);

	ktap_result(k, devs[DEV_N].pci && !devs[DEV_N].pci->ats_cap,
		    "no_ats_capability_on_N", NULL);

	ok = quarantine_state("none", st, sizeof(st)) != NULL;
	for (int i = 0; i < NR_DEVS; i++)
		ok &= !quarantined(i);
	ktap_result(k, ok, "debugfs_state_readable_and_empty", QUARANTINE_GLOB);

	ok = true;
	for (int i = 0; i < NR_DEVS; i++)
		ok &= io(g, i, 1 + i, IO_BYTES);
	ktap_result(k, ok, "block_io_with_checksums", "1 MiB on each disk");

	ktap_result(k, !kmsg_wait_for(&g->kmsg, QUARANTINE_MSG, 0),
		    "no_quarantine_logged", NULL);
}

const struct scenario scenario_baseline = {
	.name = "baseline", .plan = 6, .run = run_baseline,
};
