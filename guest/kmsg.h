/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GUEST_KMSG_H
#define GUEST_KMSG_H

#include <stdbool.h>

/*
 * Sequential reader of /dev/kmsg.  Opened early, it sees the whole log
 * from boot; every call continues where the previous one stopped.  Lines
 * that look like a kernel splat are counted on the way.
 */
struct kmsg {
	int fd;
	unsigned int splats;		/* WARNING:, BUG:, Oops, ... */
	char last_splat[256];
};

int kmsg_open(struct kmsg *km);
void kmsg_close(struct kmsg *km);
/*
 * Reads new records until one contains @needle (returns true) or no new
 * record arrives for @timeout_ms (returns false; 0: do not wait).
 * @needle may be NULL to just drain the log.
 */
bool kmsg_wait_for(struct kmsg *km, const char *needle, int timeout_ms);
/*
 * Writes "guest: <message>" into the kernel log (notice level): marks in
 * the kernel's own time line what the agent did and when.
 */
void kmsg_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
