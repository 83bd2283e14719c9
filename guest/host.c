// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "host.h"
#include "util.h"

static unsigned int host_seq;

int host_init(void)
{
	struct termios t;

	/* The host's replies must not be echoed into the KTAP output */
	if (tcgetattr(STDIN_FILENO, &t))
		return -errno;
	t.c_lflag &= ~(ECHO | ECHONL);
	t.c_lflag |= ICANON;
	t.c_iflag &= ~(ICRNL | INLCR);
	t.c_iflag |= IGNCR;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t))
		return -errno;
	tcflush(STDIN_FILENO, TCIFLUSH);
	return 0;
}

/* Reads one line from stdin, waiting at most until @deadline */
static int read_line(char *buf, size_t size, long long deadline)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	long long left = deadline - now_ms();
	ssize_t n;

	if (left <= 0)
		return -ETIMEDOUT;
	n = poll(&pfd, 1, (int)left);
	if (n < 0)
		return -errno;
	if (!n)
		return -ETIMEDOUT;
	/* Canonical mode: one read returns at most one line */
	n = read(STDIN_FILENO, buf, size - 1);
	if (n < 0)
		return -errno;
	if (!n)
		return -EPIPE;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

int host_request(char *reply, size_t size, int timeout_ms,
		 const char *fmt, ...)
{
	long long deadline = now_ms() + timeout_ms;
	char line[512], req[400], prefix[32];
	unsigned int seq = ++host_seq;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	snprintf(prefix, sizeof(prefix), "@@GUEST %u ", seq);

	/* One write, so that kernel messages do not split the line */
	snprintf(line, sizeof(line), "@@HOST %u %s\n", seq, req);
	fflush(stdout);
	if (write(STDOUT_FILENO, line, strlen(line)) < 0)
		return -errno;

	for (;;) {
		ret = read_line(line, sizeof(line), deadline);
		if (ret)
			return ret;
		if (!strncmp(line, prefix, strlen(prefix)))
			break;
	}
	snprintf(reply, size, "%s", line + strlen(prefix));
	return 0;
}
