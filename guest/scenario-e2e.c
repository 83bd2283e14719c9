// SPDX-License-Identifier: GPL-2.0
/*
 * End-to-end scenarios of the ATS quarantine (issue 6), as an operator meets
 * it: an ATC invalidation times out, the SMMUv3 driver quarantines the device
 * (ATS off in config space, listed in debugfs, one log line), and a reset
 * lifts the quarantine.
 *
 * The machine (scripts/scenarios.py) has virtio-blk disks told apart by their
 * serial numbers:
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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"
#include "host.h"
#include "util.h"

#define QUARANTINE_MSG	"ATC invalidation timed out"
#define LIFTED_MSG	"ATS quarantine lifted"
#define QUARANTINE_GLOB	"/sys/kernel/debug/iommu/arm-smmu-v3/*/ats_quarantine"
#define IO_BYTES	(1L << 20)
#define IO_CHUNK	(64L << 10)
#define POLL_MS		5000

enum { DEV_A, DEV_B, DEV_C0, DEV_C1, DEV_C2, DEV_N, NR_DEVS };

static const char *const dev_serial[NR_DEVS] = {
	"ats-a", "ats-b", "mf-0", "mf-1", "mf-2", "noats",
};

struct dev {
	const char *serial;
	struct pci_dev *pci;
	const struct blk_disk *disk;
};

static struct dev devs[NR_DEVS];
/* CMD_SYNCs the host fails per injection (guest.atc_count) */
static int atc_count = 3;
static bool devs_found;

/* ---- devices ----------------------------------------------------------- */

static void find_devs(struct guest *g)
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
		char buf[16];

		atc_count = atoi(guest_param(g, "atc_count", "3", buf,
					     sizeof(buf)));
		for (int i = 0; i < NR_DEVS; i++)
			ktap_diag(&g->ktap, "%-6s %s %s", dev_serial[i],
				  devs[i].disk ? devs[i].disk->name : "-",
				  devs[i].pci ? devs[i].pci->bdf : "-");
		guest_route_gerror_irq(g);
	}
	devs_found = true;
}

static const char *bdf(int i)
{
	return devs[i].pci ? devs[i].pci->bdf : "none";
}

static bool have(struct guest *g, int i)
{
	if (!devs_found)
		find_devs(g);
	return devs[i].pci && devs[i].disk;
}

static bool ats_on(int i)
{
	return devs[i].pci && pci_ats_enabled(devs[i].pci);
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Polls until ATS of device i is @want; returns ms waited or -1 */
static long long wait_ats(int i, bool want, int timeout_ms)
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
static const char *quarantine_state(const char *dev_bdf, char *buf,
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

static bool quarantined(int i)
{
	char st[32];
	const char *s = quarantine_state(bdf(i), st, sizeof(st));

	return s && *s;
}

static long long wait_quarantine(int i, bool want, int timeout_ms)
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

static bool io(struct guest *g, int i, unsigned int seed, long bytes)
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
struct logwatch {
	int fd;
	size_t len;
	char buf[64 << 10];
};

static struct logwatch watch;

static void logwatch_start(struct logwatch *w)
{
	w->len = 0;
	w->buf[0] = '\0';
	w->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (w->fd >= 0)
		lseek(w->fd, 0, SEEK_END);
}

static void logwatch_read(struct logwatch *w)
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
static int logwatch_count(struct logwatch *w, const char *a, const char *b)
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

static void logwatch_stop(struct logwatch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/* Echo what the kernel logged (warnings and worse) into this scenario */
static void drain_kmsg(struct guest *g)
{
	kmsg_wait_for(&g->kmsg, NULL, 0);
}

/* ---- host requests ----------------------------------------------------- */

static bool host_ok(struct guest *g, char *reply, size_t size,
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
static bool arm(struct guest *g, unsigned int mask, int count,
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
static long disarm(struct guest *g)
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

struct bgio {
	pid_t pid;
	volatile long *stat;	/* [0] rounds, [1] failures, [2] stop */
};

static void bgio_start(struct bgio *b, int i)
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
static bool bgio_stop(struct guest *g, struct bgio *b, const char *who)
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
struct quarantine_times {
	long long to_state;	/* I/O start -> listed in debugfs */
	long long to_ats_off;	/* I/O start -> ATSCtl.Enable clear */
	bool io_ok;
	long injected;
};

static bool do_quarantine(struct guest *g, int i, unsigned int seed,
			  struct quarantine_times *t)
{
	long long t0, w;

	memset(t, 0, sizeof(*t));
	t->to_state = t->to_ats_off = -1;
	/* Sticky: the driver also sees the repeated CMD_SYNC fail */
	if (!arm(g, 1u << i, atc_count, "sticky"))
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
static long long sysfs_reset(int i)
{
	char path[PATH_MAX];
	long long t0 = now_ms();
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", bdf(i));
	ret = write_file(path, "1");
	return ret ? ret : now_ms() - t0;
}

/* Resets a quarantined device i and checks it recovered; no results */
static bool recover(struct guest *g, int i)
{
	long long d = sysfs_reset(i);

	if (d < 0) {
		ktap_diag(&g->ktap, "reset %s: %s", bdf(i), strerror((int)-d));
		return false;
	}
	return wait_quarantine(i, false, POLL_MS) >= 0 &&
	       wait_ats(i, true, POLL_MS) >= 0;
}

/* ---- 1: baseline ------------------------------------------------------- */

static void run_baseline(struct guest *g)
{
	struct ktap *k = &g->ktap;
	char st[32];
	bool ok;

	find_devs(g);
	ok = true;
	for (int i = 0; i < NR_DEVS; i++)
		ok &= have(g, i);
	ktap_result(k, ok, "devices_present",
		    "A=%s B=%s C0=%s C1=%s C2=%s N=%s", bdf(DEV_A), bdf(DEV_B),
		    bdf(DEV_C0), bdf(DEV_C1), bdf(DEV_C2), bdf(DEV_N));

	ok = true;
	for (int i = DEV_A; i <= DEV_C2; i++)
		ok &= ats_on(i);
	ktap_result(k, ok, "ats_enabled_on_ats_devices", NULL);

	ktap_result(k, devs[DEV_N].pci && !devs[DEV_N].pci->ats_cap,
		    "no_ats_capability_on_N", NULL);

	ok = quarantine_state("none", st, sizeof(st)) != NULL;
	for (int i = 0; i < NR_DEVS; i++)
		ok &= !quarantined(i);
	ktap_result(k, ok, "debugfs_state_readable_and_empty", QUARANTINE_GLOB);

	ok = true;
	for (int i = 0; i < NR_DEVS; i++)
		ok &= io(g, i, 1 + i, IO_BYTES);
	ktap_result(k, ok, "block_io_with_checksums", "1 MiB on each disk");

	ktap_result(k, !kmsg_wait_for(&g->kmsg, QUARANTINE_MSG, 0),
		    "no_quarantine_logged", NULL);
}

/* ---- 2: injected timeout on A -> A quarantined ------------------------- */

static void run_quarantine(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	struct bgio bg;
	char st[32];
	bool ok;
	int n;

	if (!have(g, DEV_A) || !have(g, DEV_B)) {
		for (int j = 0; j < 8; j++)
			ktap_result(k, false, "devices_present", NULL);
		return;
	}
	logwatch_start(w);
	bgio_start(&bg, DEV_B);

	ok = do_quarantine(g, DEV_A, 100, &t);
	ktap_result(k, ok, "timeout_injected_and_A_quarantined",
		    "%ld timeout(s) injected", t.injected);
	ktap_diag(k, "bench: injection->quarantine %lld ms (debugfs), %lld ms (ATSCtl.Enable clear)",
		  t.to_state, t.to_ats_off);
	ktap_result(k, t.io_ok, "A_io_during_timeout_completes_intact", NULL);
	ktap_result(k, !ats_on(DEV_A), "A_ats_disabled_in_config_space", NULL);
	quarantine_state(bdf(DEV_A), st, sizeof(st));
	ktap_result(k, !strcmp(st, "ats-disabled"), "A_state_visible_in_debugfs",
		    "'%s'", st);

	/* The I/O that follows must not log it again */
	ok = io(g, DEV_A, 101, IO_BYTES);
	ktap_result(k, ok, "A_io_while_quarantined_intact", NULL);
	n = logwatch_count(w, QUARANTINE_MSG, bdf(DEV_A));
	ktap_result(k, n == 1, "A_one_log_line", "%d line(s)", n);

	ok = bgio_stop(g, &bg, "B");
	ok &= !quarantined(DEV_B) && ats_on(DEV_B);
	n = logwatch_count(w, QUARANTINE_MSG, bdf(DEV_B));
	ok &= n == 0;
	ktap_result(k, ok, "B_untouched_and_doing_io", NULL);
	logwatch_stop(w);

	/* Quarantine stays until a reset: scenario 3 resets A */
	ktap_result(k, quarantined(DEV_A) && !ats_on(DEV_A),
		    "A_still_quarantined", NULL);
	drain_kmsg(g);
}

/* ---- 3: sysfs FLR of A -> quarantine lifted ---------------------------- */

static void run_flr(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	long long d, wq, wa;
	char rm[64] = "";
	char path[PATH_MAX];
	int n;

	if (!have(g, DEV_A)) {
		ktap_result(k, false, "device_A_present", NULL);
		for (int j = 0; j < 5; j++)
			ktap_skip(k, "flr", "no device A");
		return;
	}
	/* Runs on its own too: quarantine A first if scenario 2 did not */
	if (!quarantined(DEV_A))
		do_quarantine(g, DEV_A, 200, &t);
	ktap_result(k, quarantined(DEV_A) && !ats_on(DEV_A),
		    "A_quarantined_before_reset", NULL);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf(DEV_A));
	read_file(path, rm, sizeof(rm));
	logwatch_start(w);
	d = sysfs_reset(DEV_A);
	ktap_result(k, d >= 0, "sysfs_reset_succeeds", "reset_method '%s', %lld ms",
		    rm, d);
	wq = wait_quarantine(DEV_A, false, POLL_MS);
	n = logwatch_count(w, LIFTED_MSG, bdf(DEV_A));
	ktap_result(k, wq >= 0 && n == 1, "callback_ran_quarantine_lifted",
		    "'%s' logged %d time(s)", LIFTED_MSG, n);
	logwatch_stop(w);
	wa = wait_ats(DEV_A, true, POLL_MS);
	ktap_result(k, wa >= 0, "A_ats_enabled_again", NULL);
	ktap_result(k, io(g, DEV_A, 300, IO_BYTES), "A_io_data_intact", NULL);
	ktap_result(k, !quarantined(DEV_B) && ats_on(DEV_B) &&
		    io(g, DEV_B, 301, IO_BYTES), "B_unaffected", NULL);
	drain_kmsg(g);
}

/* ---- 6: writing reset_method changes nothing --------------------------- */

static void run_reset_method(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	char path[PATH_MAX], rm[64] = "", rm2[64] = "";
	bool ok;
	int n, ret1, ret2;

	if (!have(g, DEV_A)) {
		for (int j = 0; j < 5; j++)
			ktap_result(k, false, "device_A_present", NULL);
		return;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf(DEV_A));
	read_file(path, rm, sizeof(rm));

	/* On a healthy device: ATS stays on, nothing is logged */
	logwatch_start(w);
	ret1 = write_file(path, "default");
	ret2 = write_file(path, rm);
	read_file(path, rm2, sizeof(rm2));
	ok = !ret1 && !ret2 && !strcmp(rm, rm2) && ats_on(DEV_A) &&
	     !quarantined(DEV_A) && io(g, DEV_A, 600, IO_BYTES);
	ktap_result(k, ok, "healthy_A_unchanged", "reset_method '%s' -> '%s'",
		    rm, rm2);

	/* On a quarantined device: a probe is not a reset */
	ok = do_quarantine(g, DEV_A, 601, &t);
	ktap_result(k, ok, "A_quarantined", NULL);
	ret1 = write_file(path, "default");
	ret2 = write_file(path, rm);
	ktap_result(k, !ret1 && !ret2 && quarantined(DEV_A) && !ats_on(DEV_A),
		    "quarantined_A_stays_quarantined", NULL);
	n = logwatch_count(w, LIFTED_MSG, NULL);
	ktap_result(k, n == 0, "no_reset_logged", "%d '%s'", n, LIFTED_MSG);
	logwatch_stop(w);

	/* Clean up: a real reset lifts it */
	ktap_result(k, recover(g, DEV_A) && io(g, DEV_A, 602, IO_BYTES),
		    "real_reset_recovers_A", NULL);
	drain_kmsg(g);
}

/* ---- 8: two faulty devices in one batch -------------------------------- */

static void run_batch(struct guest *g)
{
	static const int faulty[] = { DEV_C0, DEV_C2 };
	struct ktap *k = &g->ktap;
	struct logwatch *w = &watch;
	long long t0, wq[2];
	long injected;
	bool ok, all = true;
	int n[2], n1, nall;

	for (int i = 0; i < NR_DEVS; i++)
		all &= have(g, i);
	if (!all) {
		ktap_result(k, false, "devices_present", NULL);
		for (int j = 1; j < 7; j++)
			ktap_skip(k, "batch", "devices missing");
		return;
	}
	ktap_result(k, true, "devices_present", NULL);
	/*
	 * C0, C1 and C2 are functions of one slot without ACS: one IOMMU
	 * group, one domain, so an unmap of C0's DMA invalidates the ATC of all
	 * three in one batch.  C0 and C2 never complete an ATC invalidation
	 * (every CMD_SYNC after one of theirs fails, the SMMU gives up on it
	 * so the repeated CMD_SYNC passes); C1 is innocent.  The driver must
	 * find both faulty masters in the batch by re-issuing parts of it and
	 * leave C1 alone.
	 */
	logwatch_start(w);
	ok = arm(g, 1u << DEV_C0 | 1u << DEV_C2, -1, "once");
	t0 = now_ms();
	ok &= io(g, DEV_C0, 800, IO_CHUNK);
	for (int j = 0; j < 2; j++)
		wq[j] = wait_quarantine(faulty[j], true, POLL_MS);
	ktap_diag(k, "bench: batch of 3 with 2 faulty -> both quarantined in %lld ms",
		  now_ms() - t0);
	injected = disarm(g);
	ktap_result(k, ok && wq[0] >= 0 && wq[1] >= 0 && injected > 0,
		    "C0_and_C2_quarantined", "%ld timeout(s) injected",
		    injected);
	ktap_result(k, wait_ats(DEV_C0, false, POLL_MS) >= 0 &&
		    wait_ats(DEV_C2, false, POLL_MS) >= 0,
		    "C0_and_C2_ats_disabled", NULL);
	ktap_result(k, !quarantined(DEV_C1) && ats_on(DEV_C1),
		    "innocent_C1_in_the_same_batch_keeps_ats", NULL);
	ktap_result(k, !quarantined(DEV_A) && !quarantined(DEV_B) &&
		    ats_on(DEV_A) && ats_on(DEV_B) && !quarantined(DEV_N),
		    "other_devices_not_quarantined", NULL);
	ktap_result(k, io(g, DEV_A, 801, IO_BYTES) && io(g, DEV_B, 802, IO_BYTES) &&
		    io(g, DEV_C0, 803, IO_BYTES) && io(g, DEV_C1, 804, IO_BYTES) &&
		    io(g, DEV_C2, 806, IO_BYTES),
		    "io_intact_everywhere", NULL);

	/* One log line per quarantined device, none for the innocent one */
	for (int j = 0; j < 2; j++)
		n[j] = logwatch_count(w, QUARANTINE_MSG, bdf(faulty[j]));
	n1 = logwatch_count(w, QUARANTINE_MSG, bdf(DEV_C1));
	nall = logwatch_count(w, QUARANTINE_MSG, NULL);
	logwatch_stop(w);
	ktap_result(k, n[0] == 1 && n[1] == 1 && n1 == 0 && nall == 2,
		    "one_log_line_per_faulty_device",
		    "'%s' lines: C0 %d, C1 %d, C2 %d, all %d",
		    QUARANTINE_MSG, n[0], n1, n[1], nall);

	/*
	 * Clean up: reset both functions.  Should a reset of one reach the
	 * other (a bus reset), the second has nothing left to lift.
	 */
	ok = true;
	for (int j = 0; j < 2; j++)
		if (quarantined(faulty[j]) || !ats_on(faulty[j]))
			ok &= recover(g, faulty[j]);
	ktap_result(k, ok && io(g, DEV_C0, 805, IO_BYTES) &&
		    io(g, DEV_C2, 807, IO_BYTES),
		    "reset_recovers_both", NULL);
	drain_kmsg(g);
}

const struct scenario scenario_baseline = {
	.name = "baseline", .plan = 6, .run = run_baseline,
};
const struct scenario scenario_quarantine = {
	.name = "quarantine", .plan = 8, .run = run_quarantine,
};
const struct scenario scenario_flr = {
	.name = "flr", .plan = 6, .run = run_flr,
};
const struct scenario scenario_reset_method = {
	.name = "reset_method", .plan = 5, .run = run_reset_method,
};
const struct scenario scenario_batch = {
	.name = "batch", .plan = 8, .run = run_batch,
};

/* ---- make demo: the recovery story in a few lines ---------------------- */

static void run_demo(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	char st[32], rm[64] = "", path[PATH_MAX];
	long long d, t0, lift;
	bool ok = true, q;

	if (!have(g, DEV_A)) {
		ktap_result(k, false, "recovered", "no device A");
		return;
	}
	ktap_diag(k, "demo: device %s: virtio-blk /dev/%s behind a PCIe root port, SMMUv3 with ATS",
		  bdf(DEV_A), devs[DEV_A].disk->name);
	ok &= ats_on(DEV_A) && io(g, DEV_A, 1, IO_BYTES);
	ktap_diag(k, "demo: ATS %s (ATSCtl.Enable%c), 1 MiB written and read back %s",
		  ats_on(DEV_A) ? "on" : "OFF", ats_on(DEV_A) ? '+' : '-',
		  ok ? "intact" : "FAILED");

	logwatch_start(w);
	q = do_quarantine(g, DEV_A, 2, &t);
	ok &= q && t.io_ok;
	ktap_diag(k, "demo: injected ATC invalidation timeout (QEMU fails %ld CMD_SYNCs for the device) during I/O",
		  t.injected);
	quarantine_state(bdf(DEV_A), st, sizeof(st));
	ktap_diag(k, "demo: quarantined %lld ms after the I/O started: ATS %s in config space, debugfs says '%s'",
		  t.to_ats_off, ats_on(DEV_A) ? "STILL ON" : "off", st);
	logwatch_read(w);
	{
		char *line = strstr(w->buf, QUARANTINE_MSG), *s, *e;

		if (line) {
			for (s = line; s > w->buf && s[-1] != '\n'; s--)
				;
			e = strchr(line, '\n');
			ktap_diag(k, "demo: kernel log: %.*s", (int)(e - s), s);
		}
	}
	ok &= io(g, DEV_A, 3, IO_BYTES);
	ktap_diag(k, "demo: I/O while quarantined (no ATS): %s",
		  ok ? "works, data intact" : "FAILED");

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf(DEV_A));
	read_file(path, rm, sizeof(rm));
	t0 = now_ms();
	d = sysfs_reset(DEV_A);
	ok &= d >= 0;
	ktap_diag(k, "demo: echo 1 > /sys/bus/pci/devices/%s/reset (methods '%s'): %lld ms",
		  bdf(DEV_A), rm, d);
	ok &= wait_quarantine(DEV_A, false, POLL_MS) >= 0 &&
	      wait_ats(DEV_A, true, POLL_MS) >= 0;
	lift = now_ms() - t0;
	ok &= logwatch_count(w, LIFTED_MSG, bdf(DEV_A)) == 1;
	logwatch_stop(w);
	ok &= io(g, DEV_A, 4, IO_BYTES);
	ktap_diag(k, "demo: recovered %lld ms after the reset began: quarantine lifted, ATS %s, 1 MiB I/O %s",
		  lift, ats_on(DEV_A) ? "on" : "OFF", ok ? "intact" : "FAILED");
	ktap_result(k, ok, "recovered", NULL);
	drain_kmsg(g);
}

const struct scenario scenario_demo = {
	.name = "demo", .plan = 1, .run = run_demo,
};

/* ---- helpers for scenarios that make the disk go away ------------------ */

/* Re-reads PCI devices and disks until A's disk is back; true if it is */
static bool wait_disk_back(struct guest *g, int i, int timeout_ms)
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

/* ---- 5: a reset that fails -------------------------------------------- */

#define RESET_FAILED_MSG	"reset failed, DMA stays blocked"

/* Has the host make device i stop answering at its next reset, or not */
static bool stuck_after_reset(struct guest *g, int i, bool on)
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
static bool restore_header(int i, const unsigned char hdr[64])
{
	enum { COMMAND = 0x04, BAR0 = 0x10, BARS_END = 0x28 };

	return cfg_pwrite(i, BAR0, hdr + BAR0, BARS_END - BAR0) &&
	       cfg_pwrite(i, COMMAND, hdr + COMMAND, 2);
}

static void run_failed_reset(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	unsigned char hdr[64];
	char path[PATH_MAX], drv[32], rm[64] = "";
	long long d, t0;
	bool ok;
	int nf, nl;

	if (!have(g, DEV_A)) {
		ktap_result(k, false, "device_A_present", NULL);
		for (int j = 1; j < 6; j++)
			ktap_skip(k, "failed_reset", "no device A");
		return;
	}
	snprintf(drv, sizeof(drv), "%s", devs[DEV_A].pci->driver);
	ok = do_quarantine(g, DEV_A, 500, &t);
	/*
	 * A's driver lets go first: the function will lose its config space
	 * and nothing must touch its BARs meanwhile.  Only FLR is allowed so
	 * that one reset attempt fails (the kernel gives up 60 s after an
	 * FLR), not one per reset method.
	 */
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
	ok &= !write_file(path, bdf(DEV_A));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf(DEV_A));
	read_file(path, rm, sizeof(rm));
	ok &= !write_file(path, "flr");
	ok &= !pci_cfg_read(devs[DEV_A].pci, 0, hdr, sizeof(hdr));
	ktap_result(k, ok, "A_quarantined_unbound_flr_only",
		    "driver %s, reset_method was '%s'", drv, rm);

	/* The function never comes back from the FLR */
	logwatch_start(w);
	ok = stuck_after_reset(g, DEV_A, true);
	t0 = now_ms();
	d = sysfs_reset(DEV_A);
	ktap_result(k, ok && d < 0, "reset_fails",
		    "writing 'reset' %s after %lld ms",
		    d < 0 ? strerror((int)-d) : "succeeded", now_ms() - t0);
	nf = logwatch_count(w, RESET_FAILED_MSG, bdf(DEV_A));
	nl = logwatch_count(w, LIFTED_MSG, NULL);
	ktap_result(k, nf == 1 && nl == 0 && quarantined(DEV_A),
		    "A_stays_quarantined_and_blocked",
		    "'%s' %d time(s), '%s' %d time(s)", RESET_FAILED_MSG, nf,
		    LIFTED_MSG, nl);

	/* It answers again, with its reset config space: nothing lifts */
	ok = stuck_after_reset(g, DEV_A, false);
	pci_refresh(devs[DEV_A].pci);
	ktap_result(k, ok && quarantined(DEV_A) && !ats_on(DEV_A),
		    "device_back_still_quarantined", NULL);

	/*
	 * Put back the BARs and the command register the failed reset could
	 * not restore, then a reset that succeeds lifts the quarantine.
	 */
	ok = restore_header(DEV_A, hdr);
	d = sysfs_reset(DEV_A);
	ok &= d >= 0 && wait_quarantine(DEV_A, false, POLL_MS) >= 0 &&
	      wait_ats(DEV_A, true, POLL_MS) >= 0;
	nl = logwatch_count(w, LIFTED_MSG, bdf(DEV_A));
	logwatch_stop(w);
	ktap_result(k, ok && nl == 1, "successful_reset_lifts_quarantine",
		    "'%s' %d time(s)", LIFTED_MSG, nl);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset_method",
		 bdf(DEV_A));
	write_file(path, "default");
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	ok = !write_file(path, bdf(DEV_A)) && wait_disk_back(g, DEV_A, 20000);
	ktap_result(k, ok && wait_ats(DEV_A, true, POLL_MS) >= 0 &&
		    io(g, DEV_A, 501, IO_BYTES), "rebound_ats_on_io_intact",
		    NULL);
	drain_kmsg(g);
}

const struct scenario scenario_failed_reset = {
	.name = "failed_reset", .plan = 6, .run = run_failed_reset,
};

/* ---- 4: fatal AER -> link reset -> quarantine lifted ------------------- */

static void run_aer(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	char reply[256], drv[32], path[PATH_MAX];
	unsigned char hdr[64];
	long long t0, wq, wa;
	int ret, n;
	bool ok;

	if (!have(g, DEV_A)) {
		ktap_result(k, false, "device_A_present", NULL);
		for (int j = 0; j < 4; j++)
			ktap_skip(k, "aer", "no device A");
		return;
	}
	snprintf(drv, sizeof(drv), "%s", devs[DEV_A].pci->driver);
	ok = !pci_cfg_read(devs[DEV_A].pci, 0, hdr, sizeof(hdr));
	ktap_result(k, ok && do_quarantine(g, DEV_A, 400, &t), "A_quarantined",
		    NULL);

	logwatch_start(w);
	t0 = now_ms();
	ret = host_request(reply, sizeof(reply), 30000,
			   "hmp pcie_aer_inject_error devA MALF_TLP");
	ktap_result(k, host_ok(g, reply, sizeof(reply), "aer", ret),
		    "fatal_aer_injected", "MALF_TLP on devA");
	/* AER recovery resets the link below A's root port */
	wq = wait_quarantine(DEV_A, false, 20000);
	wa = wait_ats(DEV_A, true, 5000);
	n = logwatch_count(w, LIFTED_MSG, bdf(DEV_A));
	ktap_diag(k, "bench: fatal AER -> quarantine lifted in %lld ms",
		  wq >= 0 ? now_ms() - t0 : -1);
	ktap_result(k, wq >= 0 && wa >= 0 && n == 1,
		    "link_reset_lifted_quarantine_ats_on",
		    "'%s' %d time(s), recovery: %s", LIFTED_MSG, n,
		    logwatch_count(w, "device recovery failed", NULL) > 0 ?
		    "failed (virtio has no error handlers)" : "ok");
	logwatch_stop(w);

	/*
	 * virtio-pci has no AER handlers, so nothing restored A's config space
	 * after the link reset: its BARs are gone and the driver, stuck with
	 * a device that forgot it, would spin in vp_reset() when unbound.  Do
	 * what a driver's slot_reset() would have done (restore the BARs and
	 * the command register), then rebind the driver.
	 */
	ok = restore_header(DEV_A, hdr);
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
	ok &= !write_file(path, bdf(DEV_A));
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	ok &= !write_file(path, bdf(DEV_A));
	ktap_result(k, ok && wait_disk_back(g, DEV_A, 20000),
		    "config_restored_driver_rebound", NULL);
	ktap_result(k, wait_ats(DEV_A, true, POLL_MS) >= 0 && !quarantined(DEV_A) &&
		    io(g, DEV_A, 401, IO_BYTES), "A_ats_on_io_intact", NULL);
	drain_kmsg(g);
}

/* ---- 7: unbind -> FLR -> rebind ---------------------------------------- */

static void run_unbind(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	char path[PATH_MAX], drv[32];
	int ret;

	if (!have(g, DEV_A)) {
		for (int j = 0; j < 5; j++)
			ktap_result(k, false, "device_A_present", NULL);
		return;
	}
	snprintf(drv, sizeof(drv), "%s", devs[DEV_A].pci->driver);
	ktap_result(k, do_quarantine(g, DEV_A, 700, &t), "A_quarantined",
		    "driver %s", drv);

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
	ret = write_file(path, bdf(DEV_A));
	pci_refresh(devs[DEV_A].pci);
	/* Unbinding proves nothing about the ATC: still quarantined */
	ktap_result(k, !ret && !devs[DEV_A].pci->driver[0] &&
		    quarantined(DEV_A) && !ats_on(DEV_A),
		    "unbound_still_quarantined", NULL);

	ktap_result(k, sysfs_reset(DEV_A) >= 0 &&
		    wait_quarantine(DEV_A, false, POLL_MS) >= 0,
		    "flr_of_unbound_device_lifts_quarantine", NULL);

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	ret = write_file(path, bdf(DEV_A));
	ktap_result(k, !ret && wait_disk_back(g, DEV_A, 20000) &&
		    wait_ats(DEV_A, true, POLL_MS) >= 0, "rebound_ats_on", NULL);
	ktap_result(k, io(g, DEV_A, 701, IO_BYTES), "A_io_intact", NULL);
	drain_kmsg(g);
}

/* ---- kmemleak ---------------------------------------------------------- */

#define KMEMLEAK	"/sys/kernel/debug/kmemleak"

/* Forgets what kmemleak knows so far; false if the kernel has no kmemleak */
static bool kmemleak_clear(void)
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
static void kmemleak_result(struct guest *g, bool enabled)
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

/* ---- KUnit suites twice in one boot, then kmemleak ---------------------- */

static const char *const kunit_suites[] = {
	"iommu-pci-reset", "iommu-pci-reset-no-op", "arm-smmu-v3-kunit-test",
};

/*
 * Runs the built-in suite through KUnit's debugfs "run" file (the debug
 * boots pass kunit.autorun=0) and checks the suite's result; the number of
 * cases that passed goes to @passed.
 */
static bool kunit_run_suite(const char *suite, int *passed)
{
	static char buf[64 << 10];
	char path[PATH_MAX], line[160];
	const char *p;

	*passed = 0;
	snprintf(path, sizeof(path), "/sys/kernel/debug/kunit/%s/run", suite);
	if (write_file(path, "1"))
		return false;
	snprintf(path, sizeof(path), "/sys/kernel/debug/kunit/%s/results",
		 suite);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return false;
	for (p = buf; (p = strstr(p, "\n    ok ")); p++)
		(*passed)++;
	snprintf(line, sizeof(line), "\nok 1 %s", suite);
	return strstr(buf, line) && !strstr(buf, "not ok");
}

static void run_kunit_twice(struct guest *g)
{
	struct ktap *k = &g->ktap;
	bool leakcheck = kmemleak_clear();
	char name[96];
	int passed;

	/*
	 * Each suite registers its own devices, groups and domains and must
	 * tear all of them down: a second run in the same boot works and
	 * kmemleak finds nothing afterwards.
	 */
	for (size_t i = 0; i < ARRAY_SIZE(kunit_suites); i++) {
		for (int run = 1; run <= 2; run++) {
			bool ok = kunit_run_suite(kunit_suites[i], &passed);

			snprintf(name, sizeof(name), "%s_run%d", kunit_suites[i],
				 run);
			ktap_result(k, ok && passed > 0, name,
				    "%d case(s) passed", passed);
		}
	}
	kmemleak_result(g, leakcheck);
	drain_kmsg(g);
}

const struct scenario scenario_kunit_twice = {
	.name = "kunit_twice", .plan = 2 * ARRAY_SIZE(kunit_suites) + 1,
	.run = run_kunit_twice,
};

/* ---- 9: hot-unplug of a quarantined device ----------------------------- */

static bool dev_present(int i)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf(i));
	return !access(path, F_OK);
}

static void run_unplug(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	char reply[256], st[32], name[16];
	bool base, leakcheck;
	long long t0, w;
	int ret;

	if (!have(g, DEV_A)) {
		ktap_result(k, false, "device_A_present", NULL);
		for (int j = 1; j < 5; j++)
			ktap_skip(k, "unplug", "no device A");
		return;
	}
	ktap_result(k, true, "device_A_present", "%s", bdf(DEV_A));
	/* On the base kernel (no quarantine) this only unplugs A */
	base = quarantine_state("none", st, sizeof(st)) == NULL;
	leakcheck = kmemleak_clear();
	if (base)
		ktap_skip(k, "A_quarantined", "base kernel: no quarantine");
	else
		ktap_result(k, do_quarantine(g, DEV_A, 1000, &t),
			    "A_quarantined", NULL);

	/*
	 * device_del presses the slot's attention button: pciehp powers the
	 * slot off after its 5 s grace period and removes A, which releases
	 * it from the IOMMU while it is quarantined.
	 */
	snprintf(name, sizeof(name), "dev%s", "A");
	t0 = now_ms();
	ret = host_request(reply, sizeof(reply), 30000, "hmp device_del %s",
			   name);
	ret = host_ok(g, reply, sizeof(reply), "device_del", ret);
	while (ret && dev_present(DEV_A) && now_ms() - t0 < 30000)
		msleep(20);
	ktap_result(k, ret && !dev_present(DEV_A), "A_removed",
		    "after %lld ms", now_ms() - t0);
	if (base) {
		ktap_skip(k, "quarantine_state_released",
			  "base kernel: no quarantine");
	} else {
		/*
		 * The device leaves /sys/bus/pci/devices just before the
		 * IOMMU core releases it (BUS_NOTIFY_REMOVED_DEVICE): poll.
		 */
		w = wait_quarantine(DEV_A, false, POLL_MS);
		quarantine_state(bdf(DEV_A), st, sizeof(st));
		ktap_result(k, w >= 0, "quarantine_state_released",
			    "debugfs state for A: '%s' after %lld ms", st, w);
	}
	devs[DEV_A].pci = NULL;
	devs[DEV_A].disk = NULL;

	kmemleak_result(g, leakcheck);
	drain_kmsg(g);
}

/* ---- 10: soak: quarantine -> FLR -> lifted, many times ----------------- */

static void run_soak(struct guest *g)
{
	struct ktap *k = &g->ktap;
	struct quarantine_times t;
	struct logwatch *w = &watch;
	long long t0, secs_x10;
	int cycles, done = 0, nq = 0, nl = 0;
	bool leakcheck, ok = true;
	char buf[16];

	cycles = atoi(guest_param(g, "soak_cycles", "200", buf, sizeof(buf)));
	if (!have(g, DEV_A) || !have(g, DEV_B)) {
		ktap_result(k, false, "devices_present", NULL);
		for (int j = 1; j < 5; j++)
			ktap_skip(k, "soak", "devices missing");
		return;
	}
	ktap_result(k, true, "devices_present", NULL);
	leakcheck = kmemleak_clear();
	logwatch_start(w);
	t0 = now_ms();
	for (int c = 0; c < cycles && ok; c++) {
		ok = do_quarantine(g, DEV_A, 2000 + c, &t) && t.io_ok;
		ok = ok && recover(g, DEV_A) && io(g, DEV_A, 3000 + c, IO_CHUNK);
		if (!ok)
			ktap_diag(k, "cycle %d failed (quarantine %lld ms, io %d)",
				  c, t.to_state, t.io_ok);
		else
			done++;
		/* Count per cycle so that the watch buffer never fills up */
		nq += logwatch_count(w, QUARANTINE_MSG, bdf(DEV_A));
		nl += logwatch_count(w, LIFTED_MSG, bdf(DEV_A));
		w->len = 0;
		w->buf[0] = '\0';
	}
	secs_x10 = (now_ms() - t0) / 100;
	ktap_diag(k, "bench: soak: %d cycles quarantine->FLR->lifted in %lld.%lld s, %.2f cycles/s",
		  done, secs_x10 / 10, secs_x10 % 10,
		  secs_x10 ? done * 10.0 / secs_x10 : 0.0);
	ktap_result(k, done == cycles, "all_cycles_recovered", "%d of %d",
		    done, cycles);
	logwatch_stop(w);
	/*
	 * The quarantine line is rate limited (10 per 5 s): at most one per
	 * cycle, and at least as many as the limit lets through.
	 */
	ktap_result(k, nq <= done && nq >= (done < 10 ? done : 10) &&
		    nl == done, "log_lines_coalesced",
		    "%d quarantine, %d lift line(s) for %d cycles", nq, nl, done);
	ktap_result(k, !quarantined(DEV_B) && ats_on(DEV_B) &&
		    io(g, DEV_B, 3999, IO_BYTES), "B_untouched", NULL);
	kmemleak_result(g, leakcheck);
	drain_kmsg(g);
}

const struct scenario scenario_unplug = {
	.name = "unplug", .plan = 5, .run = run_unplug,
};
const struct scenario scenario_soak = {
	.name = "soak", .plan = 5, .run = run_soak,
};

/* ---- FLR duration (benchmark, both kernels) ---------------------------- */

static void run_flrbench(struct guest *g)
{
	struct ktap *k = &g->ktap;
	long long d, sum = 0, min = -1, max = 0;
	int n = 0, rounds = 20;

	if (!have(g, DEV_A)) {
		ktap_result(k, false, "flr_benchmark", "no device A");
		return;
	}
	for (int r = 0; r < rounds; r++) {
		d = sysfs_reset(DEV_A);
		if (d < 0)
			break;
		sum += d;
		min = min < 0 || d < min ? d : min;
		max = d > max ? d : max;
		n++;
	}
	ktap_diag(k, "bench: FLR via sysfs: %d resets, mean %lld ms, min %lld, max %lld",
		  n, n ? sum / n : -1, min, max);
	ktap_result(k, n == rounds && ats_on(DEV_A) &&
		    io(g, DEV_A, 900, IO_BYTES), "flr_benchmark", NULL);
	drain_kmsg(g);
}

/* ---- map/unmap latency through the SMMUv3 (benchmark, both kernels) --- */

#define DMA_BENCH	"/bin/dma_map_benchmark"

/* Runs the kernel's tools/dma tool, its output into @out; exit status */
static int run_dma_bench(char *out, size_t size)
{
	int pfd[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execl(DMA_BENCH, DMA_BENCH, "-t", "1", "-s", "3", "-g", "1",
		      (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while (len + 1 < size && (n = read(pfd[0], out + len, size - len - 1)) > 0)
		len += n;
	out[len] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static bool bind_driver(int i, const char *drv)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 bdf(i));
	if (write_file(path, drv ? drv : "\n"))
		return false;
	if (!drv)
		return true;
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	return !write_file(path, bdf(i));
}

static void run_dmabench(struct guest *g)
{
	struct ktap *k = &g->ktap;
	char out[2048], path[PATH_MAX], drv[32];
	double map = -1, map_sd = 0, unmap = -1, unmap_sd = 0;
	const char *p;
	bool ok;
	int ret;

	if (!have(g, DEV_C1) || access(DMA_BENCH, X_OK)) {
		ktap_result(k, false, "dma_map_benchmark_ran",
			    "no device C1 or no %s", DMA_BENCH);
		ktap_skip(k, "C1_back_io_intact", "nothing was changed");
		return;
	}
	/* C1 (ATS) leaves virtio for the benchmark driver, then comes back */
	snprintf(drv, sizeof(drv), "%s", devs[DEV_C1].pci->driver);
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
	ok = !write_file(path, bdf(DEV_C1)) &&
	     bind_driver(DEV_C1, "dma_map_benchmark");
	ret = ok ? run_dma_bench(out, sizeof(out)) : -1;
	p = strstr(out, "average map latency(us):");
	if (p)
		sscanf(p, "average map latency(us):%lf standard deviation:%lf",
		       &map, &map_sd);
	p = strstr(out, "average unmap latency(us):");
	if (p)
		sscanf(p, "average unmap latency(us):%lf standard deviation:%lf",
		       &unmap, &unmap_sd);
	ktap_diag(k, "bench: dma_map_benchmark on C1 (ATS, iommu.strict=1, 1 thread, 1 page, 3 s): map %.1f us (sd %.1f), unmap %.1f us (sd %.1f)",
		  map, map_sd, unmap, unmap_sd);
	ktap_result(k, ret == 0 && map >= 0 && unmap >= 0,
		    "dma_map_benchmark_ran", "exit %d%s%.200s", ret,
		    ret ? ": " : "", ret ? out : "");

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/dma_map_benchmark/unbind");
	ok = !write_file(path, bdf(DEV_C1));
	ok &= bind_driver(DEV_C1, NULL);
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
	ok &= !write_file(path, bdf(DEV_C1));
	ktap_result(k, ok && wait_disk_back(g, DEV_C1, 20000) &&
		    wait_ats(DEV_C1, true, POLL_MS) >= 0 &&
		    io(g, DEV_C1, 950, IO_BYTES), "C1_back_io_intact", NULL);
	drain_kmsg(g);
}

const struct scenario scenario_dmabench = {
	.name = "dmabench", .plan = 2, .run = run_dmabench,
};

const struct scenario scenario_aer = {
	.name = "aer", .plan = 5, .run = run_aer,
};
const struct scenario scenario_unbind = {
	.name = "unbind_flr_rebind", .plan = 5, .run = run_unbind,
};
const struct scenario scenario_flrbench = {
	.name = "flrbench", .plan = 1, .run = run_flrbench,
};
