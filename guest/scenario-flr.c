// SPDX-License-Identifier: GPL-2.0
/*
 * A function reset through sysfs (FLR) of the quarantined device A lifts
 * the quarantine: the reset_device_done() callback runs once, ATS is on
 * again, data intact, B unaffected.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static void run_flr(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	long long d, wq, wa;
	char rm[64] = "";
	char path[PATH_MAX];
	int n;

	if (!have(g, DEV_A)) {
		ktap_result(k, false, "device_A_present", NULL);
		for (int j = 0; j < 5; j++)
			ktap_skip(k, "flr", "no device A");
		return;
	}
	/* Runs on its own too: quarantine A first if "quarantine" did not */
	if (!quarantined(DEV_A))
		do_quarantine(g, DEV_A, 200, &t);
	ktap_result(k, quarantined(DEV_A) && !ats_on(DEV_A),
		    "A_quarantined_before_reset", NULL);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf(DEV_A));
	read_file(path, rm, sizeof(rm));
	logwatch_start(w);
	d = sysfs_reset(DEV_A);
	ktap_result(k, d >= 0, "sysfs_reset_succeeds", "reset_method '%s', %lld ms",
		    rm, d);
	wq = wait_quarantine(DEV_A, false, POLL_MS);
	n = logwatch_count(w, LIFTED_MSG, bdf(DEV_A));
	ktap_result(k, wq >= 0 && n == 1, "callback_ran_quarantine_lifted",
		    "'%s' logged %d time(s)", LIFTED_MSG, n);
	logwatch_stop(w);
	wa = wait_ats(DEV_A, true, POLL_MS);
	ktap_result(k, wa >= 0, "A_ats_enabled_again", NULL);
	ktap_result(k, io(g, DEV_A, 300, IO_BYTES), "A_io_data_intact", NULL);
	ktap_result(k, !quarantined(DEV_B) && ats_on(DEV_B) &&
		    io(g, DEV_B, 301, IO_BYTES), "B_unaffected", NULL);
	drain_kmsg(g);
}

const struct scenario scenario_flr = {
	.name = "flr", .plan = 6, .run = run_flr,
};
