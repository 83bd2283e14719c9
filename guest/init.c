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

static const struct scenario *const scenarios[] = {
	&scenario_ats,
	/* End-to-end quarantine scenarios (scenario-e2e.c), in this order */
	&scenario_baseline,
	&scenario_quarantine,
	&scenario_flr,
	&scenario_reset_method,
	&scenario_failed_reset,
	&scenario_batch,
	&scenario_aer,
	&scenario_unbind,
	&scenario_flrbench,
	&scenario_dmabench,
	&scenario_kunit_twice,
	&scenario_soak,
	&scenario_unplug,
	&scenario_demo,
};

static struct guest guest;

static void kmsg_echo(void *ctx, int level, const char *msg)
{
	ktap_diag(ctx, "kmsg<%d>: %s", level, msg);
}

static void mount_fs(const char *src, const char *dir, const char *type)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, 0, NULL) && errno != EBUSY)
		fprintf(stderr, "init: mount %s on %s: %s\n", type, dir,
			strerror(errno));
}

static void setup_console(void)
{
	int fd;

	if (fcntl(STDOUT_FILENO, F_GETFD) >= 0)
		return;
	fd = open("/dev/console", O_RDWR);
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
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
	char list[256];
	int nrun = 0, splat_check;

	mount_fs("devtmpfs", "/dev", "devtmpfs");
	setup_console();
	mount_fs("proc", "/proc", "proc");
	mount_fs("sysfs", "/sys", "sysfs");
	mount_fs("debugfs", "/sys/kernel/debug", "debugfs");
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (kmsg_open(&g->kmsg))
		fprintf(stderr, "init: /dev/kmsg: %s\n", strerror(errno));
	if (read_file("/proc/cmdline", g->cmdline, sizeof(g->cmdline)) < 0)
		g->cmdline[0] = '\0';

	/*
	 * From here on the console carries KTAP and host requests only:
	 * kernel messages printed in the middle of a line would corrupt them.
	 * The agent echoes those up to guest.kmsg_level (default 4, warning)
	 * as KTAP diagnostics, as it reads them from /dev/kmsg.
	 */
	write_file("/proc/sys/kernel/printk",
		   guest_param(g, "console_level", "1", list, sizeof(list)));
	g->kmsg.echo = kmsg_echo;
	g->kmsg.echo_ctx = &g->ktap;
	g->kmsg.echo_level = atoi(guest_param(g, "kmsg_level", "4", list,
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

	/* guest.splat_check=0: the host checks the log (scripts/scenarios.py) */
	splat_check = atoi(guest_param(g, "splat_check", "1", list,
				       sizeof(list)));
	ktap_start(&g->ktap, nrun + !!splat_check);
	for (int i = 0; i < nrun; i++) {
		ktap_suite_begin(&g->ktap, run[i]->name, run[i]->plan);
		run[i]->run(g);
		ktap_suite_end(&g->ktap, run[i]->name);
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
