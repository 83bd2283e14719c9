// SPDX-License-Identifier: GPL-2.0
/*
 * FLR duration through sysfs (benchmark, also on the base kernel).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

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

const struct scenario scenario_flrbench = {
	.name = "flrbench", .plan = 1, .run = run_flrbench,
};
