/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest agent: runs as /init, executes test scenarios and reports them
 * as KTAP (on guest.tty, default the console).  A scenario is one KTAP
 * subtest, one file scenario-<name>.c defining a struct scenario
 * scenario_<name>, and one line in the table of init.c.
 */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include "blk.h"
#include "kmsg.h"
#include "ktap.h"
#include "pci.h"

struct guest {
	struct ktap ktap;
	struct kmsg kmsg;
	struct pci_dev pci[PCI_MAX_DEVICES];
	int npci;
	struct blk_disk disks[BLK_MAX_DISKS];
	int ndisks;
	char cmdline[1024];
};

struct scenario {
	const char *name;
	int plan;			/* number of KTAP results it emits */
	void (*run)(struct guest *g);
};

/* Value of "guest.<key>=" on the kernel command line, or def */
const char *guest_param(struct guest *g, const char *key, const char *def,
			char *buf, size_t size);

#endif
