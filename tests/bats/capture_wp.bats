#!/usr/bin/env bats
# capture_wp.bats - CKPT_CAPTURE=wp: large anonymous memory is write-protected
# with a userfaultfd while the threads are parked and copied to the staging
# area after they run again (copy-before-write).  The restored run must print
# exactly what the uninterrupted run printed; memory unmapped during the copy
# loses that checkpoint, never the program; without userfaultfd rights it falls
# back to fork.

load ../lib/ckpt

setup_file() {
    load ../lib/ckpt
    ck_probe
}

setup() {
    ck_work wp
    export CK_ENV="CKPT_CAPTURE=wp CKPT_LOG=debug"
}

teardown() { ck_cleanup; }

# skips the test when this kernel or user cannot write-protect with a userfaultfd
wp_usable() {
    local out
    out=$(CKPT_CAPTURE=wp CKPT_LOG=debug CKPT_DIR="$WORK/u" LD_PRELOAD="$LIBCKPT" "$PROGS/probe" 1 2>&1 >/dev/null &
          p=$!; sleep 0.05; kill -USR1 $p 2>/dev/null; wait $p)
    [[ "$out" != *"write-protect capture unavailable"* ]] || skip "userfaultfd write-protect not available here"
}

@test "wp capture: bigmem (every page rewritten during the copy)" {
    wp_usable
    ck_roundtrip "$WORK" bigmem "$PROGS/bigmem" "$(ck_pick 256 1024)" 4
    cat "$WORK"/r*.err | grep -q "write-protect capture: .* complete" || {
        cat "$WORK"/r*.err; echo "no complete write-protect capture logged"; false; }
    # memory of whole present 2 MiB blocks goes into huge pages before the
    # first write-protect checkpoint (where the system has them); the restored
    # runs above show the move changed nothing the program sees
    if grep -q "\[always\]\|\[madvise\]" /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
        grep -h "moved into huge pages" "$WORK"/r*.err | grep -v " 0 MiB" | grep -q . || {
            cat "$WORK"/r*.err; echo "no memory moved into huge pages"; false; }
    fi
    # the staging area is shared memory of libckpt's own: never copied in the
    # pause as if it were the program's (bigmem maps no shared memory)
    if grep -h "shared memory: .* copied in the pause" "$WORK"/r*.err; then
        echo "libckpt's staging area was copied in the pause"; false
    fi
}

@test "wp capture: two threads rewriting all their memory on every CPU (helper copiers)" {
    wp_usable
    ck_roundtrip "$WORK" stencil_mt "$PROGS/stencil_mt" "$(ck_pick 256 1024)" 2 "$(ck_pick 150 250)"
    grep -h "write-protect capture: .* complete" "$WORK"/r*.err || {
        cat "$WORK"/r*.err; echo "no complete write-protect capture logged"; false; }
    # both threads run flat out: helper copiers go onto the CPUs they were seen on
    if [ "$(nproc)" -gt 1 ]; then
        grep -h "write-protect capture: .* by [1-9][0-9]* helper" "$WORK"/r*.err || {
            cat "$WORK"/r*.err; echo "no helper copier started"; false; }
    fi
}

@test "wp capture: 4 pthreads" {
    wp_usable
    ck_roundtrip "$WORK" threads_mt "$PROGS/threads_mt" "$(ck_pick 70 200)"
}

@test "wp capture: OpenMP" {
    wp_usable
    ck_roundtrip "$WORK" loop_omp "$PROGS/loop_omp" "$(ck_pick 60 150)"
}

@test "wp capture: mappings unmapped, moved and discarded during checkpoints" {
    wp_usable
    ck_need_restore
    local ref
    ref=$("$PROGS/mapchurn" 15)
    CKPT_CAPTURE=wp CKPT_LOG=debug CKPT_DIR="$WORK/ck" LD_PRELOAD="$LIBCKPT" \
        "$PROGS/mapchurn" 15 > "$WORK/out" 2> "$WORK/err" &
    CK_PID=$!
    sleep 0.3
    for _ in $(seq 30); do kill -USR1 "$CK_PID" 2>/dev/null || break; sleep 0.05; done
    wait "$CK_PID"
    CK_PID=
    # the program never notices
    [ "$(cat "$WORK/out")" = "$ref" ] || { cat "$WORK/err"; false; }
    echo "# $(grep -c 'capture: .* complete' "$WORK/err") complete, $(grep -c 'capture: .* lost' "$WORK/err") lost"
    ! grep -q "killed by signal" "$WORK/err"
    # latest is a complete checkpoint, and it finishes the run identically
    [ -e "$WORK/ck/latest" ]
    "$RESTORER" "$WORK/ck/latest" > "$WORK/rout" 2> "$WORK/rerr" || { cat "$WORK/rerr"; false; }
    [ "$(cat "$WORK/rout")" = "$ref" ]
}

@test "wp capture: an unprivileged user falls back to fork" {
    ck_need_nobody_without_uffd "$PROGS/probe" "$LIBCKPT"
    chmod 0777 "$WORK"
    run $AS_NOBODY env CKPT_CAPTURE=wp CKPT_LOG=info CKPT_DIR="$WORK/ck" \
        bash -c 'LD_PRELOAD="$1" "$0" 60 > /dev/null & p=$!; sleep 0.2; kill -USR1 $p; wait $p' "$PROGS/probe" "$LIBCKPT"
    echo "$output"
    [ "$status" = 0 ]
    [[ "$output" == *"write-protect capture unavailable"* ]]
    [[ "$output" == *"checkpoint 1 written"* ]]
}
