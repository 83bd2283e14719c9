// SPDX-License-Identifier: GPL-2.0
/*
 * ATS on an SMMUv3: the device's ATS is enabled once the SMMUv3 driver has
 * attached it, DMA unmaps cause ATC invalidations, and an ATC invalidation
 * timeout injected by the host (QEMU's arm-smmuv3 x-atc-inv-timeout-*)
 * is reported by the driver as "ATC invalidate timeout" without breaking
 * the device.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guest.h"
#include "host.h"
#include "util.h"

#define ATC_TIMEOUT_MSG		"ATC invalidate timeout"
#define IO_BYTES		(1L << 20)
#define IO_CHUNK		(64L << 10)
/*
 * While an ATC invalidation timeout is pending, every CMD_SYNC may spin
 * for the driver's poll timeout (1 s) until the GERROR interrupt is
 * handled, so keep the I/O short then: one write and one read.  The base
 * kernel notices the error only in that interrupt handler, and the CPU
 * spinning with interrupts off may be the one it targets: then the
 * report takes tens of seconds.  That is the base kernel's detection
 * latency, printed as a benchmark figure; the bound below only has to
 * be generous enough for it.
 */
#define IO_BYTES_INJECT		IO_CHUNK
#define REPORT_WAIT_MS		120000

/* ATS-capable devices that the IOMMU driver attached (bound, in a group) */
static int ats_devices(struct guest *g, struct pci_dev **out, int max)
{
	int n = 0;

	for (int i = 0; i < g->npci && n < max; i++) {
		struct pci_dev *d = &g->pci[i];

		pci_refresh(d);
		if (d->ats_cap && d->driver[0] && d->iommu_group >= 0)
			out[n++] = d;
	}
	return n;
}

static bool check_ats_enabled(struct guest *g, struct pci_dev **devs, int n)
{
	bool ok = n > 0;

	for (int i = 0; i < n; i++) {
		uint16_t ctrl = 0;
		int ret = pci_ats_ctrl(devs[i], &ctrl);

		ktap_diag(&g->ktap, "%s ATSCtl: 0x%04x Enable%c%s",
			  devs[i]->bdf, ctrl,
			  ctrl & PCI_ATS_CTRL_ENABLE ? '+' : '-',
			  ret ? " (config read failed)" : "");
		if (ret || !(ctrl & PCI_ATS_CTRL_ENABLE))
			ok = false;
	}
	return ok;
}

static const struct blk_disk *disk_of(struct guest *g, const char *bdf)
{
	for (int i = 0; i < g->ndisks; i++)
		if (!strcmp(g->disks[i].pci_bdf, bdf))
			return &g->disks[i];
	return NULL;
}

static bool io_test(struct guest *g, const struct blk_disk *d,
		    unsigned int seed, long bytes)
{
	int ret = blk_rw_verify(d, seed, bytes, IO_CHUNK);

	if (ret)
		ktap_diag(&g->ktap, "%s: I/O failed: %s", d->name,
			  strerror(-ret));
	return !ret;
}

/* Waits for @n more kernel messages containing @needle; returns how many */
static int kmsg_count(struct guest *g, const char *needle, int n,
		      int timeout_ms)
{
	int found = 0;

	while (found < n && kmsg_wait_for(&g->kmsg, needle, timeout_ms))
		found++;
	return found;
}

static bool reply_ok(int ret, const char *reply)
{
	return !ret && !strncmp(reply, "ok", 2);
}

/*
 * One injection round, 5 results: the host arms @count ATC invalidation
 * timeouts for the target, I/O still completes, the driver reports each
 * timeout, the host disarms, and I/O works afterwards.
 */
static void inject_round(struct guest *g, const struct pci_dev *target,
			 const struct blk_disk *disk, int count,
			 unsigned int seed)
{
	struct ktap *k = &g->ktap;
	char reply[256], name[64];
	long long t0, t_io, t_seen;
	int ret, seen;

	ret = -ENODEV;
	if (target)
		/*
		 * Sticky: the invalidation stays outstanding, so the one
		 * CMD_SYNC fails @count times in a row as the base kernel
		 * repeats it.
		 */
		ret = host_request(reply, sizeof(reply), 60000,
				   "arm-atc-timeout %s %d sticky", target->bdf,
				   count);
	snprintf(name, sizeof(name), "host_arms_%dx_atc_timeout", count);
	ktap_result(k, reply_ok(ret, reply), name, "%s",
		    ret ? strerror(-ret) : reply);

	/* The next unmap's CMD_SYNC fails; the I/O must still complete */
	t0 = now_ms();
	snprintf(name, sizeof(name), "blk_io_with_%dx_atc_timeout", count);
	ktap_result(k, disk && io_test(g, disk, seed, IO_BYTES_INJECT), name,
		    NULL);
	t_io = now_ms() - t0;

	/* Each failed CMD_SYNC is reported once, then retried */
	seen = kmsg_count(g, ATC_TIMEOUT_MSG, count, REPORT_WAIT_MS);
	t_seen = now_ms() - t0;
	ktap_diag(k, "bench: %dx ATC timeout: %d report(s) %lld ms after the I/O started, the 64 KiB I/O took %lld ms",
		  count, seen, t_seen, t_io);
	snprintf(name, sizeof(name), "atc_timeout_reported_%dx", count);
	ktap_result(k, seen == count, name, "%d message(s)", seen);

	ret = host_request(reply, sizeof(reply), 60000, "disarm-atc-timeout");
	ktap_result(k, reply_ok(ret, reply), "host_disarms_atc_timeout", "%s",
		    ret ? strerror(-ret) : reply);

	/* The command queue resumed: DMA and invalidations still work */
	ktap_result(k, disk && io_test(g, disk, seed + 1, IO_BYTES),
		    "blk_io_after_atc_timeout", NULL);
}

static void run_ats(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct pci_dev *devs[PCI_MAX_DEVICES];
	const struct blk_disk *disk = NULL;
	const struct pci_dev *target = NULL;
	int n;

	/* An ATS-capable function, attached by the IOMMU driver */
	n = ats_devices(g, devs, PCI_MAX_DEVICES);
	for (int i = 0; i < n; i++) {
		ktap_diag(k, "%s %04x:%04x driver=%s iommu_group=%d ATS cap at 0x%x",
			  devs[i]->bdf, devs[i]->vendor, devs[i]->device,
			  devs[i]->driver, devs[i]->iommu_group,
			  devs[i]->ats_cap);
		if (!disk && disk_of(g, devs[i]->bdf)) {
			target = devs[i];
			disk = disk_of(g, devs[i]->bdf);
		}
	}
	ktap_result(k, n > 0, "ats_device_attached", NULL);

	/* ATSCtl.Enable set on all of them */
	ktap_result(k, check_ats_enabled(g, devs, n), "ats_enabled", NULL);

	if (disk)
		ktap_diag(k, "target: %s on %s", disk->name, target->bdf);
	else
		ktap_diag(k, "no virtio disk behind an ATS-enabled function");

	/* DMA works; with iommu_platform=on every unmap invalidates the ATC */
	ktap_result(k, disk && io_test(g, disk, 1, IO_BYTES), "blk_io", NULL);

	/* Nothing injected yet */
	ktap_result(k, !kmsg_wait_for(&g->kmsg, ATC_TIMEOUT_MSG, 0),
		    "no_atc_timeout_before_injection", NULL);

	/* Fail once, then three times in a row (the driver retries) */
	inject_round(g, target, disk, 1, 10);
	inject_round(g, target, disk, 3, 20);

	/* ATS stays enabled */
	n = ats_devices(g, devs, PCI_MAX_DEVICES);
	ktap_result(k, check_ats_enabled(g, devs, n), "ats_still_enabled",
		    NULL);
}

const struct scenario scenario_ats = {
	.name = "ats",
	.plan = 15,
	.run = run_ats,
};
