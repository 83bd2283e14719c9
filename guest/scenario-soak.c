// SPDX-License-Identifier: GPL-2.0
/*
 * Soak: quarantine -> FLR -> lifted, many times (guest.soak_cycles), with the
 * log lines coalesced, B untouched and kmemleak clean afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static void run_soak(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	long long t0, secs_x10;
	int cycles, done = 0, nq = 0, nl = 0;
	bool leakcheck, ok = true;
	char buf[16];

	cycles = atoi(guest_param(g, "soak_cycles", "200", buf, sizeof(buf)));
	if (!have(g, DEV_A) || !have(g, DEV_B)) {
		ktap_result(k, false, "devices_present", NULL);
		for (int j = 1; j < 5; j++)
			ktap_skip(k, "soak", "devices missing");
		return;
	}
	ktap_result(k, true, "devices_present", NULL);
	leakcheck = kmemleak_clear();
	logwatch_start(w);
	t0 = now_ms();
	for (int c = 0; c < cycles && ok; c++) {
		ok = do_quarantine(g, DEV_A, 2000 + c, &t) && t.io_ok;
		ok = ok && recover(g, DEV_A) && io(g, DEV_A, 3000 + c, IO_CHUNK);
		if (!ok)
			ktap_diag(k, "cycle %d failed (quarantine %lld ms, io %d)",
				  c, t.to_state, t.io_ok);
		else
			done++;
		/* Count per cycle so that the watch buffer never fills up */
		nq += logwatch_count(w, QUARANTINE_MSG, bdf(DEV_A));
		nl += logwatch_count(w, LIFTED_MSG, bdf(DEV_A));
		w->len = 0;
		w->buf[0] = '\0';
	}
	secs_x10 = (now_ms() - t0) / 100;
	ktap_diag(k, "bench: soak: %d cycles quarantine->FLR->lifted in %lld.%lld s, %.2f cycles/s",
		  done, secs_x10 / 10, secs_x10 % 10,
		  secs_x10 ? done * 10.0 / secs_x10 : 0.0);
	ktap_result(k, done == cycles, "all_cycles_recovered", "%d of %d",
		    done, cycles);
	logwatch_stop(w);
	/*
	 * The quarantine line is rate limited (10 per 5 s): at most one per
	 * cycle, and at least as many as the limit lets through.
	 */
	ktap_result(k, nq <= done && nq >= (done < 10 ? done : 10) &&
		    nl == done, "log_lines_coalesced",
		    "%d quarantine, %d lift line(s) for %d cycles", nq, nl, done);
	ktap_result(k, !quarantined(DEV_B) && ats_on(DEV_B) &&
		    io(g, DEV_B, 3999, IO_BYTES), "B_untouched", NULL);
	kmemleak_result(g, leakcheck);
	drain_kmsg(g);
}

const struct scenario scenario_soak = {
	.name = "soak", .plan = 5, .run = run_soak,
};
