// SPDX-License-Identifier: GPL-2.0
/*
 * The KUnit suites twice in one boot, from debugfs (the debug boots pass
 * kunit.autorun=0), then kmemleak: each suite tears down every device,
 * group and domain it registered.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

static const char *const kunit_suites[] = {
	"iommu-pci-reset", "iommu-pci-reset-no-op", "arm-smmu-v3-kunit-test",
};

/*
 * Each line of a suite's first results goes to the host behind this
 * prefix: that run is also make check's per-case KUnit result of the debug
 * kernel (the results file is a KTAP document of its own), so the host
 * needs no boot of that kernel just for the suites.
 */
#define KUNIT_RESULTS_PREFIX "kunit-results: "

static void echo_results(struct ktap *k, char *buf)
{
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		ktap_diag(k, KUNIT_RESULTS_PREFIX "%s", line);
}

/*
 * Runs the built-in suite through KUnit's debugfs "run" file (the debug
 * boots pass kunit.autorun=0) and checks the suite's result; the number of
 * cases that passed goes to @passed.  With @echo, the results file goes to
 * the host too.
 */
static bool kunit_run_suite(struct ktap *k, const char *suite, int *passed,
			    bool echo)
{
	static char buf[64 << 10];
	char path[PATH_MAX], line[160];
	const char *p;
	ssize_t n;
	bool ok;

	*passed = 0;
	snprintf(path, sizeof(path), "/sys/kernel/debug/kunit/%s/run", suite);
	if (write_file(path, "1"))
		return false;
	snprintf(path, sizeof(path), "/sys/kernel/debug/kunit/%s/results",
		 suite);
	n = read_file(path, buf, sizeof(buf));
	if (n < 0)
		return false;
	for (p = buf; (p = strstr(p, "\n    ok ")); p++)
		(*passed)++;
	snprintf(line, sizeof(line), "\nok 1 %s", suite);
	/* (a full buffer may have cut the results short: not a pass) */
	ok = (size_t)n < sizeof(buf) - 2 && strstr(buf, line) &&
	     !strstr(buf, "not ok");
	/* (whatever it holds: a suite must not vanish from the host's view) */
	if (echo)
		echo_results(k, buf);
	return ok;
}

static void run_kunit_twice(struct guest *g)
{
	struct ktap *k = &g->ktap;
	bool leakcheck = kmemleak_clear();
	char name[96];
	int passed;

	/*
	 * Each suite registers its own devices, groups and domains and must
	 * tear all of them down: a second run in the same boot works and
	 * kmemleak finds nothing afterwards.
	 */
	for (size_t i = 0; i < ARRAY_SIZE(kunit_suites); i++) {
		for (int run = 1; run <= 2; run++) {
			bool ok = kunit_run_suite(k, kunit_suites[i], &passed,
						  run == 1);

			snprintf(name, sizeof(name), "%s_run%d", kunit_suites[i],
				 run);
			ktap_result(k, ok && passed > 0, name,
				    "%d case(s) passed", passed);
		}
	}
	kmemleak_result(g, leakcheck);
	drain_kmsg(g);
}

const struct scenario scenario_kunit_twice = {
	.name = "kunit_twice", .plan = 2 * ARRAY_SIZE(kunit_suites) + 1, .run = run_kunit_twice,
};
