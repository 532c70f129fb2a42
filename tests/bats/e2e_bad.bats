#!/usr/bin/env bats
# e2e_bad.bats - checkpoints that must not be restored (truncated, corrupted,
# executable rebuilt since, missing) are refused before the program runs, with
# a one-line message and a non-zero exit; checkpoint files are private (0600
# in a 0700 directory); checkpoint and restore work for an unprivileged user.

load ../lib/ckpt

setup_file() {
    load ../lib/ckpt
    ck_probe
}

setup() {
    ck_work e2e
}

teardown() { ck_cleanup; }

# one_checkpoint - a checkpoint of the probe, copied to $WORK/good.ckpt
one_checkpoint() {
    ck_need_restore
    ck_checkpoint_run "$WORK" run 300 "$PROGS/probe" 100
    cp "$CK_CKPT" "$WORK/good.ckpt"
    SIZE=$(stat -c %s "$WORK/good.ckpt")
    echo "# checkpoint of $SIZE bytes"
}

@test "missing checkpoint: one-line error, non-zero exit" {
    [ -x "$RESTORER" ] || skip "$RESTORER not built"
    ck_restore "$WORK/missing" "$WORK/no-such-dir/latest"
    ck_one_line_error "$WORK/missing"
    mkdir "$WORK/empty"
    ck_restore "$WORK/empty" "$WORK/empty"
    ck_one_line_error "$WORK/empty"
    echo "not a checkpoint" >"$WORK/junk.ckpt"
    ck_restore "$WORK/junk" "$WORK/junk.ckpt"
    ck_one_line_error "$WORK/junk"
}

@test "truncated checkpoint is refused before the program runs" {
    one_checkpoint
    local len
    for len in 0 63 100 $((SIZE / 2)) $((SIZE - 64)) $((SIZE - 1)); do
        cp "$WORK/good.ckpt" "$WORK/t.ckpt"
        truncate -s "$len" "$WORK/t.ckpt"
        echo "# truncated to $len bytes"
        ck_restore "$WORK/t$len" "$WORK/t.ckpt" 20
        ck_one_line_error "$WORK/t$len" || ck_fail "checkpoint truncated to $len of $SIZE bytes"
    done
}

@test "bit-flipped checkpoint is refused before the program runs" {
    one_checkpoint
    local off
    # file header, first chunk header, the middle (memory blocks), the index, the footer
    for off in 12 70 $((SIZE / 3)) $((SIZE / 2)) $((SIZE * 9 / 10)) $((SIZE - 100)) $((SIZE - 20)); do
        cp "$WORK/good.ckpt" "$WORK/f.ckpt"
        ck_flip_bit "$WORK/f.ckpt" "$off"
        cmp -s "$WORK/good.ckpt" "$WORK/f.ckpt" && ck_fail "bit flip at $off did nothing"
        echo "# bit flipped at offset $off"
        ck_restore "$WORK/f$off" "$WORK/f.ckpt" 20
        ck_one_line_error "$WORK/f$off" || ck_fail "checkpoint with a bit flipped at offset $off of $SIZE"
    done
    # the untouched copy still restores (so the refusals above were about the flips)
    ck_restore "$WORK/good" "$WORK/good.ckpt"
    [ "$CK_RC" = 0 ] && [ -s "$WORK/good.rout" ] || ck_fail "the intact copy did not restore (exit $CK_RC)"
}

@test "checkpoint of an executable rebuilt since is refused" {
    ck_need_restore
    mkdir -p "$WORK/bin"
    cp "$PROGS/probe" "$WORK/bin/probe"
    ck_checkpoint_run "$WORK" run 300 "$WORK/bin/probe" 100
    # a different build at the same path, same size or not (cp keeps the inode)
    cp "$PROGS/probe_alt" "$WORK/bin/probe"
    ck_restore "$WORK/rebuilt" "$WORK/run.ck/latest" 20
    ck_one_line_error "$WORK/rebuilt"
    # replaced by a new file (new inode), as `make` or an install does
    rm "$WORK/bin/probe"; cp "$PROGS/probe_alt" "$WORK/bin/probe"
    ck_restore "$WORK/replaced" "$WORK/run.ck/latest" 20
    ck_one_line_error "$WORK/replaced"
}

@test "checkpoint files are 0600 in a 0700 directory (whatever the umask)" {
    ck_need_checkpoint
    mkdir -p "$WORK/run.wd"
    (umask 000; ck_spawn "$WORK/run.wd" "$WORK/run" "$WORK/new/ck" "$PROGS/probe" 100; echo "$CK_PID" >"$WORK/pid")
    CK_PID=$(cat "$WORK/pid")
    sleep 0.3
    kill -USR1 "$CK_PID"
    local t
    t=$(ck_wait_latest "$WORK/new/ck" "") || ck_fail "no checkpoint"
    kill -9 "$CK_PID" 2>/dev/null || true
    ls -la "$WORK/new/ck"
    [ "$(stat -c %a "$WORK/new/ck")" = 700 ] || ck_fail "directory mode $(stat -c %a "$WORK/new/ck")"
    [ "$(stat -c %a "$t")" = 600 ] || ck_fail "checkpoint mode $(stat -c %a "$t")"
    [ "$(stat -c %u "$t")" = "$(id -u)" ] || ck_fail "checkpoint owned by uid $(stat -c %u "$t")"
}

@test "unprivileged user (nobody): checkpoint and restore" {
    command -v setpriv >/dev/null || skip "setpriv not installed"
    [ "$(id -u)" = 0 ] || skip "already unprivileged: the whole suite runs as $(id -un)"
    ck_need_restore
    local as_nobody="setpriv --reuid=nobody --regid=nogroup --clear-groups"
    $as_nobody test -x "$PROGS/probe" -a -r "$LIBCKPT" -a -x "$RESTORER" -a -r "$CKPT_ROOT/tests/lib/ckpt.bash" \
        || skip "the build directory is not readable by nobody"
    chmod 0755 "$WORK"
    mkdir "$WORK/nobody"
    chown nobody:nogroup "$WORK/nobody"
    chmod 0700 "$WORK/nobody"
    # the whole pattern, run as nobody in a directory only nobody can write
    run $as_nobody env -i PATH="$PATH" HOME="$WORK/nobody" CKPT_ROOT="$CKPT_ROOT" CKPT_BUILD="$CKPT_BUILD" \
        CKPT_TEST_SEED="${CKPT_TEST_SEED:-}" TMPDIR="$WORK/nobody" bash -c '
        set -e
        source "$CKPT_ROOT/tests/lib/ckpt.bash"
        [ -n "$CKPT_TEST_SEED" ] || unset CKPT_TEST_SEED
        w=$HOME; id
        ck_seed
        ck_reference "$w" "$PROGS/probe" 100
        ck_checkpoint_run "$w" run "$(ck_random_moment "$(cat "$w/ref.ms")")" "$PROGS/probe" 100
        stat -c "%U %a %n" "$w/run.ck" "$CK_CKPT"
        ck_restore "$w/run" "$CK_CKPT"
        ck_compare "$w" run
        echo restored-as-nobody-ok'
    [ "$status" = 0 ] || { echo "$output"; false; }
    [[ "$output" == *restored-as-nobody-ok* ]]
}

@test "a thread that blocks the stop signal (glibc's AIO helper): the checkpoint is given up at once, the program runs on" {
    [ -f "$LIBCKPT" ] || skip "$LIBCKPT not built"
    cd "$WORK"
    "$PROGS/aioloop" ref.dat >ref.out
    local t0 t1
    t0=$(ck_now_ms)
    CKPT_DIR="$WORK/ck" CKPT_PARK_TIMEOUT_MS=60000 LD_PRELOAD="$LIBCKPT" "$PROGS/aioloop" run.dat >run.out 2>run.err &
    local pid=$!
    sleep 0.4
    kill -USR1 "$pid"
    wait "$pid"
    t1=$(ck_now_ms)
    cat run.err
    cmp ref.out run.out
    grep -q 'checkpoint abandoned: thread [0-9]* (aioloop) blocks signal' run.err
    [ ! -e "$WORK/ck/latest" ]
    # not held for the 60 s park timeout: the whole run took seconds
    echo "# run with the refused checkpoint: $((t1 - t0)) ms"
    [ $((t1 - t0)) -lt 30000 ]
}
