#!/bin/sh
# demo/run.sh - builds ckpt and shows a checkpoint/kill/restore of a simulation.
#
#   demo/run.sh            (from anywhere; as root it installs missing Debian
#                           packages itself, otherwise it names them)
#
# 1. installs the build dependencies if missing (tools/deps.sh) and builds;
# 2. runs demo/sim.c (2-D heat diffusion) uninterrupted: the reference result;
# 3. runs it again with checkpointing enabled (`ckpt run`, or LD_PRELOAD),
#    takes a checkpoint half-way with SIGUSR1, and kills the program (-9);
# 4. restores it with ckpt-restore: it finishes the remaining steps;
# 5. compares the two results.
# Environment: SIM_ARGS (default "512 10000"), O (build directory, default build).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
O=${O:-build}
SIM_ARGS=${SIM_ARGS:-512 10000}

say() { printf '\n\033[1mdemo:\033[0m %s\n' "$*"; }
now_ms() { date +%s%3N; }

say "installing missing build dependencies (if any) and building ckpt ..."
tools/deps.sh make gcc libc6-dev
make --no-print-directory deps
make --no-print-directory -j"$(nproc)" O="$O" all >/dev/null
mkdir -p "$O/demo"
gcc -O2 -std=gnu11 -Wall -o "$O/demo/sim" demo/sim.c
LIB=$ROOT/$O/lib/libckpt.so
RESTORE=$ROOT/$O/bin/ckpt-restore
CKPT=$ROOT/$O/bin/ckpt
SIM=$ROOT/$O/demo/sim

W=$(mktemp -d "${TMPDIR:-/tmp}/ckpt-demo.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"

say "1) reference: $O/demo/sim $SIM_ARGS, uninterrupted"
t0=$(now_ms)
# shellcheck disable=SC2086
"$SIM" $SIM_ARGS >reference.txt 2>reference.err
ref_ms=$(( $(now_ms) - t0 ))
echo "   result: $(cat reference.txt)"
echo "   took ${ref_ms} ms"

if "$CKPT" run --help >/dev/null 2>&1; then
    how="$O/bin/ckpt run --dir ckpt -- $O/demo/sim $SIM_ARGS"
    # shellcheck disable=SC2086
    "$CKPT" run --dir ckpt -- "$SIM" $SIM_ARGS >interrupted.txt 2>interrupted.err &
else
    how="CKPT_DIR=ckpt LD_PRELOAD=$O/lib/libckpt.so $O/demo/sim $SIM_ARGS"
    # shellcheck disable=SC2086
    CKPT_DIR=ckpt LD_PRELOAD="$LIB" "$SIM" $SIM_ARGS >interrupted.txt 2>interrupted.err &
fi
pid=$!
say "2) the same run with checkpointing enabled: $how  (pid $pid)"
half=$(( ref_ms * 45 / 100 ))
sleep "$(( half / 1000 )).$(printf '%03d' $(( half % 1000 )))"
echo "   after ${half} ms: kill -USR1 $pid   (take a checkpoint; the program keeps running)"
kill -USR1 "$pid"
n=0
until [ -e ckpt/latest ]; do
    sleep 0.05; n=$((n + 1))
    [ $n -lt 600 ] || { echo "demo: no checkpoint after 30 s" >&2; cat interrupted.err >&2; exit 1; }
done
echo "   checkpoint durable: ckpt/latest -> $(readlink ckpt/latest)"
sed 's/^/   | /' interrupted.err
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
echo "   kill -9 $pid   (the program is gone: it printed $(wc -c <interrupted.txt) bytes of result)"
"$CKPT" ls ckpt 2>/dev/null | sed 's/^/   | /' || ls -l ckpt | sed 's/^/   | /'

say "3) restore: $O/bin/ckpt-restore ckpt/latest   (it carries on from the checkpoint)"
t0=$(now_ms)
status=0
"$RESTORE" ckpt/latest >restored.txt 2>restored.err || status=$?
sed 's/^/   | /' restored.err
echo "   exit status $status; result: $(cat restored.txt)"
echo "   took $(( $(now_ms) - t0 )) ms (the reference took ${ref_ms} ms for the whole run)"

say "4) compare"
if cmp -s reference.txt restored.txt; then
    echo "   identical: the restored run finished exactly as the uninterrupted one."
    echo
    echo "Next: 'make test' runs the test suite; README.md explains usage and limits."
else
    echo "   DIFFERENT results:"
    diff reference.txt restored.txt || true
    exit 1
fi
