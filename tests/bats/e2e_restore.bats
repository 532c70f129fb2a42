#!/usr/bin/env bats
# e2e_restore.bats - restore scenarios beyond one checkpoint: periodic
# checkpoints and retention, restored processes checkpointed again (second and
# third generation), one checkpoint restored twice, and signals sent to
# ckpt-restore's pid reaching the restored program.

load ../lib/ckpt

setup_file() {
    load ../lib/ckpt
    ck_probe
}

setup() {
    ck_work e2e
    STEPS=$(ck_pick 110 300)
}

teardown() { ck_cleanup; }

# count_ckpts D - number of complete checkpoint files in D
count_ckpts() {
    find "$1" -maxdepth 1 -name 'ckpt-*.ckpt' -type f | wc -l
}

@test "CKPT_INTERVAL=0.4 takes checkpoints on schedule; the newest restores" {
    ck_seed
    ck_reference "$WORK" "$PROGS/probe" 300
    ck_need_checkpoint
    local n=0 t last="" t0 now times=""
    mkdir -p "$WORK/run.wd"
    t0=$(ck_now_ms)
    CK_ENV="CKPT_INTERVAL=0.4" ck_spawn "$WORK/run.wd" "$WORK/run" "$WORK/run.ck" "$PROGS/probe" 300
    # at a 0.4 s interval, three checkpoints take 1.2 s; allow for a loaded machine
    while [ "$n" -lt 3 ] && [ $(( $(ck_now_ms) - t0 )) -lt 4000 ] && ck_alive "$CK_PID"; do
        t=$(readlink "$WORK/run.ck/latest" 2>/dev/null || true)
        if [ -n "$t" ] && [ "$t" != "$last" ]; then
            now=$(( $(ck_now_ms) - t0 )); times="$times $now"; n=$((n + 1)); last=$t
        fi
        sleep 0.02
    done
    echo "# checkpoints became durable at (ms after start):$times"
    ls -l "$WORK/run.ck" || true
    ck_alive "$CK_PID" || ck_fail "probe finished before 3 periodic checkpoints (the reference took $(cat "$WORK/ref.ms") ms)"
    kill -9 "$CK_PID" 2>/dev/null || true; { wait "$CK_PID"; } 2>/dev/null || true
    [ "$n" -ge 3 ] || ck_fail "expected 3 checkpoints within 4 s with CKPT_INTERVAL=0.4, saw $n"
    # on schedule: not all at once, and not one per second either
    set -- $times
    [ $(( $3 - $1 )) -ge 500 ] || ck_fail "3 checkpoints within $(( $3 - $1 )) ms: faster than the interval"
    # (allowing for a loaded machine: the reference normally takes about 2.7 s)
    local slack=$(( $(cat "$WORK/ref.ms") > 2700 ? $(cat "$WORK/ref.ms") : 2700 ))
    [ $(( $3 - $1 )) -le $(( 2400 * slack / 2700 )) ] || ck_fail "2 intervals took $(( $3 - $1 )) ms (expected about 800)"
    ck_need_restore
    ck_restore "$WORK/run" "$WORK/run.ck/latest"
    ck_compare "$WORK" run
}

@test "CKPT_KEEP=2 keeps at most two checkpoints" {
    ck_need_checkpoint
    mkdir -p "$WORK/run.wd"
    CK_ENV="CKPT_INTERVAL=0.2 CKPT_KEEP=2" ck_spawn "$WORK/run.wd" "$WORK/run" "$WORK/run.ck" "$PROGS/probe" 150
    ck_wait_pid "$CK_PID" 60
    ls -la "$WORK/run.ck"  || true
    [ "$CK_RC" = 0 ] || ck_fail "probe under libckpt exited $CK_RC"
    local n
    n=$(count_ckpts "$WORK/run.ck")
    [ "$n" -ge 1 ] && [ "$n" -le 2 ] || ck_fail "CKPT_KEEP=2 left $n checkpoints"
    [ -n "$(ck_latest "$WORK/run.ck")" ] || ck_fail "latest does not name an existing checkpoint"
}

# generations WORK N - checkpoints the probe, then N-1 times: restores the
# newest checkpoint, lets the restored process run a little, checkpoints it
# through ckpt-restore's pid, kills it.  Finally restores the last one and
# compares with the reference.
generations() {
    local n=$1 g prev ms moment
    ck_seed
    CK_ENV=PROBE_HEARTBEAT=1
    ck_reference "$WORK" "$PROGS/probe" "$STEPS"
    ck_need_restore
    ms=$(cat "$WORK/ref.ms")
    moment=$(( ms * (10 + RANDOM % 15) / 100 ))
    CK_ENV=PROBE_HEARTBEAT=1 ck_checkpoint_run "$WORK" gen1 "$moment" "$PROGS/probe" "$STEPS"
    prev=$CK_CKPT
    for g in $(seq 2 "$n"); do
        ck_restore_bg "$WORK/gen$g" "$WORK/gen1.ck/latest"
        # the restored probe prints a heartbeat per step: wait for two, then
        # a random bit more, before triggering through ckpt-restore's pid
        ck_wait_line "$WORK/gen$g.rerr" '^probe: step' 20 \
            || { ck_show "$WORK/gen$g.rerr"; ck_fail "generation $g: restored probe shows no progress"; return 1; }
        ck_sleep_ms $(( 50 + RANDOM % (ms / 10) ))
        kill -USR1 "$CK_RPID"
        if ! CK_CKPT=$(ck_wait_latest "$WORK/gen1.ck" "$prev"); then
            ck_show "$WORK/gen$g.rerr"
            ck_fail "generation $g: SIGUSR1 to the restored process (pid $CK_RPID) made no new checkpoint"
            return 1
        fi
        echo "# generation $g: $(grep -c '^probe: step' "$WORK/gen$g.rerr") steps after restore, checkpoint ${CK_CKPT##*/}"
        ck_alive "$CK_RPID" || echo "# generation $g: restored process had finished already"
        kill -9 "$CK_RPID" 2>/dev/null || true; { wait "$CK_RPID"; } 2>/dev/null || true
        prev=$CK_CKPT
    done
    ck_restore "$WORK/last" "$WORK/gen1.ck/latest"
    ck_compare "$WORK" last || ck_fail "generation $n restore differs from the reference"
}

@test "second generation: restore, checkpoint the restored process, kill, restore" {
    generations 2
}

@test "third generation" {
    generations 3
}

@test "one checkpoint restored twice gives the same result twice" {
    ck_seed
    ck_reference "$WORK" "$PROGS/probe" "$STEPS"
    ck_need_restore
    ck_checkpoint_run "$WORK" run "$(ck_random_moment "$(cat "$WORK/ref.ms")")" "$PROGS/probe" "$STEPS"
    ck_restore "$WORK/first" "$CK_CKPT"
    ck_compare "$WORK" first || ck_fail "first restore differs"
    ck_restore "$WORK/second" "$CK_CKPT"
    ck_compare "$WORK" second || ck_fail "second restore of the same checkpoint differs"
}

@test "restore accepts the checkpoint directory as well as D/latest" {
    ck_seed
    ck_reference "$WORK" "$PROGS/probe" "$STEPS"
    ck_need_restore
    ck_checkpoint_run "$WORK" run "$(ck_random_moment "$(cat "$WORK/ref.ms")")" "$PROGS/probe" "$STEPS"
    ck_restore "$WORK/dir" "$WORK/run.ck"
    ck_compare "$WORK" dir
}

@test "SIGTERM to ckpt-restore reaches the program (handler exits 3)" {
    ck_seed
    CK_ENV=PROBE_HEARTBEAT=1
    ck_reference "$WORK" "$PROGS/probe" "$STEPS"
    ck_need_restore
    ck_checkpoint_run "$WORK" run "$(( $(cat "$WORK/ref.ms") / 5 ))" "$PROGS/probe" "$STEPS"
    ck_restore_bg "$WORK/term" "$CK_CKPT"
    ck_wait_line "$WORK/term.rerr" '^probe: step' 20 || { ck_show "$WORK/term.rerr"; ck_fail "restored probe shows no progress"; }
    kill -TERM "$CK_RPID"
    ck_wait_pid "$CK_RPID" 20
    cat "$WORK/term.rout"
    [ "$CK_RC" = 3 ] || { ck_show "$WORK/term.rerr"; ck_fail "ckpt-restore exited $CK_RC after SIGTERM, the program's handler exits 3"; }
    grep -q '^probe: terminated at step' "$WORK/term.rout"
}

@test "SIGUSR1 to ckpt-restore checkpoints the restored program; it finishes normally" {
    ck_seed
    CK_ENV=PROBE_HEARTBEAT=1
    ck_reference "$WORK" "$PROGS/probe" "$STEPS"
    ck_need_restore
    ck_again "$WORK" '^probe: step' "$PROGS/probe" "$STEPS"
}

@test "CKPT_SIGNAL=USR2 moves the trigger; an external SIGUSR1 then reaches the program" {
    ck_need_checkpoint
    mkdir -p "$WORK/run.wd"
    CK_ENV="CKPT_SIGNAL=USR2" ck_spawn "$WORK/run.wd" "$WORK/run" "$WORK/run.ck" "$PROGS/ownusr1" 150 20
    sleep 0.3
    kill -USR2 "$CK_PID"
    ck_wait_latest "$WORK/run.ck" "" >/dev/null || ck_fail "no checkpoint after SIGUSR2"
    kill -USR1 "$CK_PID"
    ck_wait_pid "$CK_PID" 60
    cat "$WORK/run.out"; ck_show "$WORK/run.err"
    [ "$CK_RC" = 0 ] || ck_fail "ownusr1 exited $CK_RC"
    grep -q 'raised=20 handled=21 foreign=1' "$WORK/run.out" \
        || ck_fail "the external SIGUSR1 should have reached the program's handler"
}
