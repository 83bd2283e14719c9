// SPDX-License-Identifier: GPL-2.0
/*
 * Writing reset_method probes the reset methods but resets nothing: a
 * healthy device is unchanged, a quarantined one stays quarantined, no lift
 * is logged; a real reset then recovers it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static void run_reset_method(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	char path[PATH_MAX], rm[64] = "", rm2[64] = "";
	bool ok;
	int n, ret1, ret2;

	if (!have(g, DEV_A)) {
		for (int j = 0; j < 5; j++)
			ktap_result(k, false, "device_A_present", NULL);
		return;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf(DEV_A));
	read_file(path, rm, sizeof(rm));

	/* On a healthy device: ATS stays on, nothing is logged */
	logwatch_start(w);
	ret1 = write_file(path, "default");
	ret2 = write_file(path, rm);
	read_file(path, rm2, sizeof(rm2));
	ok = !ret1 && !ret2 && !strcmp(rm, rm2) && ats_on(DEV_A) &&
	     !quarantined(DEV_A) && io(g, DEV_A, 600, IO_BYTES);
	ktap_result(k, ok, "healthy_A_unchanged", "reset_method '%s' -> '%s'",
		    rm, rm2);

	/* On a quarantined device: a probe is not a reset */
	ok = do_quarantine(g, DEV_A, 601, &t);
	ktap_result(k, ok, "A_quarantined", NULL);
	ret1 = write_file(path, "default");
	ret2 = write_file(path, rm);
	ktap_result(k, !ret1 && !ret2 && quarantined(DEV_A) && !ats_on(DEV_A),
		    "quarantined_A_stays_quarantined", NULL);
	n = logwatch_count(w, LIFTED_MSG, NULL);
	ktap_result(k, n == 0, "no_reset_logged", "%d '%s'", n, LIFTED_MSG);
	logwatch_stop(w);

	/* Clean up: a real reset lifts it */
	ktap_result(k, recover(g, DEV_A) && io(g, DEV_A, 602, IO_BYTES),
		    "real_reset_recovers_A", NULL);
	drain_kmsg(g);
}

const struct scenario scenario_reset_method = {
	.name = "reset_method", .plan = 5, .run = run_reset_method,
};
