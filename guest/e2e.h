/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of the end-to-end quarantine scenarios, as an operator
 * meets the quarantine: an ATC invalidation times out, the SMMUv3 driver
 * quarantines the device (ATS off in config space, listed in debugfs, one
 * log line), and a reset lifts the quarantine.  One scenario per file
 * (scenario-<name>.c), listed in init.c.
 *
 * The machine (scripts/scenarios.py, MACHINES) has virtio-blk disks told
 * apart by their serial numbers:
 *
 *	ats-a		device A, ATS, its own root port
 *	ats-b		device B, ATS, its own root port
 *	mf-0..mf-2	three ATS functions of one slot (one IOMMU group, so
 *			one invalidation batch covers all three)
 *	noats		no ATS
 *
 * Every scenario leaves the machine as it found it: nothing quarantined,
 * nothing armed.  Waits are polls for a state with a deadline.
 */
#ifndef GUEST_E2E_H
#define GUEST_E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "guest.h"
#include "util.h"

#define QUARANTINE_MSG	"ATC invalidation did not complete"
#define LIFTED_MSG	"ATS quarantine lifted"
#define QUARANTINE_GLOB	"/sys/kernel/debug/iommu/arm-smmu-v3/*/ats_quarantine"
#define IO_BYTES	(1L << 20)
#define IO_CHUNK	(64L << 10)
#define POLL_MS		5000

enum { DEV_A, DEV_B, DEV_C0, DEV_C1, DEV_C2, DEV_N, NR_DEVS };

struct dev {
	const char *serial;
	struct pci_dev *pci;
	const struct blk_disk *disk;
};

extern struct dev devs[NR_DEVS];

/* ---- devices ---- */

/* Finds the disks by serial number (again, after a rebind) */
void find_devs(struct guest *g);
/* BDF of device i, "none" if it is missing */
const char *bdf(int i);
/* Device i has its PCI function and its disk */
bool have(struct guest *g, int i);
bool ats_on(int i);
void msleep(int ms);
/* Polls until ATS of device i is @want; returns ms waited or -1 */
long long wait_ats(int i, bool want, int timeout_ms);
/* The state debugfs shows for a device ("ats-disabled", "blocked") or "";
 * NULL if the kernel has no quarantine state in debugfs (base kernel) */
const char *quarantine_state(const char *dev_bdf, char *buf, size_t size);
bool quarantined(int i);
long long wait_quarantine(int i, bool want, int timeout_ms);
/* Writes and reads back @bytes with a checksum on device i's disk */
bool io(struct guest *g, int i, unsigned int seed, long bytes);
/* Re-reads PCI devices and disks until i's disk is back; true if it is */
bool wait_disk_back(struct guest *g, int i, int timeout_ms);

/* ---- kernel log ---- */

/*
 * A private /dev/kmsg reader that only sees what is logged after it started,
 * and keeps the messages so that they can be counted several times.
 */
struct logwatch {
	int fd;
	size_t len;
	char buf[64 << 10];
};

extern struct logwatch watch;

void logwatch_start(struct logwatch *w);
void logwatch_read(struct logwatch *w);
/* Counts the messages so far containing @a (and @b, if set) */
int logwatch_count(struct logwatch *w, const char *a, const char *b);
void logwatch_stop(struct logwatch *w);
/* Reads what the kernel logged so far (the splat counter of init.c) */
void drain_kmsg(struct guest *g);

/* ---- host requests ---- */

bool host_ok(struct guest *g, char *reply, size_t size, const char *what,
	     int ret);
/*
 * Arms the host's ATC invalidation timeout for the devices in @mask (bits of
 * DEV_*), or for every stream ID if @mask is 0, for @count CMD_SYNCs (-1:
 * until disarmed).  @mode "once": the SMMU gives up on an invalidation that
 * timed out, so only a new one fails again; "sticky": it stays outstanding
 * and the repeated CMD_SYNC fails again.
 */
bool arm(struct guest *g, unsigned int mask, int count, const char *mode);
/* Returns the number of timeouts injected so far, or -1 */
long disarm(struct guest *g);
/* Has the host make device i stop answering at its next reset, or not */
bool stuck_after_reset(struct guest *g, int i, bool on);

/* ---- background I/O ---- */

struct bgio {
	pid_t pid;
	volatile long *stat;	/* [0] rounds, [1] failures, [2] stop */
};

void bgio_start(struct bgio *b, int i);
/* Stops it after at least one more round; true if all rounds passed */
bool bgio_stop(struct guest *g, struct bgio *b, const char *who);

/* ---- building blocks ---- */

/*
 * Quarantines device i: arms the timeout until disarmed, makes the device
 * unmap (I/O), polls debugfs and ATSCtl, disarms.  Emits no results; returns
 * true if the device ended quarantined with ATS off, and the times.
 */
struct quarantine_times {
	long long to_state;	/* I/O start -> listed in debugfs */
	long long to_ats_off;	/* I/O start -> ATSCtl.Enable clear */
	bool io_ok;
	long injected;
};

bool do_quarantine(struct guest *g, int i, unsigned int seed,
		   struct quarantine_times *t);
/* Function reset through sysfs; returns the write's duration or -errno */
long long sysfs_reset(int i);
/* Resets a quarantined device i and checks it recovered; no results */
bool recover(struct guest *g, int i);
/*
 * Writes back the BARs and then the command register of a config header
 * read before the function lost it (a reset the kernel did not restore).
 */
bool restore_header(int i, const unsigned char hdr[64]);

/* ---- PCIe error recovery ---- */

/*
 * The error recovery scenarios (scenario-dpc.c, scenario-dpc-atc.c,
 * scenario-switch-*.c, scenario-noiommu.c) run on machines of their own
 * (scripts/scenarios.py, "recovery" and "noiommu"): a function is found by
 * its disk's serial number, virtio-blk or NVMe, wherever it sits.
 */
#define RECOVERY_MSG	"device recovery"
#define RECOVERY_OK	"device recovery successful"
#define RECOVERY_FAILED	"device recovery failed"
#define NO_HANDLER_MSG	"can't recover (no error_detected callback)"
#define DMA_BLOCKED_MSG	"reset failed, DMA stays blocked"
#define NOT_READY_MSG	"not ready"
#define CMD_SYNC_MSG	"CMD_SYNC timeout"

struct fn {
	const char *serial;
	const char *qdev;		/* QEMU id, for pcie_aer_inject_error */
	struct pci_dev pci;
	struct blk_disk disk;
	char port[16];			/* the bridge above it */
	char drv[32];
	unsigned char cfg[256];		/* config space, see fn_save() */
};

/* Finds the function and its disk, bound to its driver; false on timeout */
bool fn_find(struct fn *f, int timeout_ms);
bool fn_io(struct guest *g, struct fn *f, unsigned int seed, long bytes);
/* ATS enabled, read from a function that answers */
bool fn_ats_on(struct fn *f);
long long fn_wait_ats(struct fn *f, int timeout_ms);
/* Listed in the SMMUv3's debugfs ats_quarantine (never on the base kernel) */
bool fn_quarantined(struct fn *f);
/* Saves the config space and the driver's name */
bool fn_save(struct fn *f);
/*
 * What a driver's slot_reset() would have done after a link reset that
 * wiped the function's config space (BARs, PCIe Device and Link Control,
 * command register back), then the driver unbound and bound again; true
 * once its disk is back.
 */
bool fn_restore_rebind(struct guest *g, struct fn *f);
/* The same for a function left unbound: header back, its driver bound */
bool fn_restore_bind(struct guest *g, struct fn *f);
/*
 * The same with a function reset through sysfs between the restore and
 * the rebind: a reset that succeeds lifts what a failed one left (DMA
 * blocked, ATS quarantined)
 */
bool fn_restore_reset_rebind(struct guest *g, struct fn *f);

void bgio_start_disk(struct bgio *b, const struct blk_disk *d);
/*
 * The KTAP result "innocent_untouched_io_throughout": @in's background I/O
 * @bg (stopped here) never failed, the kernel log watched by @w named @in
 * in no message (besides @earlier ones counted before), and @in kept ATS
 * and was not quarantined.
 */
void innocent_untouched(struct guest *g, struct logwatch *w, struct bgio *bg,
			struct fn *in, int earlier);
/*
 * dma_map_benchmark (one thread, one page) for @secs seconds in a child,
 * its output on a pipe (*@fd); dma_bench_end() waits for it, reads the
 * output into @out and returns its exit status (-1 if it did not exit).
 */
#define DMA_BENCH	"/bin/dma_map_benchmark"
pid_t dma_bench_start(int secs, int *fd);
int dma_bench_end(pid_t pid, int fd, char *out, size_t size);

/* Polls the watch until a message with @a (and @b) is logged; ms or -1 */
long long logwatch_wait(struct logwatch *w, const char *a, const char *b,
			int timeout_ms);
/* The first message so far with @a (and @b) into @buf, "" if none */
const char *logwatch_line(struct logwatch *w, const char *a, const char *b,
			  char *buf, size_t size);
/*
 * Kernel time (us) of the last message in the log with @a (and @b), or with
 * @after >= 0 of the first one logged at or after that time; -1 if none
 */
long long klog_us(const char *a, const char *b, long long after);

/*
 * pcie_aer_inject_error @qdev @err through the host, after a mark in the
 * kernel log ("guest: inject <qdev> <err>") that recovery_ms() measures
 * from.  With @watch_addr, the host watches the 16-bit register there
 * until @watch_mask is clear again (e.g. DPC Trigger Status: the kernel
 * released the containment), and with @arm it arms the ATC invalidation
 * timeout for @qdev right after the injection and disarms it then.
 */
bool inject_error(struct guest *g, const char *qdev, const char *err,
		  unsigned long long watch_addr, unsigned int watch_mask,
		  bool arm);
#define DPC_TRIGGER	0x0001		/* DPC Status: Trigger Status */
/* Guest physical address of a port's DPC Status register, 0 if none */
unsigned long long dpc_status_addr(const char *port);
/*
 * Clears the function's AER error status, sticky across resets: QEMU does
 * not report an error again while its status bit is still set, and a
 * recovery that failed leaves it set.
 */
bool aer_clear(const char *dev_bdf);
/*
 * Lets a function without an AER capability (QEMU's nvme) report errors:
 * Device Control FERE|NFERE and Command SERR#, which Linux sets only on
 * functions with AER and QEMU needs before it sends ERR_FATAL for them.
 */
bool err_reporting_on(const char *dev_bdf);
/*
 * Kernel time from the mark of the last inject_error() to the end of the
 * recovery that @port logged after it ("device recovery ..."), ms or -1
 */
long long recovery_ms(const char *port);
/* The guest was booted on the unpatched kernel (guest.kernel=base) */
bool base_kernel(struct guest *g);

/*
 * A bridge's configuration, saved to be put back after a link reset above
 * it wiped it and error recovery did not restore it: bus numbers,
 * windows, bridge control, PCIe and MSI control, command register.
 */
struct bridge_cfg {
	char bdf[16];
	unsigned char cfg[256];
};

bool bridge_save(struct bridge_cfg *b, const char *dev_bdf);
bool bridge_restore(const struct bridge_cfg *b);

/* ---- kmemleak ---- */

/* Forgets what kmemleak knows so far; false if the kernel has no kmemleak */
bool kmemleak_clear(void);
/* One result: no leak since kmemleak_clear() (@enabled: what it returned) */
void kmemleak_result(struct guest *g, bool enabled);

#endif
