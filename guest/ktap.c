// SPDX-License-Identifier: GPL-2.0
#include <stdarg.h>
#include <stdio.h>

#include "ktap.h"

static void indent(const struct ktap *k)
{
	for (int i = 0; i < k->depth; i++)
		fputs("    ", stdout);
}

void ktap_start(struct ktap *k, int plan)
{
	k->depth = 0;
	k->next[0] = 1;
	k->failed[0] = 0;
	printf("KTAP version 1\n1..%d\n", plan);
	fflush(stdout);
}

void ktap_suite_begin(struct ktap *k, const char *name, int plan)
{
	if (k->depth + 1 >= KTAP_MAX_DEPTH)
		return;
	k->depth++;
	k->next[k->depth] = 1;
	k->failed[k->depth] = 0;
	indent(k);
	printf("KTAP version 1\n");
	indent(k);
	printf("# Subtest: %s\n", name);
	indent(k);
	printf("1..%d\n", plan);
	fflush(stdout);
}

int ktap_suite_end(struct ktap *k, const char *name)
{
	int failed = k->failed[k->depth];

	if (k->depth == 0)
		return failed;
	k->depth--;
	ktap_result(k, !failed, name, NULL);
	return failed;
}

void ktap_result(struct ktap *k, bool ok, const char *name,
		 const char *fmt, ...)
{
	va_list ap;

	if (!ok)
		k->failed[k->depth]++;
	indent(k);
	printf("%s %d %s", ok ? "ok" : "not ok", k->next[k->depth]++, name);
	if (fmt) {
		fputs(" # ", stdout);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
}

void ktap_skip(struct ktap *k, const char *name, const char *reason)
{
	indent(k);
	printf("ok %d %s # SKIP %s\n", k->next[k->depth]++, name, reason);
	fflush(stdout);
}

void ktap_diag(struct ktap *k, const char *fmt, ...)
{
	va_list ap;

	indent(k);
	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}
