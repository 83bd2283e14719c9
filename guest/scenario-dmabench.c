// SPDX-License-Identifier: GPL-2.0
/*
 * Map/unmap latency through the SMMUv3 with the kernel's
 * tools/dma/dma_map_benchmark (benchmark, also on the base kernel).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "e2e.h"

/* The kernel's tools/dma tool for 3 s: its output into @out, exit status */
static int run_dma_bench(char *out, size_t size)
{
	int fd;
	pid_t pid = dma_bench_start(3, &fd);

	return pid > 0 ? dma_bench_end(pid, fd, out, size) : -1;
}

static bool bind_driver(int i, const char *drv)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 bdf(i));
	if (write_file(path, drv ? drv : "\n"))
		return false;
	if (!drv)
		return true;
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	return !write_file(path, bdf(i));
}

static void run_dmabench(struct guest *g)
{
	struct ktap *k = &g->ktap;
	char out[2048], path[PATH_MAX], drv[32];
	double map = -1, map_sd = 0, unmap = -1, unmap_sd = 0;
	const char *p;
	bool ok;
	int ret;

	if (!have(g, DEV_C1) || access(DMA_BENCH, X_OK)) {
		ktap_result(k, false, "dma_map_benchmark_ran",
			    "no device C1 or no %s", DMA_BENCH);
		ktap_skip(k, "C1_back_io_intact", "nothing was changed");
		return;
	}
	/* C1 (ATS) leaves virtio for the benchmark driver, then comes back */
	snprintf(drv, sizeof(drv), "%s", devs[DEV_C1].pci->driver);
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
	ok = !write_file(path, bdf(DEV_C1)) &&
	     bind_driver(DEV_C1, "dma_map_benchmark");
	ret = ok ? run_dma_bench(out, sizeof(out)) : -1;
	p = strstr(out, "average map latency(us):");
	if (p)
		sscanf(p, "average map latency(us):%lf standard deviation:%lf",
		       &map, &map_sd);
	p = strstr(out, "average unmap latency(us):");
	if (p)
		sscanf(p, "average unmap latency(us):%lf standard deviation:%lf",
		       &unmap, &unmap_sd);
	ktap_diag(k, "bench: dma_map_benchmark on C1 (ATS, iommu.strict=1, 1 thread, 1 page, 3 s): map %.1f us (sd %.1f), unmap %.1f us (sd %.1f)",
		  map, map_sd, unmap, unmap_sd);
	ktap_result(k, ret == 0 && map >= 0 && unmap >= 0,
		    "dma_map_benchmark_ran", "exit %d%s%.200s", ret,
		    ret ? ": " : "", ret ? out : "");

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/dma_map_benchmark/unbind");
	ok = !write_file(path, bdf(DEV_C1));
	ok &= bind_driver(DEV_C1, NULL);
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	ok &= !write_file(path, bdf(DEV_C1));
	ktap_result(k, ok && wait_disk_back(g, DEV_C1, 20000) &&
		    wait_ats(DEV_C1, true, POLL_MS) >= 0 &&
		    io(g, DEV_C1, 950, IO_BYTES), "C1_back_io_intact", NULL);
	drain_kmsg(g);
}

const struct scenario scenario_dmabench = {
	.name = "dmabench", .plan = 2, .run = run_dmabench,
};
