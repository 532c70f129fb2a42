# tests/cli/extra.mk - helpers of the CLI tests (tests/bats/cli*.bats).
#   mkfixture           writes deterministic checkpoint files (and corrupt variants)
#   fake/libckpt.so     an empty library that `ckpt run` can preload (CKPT_LIB) and
#                       that `ckpt signal` recognises by name, so run/signal can be
#                       tested without the real libckpt
#   regionprog          registers a named region (real-checkpoint extract test)

$(O)/tests/cli/mkfixture: tests/cli/mkfixture.c $(FORMATA) format/ckc.h format/ckf.h tools/tool.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $< $(FORMATA) $(LIBS_FORMAT)

$(O)/tests/cli/fake/libckpt.so: tests/cli/dummy.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -shared -fPIC -O2 -o $@ $<

$(O)/tests/cli/regionprog: tests/cli/regionprog.c include/ckpt.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Iinclude -o $@ $<

TEST_EXTRA += $(O)/tests/cli/mkfixture $(O)/tests/cli/fake/libckpt.so $(O)/tests/cli/regionprog
