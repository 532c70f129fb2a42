#!/usr/bin/env bats
# e2e_progs.bats - every test program checkpointed at random moments, killed
# and restored; the restored run must match an uninterrupted one byte for byte.
# See tests/lib/ckpt.bash for the pattern and the knobs (CKPT_TEST_FULL,
# CKPT_TEST_REPEAT, CKPT_TEST_SEED).

load ../lib/ckpt

setup_file() {
    load ../lib/ckpt
    ck_probe
}

setup() {
    ck_work e2e
}

teardown() { ck_cleanup; }

@test "probe: checkpoint and restore work at all" {
    ck_roundtrip "$WORK" probe "$PROGS/probe" "$(ck_pick 110 300)"
}

@test "single: heap, stack, static, large malloc, FP/SSE/AVX registers" {
    ck_roundtrip "$WORK" single "$PROGS/single" "$(ck_pick 110 300)"
    grep -q 'stack=ok' "$WORK/ref.out"
}

@test "threads_mt: 4 pthreads, mutex, condvar, barrier, __thread" {
    ck_roundtrip "$WORK" threads_mt "$PROGS/threads_mt" "$(ck_pick 70 200)"
}

@test "loop_omp: OpenMP team of 3 threads" {
    ck_roundtrip "$WORK" loop_omp "$PROGS/loop_omp" "$(ck_pick 900 2400)" 3
}

prep_fileio() { "$PROGS/fileio" gen in.dat 4096; }

@test "fileio: input offset, output truncated back, O_APPEND log" {
    CK_PREPARE=prep_fileio
    ck_roundtrip "$WORK" fileio "$PROGS/fileio" in.dat out.dat log.txt "$(ck_pick 500 1200)"
}

@test "timers: setitimer REAL+PROF handlers still fire, clocks never go back" {
    ck_roundtrip "$WORK" timers "$PROGS/timers" "$(ck_pick 130 350)"
    grep -q 'SIGALRM in tail=yes SIGPROF in tail=yes' "$WORK/ref.out"
}

@test "ptimers: POSIX timers (signal, thread, SIGEV_THREAD, CPU clock, none) keep ids, values and targets" {
    ck_roundtrip "$WORK" ptimers "$PROGS/ptimers" "$(ck_pick 130 350)"
    grep -q 'in tail A=yes B=yes C=yes D=yes' "$WORK/ref.out"
    grep -q 'wrong expiries=none' "$WORK/ref.out"
}

@test "ptimers, restored without a pid namespace: thread-aimed timers follow their threads' new tids" {
    export CKPT_RESTORE_NO_PIDNS=1
    ck_roundtrip "$WORK" ptimers "$PROGS/ptimers" "$(ck_pick 130 350)"
    grep -q 'wrong expiries=none' "$WORK/ref.out"
}

@test "waiter: poll, epoll_wait, select, ppoll, pause, sem_timedwait neither fail with EINTR nor return early across a restore" {
    ck_roundtrip "$WORK" waiter "$PROGS/waiter" "$(ck_pick 150 400)"
}

@test "waiter: 10 checkpoints while its threads wait; it never sees an EINTR" {
    [ -f "$LIBCKPT" ] || skip "$LIBCKPT not built"
    cd "$WORK"
    "$PROGS/waiter" 150 >ref.out
    CKPT_DIR="$WORK/ck" LD_PRELOAD="$LIBCKPT" "$PROGS/waiter" 150 >run.out 2>run.err &
    local pid=$! i
    sleep 0.1
    for i in $(seq 1 10); do sleep 0.0$((RANDOM % 10)); kill -USR1 "$pid" 2>/dev/null || true; done
    wait "$pid"
    cat run.out
    cmp ref.out run.out
    [ -e "$WORK/ck/latest" ]
}

@test "shmem: shared anonymous, memfd, unlinked POSIX shm and System V memory, rewritten while the writer runs" {
    ck_roundtrip "$WORK" shmem "$PROGS/shmem" "$(ck_pick 1500 4000)"
}

@test "memfdio: memfds as files and as a ring buffer mapped twice, a deleted file written through its mapping" {
    ck_roundtrip "$WORK" memfdio "$PROGS/memfdio" "$(ck_pick 1500 4000)"
}

@test "memfdio: the restored process is checkpointed again, and that checkpoint restores too" {
    ck_seed
    CK_ENV=MEMFDIO_HEARTBEAT=1
    ck_reference "$WORK" "$PROGS/memfdio" 4000 || return 1
    ck_need_restore
    ck_again "$WORK" '^memfdio: round' "$PROGS/memfdio" 4000
}

@test "dontfork: MADV_DONTFORK and MADV_WIPEONFORK memory is saved, and kept from children again after restore" {
    ck_roundtrip "$WORK" dontfork "$PROGS/dontfork" "$(ck_pick 400 1200)"
    grep -q 'child has the DONTFORK mapping: no; sees the WIPEONFORK one zeroed: yes' "$WORK/ref.out"
}

@test "mmapout: a file written through a shared mapping restarts from its checkpoint-time contents" {
    ck_roundtrip "$WORK" mmapout "$PROGS/mmapout" out.bin "$(ck_pick 600 1500)"
}

@test "mmapout: that file deleted before the restore is re-created from the checkpoint" {
    ck_seed
    ck_reference "$WORK" "$PROGS/mmapout" out.bin 600 || return 1
    ck_need_restore
    ck_checkpoint_run "$WORK" r1 "$(ck_random_moment "$(cat "$WORK/ref.ms")")" "$PROGS/mmapout" out.bin 600
    rm "$WORK/r1.wd/out.bin"
    ck_restore "$WORK/r1" "$CK_CKPT"
    ck_compare "$WORK" r1
    grep -q 'out.bin was gone: re-created' "$WORK/r1.rerr"
}

prep_dlmmap() { "$PROGS/dlmmap" gen data.bin 4096; }

@test "dlmmap: dlopen()ed library, MAP_PRIVATE written + MAP_SHARED read" {
    CK_PREPARE=prep_dlmmap
    ck_roundtrip "$WORK" dlmmap "$PROGS/dlmmap" "$PROGS/libdlmmap_plugin.so" data.bin "$(ck_pick 120 300)"
    grep -q 'data file unchanged' "$WORK/ref.out"
}

@test "sim.py: pure Python 3 simulation" {
    [ -x "$PY" ] || skip "$PY not installed"
    ck_roundtrip "$WORK" sim.py "$PY" "$CKPT_ROOT/tests/progs/sim.py" "$(ck_pick 420 1200)"
}

@test "bigmem: $(ck_pick 256 1024) MiB of seeded memory" {
    ck_roundtrip "$WORK" bigmem "$PROGS/bigmem" "$(ck_pick 256 1024)" "$(ck_pick 2 1)"
}

@test "ownusr1: program's own SIGUSR1 handler, self-raised + external triggers" {
    ck_roundtrip "$WORK" ownusr1 "$PROGS/ownusr1" "$(ck_pick 130 350)" 20
    grep -q 'raised=20 handled=20 foreign=0' "$WORK/ref.out"
}

@test "ownusr1: external SIGUSR1s are checkpoints, not the program's signals" {
    ck_seed
    ck_reference "$WORK" "$PROGS/ownusr1" 200 20
    ck_need_checkpoint
    local ms last="" i t
    ms=$(cat "$WORK/ref.ms")
    mkdir -p "$WORK/run.wd"
    ck_spawn "$WORK/run.wd" "$WORK/run" "$WORK/run.ck" "$PROGS/ownusr1" 200 20
    for i in 1 2 3; do
        ck_sleep_ms $(( ms / 8 + RANDOM % (ms / 8) ))
        kill -USR1 "$CK_PID"
        t=$(ck_wait_latest "$WORK/run.ck" "$last") || { kill -9 "$CK_PID" || true; ck_fail "trigger $i: no new checkpoint"; }
        echo "# trigger $i -> ${t##*/}"
        last=$t
    done
    ck_wait_pid "$CK_PID" 60
    ck_show "$WORK/run.err"
    [ "$CK_RC" = 0 ] || ck_fail "ownusr1 under libckpt exited $CK_RC"
    diff "$WORK/ref.out" "$WORK/run.out"
}

@test "sigign: SIGHUP inherited as ignored stays ignored after restore" {
    CK_SIGIGN=HUP
    ck_roundtrip "$WORK" sigign "$PROGS/sigign" "$(ck_pick 130 350)"
    grep -q 'ignored at start=yes at end=yes' "$WORK/ref.out"
}

@test "sleeper: checkpoint while blocked in nanosleep/read; pipe between threads" {
    ck_roundtrip "$WORK" sleeper "$PROGS/sleeper" "$(ck_pick 50 120)"
}

@test "sparse: large mappings only partly populated at the checkpoint" {
    ck_roundtrip "$WORK" sparse "$PROGS/sparse" "$(ck_pick 128 512)" "$(ck_pick 40 100)"
}

@test "neighbour: memory the kernel merged with the writer's stack mapping is kept" {
    ck_roundtrip "$WORK" neighbour "$PROGS/neighbour" "$(ck_pick 60 150)"
}

@test "stackgrow: the main stack grows deeper after restore" {
    ck_roundtrip "$WORK" stackgrow "$PROGS/stackgrow" "$(ck_pick 40 100)"
    grep -q 'frames=ok' "$WORK/ref.out"
}
