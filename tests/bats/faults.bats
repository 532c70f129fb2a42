#!/usr/bin/env bats
# faults.bats - checkpoints never block, kill or lose: trigger storms, kill -9
# of the program or of the writer in the middle of checkpoints, a full disk.
# CKPT_TEST_FULL=1 runs the full-size versions (100 kills).

load ../lib/ckpt.bash

CHURN=$CKPT_BUILD/tests/faults/churn
CKTOOL=$CKPT_BUILD/bin/ckpt

setup_file() { ck_probe; }

setup() {
    ck_work faults
    ck_seed
}

teardown() {
    pkill -9 -f "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
}

@test "1000 SIGUSR1 in one second: the program neither blocks nor dies, result unchanged" {
    ck_need_checkpoint
    cp "$CHURN" "$WORK/churn"
    ref=$("$WORK/churn" 150 16)
    mkdir -p "$WORK/wd"
    CK_ENV="CKPT_LOG=info" ck_spawn "$WORK/wd" "$WORK/run" "$WORK/ck" "$WORK/churn" 150 16
    sleep 0.2
    t0=$(ck_now_ms)
    for i in $(seq 1000); do kill -USR1 "$CK_PID" 2>/dev/null || break; done
    t1=$(ck_now_ms)
    echo "# 1000 signals sent in $((t1 - t0)) ms"
    ck_wait_pid "$CK_PID" 60 || ck_fail "program did not finish (blocked?)"
    [ "$CK_RC" = 0 ] || { ck_show "$WORK/run.err"; ck_fail "program exit status $CK_RC"; }
    [ "$(cat "$WORK/run.out")" = "$ref" ] || ck_fail "result differs: $(cat "$WORK/run.out") vs $ref"
    n=$(ls "$WORK/ck"/ckpt-*.ckpt | wc -l)
    echo "# $n checkpoints written"
    [ "$n" -ge 1 ] && [ "$n" -lt 1000 ]
    grep -qE 'coalesced|served by it' "$WORK/run.err" || { ck_show "$WORK/run.err"; ck_fail "no coalescing logged"; }
    "$CKTOOL" verify "$(ck_latest "$WORK/ck")"
}

@test "kill -9 of the program or the writer during checkpoints: latest always restores" {
    ck_need_restore
    cp "$CHURN" "$WORK/churn"
    ref=$("$WORK/churn" 120 32)
    n=${CKPT_FAULT_KILLS:-12}
    [ "${CKPT_TEST_FULL:-0}" = 1 ] && n=${CKPT_FAULT_KILLS:-100}
    mkdir -p "$WORK/wd"
    killed_writer=0; killed_prog=0
    for i in $(seq "$n"); do
        CK_ENV="CKPT_INTERVAL=0.1" ck_spawn "$WORK/wd" "$WORK/r$i" "$WORK/ck" "$WORK/churn" 120 32
        ck_sleep_ms $((150 + RANDOM % 700))
        if [ $((RANDOM % 2)) = 0 ] && w=$(pgrep -P "$CK_PID" -x ckpt-writer) && [ -n "$w" ]; then
            kill -9 "$w" 2>/dev/null && killed_writer=$((killed_writer + 1))
            sleep 0.05
        fi
        kill -9 "$CK_PID" 2>/dev/null && killed_prog=$((killed_prog + 1))
        wait "$CK_PID" 2>/dev/null || true
        # Whatever we hit, latest names a complete, valid checkpoint.
        l=$(ck_latest "$WORK/ck")
        if [ -n "$l" ]; then
            "$CKTOOL" verify "$l" >/dev/null || ck_fail "iteration $i: latest ($l) does not verify"
        fi
    done
    echo "# $n runs: killed the writer $killed_writer times, the program $killed_prog times"
    # writers of killed programs run on as orphans: stop them (their temporaries
    # are what the next checkpoint must clean up)
    pkill -9 -f "$WORK/churn" 2>/dev/null || true
    for _ in $(seq 100); do pgrep -f "$WORK/churn" >/dev/null || break; sleep 0.05; done
    l=$(ck_latest "$WORK/ck")
    [ -n "$l" ] || ck_fail "no checkpoint survived $n runs"
    ck_restore "$WORK/final" "$l" 60
    [ "$CK_RC" = 0 ] || { ck_show "$WORK/final.rerr"; ck_fail "restore of $l exited $CK_RC"; }
    [ "$(cat "$WORK/final.rout")" = "$ref" ] || ck_fail "restored result differs"
    # The next checkpoint cleans up the temporaries the killed writers left.
    CK_ENV="CKPT_INTERVAL=0.1" ck_spawn "$WORK/wd" "$WORK/clean" "$WORK/ck" "$WORK/churn" 40 4
    ck_wait_pid "$CK_PID" 60
    # a checkpoint still being written when the program ended finishes on its own
    for _ in $(seq 200); do pgrep -f "$WORK/churn" >/dev/null || break; sleep 0.05; done
    left=$(ls -A "$WORK/ck" | grep -c '\.tmp$' || true)
    echo "# temporaries left after a clean run: $left"; ls -A "$WORK/ck" | sed "s/^/#   /"; cat "$WORK"/clean.err | sed "s/^/#   err: /"
    [ "$left" = 0 ]
}

@test "full disk: the checkpoint fails once in the log, the program goes on, latest stays" {
    ck_need_checkpoint
    command -v unshare >/dev/null || skip "unshare missing"
    unshare -Urm true 2>/dev/null || skip "no user+mount namespaces here"
    cp "$CHURN" "$WORK/churn"
    ref=$("$WORK/churn" 150 4 60 24)
    mkdir -p "$WORK/wd" "$WORK/small"
    # An 8 MiB tmpfs: the first checkpoint (4 MiB of random data) fits,
    # the second (24 MiB more of random data) does not.
    cat > "$WORK/inner.sh" <<INNER
mount -t tmpfs -o size=8m none "$WORK/small" || exit 99
cd "$WORK/wd"
CKPT_DIR="$WORK/small/ck" CKPT_LOG=info LD_PRELOAD="$LIBCKPT" "$WORK/churn" 150 4 60 24 > "$WORK/run.out" 2> "$WORK/run.err" &
p=\$!
sleep 0.3; kill -USR1 \$p
sleep 0.5; readlink "$WORK/small/ck/latest" > "$WORK/first"
sleep 0.7; kill -USR1 \$p
wait \$p; echo \$? > "$WORK/rc"
readlink "$WORK/small/ck/latest" > "$WORK/after"
ls -A "$WORK/small/ck" > "$WORK/listing"
INNER
    run unshare -Urm bash "$WORK/inner.sh"
    [ "$status" != 99 ] || skip "cannot mount tmpfs in a user namespace"
    cat "$WORK/run.err"
    [ "$(cat "$WORK/rc")" = 0 ] || ck_fail "program exit status $(cat "$WORK/rc")"
    [ "$(cat "$WORK/run.out")" = "$ref" ] || ck_fail "result differs"
    [ -s "$WORK/first" ] || ck_fail "first checkpoint not written"
    [ "$(cat "$WORK/after")" = "$(cat "$WORK/first")" ] || ck_fail "latest moved to $(cat "$WORK/after")"
    [ "$(grep -c 'failed' "$WORK/run.err")" = 1 ] || ck_fail "expected exactly one failure line"
    grep -q 'No space left' "$WORK/run.err"
    ! grep -q '\.tmp$' "$WORK/listing" || ck_fail "temporary left behind: $(cat "$WORK/listing")"
}
