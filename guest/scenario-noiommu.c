// SPDX-License-Identifier: GPL-2.0
/*
 * PCIe error recovery below a switch on a machine without an IOMMU
 * (machine "noiommu"): the series must change nothing there.  A fatal
 * error of the switch's upstream port (the root port's link is reset, the
 * PCI core restores the switch and the NVMe), then one of the NVMe itself
 * (contained by DPC at its downstream port): both recover with the messages
 * the base kernel prints, in order, nothing waits ("not ready") and
 * nothing of the IOMMU shows; the NVMe's data are intact and the virtio
 * disk on the other root port does I/O throughout, untouched.  The same
 * checks pass on the base kernel; the recovery times of both are printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

/* Messages with one of these have nothing to do here */
static const char *const foreign[] = {
	NOT_READY_MSG, DMA_BLOCKED_MSG, QUARANTINE_MSG, LIFTED_MSG, "iommu",
	"IOMMU", "ATC invalidat", "subordinate device reset failed",
};

/*
 * Every fragment of @want in the watch, in this order, each once; none of
 * foreign[].  The first problem goes to @why.
 */
static bool recovered_as_expected(struct logwatch *w,
				  const char *const *want, int n,
				  char *why, size_t size)
{
	const char *p = w->buf, *q;

	logwatch_read(w);
	for (const char *l = w->buf; *l; l = strchr(l, '\n') + 1) {
		size_t len = strcspn(l, "\n");

		/* The agent's own marks name the scenario, "noiommu" */
		if (!strncmp(l, "guest: ", 7))
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(foreign); i++) {
			if (memmem(l, len, foreign[i], strlen(foreign[i]))) {
				snprintf(why, size, "%.*s", (int)len, l);
				return false;
			}
		}
	}
	for (int i = 0; i < n; i++) {
		if (logwatch_count(w, want[i], NULL) != 1) {
			snprintf(why, size, "'%s' %d time(s)", want[i],
				 logwatch_count(w, want[i], NULL));
			return false;
		}
		q = strstr(p, want[i]);
		if (!q) {
			snprintf(why, size, "'%s' out of order", want[i]);
			return false;
		}
		p = q;
	}
	snprintf(why, size, "%d messages in order", n);
	return true;
}

static void run_noiommu(struct guest *g)
{
	struct fn nv = { .serial = "ni-nvme", .qdev = "devNN" };
	struct fn o = { .serial = "ni-other", .qdev = "devNO" };
	struct ktap *k = &g->ktap;
	struct logwatch *w = &watch;
	char up[16] = "", rp[16] = "", from[64], why[256];
	const char *want[6];
	struct bgio bg;
	bool ok;
	int n;

	if (!fn_find(&nv, 10000) || !fn_find(&o, 10000) ||
	    pci_parent(nv.port, up, sizeof(up)) ||
	    pci_parent(up, rp, sizeof(rp))) {
		ktap_result(k, false, "devices_present", "nvme %s, other %s",
			    nv.pci.bdf, o.pci.bdf);
		for (int j = 1; j < 4; j++)
			ktap_skip(k, "noiommu", "devices missing");
		return;
	}
	ktap_diag(k, "NVMe %s below %s, switch %s below %s; virtio %s",
		  nv.pci.bdf, nv.port, up, rp, o.pci.bdf);
	ktap_result(k, access(QUARANTINE_GLOB, F_OK) &&
		    nv.pci.iommu_group < 0 && o.pci.iommu_group < 0 &&
		    fn_io(g, &nv, 1200, IO_BYTES) && fn_io(g, &o, 1201, IO_BYTES),
		    "devices_present_no_iommu_io", NULL);
	bgio_start_disk(&bg, &o.disk);

	/* The switch's upstream port: the root port's link is reset */
	logwatch_start(w);
	snprintf(from, sizeof(from), "Error message received from %s", up);
	want[0] = from;
	want[1] = "frozen state error detected, reset controller";
	want[2] = "Root Port link has been reset";
	want[3] = "restart after slot reset";
	want[4] = RECOVERY_OK;
	ok = aer_clear(up) && inject_error(g, "up1", "MALF_TLP", 0, 0, false) &&
	     logwatch_wait(w, RECOVERY_MSG, rp, 60000) >= 0;
	ktap_diag(k, "bench: noiommu: fatal error of a switch's upstream port (NVMe below), injection -> end of recovery %lld ms",
		  recovery_ms(rp));
	ok &= recovered_as_expected(w, want, 5, why, sizeof(why)) &&
	      logwatch_count(w, RECOVERY_OK, rp) == 1;
	ok &= fn_find(&nv, 10000) && fn_io(g, &nv, 1202, IO_BYTES);
	ktap_result(k, ok, "upstream_port_error_recovered", "%s", why);
	n = logwatch_count(w, o.pci.bdf, NULL);
	logwatch_stop(w);

	/* The NVMe itself: contained at its downstream port */
	logwatch_start(w);
	snprintf(from, sizeof(from), "ERR_FATAL received from %s", nv.pci.bdf);
	want[0] = "DPC: containment event";
	want[1] = from;
	want[2] = "frozen state error detected, reset controller";
	want[3] = "restart after slot reset";
	want[4] = RECOVERY_OK;
	ok = err_reporting_on(nv.pci.bdf) &&
	     inject_error(g, nv.qdev, "MALF_TLP", 0, 0, false) &&
	     logwatch_wait(w, RECOVERY_MSG, nv.port, 60000) >= 0;
	ktap_diag(k, "bench: noiommu: fatal error of the NVMe below a switch, injection -> end of recovery %lld ms",
		  recovery_ms(nv.port));
	ok &= recovered_as_expected(w, want, 5, why, sizeof(why)) &&
	      logwatch_count(w, RECOVERY_OK, nv.port) == 1;
	ok &= fn_find(&nv, 10000) && fn_io(g, &nv, 1203, IO_BYTES);
	ktap_result(k, ok, "nvme_error_recovered", "%s", why);

	ok = bgio_stop(g, &bg, "virtio");
	n += logwatch_count(w, o.pci.bdf, NULL);
	ktap_result(k, ok && n == 0, "other_disk_untouched_io_throughout",
		    "%d kernel message(s) about %s", n, o.pci.bdf);
	logwatch_stop(w);
	drain_kmsg(g);
}

const struct scenario scenario_noiommu = {
	.name = "noiommu", .plan = 4, .run = run_noiommu,
};
