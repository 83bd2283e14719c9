/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCI_MAX_DEVICES		64
#define PCI_CFG_SIZE		4096

#define PCI_EXT_CAP_ID_ATS	0x0f
#define PCI_ATS_CTRL		0x06	/* ATS Control Register (16 bits) */
#define PCI_ATS_CTRL_ENABLE	0x8000

struct pci_dev {
	char bdf[16];			/* 0000:01:00.0 */
	uint16_t vendor, device;
	uint32_t class;
	char driver[32];		/* "" if unbound */
	int iommu_group;		/* -1 if none */
	uint16_t ats_cap;		/* extended capability offset, 0: none */
};

/* Fills devs[] from /sys/bus/pci/devices; returns the count or -errno */
int pci_scan(struct pci_dev *devs, int max);
struct pci_dev *pci_find(struct pci_dev *devs, int n, const char *bdf);
/* Re-reads driver and IOMMU group of one device */
void pci_refresh(struct pci_dev *dev);

int pci_cfg_read(const struct pci_dev *dev, unsigned int off, void *buf,
		 unsigned int len);
int pci_cfg_read16(const struct pci_dev *dev, unsigned int off,
		   uint16_t *val);
uint16_t pci_find_ext_cap(const struct pci_dev *dev, uint16_t id);

/* ATS Control register of the device; < 0 on error */
int pci_ats_ctrl(const struct pci_dev *dev, uint16_t *ctrl);
bool pci_ats_enabled(const struct pci_dev *dev);

/* Offset of a capability in the standard list, 0 if none */
uint8_t pci_find_cap(const struct pci_dev *dev, uint8_t id);
/* Fills one device from sysfs; -errno if it is not there */
int pci_get(struct pci_dev *dev, const char *bdf);
/* The bridge above a function (its parent in sysfs); -errno if none */
int pci_parent(const char *bdf, char *buf, size_t size);
/* Writes @len bytes of config space at @off through sysfs; 0 or -errno */
int pci_cfg_write(const char *bdf, unsigned int off, const void *buf,
		  unsigned int len);
/* A bridge's primary | secondary << 8 | subordinate << 16 bus numbers */
unsigned int pci_bridge_buses(const char *bdf);
/* The function answers config requests (Vendor ID is not all ones) */
bool pci_present(const char *bdf);
/*
 * Guest physical address of config register @off of @bdf (domain 0, whose
 * first bus is 0) through the ECAM window ("PCI ECAM" in /proc/iomem), 0
 * if there is none
 */
unsigned long long pci_ecam_addr(const char *bdf, unsigned int off);

#endif
