# tests/module.mk - builds the test programs and runs the suite.
#
#  tests/unit/test_*.c   C unit tests, linked with libckf.a; print TAP lines
#  tests/fuzz/fuzz_*.c   fuzz targets (LLVMFuzzerTestOneInput); built twice: with a
#                        plain corpus driver for `make test`, with libFuzzer for `make fuzz`
#  tests/progs/*.c       programs used by the end-to-end tests (built as plain binaries;
#                        *_omp.c with -fopenmp, *_mt.c with -pthread)
#  tests/bats/*.bats     end-to-end and CLI tests
# `make test` runs everything through tests/run.sh, which prints "N passed, N failed".

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REGR  := $(FUZZ_SRCS:tests/fuzz/%.c=$(O)/tests/%_regress)
PROG_SRCS  := $(wildcard tests/progs/*.c)
PROG_BINS  := $(PROG_SRCS:tests/progs/%.c=$(O)/tests/progs/%)
TEST_EXTRA :=
-include tests/*/extra.mk

$(O)/tests/test_%: tests/unit/test_%.c $(FORMATA) tests/unit/tap.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -Itests/unit -o $@ $< $(FORMATA) $(LIBS_FORMAT) -lpthread

$(O)/tests/fuzz_%_regress: tests/fuzz/fuzz_%.c tests/fuzz/driver.c $(FORMATA)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $< tests/fuzz/driver.c $(FORMATA) $(LIBS_FORMAT)

$(O)/tests/progs/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -o $@ $< \
	    $(if $(findstring _omp,$*),-fopenmp) -pthread -ldl -lm

test-build: all $(UNIT_BINS) $(FUZZ_REGR) $(PROG_BINS) $(TEST_EXTRA)

test: test-deps
	$(Q)$(MAKE) --no-print-directory test-build
	$(Q)O=$(O) tests/run.sh

# libFuzzer build of each target: make fuzz FUZZ_TIME=1800
FUZZ_TIME ?= 60
fuzz: fuzz-deps $(FORMAT_SRCS)
	@mkdir -p $(O)/fuzz fuzz-out
	$(Q)for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  clang -O1 -g -std=gnu11 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all \
	    -o $(O)/fuzz/$$n $$f $(FORMAT_SRCS) $(LIBS_FORMAT) || exit 1; done
	$(Q)for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); mkdir -p fuzz-out/$$n; \
	  $(O)/fuzz/$$n -max_total_time=$(FUZZ_TIME) -max_len=65536 fuzz-out/$$n tests/fuzz/corpus/$${n#fuzz_}; done

.PHONY: test-build
