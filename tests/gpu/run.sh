#!/usr/bin/env bash
# tests/gpu/run.sh - validation of cuda_hooks on a real GPU (research/cuda.md
# §3.3).  NOT run in CI (no GPU there); run it by hand on a GPU machine with
# the NVIDIA driver (r570+ for the checkpoint API; r580 expected), the CUDA
# toolkit (nvcc) and optionally PyTorch with CUDA:
#
#     make && tests/gpu/run.sh [OUTDIR]
#
# It prints one "PASS name" / "FAIL name: why" / "SKIP name: why" line per
# check and a summary, keeps every log under OUTDIR (default
# /tmp/ckpt-gpu-<pid>), and exits non-zero if anything failed.
#
# Checks (names as printed):
#   env            driver/toolkit versions, persistence mode, GPU list (recorded only)
#   abi-decls      cuda_hooks/cuda_decls.h agrees with the toolkit's cuda.h (tests/gpu/abi_check.c)
#   abi-names      every variant in cuda_funcs.def is exported by the toolkit's libcuda stub
#   e1-*           E1 lookup audit: with CKPT_LOG=debug CKPT_CUDA_SELFTEST=1 every
#                  program's lookups are logged; pointer identity holds
#                  (cuGetProcAddress(base, ver, flags) == dlsym(libcuda, variant))
#                  for the probed variants; the per-thread build uses only
#                  _ptds/_ptsz wrappers; the allocators are tracked
#   e3-inproc      E3: one in-process Lock/Checkpoint/Restore/Unlock while the
#                  program runs (kill -USR1): times, /dev/nvidia* mappings and fds
#                  before/after, thread names; the program must finish correctly
#   e5-<prog>      E5: checkpoint, kill -9, ckpt-restore in a new process; the
#                  restored run's RESULT line must equal the uninterrupted one
#                  (drv_vadd, rt_counter static/shared/per-thread, torch)
#   gate-managed   rt_counter built with cudaMallocManaged: the checkpoint is refused
#                  with the managed-memory message and the program still finishes
#
# CKPT_GPU_SELFCHECK=1 runs the E3/E5 plumbing of this script against the fake
# driver of the CI tests instead (no GPU needed), to check the script itself.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${CKPT_BUILD:-$ROOT/build}
OUT=${1:-/tmp/ckpt-gpu-$$}
LIB=$BUILD/lib/libckpt.so
RESTORE=$BUILD/bin/ckpt-restore
mkdir -p "$OUT"
pass=0 fail=0 skip=0
ok()   { echo "PASS $1"; pass=$((pass + 1)); }
bad()  { echo "FAIL $1: $2"; fail=$((fail + 1)); }
skp()  { echo "SKIP $1: $2"; skip=$((skip + 1)); }

if [ ! -f "$LIB" ] || [ ! -x "$RESTORE" ]; then echo "build first: make"; exit 2; fi
if [ "${CKPT_GPU_SELFCHECK:-0}" = 1 ]; then
    export LD_LIBRARY_PATH=$BUILD/tests/fakecuda
    mkdir -p "$OUT"
else
    command -v nvidia-smi >/dev/null || { echo "no nvidia-smi: not a GPU machine"; exit 2; }
fi

# ---- env ---------------------------------------------------------------------------------
[ "${CKPT_GPU_SELFCHECK:-0}" = 1 ] || {
    nvidia-smi --query-gpu=name,uuid,driver_version,memory.total,persistence_mode --format=csv
    nvcc --version 2>/dev/null | tail -2
    python3 -c 'import torch; print("torch", torch.__version__, torch.version.cuda)' 2>/dev/null
    id
} >"$OUT/env.txt" 2>&1
[ -f "$OUT/env.txt" ] && cat "$OUT/env.txt" && ok env

# ---- build the test programs -------------------------------------------------------------
B=$OUT/bin
mkdir -p "$B"
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")")}
have_nvcc=0
if [ "${CKPT_GPU_SELFCHECK:-0}" = 1 ]; then
    skp build "self-check with the fake driver"
elif command -v nvcc >/dev/null; then
    have_nvcc=1
    # drv_vadd links the toolkit's link stub; at run time it gets the real libcuda.so.1
    if [ -n "${CKPT_GPU_QUICK:-}" ]; then   # drv_vadd and rt_static only
        nvcc -ptx -arch=native -o "$B/kernels.ptx" "$ROOT/tests/gpu/kernels.cu" &&
        gcc -O2 -I"$CUDA_HOME/include" -o "$B/drv_vadd" "$ROOT/tests/gpu/drv_vadd.c" -L"$CUDA_HOME/lib64/stubs" -lcuda &&
        nvcc -O2 -arch=native -o "$B/rt_static" "$ROOT/tests/gpu/rt_counter.cu" && ok build || bad build quick
    elif { nvcc -ptx -arch=native -o "$B/kernels.ptx" "$ROOT/tests/gpu/kernels.cu" &&
         gcc -O2 -I"$CUDA_HOME/include" -o "$B/drv_vadd" "$ROOT/tests/gpu/drv_vadd.c" \
             -L"$CUDA_HOME/lib64/stubs" -lcuda &&
         nvcc -O2 -arch=native -o "$B/rt_static" "$ROOT/tests/gpu/rt_counter.cu" &&
         nvcc -O2 -arch=native --cudart shared -o "$B/rt_shared" "$ROOT/tests/gpu/rt_counter.cu" &&
         nvcc -O2 -arch=native --default-stream per-thread -o "$B/rt_ptds" "$ROOT/tests/gpu/rt_counter.cu" &&
         nvcc -O2 -arch=native -DMANAGED -o "$B/rt_managed" "$ROOT/tests/gpu/rt_counter.cu" &&
         gcc -O2 -I"$CUDA_HOME/include" -o "$B/cudiag" "$ROOT/tests/gpu/cudiag.c" -L"$CUDA_HOME/lib64/stubs" -lcuda
       } >"$OUT/build.log" 2>&1; then
        ok build
    else
        cat "$OUT/build.log"; bad build "nvcc/gcc failed"; have_nvcc=0
    fi
else
    skp build "no nvcc"
fi
# ---- ABI: our declarations against the toolkit (research/cuda.md §4.3) --------------------
if [ "${CKPT_GPU_SELFCHECK:-0}" != 1 ] && [ -f "$CUDA_HOME/include/cuda.h" ]; then
    if gcc -std=gnu11 -fsyntax-only -I"$ROOT" -I"$CUDA_HOME/include" "$ROOT/tests/gpu/abi_check.c" \
        >"$OUT/abi.log" 2>&1; then ok abi-decls; else cat "$OUT/abi.log"; bad abi-decls "see above"; fi
    stub=$CUDA_HOME/lib64/stubs/libcuda.so
    if [ -f "$stub" ]; then
        nm -D --defined-only "$stub" | awk '{print $3}' | sort -u >"$OUT/stub-exports.txt"
        grep -oE '^CU_(GEN|HOOK)\([A-Za-z0-9_]+' "$ROOT/cuda_hooks/cuda_funcs.def" | sed 's/.*(//' |
            sort -u >"$OUT/wrapped.txt"
        missing=$(comm -23 "$OUT/wrapped.txt" "$OUT/stub-exports.txt" | tr '\n' ' ')
        if [ -z "$missing" ]; then ok abi-names; else bad abi-names "not exported by the driver stub: $missing"; fi
    fi
fi

have_torch=0
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && have_torch=1

# program NAME -> command line (ITERS MS appended by the callers)
cmd_of() {
    case $1 in
        drv_vadd) echo "$B/drv_vadd $B/kernels.ptx" ;;
        drv_vadd4) echo "$B/drv_vadd $B/kernels.ptx" ;;
        rt_static|rt_shared|rt_ptds|rt_managed) echo "$B/$1" ;;
        rt_big|rt_user) echo "$B/rt_static" ;;
        torch) echo "python3 $ROOT/tests/gpu/torch_loop.py" ;;
        fake) echo "$BUILD/tests/cudaprogs/cuda_lcuda loop" ;;
    esac
}
progress_re() { case $1 in torch) echo '^step ' ;; *) echo '^iteration ' ;; esac; }

# ---- E1: lookup audit ---------------------------------------------------------------------
e1() { # name
    local n=$1 c log dump
    c=$(cmd_of "$n"); log=$OUT/e1-$n.log; dump=$OUT/e1-$n.dump
    # shellcheck disable=SC2086
    CKPT_LOG=debug CKPT_CUDA_SELFTEST=1 CKPT_CUDA_DUMP=$dump CKPT_DIR=$OUT/ck-e1 \
        LD_PRELOAD=$LIB timeout 300 $c 5 10 >"$log.out" 2>"$log" || { bad "e1-$n" "program failed (see $log)"; return; }
    grep -qE '^RESULT (ok|loss=)' "$log.out" || { bad "e1-$n" "no RESULT"; return; }
    if grep -q 'selftest: .* but ' "$log"; then bad "e1-$n" "pointer identity broken: $(grep -m1 'selftest: .* but ' "$log")"; return; fi
    grep -q 'untracked allocator variant' "$log" && { bad "e1-$n" "$(grep -m1 'untracked allocator' "$log")"; return; }
    local nl nw
    nl=$(grep -c 'cuda: lookup ' "$log"); nw=$(grep -c 'cuda: lookup .*(wrapped)' "$log")
    echo "  e1-$n: $nl lookups, $nw wrapped; $(grep 'tracked ' "$dump" | head -1)"
    case $n in
        rt_ptds)
            grep -qE 'calls cu(LaunchKernel|MemcpyHtoD_v2|MemcpyDtoH_v2|StreamSynchronize|MemAllocAsync)=' "$dump" &&
                { bad "e1-$n" "legacy-stream wrapper used in the per-thread build"; return; }
            grep -qE 'calls cuMemAllocAsync_ptsz=' "$dump" || { bad "e1-$n" "cuMemAllocAsync_ptsz not seen"; return; } ;;
        rt_*)
            grep -qE 'calls cuMemAlloc_v2=' "$dump" && grep -qE 'calls cuMemAllocAsync=' "$dump" &&
                grep -qE 'calls cuMemHostAlloc=' "$dump" || { bad "e1-$n" "cudaMalloc/Async/Host not all seen"; return; } ;;
        drv_vadd)
            grep -qE 'tracked ctx=1 alloc=4 .* module=1 .* function=2 .* global=1 ' "$dump" ||
                { bad "e1-$n" "unexpected tracking: $(grep tracked "$dump")"; return; } ;;
        torch)
            grep -qE 'alloc=[1-9]' "$dump" || { bad "e1-$n" "no allocation tracked"; return; } ;;
    esac
    ok "e1-$n"
}

# ---- E3 / E5: checkpoint in process, then restore in a new process ------------------------
# run_ckpt NAME ITERS MS AT - runs under libckpt, checkpoints after progress line AT,
# lets it finish (E3) or kills it and restores (E5).
# The RESULT line without the fields that legitimately differ between two
# processes (device addresses, allocator reservations).
norm() { sed -E 's/ (ib|x)=(0x)?[0-9a-f]+//; s/ reserved=[0-9]+//'; }
result_of() { grep '^RESULT' "$1" | norm; }

ref_result() { # name iters ms -> normalised RESULT line of an uninterrupted run
    local c; c=$(cmd_of "$1")
    # shellcheck disable=SC2086
    timeout 600 $c "$2" "$3" 2>"$OUT/ref-$1.err" | grep '^RESULT' | norm
}

# The device address printed before the checkpoint must be the one the
# restored run reports at the end (the driver restores at the same addresses).
same_address() { # out-before rout-after
    local a b
    a=$(sed -n 's/^buffer [a-z]*=//p' "$1" | head -1)
    b=$(grep '^RESULT' "$2" | sed -nE 's/.* (ib|x)=((0x)?[0-9a-f]+).*/\2/p')
    [ -z "$a" ] || [ -z "$b" ] || [ "$a" = "$b" ]
}

wait_line() { # file regex timeout_s
    local i=0
    until grep -qE "$2" "$1" 2>/dev/null; do
        sleep 0.1; i=$((i + 1)); [ $i -lt $(( $3 * 10 )) ] || return 1
    done
}

snapshot_proc() { # pid file
    { echo "== maps (nvidia)"; grep -E 'nvidia|uvm' "/proc/$1/maps"
      echo "== fds"; ls -l "/proc/$1/fd" | awk '{print $NF}' | sort | uniq -c
      echo "== threads"; cat /proc/"$1"/task/*/comm | sort | uniq -c; } >"$2" 2>&1
}

e3() { # name
    local n=$1 c pid ref
    local d=$OUT/e3-$n
    c=$(cmd_of "$n"); mkdir -p "$d"
    ref=$(ref_result "$n" 30 100)
    # shellcheck disable=SC2086
    ( cd "$d" && CKPT_LOG=info CKPT_DIR=$d/ck LD_PRELOAD=$LIB exec $c 30 100 >out 2>err ) &
    pid=$!
    wait_line "$d/out" "$(progress_re "$n")5\$" 120 || { bad "e3-$n" "no progress"; kill -9 $pid; return; }
    snapshot_proc $pid "$d/before.txt"
    kill -USR1 $pid
    wait_line "$d/err" 'checkpoint 1 (written|refused|failed)' 300
    snapshot_proc $pid "$d/after.txt"
    wait $pid; local rc=$?
    grep -E 'cuda:|checkpoint 1' "$d/err" | sed 's/^/  /'
    if [ $rc != 0 ] || [ "$(result_of "$d/out")" != "$ref" ]; then bad "e3-$n" "finished with $rc / result differs"; return; fi
    grep -q 'checkpoint 1 written' "$d/err" || { bad "e3-$n" "$(grep -m1 'checkpoint 1' "$d/err")"; return; }
    ok "e3-$n"
}

# RUNAS (e.g. setpriv ... --): the checkpointed run and the restore run as that user
e5() { # name [iters]
    local n=$1 it=${2:-40} c pid ref
    local d=$OUT/e5-$n
    c=$(cmd_of "$n"); mkdir -p "$d"
    [ -z "${RUNAS:-}" ] || chmod 1777 "$d"
    ref=$(ref_result "$n" "$it" 100)
    [ -n "$ref" ] || { bad "e5-$n" "reference run failed"; return; }
    # shellcheck disable=SC2086
    ( cd "$d" && CKPT_LOG=${E5_LOG:-info} CKPT_DIR=$d/ck LD_PRELOAD=$LIB exec ${RUNAS:-} $c "$it" 100 >out 2>err ) &
    pid=$!
    wait_line "$d/out" "$(progress_re "$n")10\$" 120 || { bad "e5-$n" "no progress"; kill -9 $pid; return; }
    kill -USR1 $pid
    wait_line "$d/err" 'checkpoint 1 (written|refused|failed)' 300 || { bad "e5-$n" "checkpoint timed out"; kill -9 $pid; return; }
    kill -9 $pid; wait $pid 2>/dev/null
    grep -E 'cuda:|checkpoint 1|error' "$d/err" | sed 's/^/  /'
    grep -q 'checkpoint 1 written' "$d/err" || { bad "e5-$n" "$(grep -m1 'checkpoint 1' "$d/err")"; return; }
    local t0 t1; t0=$(date +%s%N)
    # shellcheck disable=SC2086
    local lim=${CKPT_GPU_RESTORE_S:-150} rp k=0
    ( cd "$d" && exec timeout "$lim" ${RUNAS:-} "$RESTORE" ck/latest >rout 2>rerr ) &
    rp=$!
    while kill -0 $rp 2>/dev/null && [ $k -lt $((lim - 15)) ]; do sleep 1; k=$((k + 1)); done
    if kill -0 $rp 2>/dev/null; then
        # still running long after the reference run would have ended: where it waits
        local p0 q; p0=$(basename "${c%% *}")
        for q in $(pgrep -x "${p0:0:15}"); do
            echo "== pid $q"; ls -l /proc/$q/fd | awk 'NR>1{print $(NF-2), $NF}'
            for t in /proc/$q/task/*; do echo "task ${t##*/} $(cat $t/comm) wchan=$(cat $t/wchan) $(cat $t/syscall)"; done
            command -v cuda-gdb >/dev/null &&
                timeout 60 cuda-gdb -q -batch -p "$q" -ex 'info threads' -ex 'thread apply all bt 12' 2>&1 | grep -E '^(#|Thread|\*| +[0-9]+ +Thread)' | head -80
        done >"$d/hang.txt" 2>&1
        sed 's/^/  hang: /' "$d/hang.txt"
    fi
    wait $rp; local rc=$?
    t1=$(date +%s%N)
    echo "  e5-$n: checkpoint $(du -sh "$(readlink -f "$d/ck/latest")" | cut -f1), restored run $(( (t1 - t0) / 1000000 )) ms"
    grep -E 'cuda:|restore|error' "$d/rerr" | sed 's/^/  /'
    [ $rc = 0 ] || { bad "e5-$n" "restored run exited $rc"; return; }
    [ "$(result_of "$d/rout")" = "$ref" ] || { bad "e5-$n" "result differs: $(result_of "$d/rout") vs $ref"; return; }
    same_address "$d/out" "$d/rout" || { bad "e5-$n" "device address changed across restore"; return; }
    ok "e5-$n"
}

gate_managed() {
    local d=$OUT/gate pid
    mkdir -p "$d"
    ( cd "$d" && CKPT_DIR=$d/ck LD_PRELOAD=$LIB exec "$B/rt_managed" 30 100 >out 2>err ) &
    pid=$!
    wait_line "$d/out" '^iteration 5$' 120 || { bad gate-managed "no progress"; kill -9 $pid; return; }
    kill -USR1 $pid
    wait $pid; local rc=$?
    if grep -q 'refused: CUDA managed memory is in use' "$d/err" && [ $rc = 0 ] && grep -q '^RESULT ok' "$d/out"; then
        ok gate-managed
    else
        bad gate-managed "rc=$rc; $(tail -2 "$d/err")"
    fi
}

if [ "${CKPT_GPU_SELFCHECK:-0}" = 1 ]; then
    e3 fake
    e5 fake
    echo; echo "$pass passed, $fail failed, $skip skipped (logs in $OUT)"
    [ $fail = 0 ]; exit
fi
if [ $have_nvcc = 1 ]; then
    # the process as the driver leaves it checkpointed (descriptors, threads, mappings)
    if [ -n "${CKPT_GPU_QUICK:-}" ]; then :
    elif timeout 120 "$B/cudiag" >"$OUT/cudiag.txt" 2>&1 && grep -q '^RESULT ok' "$OUT/cudiag.txt"; then ok cudiag
    else bad cudiag "$(tail -1 "$OUT/cudiag.txt")"; fi
    [ -n "${CKPT_GPU_ONLY:-}" ] && E5_ONLY=1
    for p in ${CKPT_GPU_ONLY:-}; do E5_LOG=debug e5 $p; done
fi
if [ -n "${E5_ONLY:-}" ]; then echo; echo "$pass passed, $fail failed, $skip skipped (logs in $OUT)"; [ $fail = 0 ]; exit; fi
if [ $have_nvcc = 1 ] && [ -z "${E5_ONLY:-}" ]; then
    for p in drv_vadd rt_static rt_shared rt_ptds; do e1 $p; done
    e3 drv_vadd
    for p in drv_vadd rt_static rt_shared rt_ptds; do e5 $p; done
    gate_managed
    # 4 GiB of device memory (hash pattern, stirred each step) must come back bit for bit
    RT_MB=${CKPT_GPU_BIG_MB:-4096} e5 rt_big 30
    # an ordinary user (most users are not root)
    if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
        chmod 755 "$OUT" "$B"
        RUNAS="setpriv --reuid=65534 --regid=65534 --clear-groups --" e5 rt_user
    fi
fi
if [ $have_torch = 1 ]; then
    e1 torch
    e5 torch 60
    PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True e5 torch 60
else
    skp torch "no PyTorch with CUDA"
fi
if python3 -c 'import cuda.bindings.driver' 2>/dev/null; then
    CKPT_LOG=debug LD_PRELOAD=$LIB python3 -c '
from cuda.bindings import driver as d
d.cuInit(0); e, dev = d.cuDeviceGet(0); e, ctx = d.cuDevicePrimaryCtxRetain(dev); d.cuCtxSetCurrent(ctx)
e, p = d.cuMemAlloc(1 << 20); print("alloc", e)' >"$OUT/e1-bindings.out" 2>"$OUT/e1-bindings.log"
    echo "  e1-bindings: $(grep -c 'cuda: lookup' "$OUT/e1-bindings.log") lookups, $(grep -c 'track alloc' "$OUT/e1-bindings.log") allocations tracked"
    if grep -q 'track alloc' "$OUT/e1-bindings.log"; then ok e1-bindings
    else bad e1-bindings "cuMemAlloc through cuda-bindings not tracked"; fi
fi

echo
echo "$pass passed, $fail failed, $skip skipped (logs in $OUT)"
[ $fail = 0 ]
