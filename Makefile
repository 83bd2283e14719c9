# Workspace verbs.  Everything heavy is in scripts/; see README.md.
#
#   make demo      the recovery shown in QEMU: timeout -> quarantine -> FLR -> ATS back
#   make check     every check (what CI runs), ends with "N passed, N failed"
#   make bench     the cover letter's end-to-end figures, measured alone
#   make deps      install missing Debian packages (apt-get)
#   make base      fetch + verify + unpack the base tree into build/linux
#   make apply     base + patches/ -> commits on branch 'series' in build/linux
#   make export    commits on top of the base in build/linux -> patches/
#   make status    does build/linux hold what patches/ holds?
#   make build     arm64 test kernel from build/linux (incremental)
#   make kunit     KUnit suites (configs/kunit/.kunitconfig) in build/linux
#   make checkpatch   checkpatch --strict on patches/
#   make mbox      patches/ as one mbox + git send-email --dry-run
#   make qemu      the patched QEMU (qemu/) for the SMMUv3 ATS scenarios
#
# BASE=7.2 selects Debian's linux-source-7.2 tree (build/linux-7.2).

SHELL := /bin/bash
S := scripts

.PHONY: demo check bench deps base apply export status build kunit checkpatch mbox qemu help

help:
	@sed -n '3,18p' Makefile | sed 's/^# \{0,1\}//'

demo:
	@$(S)/demo.sh

check:
	@$(S)/check.sh

bench:
	@$(S)/bench.sh

deps:
	@$(S)/deps.sh

base: deps
	@$(S)/fetch-base.sh

apply: base
	@$(S)/series.sh apply

export:
	@$(S)/series.sh export

status:
	@$(S)/series.sh status

build: base
	@$(S)/kbuild.sh arm64

kunit: base
	@. $(S)/lib.sh; cd "$$KSRC" && with_build_lock python3 tools/testing/kunit/kunit.py run \
		--arch=arm64 --cross_compile=aarch64-linux-gnu- --jobs=$$JOBS --build_dir=.kunit \
		--kunitconfig=$(CURDIR)/configs/kunit/.kunitconfig \
		--make_options="CC=ccache aarch64-linux-gnu-gcc"

checkpatch: base
	@. $(S)/lib.sh; . $(S)/checkpatch.sh; rc=0; \
	for p in $$(sed -e 's/#.*//' patches/series); do \
		echo "== $$p"; run_checkpatch "$$KSRC" "$(CURDIR)/patches/$$p" || rc=1; \
	done; exit $$rc

mbox: deps
	@$(S)/mbox.sh

qemu: deps
	@$(S)/qemu-build.sh
