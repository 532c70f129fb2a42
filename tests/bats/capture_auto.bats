#!/usr/bin/env bats
# capture_auto.bats - CKPT_CAPTURE=auto (the default): checkpoints start
# copy-on-write (fork); when a checkpoint's writer finds that the program
# rewrote much of its memory under the snapshot, later checkpoints copy it as
# the program writes to it (write-protect capture) where userfaultfd allows
# that, else in the pause (copy capture).  A numpy grid program, checkpointed
# every 0.4 s: rewritten every step it must go over to one of these; touched in
# a few places it must stay copy-on-write.  Either way the newest checkpoint,
# taken after the choice, restores to the uninterrupted run's exact output.

load ../lib/ckpt

setup_file() {
    load ../lib/ckpt
    ck_probe
}

setup() {
    ck_work auto
    PY=""
    for p in /usr/bin/python3 python3; do
        if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then PY=$p; break; fi
    done
    [ -n "$PY" ] || skip "numpy not installed (Debian: python3-numpy)"
    GRID=$CKPT_ROOT/tests/progs/grid.py
}

teardown() { ck_cleanup; }

# run_until WANT_REGEX MIN_AFTER - runs the grid program under periodic
# checkpoints until its log has a line matching WANT_REGEX and then
# MIN_AFTER more durable checkpoints; kill -9; restores the newest.
run_until() {
    local want=$1 after=$2; shift 2
    ck_reference "$WORK" "$PY" "$GRID" "$@"
    ck_need_restore
    mkdir -p "$WORK/run.wd"
    CK_ENV="CKPT_INTERVAL=0.4 CKPT_LOG=debug" ck_spawn "$WORK/run.wd" "$WORK/run" "$WORK/run.ck" "$PY" "$GRID" "$@"
    local t0 seen="" n=0
    t0=$(ck_now_ms)
    while ck_alive "$CK_PID" && [ $(( $(ck_now_ms) - t0 )) -lt $((CK_TIMEOUT * 1000)) ]; do
        if [ -z "$seen" ]; then
            seen=$(grep -n -E "$want" "$WORK/run.err" | head -1 | cut -d: -f1)
        else
            n=$(tail -n +"$seen" "$WORK/run.err" | grep -c "checkpoint [0-9]* written" || true)
            [ "$n" -ge "$after" ] && break
        fi
        sleep 0.05
    done
    kill -9 "$CK_PID" 2>/dev/null || true; { wait "$CK_PID"; } 2>/dev/null || true
    grep -E "paused|rewrote|copy it|written" "$WORK/run.err" | sed 's/^/# /' | tail -12
    [ -n "$seen" ] && [ "$n" -ge "$after" ] ||
        ck_fail "the program ended (or ${CK_TIMEOUT}s passed) before /$want/ and $after checkpoints after it" || return 1
    ck_restore "$WORK/run" "$WORK/run.ck/latest"
    ck_compare "$WORK" run
}

# wp_allowed - userfaultfd write-protection is open to this user here
wp_allowed() {
    [ "$(id -u)" = 0 ] || [ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" = 1 ]
}

@test "auto: a numpy grid rewritten every step goes over to write-protect (or copy) capture; the newest restores exactly" {
    run_until "later checkpoints copy it" 2 "$(ck_pick 192 512)" 400 all
    if wp_allowed; then
        grep -q "later checkpoints copy it as the program writes to it (write-protect capture)" "$WORK/run.err"
        grep -q "write-protect capture: .* complete" "$WORK/run.err"
    else
        grep -q "later checkpoints copy it in the pause (copy capture)" "$WORK/run.err"
    fi
    # the checkpoints after the choice staged the grid
    local staged
    staged=$(sed -n 's/.*checkpoint [0-9]*: program paused .* \([0-9][0-9]*\) MiB staged.*/\1/p' "$WORK/run.err" | sort -n | tail -1)
    echo "# largest staged: ${staged:-0} MiB"
    [ "${staged:-0}" -ge 128 ]
    # and the first checkpoint was copy-on-write
    sed -n 's/.*checkpoint 1: program paused .* \([0-9][0-9]*\) MiB staged.*/\1/p' "$WORK/run.err" | grep -qx 0
}

@test "auto: the same grid touched in a few places stays copy-on-write; the newest restores exactly" {
    run_until "checkpoint 3 written" 0 "$(ck_pick 192 512)" 300 few
    if grep -q "copy it\|copy capture from now on" "$WORK/run.err"; then ck_fail "went over to copy capture"; fi
    if sed -n 's/.*program paused .* \([0-9][0-9]*\) MiB staged.*/\1/p' "$WORK/run.err" | grep -qvx 0; then
        ck_fail "a checkpoint staged memory"
    fi
    # the writer did measure: the grid was there, and hardly rewritten
    local most
    most=$(sed -n 's/.*rewrote [0-9]* of \([0-9]*\) MiB.*/\1/p' "$WORK/run.err" | sort -n | tail -1)
    echo "# largest private memory measured: ${most:-0} MiB"
    [ "${most:-0}" -ge 128 ]
}

@test "auto as an unprivileged user (no userfaultfd): the rewritten grid goes over to copy capture" {
    ck_need_nobody_without_uffd "$LIBCKPT" "$GRID"
    ck_reference "$WORK" "$PY" "$GRID" 192 400 all
    chmod 0777 "$WORK"
    $AS_NOBODY env CKPT_INTERVAL=0.4 CKPT_LOG=info CKPT_DIR="$WORK/ck" LD_PRELOAD="$LIBCKPT" \
        "$PY" "$GRID" 192 400 all > "$WORK/out" 2> "$WORK/err" || { cat "$WORK/err"; false; }
    # the program never noticed
    cmp "$WORK/out" "$WORK/ref.out"
    grep -E "later checkpoints|paused" "$WORK/err" | sed 's/^/# /' | head -6
    grep -q "later checkpoints copy it in the pause (copy capture)" "$WORK/err"
    run grep "write-protect capture unavailable" "$WORK/err"
    [ "$status" -ne 0 ]
    local staged
    staged=$(sed -n 's/.*checkpoint [0-9]*: program paused .* \([0-9][0-9]*\) MiB staged.*/\1/p' "$WORK/err" | sort -n | tail -1)
    [ "${staged:-0}" -ge 128 ]
}

@test "auto: memory unmapped under a write-protect copy loses that checkpoint; it is taken again with copy capture" {
    wp_allowed || skip "userfaultfd write-protection not allowed for this user"
    ck_need_restore
    local ref
    ref=$("$PROGS/mapchurn" 15)
    CKPT_LOG=debug CKPT_DIR="$WORK/ck" LD_PRELOAD="$LIBCKPT" "$PROGS/mapchurn" 15 > "$WORK/out" 2> "$WORK/err" &
    CK_PID=$!
    sleep 0.3
    for _ in $(seq 30); do kill -USR1 "$CK_PID" 2>/dev/null || break; sleep 0.05; done
    wait "$CK_PID"
    CK_PID=
    grep -E "later checkpoints|lost|written" "$WORK/err" | sed 's/^/# /' | head -8
    # the program never notices
    [ "$(cat "$WORK/out")" = "$ref" ]
    run grep -E "killed by signal|checkpoint [0-9]+ failed" "$WORK/err"
    [ "$status" -ne 0 ]
    # rewriting its buffers, it went over to write-protect capture; unmapping
    # them during a copy lost one (every run here did), which was taken again
    # by copy capture under the same number
    grep -q "later checkpoints copy it as the program writes to it (write-protect capture)" "$WORK/err"
    local n
    n=$(sed -n 's/.*checkpoint \([0-9]*\) lost under write-protect capture (the program unmapped or discarded memory before it was copied); taken again now, and later checkpoints copy it in the pause (copy capture)$/\1/p' "$WORK/err" | head -1)
    if [ -n "$n" ]; then
        grep -q "checkpoint $n written" "$WORK/err"
    else
        echo "# no write-protect copy was lost in this run (the copier was ahead of every unmap)"
        grep -q "write-protect capture: .* complete" "$WORK/err"
    fi
    # and latest finishes the run identically
    "$RESTORER" "$WORK/ck/latest" > "$WORK/rout" 2> "$WORK/rerr" || { cat "$WORK/rerr"; false; }
    [ "$(cat "$WORK/rout")" = "$ref" ]
}
