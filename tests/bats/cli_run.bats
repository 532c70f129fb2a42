#!/usr/bin/env bats
# cli_run.bats - `ckpt run` and `ckpt signal`.
#
# Most tests use a stand-in for libckpt: tests/cli/fakeprog.sh runs with an empty
# library named libckpt.so preloaded (so `ckpt signal` accepts it) and, on the
# trigger signal, writes a checkpoint with the directory protocol of
# format/ckdir.h (temp file, rename, new `latest` renamed into place).  The last
# tests use the real libckpt.so when the build has one.

bats_require_minimum_version 1.5.0
load ../cli/helpers

setup_file() {
    load ../cli/helpers
    export FX="$BATS_FILE_TMPDIR/fx"
    cli_fixtures "$FX"
}

setup() {
    load ../cli/helpers
    WORK=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ckpt-clirun.XXXXXX")
    PIDS=()
}

teardown() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}

# start_fake DIR [ENV...]: starts fakeprog.sh under `ckpt run --dir DIR`, sets PID.
start_fake() {
    local dir=$1; shift
    rm -f "$WORK/ready"
    env CKPT_LIB="$FAKELIB" FIXTURE="$FX/a.ckpt" READY="$WORK/ready" "$@" \
        "$CKPT" run --dir "$dir" -- bash "$CKPT_ROOT/tests/cli/fakeprog.sh" \
        >"$WORK/prog.out" 2>"$WORK/prog.err" 3>&- &
    PID=$!
    PIDS+=("$PID")
    for _ in $(seq 100); do [ -e "$WORK/ready" ] && return 0; sleep 0.05; done
    echo "fake program did not start"; cat "$WORK/prog.err"; return 1
}

@test "run: sets the CKPT_* variables and LD_PRELOAD, keeps the pid, says where" {
    cd "$WORK"
    run env CKPT_LIB="$FAKELIB" LD_PRELOAD= "$CKPT" run --dir d --interval 2m --keep 3 \
        --signal usr2 --log info -- sh -c 'echo pid=$$; env | grep -E "^(CKPT_[A-Z]+|LD_PRELOAD)=" | sort'
    [ "$status" -eq 0 ]
    pid=${lines[1]#pid=}
    [ "${lines[0]}" = "ckpt: checkpoints of sh go to $WORK/d (trigger: kill -USR2 $pid)" ]
    [[ "$output" == *"CKPT_DIR=$WORK/d"* ]]
    [[ "$output" == *"CKPT_INTERVAL=120"* ]]
    [[ "$output" == *"CKPT_KEEP=3"* ]]
    [[ "$output" == *"CKPT_LOG=info"* ]]
    [[ "$output" == *"CKPT_SIGNAL=12"* ]]
    [[ "$output" == *"LD_PRELOAD=$FAKELIB"* ]]
    [ "$(stat -c %a "$WORK/d")" = 700 ]
}

@test "run: default directory ./ckpt (absolute), CKPT_DIR respected, LD_PRELOAD kept" {
    cd "$WORK"
    cp "$FAKELIB" "$WORK/libother.so"
    # (ASAN_OPTIONS: a sanitized ckpt would object to a library preloaded before it)
    run env ASAN_OPTIONS=verify_asan_link_order=0 CKPT_LIB="$FAKELIB" \
        LD_PRELOAD="$WORK/libother.so" "$CKPT" run -- \
        sh -c 'echo "$CKPT_DIR|$LD_PRELOAD"'
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = "$WORK/ckpt|$FAKELIB:$WORK/libother.so" ]
    [ "$(stat -c %a "$WORK/ckpt")" = 700 ]
    run env CKPT_LIB="$FAKELIB" CKPT_DIR="$WORK/fromenv" "$CKPT" run -- sh -c 'echo "$CKPT_DIR"'
    [ "${lines[1]}" = "$WORK/fromenv" ]
}

@test "run: exit status passes through; 127 not found, 126 not executable, 1 no library" {
    cd "$WORK"
    run env CKPT_LIB="$FAKELIB" "$CKPT" run -- sh -c 'exit 7'
    [ "$status" -eq 7 ]
    run -127 env CKPT_LIB="$FAKELIB" "$CKPT" run -- ./no-such-program
    [ "$output" = "ckpt run: cannot run ./no-such-program: No such file or directory" ]
    run -127 env CKPT_LIB="$FAKELIB" PATH=/nonexistent "$CKPT" run -- ls
    touch notexec
    run -126 env CKPT_LIB="$FAKELIB" "$CKPT" run -- ./notexec
    run env CKPT_LIB="$WORK/missing.so" "$CKPT" run -- true
    [ "$status" -eq 1 ]
    [ "$output" = "ckpt run: cannot find libckpt.so (looked at $WORK/missing.so); set CKPT_LIB" ]
    touch file
    run env CKPT_LIB="$FAKELIB" "$CKPT" run --dir file/sub -- true
    [ "$status" -eq 1 ]
    [ "$output" = "ckpt run: checkpoint directory $WORK/file/sub: Not a directory" ]
}

@test "signal --wait: returns the new durable checkpoint's path, twice" {
    start_fake "$WORK/ck"
    run "$CKPT" signal "$PID" --wait --timeout 20
    [ "$status" -eq 0 ]
    [ "$output" = "$WORK/ck/ckpt-000001-$PID.ckpt" ]
    run "$CKPT" signal "$PID" --wait --timeout 20
    [ "$status" -eq 0 ]
    [ "$output" = "$WORK/ck/ckpt-000002-$PID.ckpt" ]
    [ "$(readlink "$WORK/ck/latest")" = "ckpt-000002-$PID.ckpt" ]
    kill -0 "$PID"
}

@test "signal: uses CKPT_SIGNAL and a relative CKPT_DIR from the process" {
    mkdir "$WORK/cwd"
    cd "$WORK/cwd"
    rm -f "$WORK/ready"
    env CKPT_SIGNAL=USR2 CKPT_DIR=rel LD_PRELOAD="$FAKELIB" FIXTURE="$FX/b.ckpt" \
        READY="$WORK/ready" bash "$CKPT_ROOT/tests/cli/fakeprog.sh" 3>&- &
    PID=$!
    PIDS+=("$PID")
    for _ in $(seq 100); do [ -e "$WORK/ready" ] && break; sleep 0.05; done
    cd "$WORK"
    run "$CKPT" signal "$PID" --wait --timeout 20
    [ "$status" -eq 0 ]
    [ "$output" = "/proc/$PID/cwd/rel/ckpt-000001-$PID.ckpt" ]
    [ -f "$WORK/cwd/rel/ckpt-000001-$PID.ckpt" ]
}

@test "signal without --wait returns at once" {
    start_fake "$WORK/ck"
    run "$CKPT" signal "$PID"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    for _ in $(seq 100); do [ -L "$WORK/ck/latest" ] && break; sleep 0.05; done
    [ -L "$WORK/ck/latest" ]
}

@test "signal --wait: timeout (exit 3), process gone (exit 4)" {
    start_fake "$WORK/ck" FAKE_MODE=ignore
    run "$CKPT" signal "$PID" --wait --timeout 0.5
    [ "$status" -eq 3 ]
    [[ "$output" == "ckpt signal: no new checkpoint in $WORK/ck after 0.5 s" ]]
    kill -9 "$PID"; wait "$PID" 2>/dev/null || true
    start_fake "$WORK/ck2" FAKE_MODE=exit
    run "$CKPT" signal "$PID" --wait --timeout 20
    [ "$status" -eq 4 ]
    [[ "$output" == *"process $PID exited before a new checkpoint was written"* ]]
    run "$CKPT" signal 0
    [ "$status" -eq 2 ]
    run "$CKPT" signal 2147483647
    [ "$status" -eq 4 ]
    # a pid that is not running
    sh -c 'exit 0' & dead=$!; wait $dead
    run "$CKPT" signal "$dead"
    [ "$status" -eq 4 ]
}

@test "signal --wait: a new checkpoint that does not verify is an error" {
    start_fake "$WORK/ck" FIXTURE="$FX/corrupt-payload.ckpt"
    run "$CKPT" signal "$PID" --wait --timeout 20
    [ "$status" -eq 1 ]
    [[ "$output" == *"new checkpoint does not verify: CKF_E_PAYLOAD_CHECKSUM"* ]]
    run "$CKPT" signal "$PID" --wait --timeout 20 --no-verify
    [ "$status" -eq 0 ]
}

@test "signal refuses a process without libckpt (the signal would kill it)" {
    sleep 30 3>&- &
    s=$!
    PIDS+=("$s")
    run "$CKPT" signal "$s"
    [ "$status" -eq 1 ]
    [[ "$output" == *"does not have libckpt.so loaded"* ]]
    kill -0 "$s"
    run "$CKPT" signal --force "$s"
    [ "$status" -eq 0 ]
    sleep 0.2
    ! kill -0 "$s" 2>/dev/null
}

@test "signal as another user: clear error" {
    [ "$(id -u)" = 0 ] || skip "needs root to switch users"
    command -v setpriv >/dev/null || skip "setpriv missing"
    start_fake "$WORK/ck"
    chmod 755 "$WORK"
    run setpriv --reuid=nobody --regid=nogroup --clear-groups "$CKPT" signal "$PID"
    [ "$status" -eq 1 ]
    [[ "$output" == "ckpt signal: cannot read the environment of process $PID: Permission denied" ]]
}

# ---- the real libckpt --------------------------------------------------------------------

@test "real checkpoints: run, signal --wait, verify, inspect, ls, diff" {
    [ -f "$CKPT_BUILD/lib/libckpt.so" ] || skip "libckpt.so not built"
    [ -x "$CKPT_BUILD/tests/progs/probe" ] || skip "tests/progs/probe not built"
    cd "$WORK"
    "$CKPT" run --dir "$WORK/ck" -- "$CKPT_BUILD/tests/progs/probe" 3000 \
        >"$WORK/out" 2>"$WORK/err" 3>&- &
    PID=$!
    PIDS+=("$PID")
    sleep 0.3
    run "$CKPT" signal "$PID" --wait --timeout 30
    if [ "$status" -ne 0 ]; then
        cat "$WORK/err"
        skip "libckpt did not produce a checkpoint (status $status): $output"
    fi
    first=$output
    run "$CKPT" signal "$PID" --wait --timeout 30
    [ "$status" -eq 0 ]
    second=$output
    [ "$first" != "$second" ]
    "$CKPT" verify "$WORK/ck"
    "$CKPT" inspect "$WORK/ck" > "$WORK/inspect.txt"
    grep -q "^program     .*/probe$" "$WORK/inspect.txt"
    grep -q "^  pid       $PID " "$WORK/inspect.txt"
    "$CKPT" inspect --json "$second" | "$(cli_python)" -m json.tool > /dev/null
    run "$CKPT" ls "$WORK/ck"
    [ "$status" -eq 0 ]
    [[ "${lines[2]}" == *"valid"*"<- latest" ]]
    run "$CKPT" diff "$first" "$second"
    [ "$status" -eq 0 ]
    [[ "${lines[-1]}" == "total: "* ]]
    [ "$(stat -c %a "$second")" = 600 ]
    [ "$(stat -c %a "$WORK/ck")" = 700 ]
}

@test "real checkpoints: a region registered by the program extracts by name" {
    [ -f "$CKPT_BUILD/lib/libckpt.so" ] || skip "libckpt.so not built"
    cd "$WORK"
    "$CKPT" run --dir "$WORK/ck" -- "$CKPT_BUILD/tests/cli/regionprog" "$WORK/ready" \
        >"$WORK/out" 2>"$WORK/err" 3>&- &
    PID=$!
    PIDS+=("$PID")
    for _ in $(seq 100); do [ -e "$WORK/ready" ] && break; sleep 0.05; done
    run "$CKPT" signal "$PID" --wait --timeout 30
    [ "$status" -eq 0 ] || skip "libckpt did not produce a checkpoint: $output"
    run "$CKPT" inspect "$WORK/ck"
    [[ "$output" == *"regions:"*"  field at 0x"*", 8000 bytes (7.8 KiB)"* ]]
    "$CKPT" extract "$WORK/ck" --region field -o "$WORK/f.bin"
    "$(cli_python)" - "$WORK/f.bin" <<'PY'
import struct, sys
v = struct.unpack('<1000d', open(sys.argv[1], 'rb').read())
assert all(v[i] == i * 1.5 for i in range(1000)), v[:4]
PY
    py=$(cli_numpy_python) || skip "numpy not installed"
    "$CKPT" extract "$WORK/ck" --region field --as f64 --shape 10x100 -o "$WORK/f.npy"
    "$py" -c "
import numpy as np
a = np.load('$WORK/f.npy')
assert a.shape == (10, 100) and (a.ravel() == np.arange(1000) * 1.5).all()
"
}
