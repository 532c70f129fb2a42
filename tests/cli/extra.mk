# tests/cli/extra.mk - helpers of the CLI tests (tests/bats/cli*.bats).
#   mkfixture      writes deterministic checkpoint files (and corrupt variants)
#   libdummy.so    an empty library `ckpt run` can preload in tests (CKPT_LIB)

$(O)/tests/cli/mkfixture: tests/cli/mkfixture.c $(FORMATA) format/ckc.h format/ckf.h tools/tool.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $< $(FORMATA) $(LIBS_FORMAT)

$(O)/tests/cli/libdummy.so: tests/cli/dummy.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -shared -fPIC -O2 -o $@ $<

TEST_EXTRA += $(O)/tests/cli/mkfixture $(O)/tests/cli/libdummy.so
