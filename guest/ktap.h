/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal KTAP v1 writer: nested test suites with "ok"/"not ok" lines.
 */
#ifndef GUEST_KTAP_H
#define GUEST_KTAP_H

#include <stdbool.h>

#define KTAP_MAX_DEPTH	4

struct ktap {
	int depth;
	int next[KTAP_MAX_DEPTH];	/* next test number per level */
	int failed[KTAP_MAX_DEPTH];	/* failures per level */
};

void ktap_start(struct ktap *k, int plan);
void ktap_suite_begin(struct ktap *k, const char *name, int plan);
/* Ends the suite and reports it as a test of the parent; returns 0 if ok */
int ktap_suite_end(struct ktap *k, const char *name);

__attribute__((format(printf, 4, 5)))
void ktap_result(struct ktap *k, bool ok, const char *name,
		 const char *fmt, ...);
void ktap_skip(struct ktap *k, const char *name, const char *reason);

__attribute__((format(printf, 2, 3)))
void ktap_diag(struct ktap *k, const char *fmt, ...);

#endif
