# tests/progs/extra.mk - test artefacts that are not one-program-per-source.
#
#  probe_alt             probe.c built with -DPROBE_ALT: a different executable with the
#                        same interface, used to replace a binary under a checkpoint
#  libdlmmap_plugin.so   the shared library dlmmap dlopen()s (dlmmap.c with -DCKPT_PLUGIN)

$(O)/tests/progs/probe_alt: tests/progs/probe.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -DPROBE_ALT -o $@ $< -pthread -ldl -lm

$(O)/tests/progs/libdlmmap_plugin.so: tests/progs/dlmmap.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -fPIC -shared -DCKPT_PLUGIN -o $@ $<

TEST_EXTRA += $(O)/tests/progs/probe_alt $(O)/tests/progs/libdlmmap_plugin.so
