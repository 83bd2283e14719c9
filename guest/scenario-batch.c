// SPDX-License-Identifier: GPL-2.0
/*
 * Two faulty functions and an innocent one in one invalidation batch: the
 * driver finds both faulty masters, quarantines them with one log line each
 * and leaves the innocent function and every other device alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static void run_batch(struct guest *g)
{
	static const int faulty[] = { DEV_C0, DEV_C2 };
	struct ktap *k = &g->ktap;
	struct logwatch *w = &watch;
	long long t0, wq[2];
	long injected;
	bool ok, all = true;
	int n[2], n1, nall;

	for (int i = 0; i < NR_DEVS; i++)
		all &= have(g, i);
	if (!all) {
		ktap_result(k, false, "devices_present", NULL);
		for (int j = 1; j < 7; j++)
			ktap_skip(k, "batch", "devices missing");
		return;
	}
	ktap_result(k, true, "devices_present", NULL);
	/*
	 * C0, C1 and C2 are functions of one slot without ACS: one IOMMU
	 * group, one domain, so an unmap of C0's DMA invalidates the ATC of all
	 * three in one batch.  C0 and C2 never complete an ATC invalidation
	 * (every CMD_SYNC after one of theirs fails, the SMMU gives up on it
	 * so the repeated CMD_SYNC passes); C1 is innocent.  The driver must
	 * find both faulty masters in the batch by re-issuing parts of it and
	 * leave C1 alone.
	 */
	logwatch_start(w);
	ok = arm(g, 1u << DEV_C0 | 1u << DEV_C2, -1, "once");
	t0 = now_ms();
	ok &= io(g, DEV_C0, 800, IO_CHUNK);
	for (int j = 0; j < 2; j++)
		wq[j] = wait_quarantine(faulty[j], true, POLL_MS);
	ktap_diag(k, "bench: batch of 3 with 2 faulty -> both quarantined in %lld ms",
		  now_ms() - t0);
	injected = disarm(g);
	ktap_result(k, ok && wq[0] >= 0 && wq[1] >= 0 && injected > 0,
		    "C0_and_C2_quarantined", "%ld timeout(s) injected",
		    injected);
	ktap_result(k, wait_ats(DEV_C0, false, POLL_MS) >= 0 &&
		    wait_ats(DEV_C2, false, POLL_MS) >= 0,
		    "C0_and_C2_ats_disabled", NULL);
	ktap_result(k, !quarantined(DEV_C1) && ats_on(DEV_C1),
		    "innocent_C1_in_the_same_batch_keeps_ats", NULL);
	ktap_result(k, !quarantined(DEV_A) && !quarantined(DEV_B) &&
		    ats_on(DEV_A) && ats_on(DEV_B) && !quarantined(DEV_N),
		    "other_devices_not_quarantined",
		    "A %s ATS %s, B %s ATS %s, N %s",
		    quarantined(DEV_A) ? "quarantined" : "trusted",
		    ats_on(DEV_A) ? "on" : "off",
		    quarantined(DEV_B) ? "quarantined" : "trusted",
		    ats_on(DEV_B) ? "on" : "off",
		    quarantined(DEV_N) ? "quarantined" : "trusted");
	ktap_result(k, io(g, DEV_A, 801, IO_BYTES) && io(g, DEV_B, 802, IO_BYTES) &&
		    io(g, DEV_C0, 803, IO_BYTES) && io(g, DEV_C1, 804, IO_BYTES) &&
		    io(g, DEV_C2, 806, IO_BYTES),
		    "io_intact_everywhere", NULL);

	/* One log line per quarantined device, none for the innocent one */
	for (int j = 0; j < 2; j++)
		n[j] = logwatch_count(w, QUARANTINE_MSG, bdf(faulty[j]));
	n1 = logwatch_count(w, QUARANTINE_MSG, bdf(DEV_C1));
	nall = logwatch_count(w, QUARANTINE_MSG, NULL);
	logwatch_stop(w);
	ktap_result(k, n[0] == 1 && n[1] == 1 && n1 == 0 && nall == 2,
		    "one_log_line_per_faulty_device",
		    "'%s' lines: C0 %d, C1 %d, C2 %d, all %d",
		    QUARANTINE_MSG, n[0], n1, n[1], nall);

	/*
	 * Clean up: reset both functions.  Should a reset of one reach the
	 * other (a bus reset), the second has nothing left to lift.
	 */
	ok = true;
	for (int j = 0; j < 2; j++)
		if (quarantined(faulty[j]) || !ats_on(faulty[j]))
			ok &= recover(g, faulty[j]);
	ktap_result(k, ok && io(g, DEV_C0, 805, IO_BYTES) &&
		    io(g, DEV_C2, 807, IO_BYTES),
		    "reset_recovers_both", NULL);
	drain_kmsg(g);
}

const struct scenario scenario_batch = {
	.name = "batch", .plan = 8, .run = run_batch,
};
