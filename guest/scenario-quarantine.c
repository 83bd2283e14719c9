// SPDX-License-Identifier: GPL-2.0
/*
 * An injected ATC invalidation timeout on device A quarantines A (ATS off in
 * config space, listed in debugfs, one log line) while device B keeps doing
 * I/O untouched.  A stays quarantined: the next scenario resets it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static void run_quarantine(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	struct bgio bg;
	char st[32];
	bool ok;
	int n;

	if (!have(g, DEV_A) || !have(g, DEV_B)) {
		for (int j = 0; j < 8; j++)
			ktap_result(k, false, "devices_present", NULL);
		return;
	}
	logwatch_start(w);
	bgio_start(&bg, DEV_B);

	ok = do_quarantine(g, DEV_A, 100, &t);
	ktap_result(k, ok, "timeout_injected_and_A_quarantined",
		    "%ld timeout(s) injected", t.injected);
	ktap_diag(k, "bench: injection->quarantine %lld ms (debugfs), %lld ms (ATSCtl.Enable clear)",
		  t.to_state, t.to_ats_off);
	ktap_result(k, t.io_ok, "A_io_during_timeout_completes_intact", NULL);
	ktap_result(k, !ats_on(DEV_A), "A_ats_disabled_in_config_space", NULL);
	quarantine_state(bdf(DEV_A), st, sizeof(st));
	ktap_result(k, !strcmp(st, "ats-disabled"), "A_state_visible_in_debugfs",
		    "'%s'", st);

	/* The I/O that follows must not log it again */
	ok = io(g, DEV_A, 101, IO_BYTES);
	ktap_result(k, ok, "A_io_while_quarantined_intact", NULL);
	n = logwatch_count(w, QUARANTINE_MSG, bdf(DEV_A));
	ktap_result(k, n == 1, "A_one_log_line", "%d line(s)", n);

	ok = bgio_stop(g, &bg, "B");
	ok &= !quarantined(DEV_B) && ats_on(DEV_B);
	n = logwatch_count(w, QUARANTINE_MSG, bdf(DEV_B));
	ok &= n == 0;
	ktap_result(k, ok, "B_untouched_and_doing_io", NULL);
	logwatch_stop(w);

	/* Quarantine stays until a reset: "flr" resets A */
	ktap_result(k, quarantined(DEV_A) && !ats_on(DEV_A),
		    "A_still_quarantined", NULL);
	drain_kmsg(g);
}

const struct scenario scenario_quarantine = {
	.name = "quarantine", .plan = 8, .run = run_quarantine,
};
