// SPDX-License-Identifier: GPL-2.0
/*
 * /init of the test initramfs: mounts the pseudo file systems, runs the
 * scenarios named by "guest.scenarios=a,b" on the kernel command line
 * (default: all) and prints KTAP on the console, then powers off.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"
#include "host.h"
#include "util.h"

/*
 * Every scenario, in the order they run when several are selected: one
 * line each, the name of its struct scenario without "scenario_" (defined
 * in scenario-<name>.c).
 */
#define SCENARIOS(X)							\
	X(ats)								\
	X(baseline)							\
	X(quarantine)							\
	X(flr)								\
	X(reset_method)							\
	X(failed_reset)							\
	X(batch)							\
	X(aer)								\
	X(unbind)							\
	X(flrbench)							\
	X(dmabench)							\
	X(kunit_twice)							\
	X(soak)								\
	X(unplug)							\
	X(dpc)								\
	X(dpc_atc)							\
	X(dpc_twice)							\
	X(switch_endpoint)						\
	X(switch_upstream)						\
	X(noiommu)							\
	X(demo)

#define DECLARE(n) extern const struct scenario scenario_##n;
#define ENTRY(n) &scenario_##n,
SCENARIOS(DECLARE)
static const struct scenario *const scenarios[] = { SCENARIOS(ENTRY) };

static struct guest guest;

static void mount_fs(const char *src, const char *dir, const char *type)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, 0, NULL) && errno != EBUSY)
		fprintf(stderr, "init: mount %s on %s: %s\n", type, dir,
			strerror(errno));
}

/*
 * KTAP and the host's requests go over @tty (guest.tty=, e.g. ttyAMA1, a
 * serial port of their own) or, without one, the console.  On a port of
 * their own they never mix with kernel messages, which the host reads
 * whole from the console.
 */
static bool setup_console(const char *tty)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/%s", tty ? tty : "console");
	fd = open(path, O_RDWR | O_NOCTTY);
	if (fd < 0 && tty) {
		fprintf(stderr, "init: %s: %s, using the console\n", path,
			strerror(errno));
		return setup_console(NULL);
	}
	if (fd < 0)
		return false;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return tty != NULL;
}

const char *guest_param(struct guest *g, const char *key, const char *def,
			char *buf, size_t size)
{
	char pat[64];
	const char *p;
	size_t len;

	snprintf(pat, sizeof(pat), "guest.%s=", key);
	for (p = strstr(g->cmdline, pat); p; p = strstr(p + 1, pat)) {
		if (p != g->cmdline && p[-1] != ' ')
			continue;
		p += strlen(pat);
		len = strcspn(p, " \n");
		if (len >= size)
			len = size - 1;
		memcpy(buf, p, len);
		buf[len] = '\0';
		return buf;
	}
	return def;
}

static bool selected(const char *list, const char *name)
{
	size_t len = strlen(name);

	if (!strcmp(list, "all"))
		return true;
	for (const char *p = list; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (!strncmp(p, name, len) && (p[len] == ',' || !p[len]))
			return true;
	}
	return false;
}

/* Virtio disks are probed by the time /init runs; wait a bounded time */
static void wait_for_disks(struct guest *g, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	while ((g->ndisks = blk_scan(g->disks, BLK_MAX_DISKS, "vd")) <= 0 &&
	       now_ms() < deadline)
		nanosleep(&ts, NULL);
	if (g->ndisks < 0)
		g->ndisks = 0;
}

int main(void)
{
	struct guest *g = &guest;
	const struct scenario *run[ARRAY_SIZE(scenarios)];
	char list[256], tty[32];
	int nrun = 0, splat_check;
	bool own_port;

	mount_fs("devtmpfs", "/dev", "devtmpfs");
	mount_fs("proc", "/proc", "proc");
	mount_fs("sysfs", "/sys", "sysfs");
	mount_fs("debugfs", "/sys/kernel/debug", "debugfs");
	if (read_file("/proc/cmdline", g->cmdline, sizeof(g->cmdline)) < 0)
		g->cmdline[0] = '\0';
	own_port = setup_console(guest_param(g, "tty", NULL, tty, sizeof(tty)));
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (kmsg_open(&g->kmsg))
		fprintf(stderr, "init: /dev/kmsg: %s\n", strerror(errno));

	/*
	 * Sharing the console with the kernel, KTAP and host requests would be
	 * corrupted by kernel messages printed in the middle of a line: keep
	 * the console quiet then (guest.console_level, default 1).
	 */
	if (!own_port)
		write_file("/proc/sys/kernel/printk",
			   guest_param(g, "console_level", "1", list,
				       sizeof(list)));
	if (host_init())
		fprintf(stderr, "init: console setup failed\n");

	guest_param(g, "scenarios", "all", list, sizeof(list));
	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++)
		if (selected(list, scenarios[i]->name))
			run[nrun++] = scenarios[i];

	g->npci = pci_scan(g->pci, PCI_MAX_DEVICES);
	if (g->npci < 0)
		g->npci = 0;
	wait_for_disks(g, 10000);

	/* guest.splat_check=0: the host checks the kernel log */
	splat_check = atoi(guest_param(g, "splat_check", "1", list,
				       sizeof(list)));
	ktap_start(&g->ktap, nrun + !!splat_check);
	for (int i = 0; i < nrun; i++) {
		/*
		 * The kernel log shows where each scenario starts and ends,
		 * so that the host can tell which one a kernel report
		 * belongs to.
		 */
		kmsg_note("scenario %s begin", run[i]->name);
		ktap_suite_begin(&g->ktap, run[i]->name, run[i]->plan);
		run[i]->run(g);
		ktap_suite_end(&g->ktap, run[i]->name);
		kmsg_note("scenario %s end", run[i]->name);
	}

	/* Whatever the scenarios did, the kernel must not have splatted */
	kmsg_wait_for(&g->kmsg, NULL, 0);
	if (!splat_check)
		goto out;
	if (g->kmsg.splats)
		ktap_diag(&g->ktap, "last splat: %s", g->kmsg.last_splat);
	ktap_result(&g->ktap, !g->kmsg.splats, "no_kernel_splat",
		    "%u splat line(s)", g->kmsg.splats);
out:
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
