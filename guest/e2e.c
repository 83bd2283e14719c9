// SPDX-License-Identifier: GPL-2.0
/*
 * What the end-to-end quarantine scenarios (scenario-*.c) share: the
 * machine's devices, polls of their ATS and quarantine state, the kernel
 * log, requests to the host, background I/O and the quarantine/reset
 * building blocks.  See e2e.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "host.h"

static const char *const dev_serial[NR_DEVS] = {
	"ats-a", "ats-b", "mf-0", "mf-1", "mf-2", "noats",
};

struct dev devs[NR_DEVS];
static bool devs_found;

/* ---- devices ----------------------------------------------------------- */

void find_devs(struct guest *g)
{
	char path[PATH_MAX], serial[64];

	for (int i = 0; i < NR_DEVS; i++) {
		devs[i].serial = dev_serial[i];
		devs[i].pci = NULL;
		devs[i].disk = NULL;
	}
	for (int d = 0; d < g->ndisks; d++) {
		snprintf(path, sizeof(path), "/sys/block/%s/serial",
			 g->disks[d].name);
		if (read_file(path, serial, sizeof(serial)) < 0)
			continue;
		for (int i = 0; i < NR_DEVS; i++) {
			if (strcmp(serial, dev_serial[i]))
				continue;
			devs[i].disk = &g->disks[d];
			devs[i].pci = pci_find(g->pci, g->npci,
					       g->disks[d].pci_bdf);
		}
	}
	if (!devs_found) {
		for (int i = 0; i < NR_DEVS; i++)
			ktap_diag(&g->ktap, "%-6s %s %s", dev_serial[i],
				  devs[i].disk ? devs[i].disk->name : "-",
				  devs[i].pci ? devs[i].pci->bdf : "-");
	}
	devs_found = true;
}

const char *bdf(int i)
{
	return devs[i].pci ? devs[i].pci->bdf : "none";
}

bool have(struct guest *g, int i)
{
	if (!devs_found)
		find_devs(g);
	return devs[i].pci && devs[i].disk;
}

bool ats_on(int i)
{
	return devs[i].pci && pci_ats_enabled(devs[i].pci);
}

void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Polls until ATS of device i is @want; returns ms waited or -1 */
long long wait_ats(int i, bool want, int timeout_ms)
{
	long long t0 = now_ms();

	for (;;) {
		if (ats_on(i) == want)
			return now_ms() - t0;
		if (now_ms() - t0 > timeout_ms)
			return -1;
		msleep(2);
	}
}

/* The state debugfs shows for a device ("ats-disabled", "blocked") or "" */
const char *quarantine_state(const char *dev_bdf, char *buf,
			     size_t size)
{
	char data[4096], *line, *save;
	glob_t gl;

	buf[0] = '\0';
	if (glob(QUARANTINE_GLOB, 0, NULL, &gl))
		return NULL;
	for (size_t p = 0; p < gl.gl_pathc; p++) {
		if (read_file(gl.gl_pathv[p], data, sizeof(data)) < 0)
			continue;
		for (line = strtok_r(data, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			size_t n = strlen(dev_bdf);

			if (!strncmp(line, dev_bdf, n) && line[n] == ' ')
				snprintf(buf, size, "%s", line + n + 1);
		}
	}
	globfree(&gl);
	return buf;
}

bool quarantined(int i)
{
	char st[32];
	const char *s = quarantine_state(bdf(i), st, sizeof(st));

	return s && *s;
}

long long wait_quarantine(int i, bool want, int timeout_ms)
{
	long long t0 = now_ms();

	for (;;) {
		if (quarantined(i) == want)
			return now_ms() - t0;
		if (now_ms() - t0 > timeout_ms)
			return -1;
		msleep(1);
	}
}

bool io(struct guest *g, int i, unsigned int seed, long bytes)
{
	int ret;

	if (!devs[i].disk)
		return false;
	ret = blk_rw_verify(devs[i].disk, seed, bytes, IO_CHUNK);
	if (ret)
		ktap_diag(&g->ktap, "%s (%s): I/O failed: %s", dev_serial[i],
			  devs[i].disk->name, strerror(-ret));
	return !ret;
}

/* ---- kernel log -------------------------------------------------------- */

/*
 * A private /dev/kmsg reader that only sees what is logged after it started,
 * and keeps the messages so that they can be counted several times.
 */

struct logwatch watch;

void logwatch_start(struct logwatch *w)
{
	w->len = 0;
	w->buf[0] = '\0';
	w->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (w->fd >= 0)
		lseek(w->fd, 0, SEEK_END);
}

void logwatch_read(struct logwatch *w)
{
	char rec[8192], *msg, *nl;
	ssize_t len;

	if (w->fd < 0)
		return;
	for (;;) {
		len = read(w->fd, rec, sizeof(rec) - 1);
		if (len < 0 && errno == EPIPE)
			continue;
		if (len <= 0)
			break;
		rec[len] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = '\0';
		if (w->len + strlen(msg) + 2 < sizeof(w->buf))
			w->len += sprintf(w->buf + w->len, "%s\n", msg);
	}
}

/* Counts the messages so far containing @a (and @b, if set) */
int logwatch_count(struct logwatch *w, const char *a, const char *b)
{
	char *line, *end;
	int n = 0;

	if (w->fd < 0)
		return -1;
	logwatch_read(w);
	for (line = w->buf; *line; line = end + 1) {
		end = strchr(line, '\n');
		*end = '\0';
		if (strstr(line, a) && (!b || strstr(line, b)))
			n++;
		*end = '\n';
	}
	return n;
}

void logwatch_stop(struct logwatch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/* Echo what the kernel logged (warnings and worse) into this scenario */
void drain_kmsg(struct guest *g)
{
	kmsg_wait_for(&g->kmsg, NULL, 0);
}

/* ---- host requests ----------------------------------------------------- */

bool host_ok(struct guest *g, char *reply, size_t size,
	     const char *what, int ret)
{
	if (ret) {
		snprintf(reply, size, "%s", strerror(-ret));
		ktap_diag(&g->ktap, "host %s: %s", what, reply);
		return false;
	}
	if (strncmp(reply, "ok", 2)) {
		ktap_diag(&g->ktap, "host %s: %s", what, reply);
		return false;
	}
	return true;
}

/* count: -1 until disarmed */
/*
 * Arms the host's ATC invalidation timeout for the devices in @mask (bits of
 * DEV_*), or for every stream ID if @mask is 0, for @count CMD_SYNCs (-1:
 * until disarmed).  @mode "once": the SMMU gives up on an invalidation that
 * timed out, so only a new one fails again; "sticky": it stays outstanding
 * and the repeated CMD_SYNC fails again.
 */
bool arm(struct guest *g, unsigned int mask, int count,
	 const char *mode)
{
	char reply[256], list[128] = "";
	size_t len = 0;
	int ret;

	for (int i = 0; i < NR_DEVS; i++)
		if (mask & (1u << i))
			len += snprintf(list + len, sizeof(list) - len, "%s%s",
					len ? "," : "", bdf(i));
	if (!mask)
		ret = host_request(reply, sizeof(reply), 30000,
				   "arm-atc-timeout-any %d %s", count, mode);
	else
		ret = host_request(reply, sizeof(reply), 30000,
				   "arm-atc-timeout %s %d %s", list, count,
				   mode);
	return host_ok(g, reply, sizeof(reply), "arm", ret);
}

/* Returns the number of timeouts injected so far, or -1 */
long disarm(struct guest *g)
{
	char reply[256];
	int ret;
	long n = -1;

	ret = host_request(reply, sizeof(reply), 30000, "disarm-atc-timeout");
	if (!host_ok(g, reply, sizeof(reply), "disarm", ret))
		return -1;
	sscanf(reply, "ok timeouts=%ld", &n);
	return n;
}

/* ---- background I/O ---------------------------------------------------- */


void bgio_start(struct bgio *b, int i)
{
	bgio_start_disk(b, devs[i].disk);
}

void bgio_start_disk(struct bgio *b, const struct blk_disk *d)
{
	b->stat = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	b->pid = -1;
	if (b->stat == MAP_FAILED) {
		b->stat = NULL;
		return;
	}
	b->stat[0] = b->stat[1] = b->stat[2] = 0;
	b->pid = fork();
	if (b->pid)
		return;
	for (unsigned int seed = 1000; !b->stat[2]; seed++) {
		if (blk_rw_verify(d, seed, 256 << 10, IO_CHUNK))
			b->stat[1]++;
		b->stat[0]++;
	}
	_exit(0);
}

/* Stops it after at least one more round; true if all rounds passed */
bool bgio_stop(struct guest *g, struct bgio *b, const char *who)
{
	long rounds;
	long long t0 = now_ms();

	if (!b->stat || b->pid < 0)
		return false;
	rounds = b->stat[0];
	while (b->stat[0] < rounds + 1 && now_ms() - t0 < 30000)
		msleep(5);
	b->stat[2] = 1;
	waitpid(b->pid, NULL, 0);
	ktap_diag(&g->ktap, "%s: %ld I/O rounds (256 KiB, verified), %ld failed",
		  who, b->stat[0], b->stat[1]);
	rounds = b->stat[1] == 0 && b->stat[0] > rounds;
	munmap((void *)b->stat, 4096);
	b->stat = NULL;
	return rounds;
}

/* ---- building blocks --------------------------------------------------- */

/*
 * Quarantines device i: arms the timeout until disarmed, makes the device
 * unmap (I/O), polls debugfs and ATSCtl, disarms.  Emits no results; returns
 * true if the device ended quarantined with ATS off, and the times.
 */

bool do_quarantine(struct guest *g, int i, unsigned int seed,
		   struct quarantine_times *t)
{
	long long t0, w;

	memset(t, 0, sizeof(*t));
	t->to_state = t->to_ats_off = -1;
	/*
	 * A function that never answers: every ATC invalidation sent to it
	 * fails, including the one the driver re-issues to find out which
	 * function of the failed batch did not answer.
	 */
	if (!arm(g, 1u << i, -1, "once"))
		return false;
	t0 = now_ms();
	/* The unmaps of this I/O invalidate the ATC: it times out */
	t->io_ok = io(g, i, seed, IO_CHUNK);
	w = wait_quarantine(i, true, POLL_MS);
	if (w >= 0)
		t->to_state = now_ms() - t0;
	w = wait_ats(i, false, POLL_MS);
	if (w >= 0)
		t->to_ats_off = now_ms() - t0;
	t->injected = disarm(g);
	return t->to_state >= 0 && t->to_ats_off >= 0 && t->injected > 0;
}

/* Function reset through sysfs; returns the write's duration or -errno */
long long sysfs_reset(int i)
{
	char path[PATH_MAX];
	long long t0 = now_ms();
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", bdf(i));
	ret = write_file(path, "1");
	return ret ? ret : now_ms() - t0;
}

/* Resets a quarantined device i and checks it recovered; no results */
bool recover(struct guest *g, int i)
{
	long long d = sysfs_reset(i);

	if (d < 0) {
		ktap_diag(&g->ktap, "reset %s: %s", bdf(i), strerror((int)-d));
		return false;
	}
	return wait_quarantine(i, false, POLL_MS) >= 0 &&
	       wait_ats(i, true, POLL_MS) >= 0;
}

/* ---- helpers for scenarios that make the disk go away ------------------ */

/* Re-reads PCI devices and disks until A's disk is back; true if it is */
bool wait_disk_back(struct guest *g, int i, int timeout_ms)
{
	long long t0 = now_ms();

	for (;;) {
		g->npci = pci_scan(g->pci, PCI_MAX_DEVICES);
		if (g->npci < 0)
			g->npci = 0;
		g->ndisks = blk_scan(g->disks, BLK_MAX_DISKS, "vd");
		if (g->ndisks < 0)
			g->ndisks = 0;
		find_devs(g);
		if (devs[i].disk && devs[i].pci && devs[i].pci->driver[0])
			return true;
		if (now_ms() - t0 > timeout_ms)
			return false;
		msleep(20);
	}
}

/* Has the host make device i stop answering at its next reset, or not */
bool stuck_after_reset(struct guest *g, int i, bool on)
{
	char reply[256];
	int ret;

	ret = host_request(reply, sizeof(reply), 30000,
			   "stuck-after-reset %s %s", bdf(i), on ? "on" : "off");
	return host_ok(g, reply, sizeof(reply), "stuck-after-reset", ret);
}

/*
 * Writes back the BARs and then the command register of a config header
 * read before the function lost it (a reset the kernel did not restore).
 */
bool restore_header(int i, const unsigned char hdr[64])
{
	enum { COMMAND = 0x04, BAR0 = 0x10, BARS_END = 0x28 };

	return !pci_cfg_write(bdf(i), BAR0, hdr + BAR0, BARS_END - BAR0) &&
	       !pci_cfg_write(bdf(i), COMMAND, hdr + COMMAND, 2);
}

/* ---- PCIe error recovery ----------------------------------------------- */

/* The disk with serial number @serial, virtio-blk or NVMe */
static bool find_disk(const char *serial, struct blk_disk *out)
{
	static const char *const prefixes[] = { "vd", "nvme" };
	static const char *const attrs[] = { "serial", "device/serial" };
	struct blk_disk disks[BLK_MAX_DISKS];
	char path[PATH_MAX], s[64];
	int n;

	for (size_t p = 0; p < ARRAY_SIZE(prefixes); p++) {
		n = blk_scan(disks, BLK_MAX_DISKS, prefixes[p]);
		for (int d = 0; d < n; d++) {
			for (size_t a = 0; a < ARRAY_SIZE(attrs); a++) {
				snprintf(path, sizeof(path), "/sys/block/%s/%s",
					 disks[d].name, attrs[a]);
				if (read_file(path, s, sizeof(s)) < 0)
					continue;
				/* NVMe pads its serial number with blanks */
				s[strcspn(s, " ")] = '\0';
				if (strcmp(s, serial))
					continue;
				*out = disks[d];
				return true;
			}
		}
	}
	return false;
}

bool fn_find(struct fn *f, int timeout_ms)
{
	long long t0 = now_ms();

	for (;;) {
		if (find_disk(f->serial, &f->disk) && f->disk.pci_bdf[0] &&
		    !pci_get(&f->pci, f->disk.pci_bdf) && f->pci.driver[0] &&
		    !pci_parent(f->pci.bdf, f->port, sizeof(f->port)))
			return true;
		if (now_ms() - t0 > timeout_ms)
			return false;
		msleep(20);
	}
}

bool fn_io(struct guest *g, struct fn *f, unsigned int seed, long bytes)
{
	int ret = blk_rw_verify(&f->disk, seed, bytes, IO_CHUNK);

	if (ret)
		ktap_diag(&g->ktap, "%s (%s): I/O failed: %s", f->serial,
			  f->disk.name, strerror(-ret));
	return !ret;
}

bool fn_ats_on(struct fn *f)
{
	return pci_present(f->pci.bdf) && pci_ats_enabled(&f->pci);
}

long long fn_wait_ats(struct fn *f, int timeout_ms)
{
	long long t0 = now_ms();

	while (!fn_ats_on(f)) {
		if (now_ms() - t0 > timeout_ms)
			return -1;
		msleep(2);
	}
	return now_ms() - t0;
}

bool fn_quarantined(struct fn *f)
{
	char st[32];
	const char *s = quarantine_state(f->pci.bdf, st, sizeof(st));

	return s && *s;
}

bool fn_save(struct fn *f)
{
	snprintf(f->drv, sizeof(f->drv), "%s", f->pci.driver);
	return f->drv[0] && !pci_cfg_read(&f->pci, 0, f->cfg, sizeof(f->cfg));
}

/* BARs, PCIe Device, Link and Device 2 Control, then Command */
static bool fn_restore_config(struct fn *f)
{
	enum { COMMAND = 0x04, BAR0 = 0x10, BARS_END = 0x28,
	       CAP_ID_EXP = 0x10, DEVCTL = 0x08, LNKCTL = 0x10,
	       DEVCTL2 = 0x28 };
	unsigned int exp = pci_find_cap(&f->pci, CAP_ID_EXP);
	const char *b = f->pci.bdf;

	return exp && exp + DEVCTL2 + 2 <= sizeof(f->cfg) &&
	       !pci_cfg_write(b, BAR0, f->cfg + BAR0, BARS_END - BAR0) &&
	       !pci_cfg_write(b, exp + DEVCTL, f->cfg + exp + DEVCTL, 2) &&
	       !pci_cfg_write(b, exp + LNKCTL, f->cfg + exp + LNKCTL, 2) &&
	       !pci_cfg_write(b, exp + DEVCTL2, f->cfg + exp + DEVCTL2, 2) &&
	       !pci_cfg_write(b, COMMAND, f->cfg + COMMAND, 2);
}

static bool fn_restore_bind_driver(struct guest *g, struct fn *f,
				   bool unbind, bool reset)
{
	char path[PATH_MAX];
	int ret = 0;

	if (!fn_restore_config(f)) {
		ktap_diag(&g->ktap, "%s: config space not written back",
			  f->pci.bdf);
		return false;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset",
		 f->pci.bdf);
	if (reset && (ret = write_file(path, "1"))) {
		ktap_diag(&g->ktap, "%s: reset: %s", f->pci.bdf,
			  strerror(-ret));
		return false;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", f->drv);
	if (unbind)
		ret = write_file(path, f->pci.bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", f->drv);
	ret = ret ?: write_file(path, f->pci.bdf);
	if (ret) {
		ktap_diag(&g->ktap, "%s: binding %s: %s", f->pci.bdf, f->drv,
			  strerror(-ret));
		return false;
	}
	return fn_find(f, 20000);
}

bool fn_restore_rebind(struct guest *g, struct fn *f)
{
	return fn_restore_bind_driver(g, f, true, false);
}

bool fn_restore_bind(struct guest *g, struct fn *f)
{
	return fn_restore_bind_driver(g, f, false, false);
}

bool fn_restore_reset_rebind(struct guest *g, struct fn *f)
{
	return fn_restore_bind_driver(g, f, true, true);
}

long long logwatch_wait(struct logwatch *w, const char *a, const char *b,
			int timeout_ms)
{
	long long t0 = now_ms();

	while (logwatch_count(w, a, b) <= 0) {
		if (now_ms() - t0 > timeout_ms)
			return -1;
		msleep(5);
	}
	return now_ms() - t0;
}

const char *logwatch_line(struct logwatch *w, const char *a, const char *b,
			  char *buf, size_t size)
{
	char *line, *end;

	buf[0] = '\0';
	if (w->fd >= 0)
		logwatch_read(w);
	for (line = w->buf; *line; line = end + 1) {
		end = strchr(line, '\n');
		*end = '\0';
		if (strstr(line, a) && (!b || strstr(line, b))) {
			snprintf(buf, size, "%s", line);
			*end = '\n';
			break;
		}
		*end = '\n';
	}
	return buf;
}

long long klog_us(const char *a, const char *b, long long after)
{
	char rec[8192], *msg, *nl;
	unsigned long long us;
	long long found = -1;
	ssize_t n;
	int fd;

	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		if (!msg || sscanf(rec, "%*u,%*u,%llu", &us) != 1)
			continue;
		msg++;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = '\0';
		if ((long long)us < after || !strstr(msg, a) ||
		    (b && !strstr(msg, b)))
			continue;
		found = (long long)us;
		if (after >= 0)
			break;
	}
	close(fd);
	return found;
}

static long long inject_us = -1;

bool inject_error(struct guest *g, const char *qdev, const char *err,
		  unsigned long long watch_addr, unsigned int watch_mask,
		  bool arm)
{
	char reply[256];
	int ret;

	/* A newline ends the record: readers see it at once */
	kmsg_note("inject %s %s\n", qdev, err);
	snprintf(reply, sizeof(reply), "guest: inject %s %s", qdev, err);
	inject_us = klog_us(reply, NULL, -1);
	if (watch_addr)
		ret = host_request(reply, sizeof(reply), 30000,
				   "inject-error %s %s 0x%llx 0x%x%s", qdev, err,
				   watch_addr, watch_mask, arm ? " arm" : "");
	else
		ret = host_request(reply, sizeof(reply), 30000,
				   "inject-error %s %s", qdev, err);
	return host_ok(g, reply, sizeof(reply), "inject-error", ret);
}

unsigned long long dpc_status_addr(const char *port)
{
	enum { PCI_EXT_CAP_ID_DPC = 0x1d, DPC_STATUS = 0x08 };
	struct pci_dev p;
	unsigned int dpc;

	if (pci_get(&p, port))
		return 0;
	dpc = pci_find_ext_cap(&p, PCI_EXT_CAP_ID_DPC);
	return dpc ? pci_ecam_addr(port, dpc + DPC_STATUS) : 0;
}

bool aer_clear(const char *dev_bdf)
{
	enum { PCI_EXT_CAP_ID_ERR = 0x01, UNCOR_STATUS = 0x04,
	       COR_STATUS = 0x10 };
	static const unsigned char ones[4] = { 0xff, 0xff, 0xff, 0xff };
	struct pci_dev dev;
	unsigned int aer;

	if (pci_get(&dev, dev_bdf))
		return false;
	aer = pci_find_ext_cap(&dev, PCI_EXT_CAP_ID_ERR);
	return aer && !pci_cfg_write(dev_bdf, aer + UNCOR_STATUS, ones, 4) &&
	       !pci_cfg_write(dev_bdf, aer + COR_STATUS, ones, 4);
}

bool err_reporting_on(const char *dev_bdf)
{
	enum { COMMAND = 0x04, CMD_SERR = 0x0100, CAP_ID_EXP = 0x10,
	       DEVCTL = 0x08, DEVCTL_NFERE = 0x0002, DEVCTL_FERE = 0x0004 };
	struct pci_dev dev;
	unsigned int exp;
	uint16_t v;

	if (pci_get(&dev, dev_bdf) || !(exp = pci_find_cap(&dev, CAP_ID_EXP)) ||
	    pci_cfg_read16(&dev, exp + DEVCTL, &v))
		return false;
	v |= DEVCTL_NFERE | DEVCTL_FERE;
	if (pci_cfg_write(dev_bdf, exp + DEVCTL, &v, 2) ||
	    pci_cfg_read16(&dev, COMMAND, &v))
		return false;
	v |= CMD_SERR;
	return !pci_cfg_write(dev_bdf, COMMAND, &v, 2);
}

long long recovery_ms(const char *port)
{
	long long t1;

	if (inject_us < 0)
		return -1;
	t1 = klog_us(RECOVERY_MSG, port, inject_us);
	return t1 < 0 ? -1 : (t1 - inject_us) / 1000;
}

bool base_kernel(struct guest *g)
{
	char buf[16];

	return !strcmp(guest_param(g, "kernel", "series", buf, sizeof(buf)),
		       "base");
}

bool bridge_save(struct bridge_cfg *b, const char *dev_bdf)
{
	struct pci_dev dev = { 0 };

	snprintf(b->bdf, sizeof(b->bdf), "%s", dev_bdf);
	snprintf(dev.bdf, sizeof(dev.bdf), "%s", dev_bdf);
	return !pci_cfg_read(&dev, 0, b->cfg, sizeof(b->cfg)) &&
	       (b->cfg[0x0e] & 0x7f) == 1;
}

static bool put(const struct bridge_cfg *b, unsigned int off, unsigned int len)
{
	return !pci_cfg_write(b->bdf, off, b->cfg + off, len);
}

static unsigned int cfg16(const struct bridge_cfg *b, unsigned int off)
{
	return b->cfg[off] | b->cfg[off + 1] << 8;
}

bool bridge_restore(const struct bridge_cfg *b)
{
	enum {
		COMMAND = 0x04, BUSES = 0x18, IO_BASE = 0x1c, MEM_BASE = 0x20,
		IO_UPPER = 0x30, CAP_PTR = 0x34, INT_LINE = 0x3c,
		BRIDGE_CTL = 0x3e, CAP_MSI = 0x05, CAP_EXP = 0x10,
		CAP_MSIX = 0x11,
	};
	/* Bus numbers first: nothing below is reachable without them */
	bool ok = put(b, BUSES, 4) && put(b, IO_BASE, 2) &&
		  put(b, MEM_BASE, 16) && put(b, IO_UPPER, 4) &&
		  put(b, INT_LINE, 1) && put(b, BRIDGE_CTL, 2);
	unsigned int pos = b->cfg[CAP_PTR] & 0xfc, loops = 0;

	while (ok && pos >= 0x40 && pos < sizeof(b->cfg) - 0x30 &&
	       loops++ < 48) {
		unsigned int id = b->cfg[pos], flags = cfg16(b, pos + 2);

		if (id == CAP_EXP) {
			/* Device, Link, Device 2 Control */
			ok = put(b, pos + 0x08, 2) && put(b, pos + 0x10, 2) &&
			     put(b, pos + 0x28, 2);
		} else if (id == CAP_MSI) {
			bool is64 = flags & 0x80;

			/* Address and data, then Message Control */
			ok = put(b, pos + 4, is64 ? 10 : 6) &&
			     put(b, pos + 2, 2);
		} else if (id == CAP_MSIX) {
			ok = put(b, pos + 2, 2);
		}
		pos = b->cfg[pos + 1] & 0xfc;
	}
	return ok && put(b, COMMAND, 2);
}

/* ---- kmemleak ---------------------------------------------------------- */

#define KMEMLEAK	"/sys/kernel/debug/kmemleak"

/* Forgets what kmemleak knows so far; false if the kernel has no kmemleak */
bool kmemleak_clear(void)
{
	return !access(KMEMLEAK, W_OK) && !write_file(KMEMLEAK, "clear");
}

/*
 * Scans twice (an object is only reported once it was unreferenced in two
 * scans) and returns the number of leaks reported since kmemleak_clear(),
 * or -1.  The first report goes to the KTAP diagnostics.
 */
static int kmemleak_leaks(struct guest *g)
{
	static char buf[64 << 10];
	char *p;
	int n = 0;

	if (write_file(KMEMLEAK, "scan") || write_file(KMEMLEAK, "scan"))
		return -1;
	if (read_file(KMEMLEAK, buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; (p = strstr(p, "unreferenced object")); p++)
		n++;
	/* The first reports, a diagnostic line each, for whoever debugs it */
	p = buf;
	for (int l = 0; n && l < 80 && *p; l++) {
		char *nl = strchr(p, '\n');

		if (nl)
			*nl = '\0';
		ktap_diag(&g->ktap, "kmemleak: %s", p);
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

/* One result: no leak since kmemleak_clear() (@enabled: what it returned) */
void kmemleak_result(struct guest *g, bool enabled)
{
	int leaks;

	if (!enabled) {
		ktap_skip(&g->ktap, "no_kmemleak_report",
			  "kernel without kmemleak");
		return;
	}
	leaks = kmemleak_leaks(g);
	ktap_result(&g->ktap, leaks == 0, "no_kmemleak_report",
		    "%d unreferenced object(s)", leaks);
}

void innocent_untouched(struct guest *g, struct logwatch *w, struct bgio *bg,
			struct fn *in, int earlier)
{
	bool ok = bgio_stop(g, bg, "innocent");
	int n = earlier + logwatch_count(w, in->pci.bdf, NULL);

	ktap_result(&g->ktap, ok && n == 0 && fn_ats_on(in) &&
		    !fn_quarantined(in), "innocent_untouched_io_throughout",
		    "%d kernel message(s) about %s", n, in->pci.bdf);
}

pid_t dma_bench_start(int secs, int *fd)
{
	char s[16];
	int pfd[2];
	pid_t pid;

	if (pipe(pfd))
		return -1;
	snprintf(s, sizeof(s), "%d", secs);
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (!pid) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execl(DMA_BENCH, DMA_BENCH, "-t", "1", "-s", s, "-g", "1",
		      (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	*fd = pfd[0];
	return pid;
}

int dma_bench_end(pid_t pid, int fd, char *out, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int status;

	while (len + 1 < size && (n = read(fd, out + len, size - len - 1)) > 0)
		len += n;
	out[len] = '\0';
	close(fd);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}
