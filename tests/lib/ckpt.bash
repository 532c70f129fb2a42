# tests/lib/ckpt.bash - shared helpers for the end-to-end bats files.
#
# Every end-to-end test follows one pattern:
#   1. run the program uninterrupted (the reference: its stdout, exit status
#      and the files it wrote in its working directory);
#   2. run it again under libckpt in a fresh working directory, send SIGUSR1
#      at a random moment inside the run, wait until CKPT_DIR/latest names a
#      durable checkpoint, kill -9 the program;
#   3. ckpt-restore CKPT_DIR/latest and compare stdout, exit status and every
#      file of the reference working directory, byte for byte.
# Programs print their result only at the end, so any difference is a bug.
#
# Knobs (environment):
#   CKPT_BUILD          build directory (default: <repo>/build)
#   CKPT_TEST_FULL=1    big sizes and more repetitions (local runs)
#   CKPT_TEST_REPEAT=N  random moments per program (default 2, 5 with FULL,
#                       1 with CKPT_TEST_QUICK=1)
#   CKPT_TEST_SEED=S    seed for $RANDOM, printed by every test for reproduction
#   CKPT_TEST_TIMEOUT=S how long to wait for a checkpoint, or a restored run
#                       beyond 3x the reference run time (default 30)
#   CKPT_TEST_REQUIRE=1 fail instead of skipping when the probe finds that
#                       checkpoint or restore does not work
#
# The first helper a bats file calls is ck_probe (from setup_file): it
# checkpoints and restores the small probe program once and records whether
# checkpointing and restoring work at all.  Tests that need them call
# ck_need_checkpoint / ck_need_restore, which skip with the probe's reason.
# The probe's verdict is cached per build (keyed on the binaries' identity).
#
# Helpers print diagnostics on stdout: bats shows them when a test fails.
# Failures name the program, the moment of the checkpoint and the symptom.

CKPT_ROOT=${CKPT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CKPT_BUILD=${CKPT_BUILD:-$CKPT_ROOT/build}
PROGS=$CKPT_BUILD/tests/progs
LIBCKPT=$CKPT_BUILD/lib/libckpt.so
RESTORER=$CKPT_BUILD/bin/ckpt-restore
PY=/usr/bin/python3
CK_TIMEOUT=${CKPT_TEST_TIMEOUT:-30}
if [ "${CKPT_TEST_FULL:-0}" = 1 ]; then
    CK_REPEAT=${CKPT_TEST_REPEAT:-5}
elif [ "${CKPT_TEST_QUICK:-0}" = 1 ]; then
    CK_REPEAT=${CKPT_TEST_REPEAT:-1}
else
    CK_REPEAT=${CKPT_TEST_REPEAT:-2}
fi

# ck_pick QUICK FULL - the size argument for the current mode.
ck_pick() {
    if [ "${CKPT_TEST_FULL:-0}" = 1 ]; then echo "$2"; else echo "$1"; fi
}

ck_now_ms() { date +%s%3N; }

# ck_work NAME - a fresh $WORK directory for one test (a bats setup).
ck_work() { WORK=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ckpt-$1.XXXXXX"); }

# ck_cleanup - kills what the test left running (the program CK_PID, the
# restored process CK_RPID) and removes $WORK (a bats teardown).
ck_cleanup() {
    [ -n "${CK_PID:-}" ] && kill -9 "$CK_PID" 2>/dev/null || true
    [ -n "${CK_RPID:-}" ] && kill -9 "$CK_RPID" 2>/dev/null || true
    # a writer of the killed program may still add a file for an instant
    rm -rf "$WORK" 2>/dev/null || { sleep 0.5; rm -rf "$WORK"; }
}

# ck_seed - seeds $RANDOM for this test and prints how to reproduce it.
ck_seed() {
    local s=${CKPT_TEST_SEED:-$(( ($(date +%s%N) / 1000) % 32768 ))}
    RANDOM=$s
    echo "# seed: CKPT_TEST_SEED=$s"
}

# ck_random_moment REF_MS - a delay in ms between 15% and 65% of the reference
# run, so that the checkpoint lands well inside the run.
ck_random_moment() {
    echo $(( $1 * (15 + RANDOM % 51) / 100 ))
}

ck_sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# ck_latest D - prints the checkpoint file D/latest names, or nothing.
# (Not readlink -f: while `latest` is being replaced it can be absent for an
# instant, and readlink -f then prints the path of the link itself.)
ck_latest() {
    local l
    l=$(readlink "$1/latest" 2>/dev/null) || return 0
    case "$l" in /*) ;; *) l=$1/$l ;; esac
    [ -f "$l" ] && echo "$l"
    return 0
}

# ck_wait_latest D OLD [TIMEOUT_S] - waits until D/latest names an existing
# file other than OLD; prints it.  Returns 1 on timeout.
ck_wait_latest() {
    local d=$1 old=$2 limit=$(( $(ck_now_ms) + ${3:-$CK_TIMEOUT} * 1000 )) t
    while :; do
        t=$(ck_latest "$d")
        if [ -n "$t" ] && [ "$t" != "$old" ]; then echo "$t"; return 0; fi
        [ "$(ck_now_ms)" -lt "$limit" ] || return 1
        sleep 0.02
    done
}

# ck_wait_ckpt DIR PID - waits for DIR/latest after a trigger sent to PID and
# prints it.  1: none within CK_TIMEOUT; 2: PID ended and none came within
# 5 s after (the program exited before the checkpoint began: nothing to test).
ck_wait_ckpt() {
    local d=$1 pid=$2 limit=$(( $(ck_now_ms) + CK_TIMEOUT * 1000 )) t dead=""
    while :; do
        t=$(ck_latest "$d")
        if [ -n "$t" ]; then echo "$t"; return 0; fi
        if [ -z "$dead" ] && ! ck_alive "$pid"; then dead=$(ck_now_ms); fi
        [ -n "$dead" ] && [ $(( $(ck_now_ms) - dead )) -gt 5000 ] && return 2
        [ "$(ck_now_ms)" -lt "$limit" ] || return 1
        sleep 0.02
    done
}

# ck_wait_pid PID [TIMEOUT_S] - waits for a background child of this shell;
# sets CK_RC to its exit status.  On timeout kills it (-9) and returns 1.
ck_wait_pid() {
    local pid=$1 limit=$(( $(ck_now_ms) + ${2:-$CK_TIMEOUT} * 1000 ))
    while kill -0 "$pid" 2>/dev/null; do
        # a zombie still answers kill -0: ask /proc whether it has exited
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
        if [ "$(ck_now_ms)" -ge "$limit" ]; then
            kill -9 "$pid" 2>/dev/null || true
            { wait "$pid"; } 2>/dev/null || true
            CK_RC=timeout
            return 1
        fi
        sleep 0.02
    done
    CK_RC=0
    wait "$pid" || CK_RC=$?
    return 0
}

# ck_wait_line FILE REGEX [TIMEOUT_S] [SKIP_LINES] - waits until FILE has a line
# matching REGEX after its first SKIP_LINES lines.
ck_wait_line() {
    local limit=$(( $(ck_now_ms) + ${3:-$CK_TIMEOUT} * 1000 ))
    until tail -n +$(( ${4:-0} + 1 )) "$1" 2>/dev/null | grep -qE "$2"; do
        [ "$(ck_now_ms)" -lt "$limit" ] || return 1
        sleep 0.02
    done
}

# ck_fail MSG... - prints the message (and recent stderr files) and fails.
ck_fail() {
    echo "FAIL: $*"
    return 1
}

# ck_show FILE [LINES] - prints the tail of a diagnostics file, indented.
ck_show() {
    [ -s "$1" ] || return 0
    echo "  --- ${1##*/} (last ${2:-8} lines)"
    tail -n "${2:-8}" "$1" | sed 's/^/  | /'
}

# ck_alive PID - true while PID exists and is not a zombie.
ck_alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# ck_close_fds - closes every descriptor above 2 in the current (sub)shell.
# The shell that runs bats leaves descriptors to its own temporary files open;
# a program that inherits them has them in its checkpoint, and ckpt-restore
# rightly refuses to restore when one of those files is gone.
ck_close_fds() {
    local fd
    for fd in /proc/$BASHPID/fd/*; do
        fd=${fd##*/}
        [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
    done
    return 0
}

# ck_catches PID SIGNO - whether process PID has a handler for SIGNO.
ck_catches() {
    local m
    m=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
    [ -n "$m" ] && (( (16#$m >> ($2 - 1)) & 1 ))
}

# ck_spawn WD PREFIX CKDIR CMD... - starts CMD under libckpt in the background
# in directory WD; stdout/stderr to PREFIX.out/.err; sets CK_PID (a child of
# this shell).  CK_ENV adds environment (VAR=value words); CK_SIGIGN names
# signals the program inherits as ignored (as under nohup).  fd 3 (bats) is
# closed so that a stray process cannot hang the suite.
ck_spawn() {
    local wd=$1 prefix=$2 ckdir=$3; shift 3
    # shellcheck disable=SC2086
    ( cd "$wd" || exit 1
      ck_close_fds
      [ -n "${CK_SIGIGN:-}" ] && trap '' ${CK_SIGIGN}
      exec env ${CK_ENV:-} CKPT_DIR="$ckdir" LD_PRELOAD="$LIBCKPT" "$@" ) \
        </dev/null >"$prefix.out" 2>"$prefix.err" 3>&- &
    CK_PID=$!
}

# ck_restore_bg PREFIX TARGET - starts ckpt-restore TARGET in the background;
# stdout/stderr to PREFIX.rout/.rerr; sets CK_RPID.
# Like a user's shell, the launcher gets only fds 0-2 (bats keeps others open,
# which would hide fd-numbering bugs in the restorer).
ck_restore_bg() {
    ( ck_close_fds; exec "$RESTORER" "$2" ) </dev/null >"$1.rout" 2>"$1.rerr" 3>&- &
    CK_RPID=$!
}

# ck_restore PREFIX TARGET [TIMEOUT_S] - restores and waits; CK_RC = exit status.
# The default timeout allows 3x the last reference run (machines get loaded).
ck_restore() {
    ck_restore_bg "$1" "$2"
    ck_wait_pid "$CK_RPID" "${3:-$((CK_TIMEOUT + ${CK_REF_MS:-0} * 3 / 1000))}"
}

# ck_prepare WD - creates WD and runs the test's CK_PREPARE function in it.
ck_prepare() {
    mkdir -p "$1"
    if [ -n "${CK_PREPARE:-}" ]; then (cd "$1" && "$CK_PREPARE") || return 1; fi
}

# ck_reference WORK CMD... - runs CMD uninterrupted (without libckpt) in
# WORK/ref.wd; result in WORK/ref.{out,err,rc,ms}.  Fails if the program
# failed or printed nothing.
ck_reference() {
    local work=$1 t0 rc=0 cache=""; shift
    ck_prepare "$work/ref.wd" || ck_fail "preparing the reference directory failed" || return 1
    # Programs without input or output files have one reference per command
    # line: keep it for the rest of this bats run.
    if [ -z "${CK_PREPARE:-}" ] && [ -n "${BATS_RUN_TMPDIR:-}" ]; then
        cache=$BATS_RUN_TMPDIR/ckref-$(echo "$* ${CK_SIGIGN:-}" | md5sum | cut -c1-16)
        if [ -f "$cache/ref.rc" ]; then
            cp "$cache"/ref.* "$work/"
            CK_REF_MS=$(cat "$work/ref.ms")
            echo "# reference (from this run's cache): $* -> exit $(cat "$work/ref.rc") in $(cat "$work/ref.ms") ms"
            return 0
        fi
    fi
    t0=$(ck_now_ms)
    # shellcheck disable=SC2086
    (cd "$work/ref.wd" || exit 1
     ck_close_fds
     [ -n "${CK_SIGIGN:-}" ] && trap '' ${CK_SIGIGN}
     exec "$@") </dev/null >"$work/ref.out" 2>"$work/ref.err" 3>&- || rc=$?
    echo $(( $(ck_now_ms) - t0 )) >"$work/ref.ms"
    CK_REF_MS=$(cat "$work/ref.ms")
    echo "$rc" >"$work/ref.rc"
    echo "# reference: $* -> exit $rc in $(cat "$work/ref.ms") ms"
    if [ "$rc" != "${CK_REF_RC:-0}" ] || [ ! -s "$work/ref.out" ]; then
        ck_show "$work/ref.out"; ck_show "$work/ref.err"
        ck_fail "reference run of $1 failed (exit $rc)"
        return 1
    fi
    if [ -n "$cache" ] && [ -z "$(ls -A "$work/ref.wd")" ]; then
        mkdir -p "$cache" && cp "$work"/ref.out "$work"/ref.err "$work"/ref.ms "$work"/ref.rc "$cache/"
    fi
}

# ck_checkpoint_run WORK NAME DELAY_MS CMD... - runs CMD under libckpt in
# WORK/NAME.wd, sends SIGUSR1 after DELAY_MS, waits for WORK/NAME.ck/latest,
# then kill -9.  Sets CK_CKPT to the checkpoint file.  If the program ended
# before the trigger, retries with half the delay (up to 3 times).
ck_checkpoint_run() {
    local work=$1 name=$2 delay=$3 try; shift 3
    local t0 end
    for try in 1 2 3 4; do
        rm -rf "$work/$name.wd" "$work/$name.ck"
        ck_prepare "$work/$name.wd" || ck_fail "preparing $name.wd failed" || return 1
        t0=$(ck_now_ms)
        ck_spawn "$work/$name.wd" "$work/$name" "$work/$name.ck" "$@"
        # sleep until the moment, watching whether the program ends before it
        end=""
        while [ $(( $(ck_now_ms) - t0 )) -lt "$delay" ]; do
            ck_alive "$CK_PID" || { end=$(( $(ck_now_ms) - t0 )); break; }
            sleep 0.01
        done
        local rc=0 w=0
        # A retry's moment can come before the loader has run libckpt's
        # constructor (then SIGUSR1 still kills): wait until it is caught.
        while [ -z "$end" ] && [ "$w" -lt 400 ] && ck_alive "$CK_PID" && ! ck_catches "$CK_PID" 10; do
            sleep 0.005; w=$((w + 1))
        done
        if [ -z "$end" ] && ck_alive "$CK_PID" && kill -USR1 "$CK_PID" 2>/dev/null; then
            CK_CKPT=$(ck_wait_ckpt "$work/$name.ck" "$CK_PID") && break
            rc=$?
            local st=0
            kill -9 "$CK_PID" 2>/dev/null || true; { wait "$CK_PID"; } 2>/dev/null || st=$?
            if [ "$rc" = 2 ] && [ "$st" != "${CK_REF_RC:-0}" ]; then
                ck_show "$work/$name.err"
                ck_fail "$name: program exited with status $st after SIGUSR1 at ${delay} ms (reference: ${CK_REF_RC:-0}), no checkpoint"
                return 1
            fi
            if [ "$rc" = 1 ]; then
                ck_show "$work/$name.err"
                ck_fail "$name: no $name.ck/latest ${CK_TIMEOUT}s after SIGUSR1 at ${delay} ms"
                return 1
            fi
            end=$delay
            echo "# $name: program ended right after the trigger at ${delay} ms and no checkpoint followed; retrying earlier"
        else
            { wait "$CK_PID"; } 2>/dev/null || true
            [ -n "$end" ] || end=$delay
            echo "# $name: program finished after ${end} ms, before the trigger at ${delay} ms (the machine is faster or less loaded than during the reference); retrying earlier"
        fi
        [ "$try" = 4 ] && { ck_fail "$name: program always finished before the trigger"; return 1; }
        delay=$(ck_random_moment "$end")
    done
    CK_MOMENT=$delay
    if ! ck_alive "$CK_PID"; then
        echo "# $name: program had already finished when the checkpoint became durable"
    fi
    kill -9 "$CK_PID" 2>/dev/null || true
    { wait "$CK_PID"; } 2>/dev/null || true
    echo "# $name: checkpoint at ${delay} ms -> ${CK_CKPT#"$work"/}"
}

# ck_compare WORK NAME - compares restored stdout/exit status and the working
# directory files with the reference.  Prints a precise symptom on mismatch.
ck_compare() {
    local work=$1 name=$2 f bad=0
    if [ "$CK_RC" != "$(cat "$work/ref.rc")" ]; then
        echo "  restored run exited $CK_RC, reference $(cat "$work/ref.rc")"; bad=1
    fi
    if ! cmp -s "$work/ref.out" "$work/$name.rout"; then
        echo "  stdout differs (reference < > restored):"
        diff "$work/ref.out" "$work/$name.rout" | head -10 | sed 's/^/  | /'; bad=1
    fi
    for f in $(cd "$work/ref.wd" && find . -type f -printf "%P\n" | sort); do
        if [ ! -f "$work/$name.wd/$f" ]; then
            echo "  file $f missing after restore"; bad=1
        elif ! cmp -s "$work/ref.wd/$f" "$work/$name.wd/$f"; then
            echo "  file $f differs: $(cmp "$work/ref.wd/$f" "$work/$name.wd/$f" 2>&1 | head -1)" \
                 "(sizes $(stat -c %s "$work/ref.wd/$f") vs $(stat -c %s "$work/$name.wd/$f"))"
            bad=1
        fi
    done
    if [ $bad = 1 ]; then
        ck_show "$work/$name.rerr" 12
        return 1
    fi
}

# ck_again WORK HEARTBEAT CMD... - checkpoints CMD a fifth into its reference
# run (ck_reference done, CK_ENV set so that the program prints HEARTBEAT
# lines on stderr), restores it, checkpoints the restored process through
# ckpt-restore's pid once it shows progress, lets it finish and compares;
# then restores that second checkpoint and compares again.
ck_again() {
    local work=$1 beat=$2 first second; shift 2
    ck_checkpoint_run "$work" run "$(( $(cat "$work/ref.ms") / 5 ))" "$@" || return 1
    first=$CK_CKPT
    ck_restore_bg "$work/usr1" "$first"
    ck_wait_line "$work/usr1.rerr" "$beat" 20 \
        || { ck_show "$work/usr1.rerr"; ck_fail "restored program shows no progress"; return 1; }
    kill -USR1 "$CK_RPID"
    second=$(ck_wait_latest "$work/run.ck" "$first") \
        || { ck_fail "no new checkpoint after SIGUSR1 to ckpt-restore"; return 1; }
    ck_wait_pid "$CK_RPID" 60
    ck_compare "$work" usr1 || { ck_fail "restored run checkpointed again differs"; return 1; }
    ck_restore "$work/again" "$second"
    ck_compare "$work" again || { ck_fail "restore of the checkpoint of the restored process differs"; return 1; }
}

# ck_roundtrip WORK PROG_LABEL CMD... - the whole pattern, CK_REPEAT times at
# random moments.  Needs restore (skips otherwise, after the reference run).
ck_roundtrip() {
    local work=$1 label=$2 i ref_ms moment failed=0; shift 2
    ck_seed
    ck_reference "$work" "$@" || return 1
    ck_need_restore
    ref_ms=$(cat "$work/ref.ms")
    for i in $(seq 1 "$CK_REPEAT"); do
        moment=$(ck_random_moment "$ref_ms")
        if ! ck_checkpoint_run "$work" "r$i" "$moment" "$@"; then
            echo "FAIL: $label, repeat $i, checkpoint at ${moment} ms: checkpoint not taken"
            failed=1; continue
        fi
        if ! ck_restore "$work/r$i" "$CK_CKPT"; then
            ck_show "$work/r$i.rerr"
            echo "FAIL: $label, repeat $i, checkpoint at ${CK_MOMENT} ms: restored run did not finish in time"
            failed=1; continue
        fi
        if ! ck_compare "$work" "r$i"; then
            echo "FAIL: $label, repeat $i, checkpoint at ${CK_MOMENT} ms: restored run differs from the reference (above)"
            failed=1; continue
        fi
        echo "# $label, repeat $i, checkpoint at ${CK_MOMENT} ms: identical"
    done
    return $failed
}

# ---- the probe --------------------------------------------------------------

# ck_probe_run - one checkpoint/restore of the probe program in a temp dir.
# Prints "ckpt=yes|no restore=yes|no reason=..." on one line.
ck_probe_run() {
    local w ref out pid t rc
    if [ ! -f "$LIBCKPT" ]; then echo "ckpt=no restore=no reason=$LIBCKPT not built"; return; fi
    if [ ! -x "$PROGS/probe" ]; then echo "ckpt=no restore=no reason=$PROGS/probe not built"; return; fi
    w=$(mktemp -d "${TMPDIR:-/tmp}/ckpt-probe.XXXXXX")
    ref=$("$PROGS/probe" 40 </dev/null 2>/dev/null)
    ck_spawn "$w" "$w/run" "$w/ck" "$PROGS/probe" 40
    pid=$CK_PID
    sleep 0.15
    kill -USR1 "$pid" 2>/dev/null
    if ! t=$(ck_wait_latest "$w/ck" "" 10); then
        kill -9 "$pid" 2>/dev/null || true; { wait "$pid"; } 2>/dev/null || true
        echo "ckpt=no restore=no reason=checkpoint not functional: no CKPT_DIR/latest 10 s after SIGUSR1 ($(head -c 200 "$w/run.err" | tr '\n' ' '))"
        rm -rf "$w"; return
    fi
    kill -9 "$pid" 2>/dev/null || true; { wait "$pid"; } 2>/dev/null || true
    if [ ! -x "$RESTORER" ]; then
        echo "ckpt=yes restore=no reason=$RESTORER not built"; rm -rf "$w"; return
    fi
    "$RESTORER" "$w/ck/latest" </dev/null >"$w/rest.out" 2>"$w/rest.err" 3>&- &
    pid=$!
    if ! ck_wait_pid "$pid" 20; then
        echo "ckpt=yes restore=no reason=ckpt-restore not functional: probe restore did not finish in 20 s"
    else
        rc=$CK_RC; out=$(cat "$w/rest.out")
        if [ "$rc" = 0 ] && [ "$out" = "$ref" ]; then
            echo "ckpt=yes restore=yes reason="
        else
            echo "ckpt=yes restore=no reason=ckpt-restore not functional: probe restore exited $rc, stdout '$(echo "$out" | head -c 80)', stderr '$(head -c 200 "$w/rest.err" | tr '\n' ' ')'"
        fi
    fi
    rm -rf "$w"
}

# ck_probe - sets and exports CK_CAN_CKPT, CK_CAN_RESTORE, CK_PROBE_WHY.
ck_probe() {
    local key cache=$CKPT_BUILD/tests/.e2e-probe line f
    key=""
    for f in "$LIBCKPT" "$RESTORER" "$PROGS/probe"; do
        key="$key $(stat -c '%i:%Y:%s' "$f" 2>/dev/null || echo none)"
    done
    if [ -f "$cache" ] && [ "$(head -1 "$cache")" = "$key" ]; then
        line=$(sed -n 2p "$cache")
    else
        line=$(ck_probe_run)
        # one retry before declaring restore broken, so a hiccup does not skip the suite
        case "$line" in *restore=no*) line=$(ck_probe_run) ;; esac
        # (the build directory may not be writable: then there is no cache)
        { mkdir -p "${cache%/*}" && printf '%s\n%s\n' "$key" "$line" >"$cache"; } 2>/dev/null || true
    fi
    case "$line" in *ckpt=yes*) CK_CAN_CKPT=1 ;; *) CK_CAN_CKPT=0 ;; esac
    case "$line" in *restore=yes*) CK_CAN_RESTORE=1 ;; *) CK_CAN_RESTORE=0 ;; esac
    CK_PROBE_WHY=${line#*reason=}
    export CK_CAN_CKPT CK_CAN_RESTORE CK_PROBE_WHY
}

ck_need_checkpoint() {
    [ -n "${CK_CAN_CKPT:-}" ] || ck_probe
    [ "$CK_CAN_CKPT" = 1 ] && return 0
    [ "${CKPT_TEST_REQUIRE:-0}" = 1 ] && { ck_fail "$CK_PROBE_WHY"; return 1; }
    skip "$CK_PROBE_WHY"
}

# ck_need_nobody_without_uffd FILE... - skips unless this (root) shell can run
# commands as nobody (setpriv), unprivileged userfaultfd is off here, and
# nobody can read FILE...; sets AS_NOBODY to the command prefix.
ck_need_nobody_without_uffd() {
    command -v setpriv >/dev/null || skip "setpriv not installed"
    [ "$(id -u)" = 0 ] || skip "already unprivileged"
    [ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" = 0 ] || skip "unprivileged userfaultfd allowed here"
    AS_NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups"
    local f
    for f in "$@"; do $AS_NOBODY test -r "$f" || skip "the build directory is not readable by nobody"; done
}

ck_need_restore() {
    [ -n "${CK_CAN_RESTORE:-}" ] || ck_probe
    [ "$CK_CAN_RESTORE" = 1 ] && return 0
    [ "${CKPT_TEST_REQUIRE:-0}" = 1 ] && { ck_fail "$CK_PROBE_WHY"; return 1; }
    skip "$CK_PROBE_WHY"
}

# ck_one_line_error PREFIX - the restore of a bad checkpoint must fail with a
# non-zero status, exactly one non-empty line on stderr and no stdout.
ck_one_line_error() {
    local p=$1 lines
    lines=$(grep -c . "$p.rerr" || true)
    echo "# ckpt-restore exit $CK_RC, stderr: $(head -3 "$p.rerr")"
    [ "$CK_RC" != timeout ] || ck_fail "ckpt-restore did not finish" || return 1
    [ "$CK_RC" != 0 ] || ck_fail "ckpt-restore exited 0" || return 1
    [ ! -s "$p.rout" ] || { ck_show "$p.rout"; ck_fail "the program ran (stdout not empty)"; return 1; }
    [ "$lines" = 1 ] || { ck_show "$p.rerr"; ck_fail "expected one line on stderr, got $lines"; return 1; }
}

# ck_flip_bit FILE OFFSET - flips bit 4 of the byte at OFFSET in place.
ck_flip_bit() {
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' $((b ^ 16)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
