# tests/kinds: programs holding descriptor kinds beyond regular files
KINDS_BINS := $(O)/tests/kinds/evloop $(O)/tests/kinds/sleepy $(O)/tests/kinds/listener
TEST_EXTRA += $(KINDS_BINS)
$(O)/tests/kinds/%: tests/kinds/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -pthread -o $@ $<
