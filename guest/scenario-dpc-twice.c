// SPDX-License-Identifier: GPL-2.0
/*
 * The same function contained twice.  The recovery of the first fatal
 * error fails (virtio has no AER handlers) and the guest recovers dpc-a by
 * hand, as scenario-dpc.c does: the PCI core keeps it in its frozen error
 * state from then on.  The second fatal error is contained while the
 * device answers no ATC invalidation (armed with the injection, the
 * machine stopped for both, disarmed when the kernel releases the port),
 * and nothing else maps or unmaps its DMA: the only ATC invalidation is
 * the one of blocking its DMA for the link reset, when the PCI core holds
 * it frozen for this recovery.  The SMMUv3 driver must not send it (the
 * SMMU reports no ATC invalidation timeout), quarantine dpc-a at once and
 * lift that with the link reset; dpc-a ends with ATS on and its data
 * intact, innocent untouched.
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

/* One containment of @a; true if its recovery ended (failed) */
static bool contain(struct guest *g, struct fn *a, unsigned long long addr,
		    bool arm)
{
	struct logwatch *w = &watch;

	return aer_clear(a->pci.bdf) &&
	       inject_error(g, a->qdev, "MALF_TLP", addr, DPC_TRIGGER, arm) &&
	       logwatch_wait(w, RECOVERY_MSG, a->port, 30000) >= 0 &&
	       logwatch_count(w, RECOVERY_FAILED, a->port) == 1;
}

static void run_dpc_twice(struct guest *g)
{
	struct fn a = { .serial = "dpc-a", .qdev = "devDA" };
	struct fn in = { .serial = "innocent", .qdev = "devDI" };
	struct ktap *k = &g->ktap;
	struct logwatch *w = &watch;
	unsigned long long addr;
	char reply[256], line[256];
	long timeouts = -1;
	struct bgio bg;
	int n, nq, nl, n_in;
	bool ok;

	if (!fn_find(&a, 10000) || !fn_find(&in, 10000) || !fn_save(&a) ||
	    !(addr = dpc_status_addr(a.port))) {
		ktap_result(k, false, "devices_present", "dpc-a %s, innocent %s",
			    a.pci.bdf, in.pci.bdf);
		for (int j = 1; j < 5; j++)
			ktap_skip(k, "dpc_twice", "devices missing");
		return;
	}
	bgio_start_disk(&bg, &in.disk);

	/* The first containment, recovered by hand */
	logwatch_start(w);
	ok = contain(g, &a, addr, false);
	n_in = logwatch_count(w, in.pci.bdf, NULL);
	logwatch_stop(w);
	ok = ok && fn_restore_rebind(g, &a) && fn_wait_ats(&a, POLL_MS) >= 0 &&
	     !fn_quarantined(&a) && fn_io(g, &a, 800, IO_BYTES);
	ktap_result(k, ok, "first_containment_recovered_by_hand", NULL);

	/* The second one, with every ATC invalidation to dpc-a failing */
	logwatch_start(w);
	ok = contain(g, &a, addr, true);
	n = host_request(reply, sizeof(reply), 30000, "watch-result");
	ok &= host_ok(g, reply, sizeof(reply), "watch-result", n) &&
	      sscanf(reply, "ok cleared after %*d ms timeouts=%ld",
		     &timeouts) == 1;
	ktap_diag(k, "bench: dpc_twice: second containment, injection -> end of recovery %lld ms",
		  recovery_ms(a.port));
	logwatch_line(w, RECOVERY_MSG, a.port, line, sizeof(line));
	ktap_result(k, ok, "second_containment_timeout_armed_until_release",
		    "%s; host: %s", line, reply);
	nq = logwatch_count(w, QUARANTINE_MSG, a.pci.bdf);
	nl = logwatch_count(w, LIFTED_MSG, a.pci.bdf);
	n = logwatch_count(w, CMD_SYNC_MSG, NULL);
	ktap_diag(k, "dpc-a: '%s' %d, '%s' %d line(s), %ld ATC invalidation timeout(s) while contained, '%s' %d line(s)",
		  QUARANTINE_MSG, nq, LIFTED_MSG, nl, timeouts, CMD_SYNC_MSG, n);
	if (base_kernel(g))
		ktap_skip(k, "no_atc_invalidation_sent_while_frozen",
			  "base kernel, measured only");
	else
		ktap_result(k, ok && timeouts == 0 && n == 0 && nq == 1 &&
			    nl == 1, "no_atc_invalidation_sent_while_frozen",
			    "%ld timeout(s), quarantined %d, lifted %d", timeouts,
			    nq, nl);

	ok = fn_restore_rebind(g, &a) && fn_wait_ats(&a, POLL_MS) >= 0;
	ktap_result(k, ok && !fn_quarantined(&a) && fn_io(g, &a, 801, IO_BYTES),
		    "ats_on_not_quarantined_io_intact", NULL);

	innocent_untouched(g, w, &bg, &in, n_in);
	logwatch_stop(w);
	drain_kmsg(g);
}

const struct scenario scenario_dpc_twice = {
	.name = "dpc_twice", .plan = 5, .run = run_dpc_twice,
};
