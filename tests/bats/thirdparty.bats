#!/usr/bin/env bats
# thirdparty.bats - unmodified programs from Debian packages, checkpointed at a
# random moment, killed, restored: their output must be the uninterrupted one.
# Output goes to a regular file that ckpt-restore --stdio=file reopens at the
# saved offset (so the restored run continues the same file).
# CKPT_TEST_REPEAT moments per program (default 1; CKPT_TEST_FULL=1: 5).

load ../lib/ckpt.bash

TP=$CKPT_ROOT/tests/thirdparty

setup_file() { ck_probe; }

setup() {
    ck_work 3p
    ck_seed
}

teardown() { rm -rf "$WORK"; }

# tp NAME CMD... : reference run, then REPEAT x (run, SIGUSR1 at a random
# moment, wait for latest, kill -9, restore), comparing stdout file and status.
tp() {
    local name=$1; shift
    command -v "$1" >/dev/null || skip "$1 not installed"
    ck_need_restore
    local t0 t1 ms rc
    t0=$(ck_now_ms); "$@" > "$WORK/ref.out" 2>/dev/null; rc=$?; t1=$(ck_now_ms)
    ms=$((t1 - t0))
    echo "# $name reference: exit $rc in $ms ms"
    local reps=${CKPT_TEST_REPEAT:-1}
    [ "${CKPT_TEST_FULL:-0}" = 1 ] && reps=${CKPT_TEST_REPEAT:-5}
    for i in $(seq "$reps"); do
        local d=$(ck_random_moment "$ms") dir=$WORK/ck$i out=$WORK/run$i.out
        local try pid t0 end ck st
        # The reference can run slower than the preloaded run (cold caches, a
        # loaded CI machine): a program that ends before its trigger, or right
        # after it with no checkpoint begun, must still have printed the
        # reference's output; then it is run again with an earlier trigger.
        for try in 1 2 3 4; do
            rm -rf "$dir"
            t0=$(ck_now_ms)
            ( ck_close_fds; cd "$WORK" && CKPT_DIR=$dir LD_PRELOAD=$LIBCKPT exec "$@" ) \
                </dev/null >"$out" 2>"$WORK/run$i.err" 3>&- &
            pid=$!
            end=""
            while [ $(( $(ck_now_ms) - t0 )) -lt "$d" ]; do
                ck_alive "$pid" || { end=$(( $(ck_now_ms) - t0 )); break; }
                sleep 0.01
            done
            ck=""
            if [ -z "$end" ] && kill -USR1 "$pid" 2>/dev/null; then
                ck=$(ck_wait_ckpt "$dir" "$pid") && break
                [ $? = 1 ] && { ck_show "$WORK/run$i.err"; ck_fail "$name: no checkpoint ${CK_TIMEOUT}s after SIGUSR1 at $d ms"; }
                end=$d
            fi
            st=0; wait "$pid" 2>/dev/null || st=$?
            [ "$st" = "$rc" ] && cmp -s "$WORK/ref.out" "$out" || {
                ck_show "$WORK/run$i.err"
                ck_fail "$name: the run that ended before its checkpoint (trigger at $d ms) exited $st (reference $rc) or printed other output"
            }
            echo "# $name ended after $end ms, before a checkpoint at $d ms could begin; retrying earlier"
            [ "$try" = 4 ] && ck_fail "$name always finished before the trigger"
            d=$(ck_random_moment "$end")
        done
        kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
        "$RESTORER" --stdio=file "$dir/latest" </dev/null >/dev/null 2>"$WORK/rest$i.err" 3>&- &
        ck_wait_pid $! 120 || ck_fail "$name: restore timed out"
        [ "$CK_RC" = "$rc" ] || { ck_show "$WORK/rest$i.err"; ck_fail "$name @ $d ms: restored exit $CK_RC, reference $rc"; }
        cmp -s "$WORK/ref.out" "$out" || { ck_show "$WORK/rest$i.err"; ck_fail "$name @ $d ms: output differs"; }
        echo "# $name, checkpoint at $d ms: identical"
    done
}

@test "python3 (Debian): dict/json/hashlib workload" { tp python3 /usr/bin/python3 "$TP/job.py"; }
@test "sqlite3: in-memory database with temp files (deleted while open)" {
    tp sqlite3 sqlite3 :memory: -init /dev/null -cmd ".read $TP/job.sql" ".quit"
}
@test "xz -T2: two compression threads, output file continued" {
    head -c 30000000 /dev/urandom | base64 > "$WORK/in.txt"
    tp xz xz -T2 -6 -c "$WORK/in.txt"
}
@test "bc -l: 2600 digits of pi" { tp bc bc -l "$TP/pi.bc"; }
@test "perl: hashes and sort" { tp perl perl "$TP/job.pl"; }
@test "python3 asyncio: epoll event loop with its socketpair wake-up" { tp python3 /usr/bin/python3 "$TP/aio.py"; }
@test "node (if installed): V8 heap kept from forks (MADV_DONTFORK), libuv event loop" {
    tp node node "$TP/job.js"
}
@test "java (if installed): the JVM, its threads and its shared hsperfdata file" {
    command -v java >/dev/null || skip "java not installed"
    # single-file source launch compiles in memory first: that is part of the run
    tp java java -Xshare:auto "$TP/Job.java"
}
