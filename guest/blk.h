/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GUEST_BLK_H
#define GUEST_BLK_H

#define BLK_MAX_DISKS	16

struct blk_disk {
	char name[32];		/* vda */
	char pci_bdf[16];	/* PCI function behind it, "" if none */
	long long sectors;
};

/* Lists /sys/block entries whose name starts with prefix ("vd", "nvme") */
int blk_scan(struct blk_disk *disks, int max, const char *prefix);

/*
 * Writes a pattern with O_DIRECT over the first @bytes of the disk in
 * @chunk sized requests, reads it back and compares.  Every request maps
 * and unmaps DMA, which with ATS means ATC invalidations.  Returns 0 or
 * -errno (-EILSEQ on a data mismatch).
 */
int blk_rw_verify(const struct blk_disk *disk, unsigned int seed,
		  long bytes, long chunk);

#endif
