/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GUEST_HOST_H
#define GUEST_HOST_H

#include <stddef.h>

/*
 * Requests to the host test driver over the console, which carries KTAP
 * as well.  The guest writes one line
 *
 *	@@HOST <seq> <request...>
 *
 * and blocks until the host (which watches the console, acts, e.g. over
 * QMP) writes back on the console's input
 *
 *	@@GUEST <seq> <reply...>
 *
 * No sleeping on either side: each waits for the other's line.
 */
int host_init(void);
/* Returns 0 and the reply (after the sequence number) or -errno */
int host_request(char *reply, size_t size, int timeout_ms,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
