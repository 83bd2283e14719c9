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

#include "guest.h"
#include "host.h"

#define ATC_TIMEOUT_MSG		"ATC invalidate timeout"
#define IO_BYTES		(1L << 20)
#define IO_CHUNK		(64L << 10)

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
		    unsigned int seed)
{
	int ret = blk_rw_verify(d, seed, IO_BYTES, IO_CHUNK);

	if (ret)
		ktap_diag(&g->ktap, "%s: I/O failed: %s", d->name,
			  strerror(-ret));
	return !ret;
}

static void run_ats(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct pci_dev *devs[PCI_MAX_DEVICES];
	const struct blk_disk *disk = NULL;
	const struct pci_dev *target = NULL;
	char reply[256];
	int n, ret;
	bool ok;

	/* 1: an ATS-capable function, attached by the IOMMU driver */
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

	/* 2: ATSCtl.Enable set on all of them */
	ktap_result(k, check_ats_enabled(g, devs, n), "ats_enabled", NULL);

	if (!disk) {
		ktap_diag(k, "no virtio disk behind an ATS-enabled function");
		ok = false;
	} else {
		ktap_diag(k, "target: %s on %s", disk->name, target->bdf);
		ok = true;
	}

	/* 3: DMA works; each request is unmapped, so the ATC is invalidated */
	ktap_result(k, ok && io_test(g, disk, 1), "blk_io", NULL);

	/* 4: nothing injected yet */
	ktap_result(k, !kmsg_wait_for(&g->kmsg, ATC_TIMEOUT_MSG, 0),
		    "no_atc_timeout_before_injection", NULL);

	/* 5: the host arms one ATC invalidation timeout for the target */
	ret = -ENODEV;
	if (target)
		ret = host_request(reply, sizeof(reply), 60000,
				   "arm-atc-timeout %s 1", target->bdf);
	ktap_result(k, !ret && !strncmp(reply, "ok", 2),
		    "host_arms_atc_timeout", "%s",
		    ret ? strerror(-ret) : reply);

	/* 6: the next unmap's CMD_SYNC fails; I/O must still complete */
	ktap_result(k, ok && io_test(g, disk, 2), "blk_io_with_atc_timeout",
		    NULL);

	/* 7: the driver reported it */
	ktap_result(k, kmsg_wait_for(&g->kmsg, ATC_TIMEOUT_MSG, 20000),
		    "atc_timeout_reported", NULL);

	/* 8: the host disarms and reports how many timeouts it injected */
	ret = host_request(reply, sizeof(reply), 60000, "disarm-atc-timeout");
	ktap_result(k, !ret && !strncmp(reply, "ok", 2),
		    "host_disarms_atc_timeout", "%s",
		    ret ? strerror(-ret) : reply);

	/* 9: the command queue resumed: DMA and invalidations still work */
	ktap_result(k, ok && io_test(g, disk, 3), "blk_io_after_atc_timeout",
		    NULL);

	/* 10: ATS stays enabled */
	n = ats_devices(g, devs, PCI_MAX_DEVICES);
	ktap_result(k, check_ats_enabled(g, devs, n), "ats_still_enabled",
		    NULL);
}

const struct scenario scenario_ats = {
	.name = "ats",
	.plan = 10,
	.run = run_ats,
};
