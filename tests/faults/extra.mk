# tests/faults: programs for the fault-injection tests (tests/bats/faults.bats)
FAULT_BINS := $(O)/tests/faults/churn
TEST_EXTRA += $(FAULT_BINS)
$(O)/tests/faults/%: tests/faults/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -o $@ $<
