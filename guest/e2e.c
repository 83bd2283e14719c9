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
		if (blk_rw_verify(devs[i].disk, seed, 256 << 10, IO_CHUNK))
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

static bool cfg_pwrite(int i, unsigned int off, const void *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf(i));
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = pwrite(fd, buf, len, off);
	close(fd);
	return n == (ssize_t)len;
}

/*
 * Writes back the BARs and then the command register of a config header
 * read before the function lost it (a reset the kernel did not restore).
 */
bool restore_header(int i, const unsigned char hdr[64])
{
	enum { COMMAND = 0x04, BAR0 = 0x10, BARS_END = 0x28 };

	return cfg_pwrite(i, BAR0, hdr + BAR0, BARS_END - BAR0) &&
	       cfg_pwrite(i, COMMAND, hdr + COMMAND, 2);
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
