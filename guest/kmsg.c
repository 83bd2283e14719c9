// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmsg.h"
#include "util.h"

static const char *const splat_markers[] = {
	"WARNING:", "BUG:", "Oops", "Kernel panic", "Unable to handle",
	"possible circular locking", "INFO: task", "rcu: INFO:",
};

int kmsg_open(struct kmsg *km)
{
	memset(km, 0, sizeof(*km));
	km->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	return km->fd < 0 ? -errno : 0;
}

void kmsg_close(struct kmsg *km)
{
	if (km->fd >= 0)
		close(km->fd);
	km->fd = -1;
}

static void kmsg_check_splat(struct kmsg *km, const char *msg)
{
	for (size_t i = 0; i < ARRAY_SIZE(splat_markers); i++) {
		if (strstr(msg, splat_markers[i])) {
			km->splats++;
			snprintf(km->last_splat, sizeof(km->last_splat), "%s",
				 msg);
			return;
		}
	}
}

bool kmsg_wait_for(struct kmsg *km, const char *needle, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	char rec[8192], *msg, *nl;
	ssize_t n;

	for (;;) {
		n = read(km->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: skip ahead */
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = km->fd, .events = POLLIN };
			long long left = deadline - now_ms();

			if (left <= 0 || !poll(&pfd, 1, (int)left))
				return false;
			continue;
		}
		if (n <= 0)
			return false;
		rec[n] = '\0';
		/* "prio,seq,usec,flags;message\n continuation lines" */
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = '\0';
		kmsg_check_splat(km, msg);
		if (needle && strstr(msg, needle))
			return true;
	}
}

void kmsg_note(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int fd, n;

	n = snprintf(line, sizeof(line), "<5>guest: ");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* Best effort: a missing mark shows up on the host as such */
	n = write(fd, line, strlen(line));
	close(fd);
}
