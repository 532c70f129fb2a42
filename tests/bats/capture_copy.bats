#!/usr/bin/env bats
# capture_copy.bats - CKPT_CAPTURE=copy: large anonymous memory is copied into
# the staging area while the threads are parked (no copy-on-write with the
# writer).  Same pattern as e2e_progs.bats: the restored run must print exactly
# what the uninterrupted run printed.

load ../lib/ckpt

setup_file() {
    load ../lib/ckpt
    ck_probe
}

setup() {
    ck_work copy
    export CK_ENV="CKPT_CAPTURE=copy CKPT_LOG=debug"
}

teardown() { ck_cleanup; }

staged_mib() { cat "$WORK"/r*.err 2>/dev/null | sed -n 's/.* \([0-9][0-9]*\) MiB staged.*/\1/p' | sort -n | tail -1; }

@test "copy capture: bigmem (seeded memory, large heap)" {
    ck_roundtrip "$WORK" bigmem "$PROGS/bigmem" "$(ck_pick 256 1024)" "$(ck_pick 2 1)"
    s=$(staged_mib bigmem)
    echo "# staged: ${s:-?} MiB"
    [ -n "$s" ] && [ "$s" -ge 8 ]
}

@test "copy capture: 4 pthreads (thread stacks stay copy-on-write)" {
    ck_roundtrip "$WORK" threads_mt "$PROGS/threads_mt" "$(ck_pick 70 200)"
}

@test "copy capture: OpenMP" {
    ck_roundtrip "$WORK" loop_omp "$PROGS/loop_omp" "$(ck_pick 60 150)"
}

@test "copy capture: single-threaded heap, stack, static and FP state" {
    ck_roundtrip "$WORK" single "$PROGS/single" "$(ck_pick 60 150)"
}
