// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk.h"
#include "util.h"

/* The PCI function is the last BDF-looking component of the device path */
static void blk_find_pci(struct blk_disk *d)
{
	char path[PATH_MAX], real[PATH_MAX], *tok, *save;
	unsigned int dom, bus, dev, fn;

	d->pci_bdf[0] = '\0';
	snprintf(path, sizeof(path), "/sys/block/%s/device", d->name);
	if (!realpath(path, real))
		return;
	for (tok = strtok_r(real, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		if (strlen(tok) == 12 &&
		    sscanf(tok, "%4x:%2x:%2x.%1x", &dom, &bus, &dev, &fn) == 4)
			strcpy(d->pci_bdf, tok);
	}
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct blk_disk *)a)->name,
		      ((const struct blk_disk *)b)->name);
}

int blk_scan(struct blk_disk *disks, int max, const char *prefix)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	long v;
	int n = 0;

	dir = opendir("/sys/block");
	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < max) {
		struct blk_disk *d = &disks[n];

		if (strncmp(de->d_name, prefix, strlen(prefix)) ||
		    strlen(de->d_name) >= sizeof(d->name))
			continue;
		strcpy(d->name, de->d_name);
		snprintf(path, sizeof(path), "/sys/block/%s/size", d->name);
		d->sectors = read_long(path, &v) ? 0 : v;
		blk_find_pci(d);
		n++;
	}
	closedir(dir);
	qsort(disks, n, sizeof(*disks), cmp_name);
	return n;
}

static void fill(uint8_t *buf, long len, unsigned int seed, long off)
{
	uint32_t x = seed ^ (uint32_t)(off / 512) * 2654435761u;

	for (long i = 0; i < len; i += 4) {
		x = x * 1103515245u + 12345u;
		memcpy(buf + i, &x, 4);
	}
}

int blk_rw_verify(const struct blk_disk *disk, unsigned int seed,
		  long bytes, long chunk)
{
	char path[PATH_MAX];
	uint8_t *buf, *ref;
	int fd, ret = 0;
	long off;

	if (disk->sectors * 512 < bytes)
		bytes = disk->sectors * 512 / chunk * chunk;
	snprintf(path, sizeof(path), "/dev/%s", disk->name);
	fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (posix_memalign((void **)&buf, 4096, chunk) ||
	    posix_memalign((void **)&ref, 4096, chunk)) {
		close(fd);
		return -ENOMEM;
	}
	for (off = 0; off < bytes && !ret; off += chunk) {
		fill(buf, chunk, seed, off);
		if (pwrite(fd, buf, chunk, off) != chunk)
			ret = errno ? -errno : -EIO;
	}
	if (!ret && fdatasync(fd))
		ret = -errno;
	for (off = 0; off < bytes && !ret; off += chunk) {
		fill(ref, chunk, seed, off);
		memset(buf, 0, chunk);
		if (pread(fd, buf, chunk, off) != chunk)
			ret = errno ? -errno : -EIO;
		else if (memcmp(buf, ref, chunk))
			ret = -EILSEQ;
	}
	free(buf);
	free(ref);
	close(fd);
	return ret;
}
