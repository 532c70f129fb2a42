# bench/module.mk - benchmarks.
#
#  bench/bench_*.c    benchmark programs, linked with libckf.a, built into $(O)/bench/
#  bench/bench_*.sh   benchmark scripts; each prints one markdown section that starts
#                     with "## <title>" on stdout
# `make bench` builds everything and runs bench/run.sh, which runs every script and
# replaces that script's section of BENCHMARKS.md (other sections are kept).
# BENCH_SIZE_MB shrinks the data sets (default 1024); BENCH_ONLY=format runs only
# bench/bench_format.sh.

BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(O)/bench/%)

$(O)/bench/bench_%: bench/bench_%.c $(FORMATA)
	@mkdir -p $(dir $@)
	@[ -n "$(Q)" ] && echo "  LD      $@" || true
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $< $(FORMATA) $(LIBS_FORMAT) -lpthread -lm

bench: all $(BENCH_BINS)
	$(Q)O=$(O) bench/run.sh
