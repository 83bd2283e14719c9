/* SPDX-License-Identifier: GPL-2.0 */
#ifndef GUEST_UTIL_H
#define GUEST_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Read a (sysfs) file into buf, NUL-terminated, trailing newline cut */
ssize_t read_file(const char *path, char *buf, size_t size);
int write_file(const char *path, const char *s);
/* Read a file holding a number (any base strtol accepts) */
int read_long(const char *path, long *val);
/* Last path component of a symlink's target, e.g. a driver name */
int link_basename(const char *path, char *buf, size_t size);
/* Milliseconds of CLOCK_MONOTONIC */
long long now_ms(void);

#endif
