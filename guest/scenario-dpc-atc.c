// SPDX-License-Identifier: GPL-2.0
/*
 * Downstream Port Containment while ATC invalidations to the device fail.
 * dpc-a's DMA is mapped and unmapped without pause when its fatal error
 * comes (the kernel's dma_map_benchmark driver bound to it), and from the
 * injection until the kernel releases the containment dpc-a answers no ATC
 * invalidation (the host arms the timeout right after the injection and
 * disarms it at the release), so that the unmaps and the blocking of its
 * DMA for the link reset meet a frozen function.  The SMMUv3 driver must
 * not wait for them (no "CMD_SYNC timeout"); it may quarantine dpc-a
 * meanwhile, and the link reset must lift that.  dpc-a ends recovered,
 * ATS on, not quarantined, its disk intact once virtio is bound again;
 * innocent does I/O throughout and is not touched.  The time from the
 * injection to the end of the recovery is printed; on the base kernel the
 * scenario only measures what the series changes.
 *
 * Not virtio-blk I/O during the containment: QEMU's containment resets
 * the function with its bus mastering off, a request in flight then never
 * completes, and virtio-blk, which has no timeout handler, waits for it
 * forever (unbind and reset included).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"
#include "host.h"

#define DMA_BENCH_DRV		"dma_map_benchmark"

/* Binds @drv to the function through driver_override, or unbinds it */
static bool bind(struct fn *f, const char *drv, bool on)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 f->pci.bdf);
	if (write_file(path, on ? drv : "\n"))
		return false;
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/%s", drv,
		 on ? "bind" : "unbind");
	return !write_file(path, f->pci.bdf);
}

static void run_dpc_atc(struct guest *g)
{
	struct fn a = { .serial = "dpc-a", .qdev = "devDA" };
	struct fn in = { .serial = "innocent", .qdev = "devDI" };
	struct ktap *k = &g->ktap;
	struct logwatch *w = &watch;
	unsigned long long addr = 0;
	char line[256], reply[256], out[2048], path[PATH_MAX];
	long long ms, t0, seen_q = -1;
	double unmap = -1;
	const char *p;
	bool ok, base = base_kernel(g);
	struct bgio bg;
	int n, fd, ret;
	pid_t pid;

	if (!fn_find(&a, 10000) || !fn_find(&in, 10000) || !fn_save(&a) ||
	    access(DMA_BENCH, X_OK)) {
		ktap_result(k, false, "devices_present", "dpc-a %s, innocent %s, %s",
			    a.pci.bdf, in.pci.bdf, DMA_BENCH);
		for (int j = 1; j < 7; j++)
			ktap_skip(k, "dpc_atc", "devices missing");
		return;
	}
	addr = dpc_status_addr(a.port);
	ok = addr && fn_ats_on(&a) && fn_ats_on(&in) &&
	     fn_io(g, &a, 700, IO_BYTES);
	/* virtio lets go of dpc-a for the benchmark driver: ATS stays on */
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", a.drv);
	ok = ok && !write_file(path, a.pci.bdf) && bind(&a, DMA_BENCH_DRV, true);
	ktap_result(k, ok && fn_ats_on(&a), "dpc_a_bound_to_dma_map_benchmark",
		    "DPC Status of %s at 0x%llx", a.port, addr);

	logwatch_start(w);
	bgio_start_disk(&bg, &in.disk);
	pid = dma_bench_start(4, &fd);
	msleep(1000);
	ok = pid > 0 && aer_clear(a.pci.bdf) &&
	     inject_error(g, a.qdev, "MALF_TLP", addr, DPC_TRIGGER, true);
	t0 = now_ms();
	while (logwatch_count(w, RECOVERY_MSG, a.port) <= 0 &&
	       now_ms() - t0 < 60000) {
		if (seen_q < 0 && fn_quarantined(&a))
			seen_q = now_ms() - t0;
		msleep(1);
	}
	ms = recovery_ms(a.port);
	ktap_diag(k, "bench: dpc_atc: DPC containment, ATC invalidations failing, injection -> end of recovery %lld ms",
		  ms);
	ret = pid > 0 ? dma_bench_end(pid, fd, out, sizeof(out)) : -1;
	p = strstr(out, "average unmap latency(us):");
	if (p)
		sscanf(p, "average unmap latency(us):%lf", &unmap);
	ktap_diag(k, "dma_map_benchmark on dpc-a across the containment: exit %d, average unmap %.1f us",
		  ret, unmap);
	logwatch_line(w, RECOVERY_MSG, a.port, line, sizeof(line));
	n = host_request(reply, sizeof(reply), 30000, "watch-result");
	ok &= host_ok(g, reply, sizeof(reply), "watch-result", n) &&
	      strstr(reply, "cleared");
	ok &= logwatch_count(w, "DPC: containment event", a.port) == 1 &&
	      logwatch_count(w, RECOVERY_FAILED, a.port) == 1;
	ktap_result(k, ok && ret == 0,
		    "contained_unmapping_timeout_armed_until_release",
		    "%s; host: %s", line[0] ? line : "no end of recovery",
		    reply);
	ktap_diag(k, "dpc-a during the recovery: %s; '%s' %d, '%s' %d line(s)",
		  seen_q >= 0 ? "quarantined (debugfs)" : "not seen quarantined",
		  QUARANTINE_MSG, logwatch_count(w, QUARANTINE_MSG, a.pci.bdf),
		  LIFTED_MSG, logwatch_count(w, LIFTED_MSG, a.pci.bdf));

	n = logwatch_count(w, CMD_SYNC_MSG, NULL);
	ktap_diag(k, "'%s': %d line(s), 'ATC invalidate timeout': %d", CMD_SYNC_MSG,
		  n, logwatch_count(w, "ATC invalidate timeout", NULL));
	if (base)
		ktap_skip(k, "no_cmd_sync_timeout", "base kernel, measured only");
	else
		ktap_result(k, n == 0, "no_cmd_sync_timeout", "%d line(s)", n);

	/* The link reset lifted any quarantine; nothing was waited for */
	n = logwatch_count(w, DMA_BLOCKED_MSG, NULL) +
	    logwatch_count(w, NOT_READY_MSG, NULL);
	ktap_result(k, !fn_quarantined(&a) && n == 0,
		    "no_quarantine_left_not_blocked",
		    "'%s' or '%s': %d line(s)", DMA_BLOCKED_MSG, NOT_READY_MSG,
		    n);

	/* Back to virtio, with the config space the reset wiped */
	ok = bind(&a, DMA_BENCH_DRV, false) && fn_restore_bind(g, &a);
	ktap_result(k, ok, "config_restored_virtio_bound", "%s as %s",
		    a.pci.bdf, a.disk.name);
	ok &= fn_wait_ats(&a, POLL_MS) >= 0;
	ktap_result(k, ok && !fn_quarantined(&a) && fn_io(g, &a, 701, IO_BYTES),
		    "ats_on_not_quarantined_io_intact", NULL);

	innocent_untouched(g, w, &bg, &in, 0);
	logwatch_stop(w);
	drain_kmsg(g);
}

const struct scenario scenario_dpc_atc = {
	.name = "dpc_atc", .plan = 7, .run = run_dpc_atc,
};
