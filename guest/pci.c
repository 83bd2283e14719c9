// SPDX-License-Identifier: GPL-2.0
/*
 * PCI devices through sysfs: identification, driver, IOMMU group and
 * config space (the "config" attribute exposes all 4 KiB to root).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pci.h"
#include "util.h"

#define SYS_PCI	"/sys/bus/pci/devices"

static int cmp_bdf(const void *a, const void *b)
{
	return strcmp(((const struct pci_dev *)a)->bdf,
		      ((const struct pci_dev *)b)->bdf);
}

void pci_refresh(struct pci_dev *dev)
{
	char path[PATH_MAX], group[16];

	snprintf(path, sizeof(path), SYS_PCI "/%s/driver", dev->bdf);
	if (link_basename(path, dev->driver, sizeof(dev->driver)))
		dev->driver[0] = '\0';
	snprintf(path, sizeof(path), SYS_PCI "/%s/iommu_group", dev->bdf);
	if (link_basename(path, group, sizeof(group)))
		dev->iommu_group = -1;
	else
		dev->iommu_group = atoi(group);
}

static void pci_read_dev(struct pci_dev *dev, const char *bdf)
{
	char path[PATH_MAX];
	long v;

	memset(dev, 0, sizeof(*dev));
	strcpy(dev->bdf, bdf);
	snprintf(path, sizeof(path), SYS_PCI "/%s/vendor", bdf);
	if (!read_long(path, &v))
		dev->vendor = v;
	snprintf(path, sizeof(path), SYS_PCI "/%s/device", bdf);
	if (!read_long(path, &v))
		dev->device = v;
	snprintf(path, sizeof(path), SYS_PCI "/%s/class", bdf);
	if (!read_long(path, &v))
		dev->class = v;
	pci_refresh(dev);
	dev->ats_cap = pci_find_ext_cap(dev, PCI_EXT_CAP_ID_ATS);
}

int pci_scan(struct pci_dev *devs, int max)
{
	struct dirent *de;
	DIR *dir;
	int n = 0;

	dir = opendir(SYS_PCI);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < max) {
		if (de->d_name[0] == '.' ||
		    strlen(de->d_name) >= sizeof(devs->bdf))
			continue;
		pci_read_dev(&devs[n++], de->d_name);
	}
	closedir(dir);
	qsort(devs, n, sizeof(*devs), cmp_bdf);
	return n;
}

struct pci_dev *pci_find(struct pci_dev *devs, int n, const char *bdf)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(devs[i].bdf, bdf))
			return &devs[i];
	return NULL;
}

/* @len bytes at @off of @bdf's config space, through sysfs */
static int pci_cfg_rw(const char *bdf, unsigned int off, void *buf,
		      unsigned int len, bool write)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), SYS_PCI "/%s/config", bdf);
	fd = open(path, (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	return n == len ? 0 : -EIO;
}

int pci_cfg_read(const struct pci_dev *dev, unsigned int off, void *buf,
		 unsigned int len)
{
	return pci_cfg_rw(dev->bdf, off, buf, len, false);
}

int pci_cfg_read16(const struct pci_dev *dev, unsigned int off,
		   uint16_t *val)
{
	uint8_t b[2];
	int ret;

	ret = pci_cfg_read(dev, off, b, sizeof(b));
	if (!ret)
		*val = b[0] | b[1] << 8;
	return ret;
}

uint16_t pci_find_ext_cap(const struct pci_dev *dev, uint16_t id)
{
	unsigned int off = 0x100, loops = 0;
	uint8_t b[4];
	uint32_t hdr;

	while (off >= 0x100 && off < PCI_CFG_SIZE && loops++ < 256) {
		if (pci_cfg_read(dev, off, b, sizeof(b)))
			return 0;
		hdr = b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
		if (!hdr || hdr == 0xffffffff)
			return 0;
		if ((hdr & 0xffff) == id)
			return off;
		off = (hdr >> 20) & 0xffc;
	}
	return 0;
}

int pci_ats_ctrl(const struct pci_dev *dev, uint16_t *ctrl)
{
	if (!dev->ats_cap)
		return -ENODEV;
	return pci_cfg_read16(dev, dev->ats_cap + PCI_ATS_CTRL, ctrl);
}

bool pci_ats_enabled(const struct pci_dev *dev)
{
	uint16_t ctrl;

	return !pci_ats_ctrl(dev, &ctrl) && (ctrl & PCI_ATS_CTRL_ENABLE);
}

uint8_t pci_find_cap(const struct pci_dev *dev, uint8_t id)
{
	uint8_t pos, b[2];
	int loops = 0;

	if (pci_cfg_read(dev, 0x34, &pos, 1))
		return 0;
	while ((pos &= 0xfc) >= 0x40 && loops++ < 48) {
		if (pci_cfg_read(dev, pos, b, 2) || b[0] == 0xff)
			return 0;
		if (b[0] == id)
			return pos;
		pos = b[1];
	}
	return 0;
}

int pci_get(struct pci_dev *dev, const char *bdf)
{
	char path[PATH_MAX];

	if (strlen(bdf) >= sizeof(dev->bdf))
		return -EINVAL;
	snprintf(path, sizeof(path), SYS_PCI "/%s", bdf);
	if (access(path, F_OK))
		return -errno;
	pci_read_dev(dev, bdf);
	return 0;
}

int pci_parent(const char *bdf, char *buf, size_t size)
{
	char path[PATH_MAX], real[PATH_MAX], *slash;
	unsigned int dom, bus, dev, fn;

	snprintf(path, sizeof(path), SYS_PCI "/%s", bdf);
	if (!realpath(path, real))
		return -errno;
	slash = strrchr(real, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	slash = strrchr(real, '/');
	if (!slash || strlen(slash + 1) != 12 ||
	    sscanf(slash + 1, "%4x:%2x:%2x.%1x", &dom, &bus, &dev, &fn) != 4)
		return -ENOENT;
	if (strlen(slash + 1) >= size)
		return -ENAMETOOLONG;
	strcpy(buf, slash + 1);
	return 0;
}

int pci_cfg_write(const char *bdf, unsigned int off, const void *buf,
		  unsigned int len)
{
	return pci_cfg_rw(bdf, off, (void *)buf, len, true);
}

unsigned int pci_bridge_buses(const char *bdf)
{
	struct pci_dev dev = { 0 };
	uint8_t b[3] = { 0 };

	snprintf(dev.bdf, sizeof(dev.bdf), "%s", bdf);
	pci_cfg_read(&dev, 0x18, b, sizeof(b));
	return b[0] | b[1] << 8 | b[2] << 16;
}

bool pci_present(const char *bdf)
{
	struct pci_dev dev = { 0 };
	uint16_t vendor;

	snprintf(dev.bdf, sizeof(dev.bdf), "%s", bdf);
	return !pci_cfg_read16(&dev, 0, &vendor) && vendor != 0xffff;
}

unsigned long long pci_ecam_addr(const char *bdf, unsigned int off)
{
	unsigned long long start = 0, end;
	unsigned int dom, bus, dev, fn, b0 = 0;
	char line[256], *p;
	FILE *f;

	if (sscanf(bdf, "%4x:%2x:%2x.%1x", &dom, &bus, &dev, &fn) != 4)
		return 0;
	f = fopen("/proc/iomem", "re");
	if (!f)
		return 0;
	/*
	 * "4010000000-401fffffff : PCI ECAM": the window of the host bridge
	 * of domain 0, from its first bus (0 on QEMU's virt board) on
	 */
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, "PCI ECAM");
		if (!p || sscanf(line, " %llx-%llx", &start, &end) != 2) {
			start = 0;
			continue;
		}
		if ((unsigned long long)(bus - b0 + 1) << 20 <= end - start + 1)
			break;
		start = 0;
	}
	fclose(f);
	if (!start)
		return 0;
	return start + ((unsigned long long)(bus - b0) << 20 | dev << 15 |
			fn << 12) + off;
}
