#!/usr/bin/env bats
# cuda.bats - CUDA driver interposition, device-state tracking, the feature
# gate and the in-process checkpoint orchestration, against the fake
# libcuda.so.1 (tests/fakecuda/).  No GPU and no CUDA toolkit needed.
#
# Programs run with LD_PRELOAD=libckpt.so and LD_LIBRARY_PATH at the fake
# driver; CKPT_CUDA_DUMP=<file> makes libckpt write what it tracked at exit
# ("ckpt-cuda[pid]: tracked ctx=1 alloc=5 ...", one "calls <variant>=N" line
# per interposed variant that was called, one "obj ..." line per object).

setup() {
    BUILD=${CKPT_BUILD:-$BATS_TEST_DIRNAME/../../build}
    LIB=$BUILD/lib/libckpt.so
    CP=$BUILD/tests/cudaprogs
    export LD_LIBRARY_PATH=$BUILD/tests/fakecuda
    OTHER=$BUILD/tests/fakecuda/libotherpreload.so
    LOOKUPS=$BATS_TEST_DIRNAME/../fakecuda/cudart13-lookups.txt
    WORK=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ckpt-cuda.XXXXXX")
    DUMP=$WORK/dump
    unset CKPT_CUDA CKPT_CUDA_DATA CKPT_LOG
}

teardown() {
    rm -rf "$WORK"
}

# hooked CMD... - runs CMD under libckpt with the dump enabled (bats `run`).
hooked() {
    run timeout 30 env LD_PRELOAD="$LIB" CKPT_CUDA_DUMP="$DUMP" "$@"
}

# dump_has LINE-REGEX - the dump of the (last) run has a matching line.
dump_has() {
    grep -qE "$1" "$DUMP" || { echo "dump lacks: $1"; cat "$DUMP"; return 1; }
}

@test "-lcuda program: every object kind is tracked and the results are right" {
    hooked "$CP/cuda_lcuda"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"RESULT ok"* ]]
    dump_has "tracked ctx=1 alloc=5 managed=0 host=1 host_reg=0 va_reserve=1 vmm_handle=1 vmm_map=1 pool=0 module=1 library=0 function=2 kernel=0 global=1 stream=1 event=1$"
    dump_has "calls cuMemAlloc_v2=3$"
    dump_has "calls cuLaunchKernel=1$"
    dump_has "obj function .* name=vadd$"
    dump_has "obj global key=0x[0-9a-f]+ size=4 .* name=counter$"
    dump_has "gate ok$"
}

@test "frees, cuMemFreeAsync and cuCtxCreate_v4 are tracked" {
    hooked "$CP/cuda_lcuda" free
    [ "$status" -eq 0 ]
    dump_has "tracked ctx=1 alloc=3 "
    dump_has "calls cuMemFreeAsync=1$"
    hooked "$CP/cuda_lcuda" ctx4
    [ "$status" -eq 0 ]
    dump_has "calls cuCtxCreate_v4=1$"
    dump_has "tracked ctx=1 alloc=5 "
}

@test "300000 allocate/free pairs: the table stays exact (tombstone rebuilds)" {
    hooked "$CP/cuda_lcuda" churn 300000
    [ "$status" -eq 0 ]
    [[ "$output" == *"RESULT ok kept=300"* ]]
    dump_has "tracked ctx=1 alloc=305 "
    dump_has "calls cuMemFree_v2=299700$"
}

@test "per-thread default stream build: only the _ptds/_ptsz wrappers run" {
    hooked "$CP/cuda_lcuda_ptds"
    echo "$output"
    [ "$status" -eq 0 ]
    dump_has "calls cuLaunchKernel_ptsz=1$"
    dump_has "calls cuMemcpyHtoD_v2_ptds=3$"
    dump_has "calls cuMemcpyDtoH_v2_ptds=2$"
    dump_has "calls cuMemAllocAsync_ptsz=1$"
    ! grep -qE "calls (cuLaunchKernel|cuMemcpyHtoD_v2|cuMemcpyDtoH_v2|cuMemAllocAsync)=" "$DUMP"
    dump_has "tracked ctx=1 alloc=5 "
}

@test "cudart's recorded lookup sequence: cuGetProcAddress results map to wrappers by pointer identity" {
    hooked "$CP/cuda_rtlike_dl" "$LOOKUPS" "$WORK/lookups"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"RESULT ok lookups=440"* ]]
    L=$WORK/lookups
    grep -qx "dlsym cuGetProcAddress_v2 -> cuGetProcAddress_v2 libckpt.so" "$L"
    grep -qx "cuGetProcAddress 11030 0 -> 0 0 cuGetProcAddress libckpt.so" "$L"
    grep -qx "cuGetProcAddress 12000 0 -> 0 0 cuGetProcAddress_v2 libckpt.so" "$L"
    grep -qx "cuMemAlloc 3020 0 -> 0 0 cuMemAlloc_v2 libckpt.so" "$L"
    grep -qx "cuMemcpyHtoD 7000 2 -> 0 0 cuMemcpyHtoD_v2_ptds libckpt.so" "$L"
    grep -qx "cuLaunchKernel 7000 2 -> 0 0 cuLaunchKernel_ptsz libckpt.so" "$L"
    grep -qx "cuMemAllocAsync 11020 2 -> 0 0 cuMemAllocAsync_ptsz libckpt.so" "$L"
    grep -qx "cuCtxSynchronize 2000 0 -> 0 0 cuCtxSynchronize libckpt.so" "$L"
    grep -qx "cuCtxSynchronize 13000 0 -> 0 0 cuCtxSynchronize_v2 libckpt.so" "$L"
    grep -qx "cuDevicePrimaryCtxRelease 7000 0 -> 0 0 cuDevicePrimaryCtxRelease libckpt.so" "$L"
    # unknown to the driver: SUCCESS, NULL, symbolStatus 1 - passed through unchanged
    grep -qx "cuDeviceGetP2PAttribute 8000 0 -> 0 1 NULL -" "$L"
    grep -qx "toonew -> 1" "$L"
    grep -qx "v1-v2-agree 1" "$L"
    grep -qx "exporttable -> 801" "$L"
    # no lookup hands out a raw driver pointer for a variant we interpose
    [ "$(grep -c ' libcuda.so.1$' "$L")" -eq 0 ]
    [ "$(grep -c ' libckpt.so$' "$L")" -ge 100 ]
    dump_has "tracked ctx=1 alloc=4 managed=0 host=1 "
    dump_has "calls cuMemcpyHtoD_v2_ptds=2$"
}

@test "the lookup replay without libckpt sees the fake driver's own pointers" {
    run timeout 30 "$CP/cuda_rtlike_dl" "$LOOKUPS" "$WORK/lookups"
    [ "$status" -eq 0 ]
    grep -qx "cuMemAlloc 3020 0 -> 0 0 cuMemAlloc_v2 libcuda.so.1" "$WORK/lookups"
    grep -qx "cuMemcpyHtoD 7000 2 -> 0 0 cuMemcpyHtoD_v2_ptds libcuda.so.1" "$WORK/lookups"
}

@test "dlopen + dlsym per name (Triton style): every pointer is a wrapper, library API tracked" {
    hooked "$CP/cuda_dlsym_dl"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"RESULT ok"* ]]
    ! grep -q -- "-> libcuda" <<<"$output"
    [ "$(grep -c -- '-> libckpt.so' <<<"$output")" -eq 13 ]
    dump_has "tracked ctx=1 alloc=2 .* library=1 function=1 kernel=1 global=1 "
}

@test "two interposers, both preload orders: each sees every cuMemAlloc_v2, no recursion" {
    for order in "$LIB $OTHER" "$OTHER $LIB"; do
        run timeout 20 env LD_PRELOAD="$order" CKPT_CUDA_DUMP="$DUMP" "$CP/cuda_lcuda"
        echo "order: $order"; echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"RESULT ok"* ]]
        [[ "$output" == *"other: cuMemAlloc_v2 calls=3"* ]]
        dump_has "calls cuMemAlloc_v2=3$"
        rm -f "$DUMP"
    done
}

@test "fork: the hooks are inert in the child, the parent keeps working" {
    hooked "$CP/cuda_fork"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"child alloc rc=3"* ]]
    [[ "$output" == *"RESULT ok"* ]]
    dump_has "inert \(forked child\)$"
    dump_has "tracked ctx=1 alloc=2 "
}

@test "a program that never uses CUDA: libcuda is never loaded, dlsym behaves as without libckpt" {
    run "$BUILD/tests/progs/cuda_none"
    plain=$output
    hooked "$BUILD/tests/progs/cuda_none"
    [ "$status" -eq 0 ]
    [ "$output" = "$plain" ]
    [[ "$output" == *"cuInit=null"*"libcuda_mapped=0"* ]]
    dump_has "inactive \(driver not loaded\)$"
}

@test "CKPT_CUDA=off: pure pass-through, nothing tracked" {
    hooked env CKPT_CUDA=off "$CP/cuda_lcuda"
    [ "$status" -eq 0 ]
    [[ "$output" == *"RESULT ok"* ]]
    dump_has "active=0 "
    dump_has "tracked ctx=0 alloc=0 "
}

@test "managed memory: the gate names the reason" {
    hooked "$CP/cuda_lcuda" managed
    [ "$status" -eq 0 ]
    dump_has "tracked ctx=1 alloc=5 managed=1 "
    dump_has "gate refused: CUDA managed memory is in use \(cuMemAllocManaged or __managed__\): the CUDA driver cannot checkpoint it$"
}

@test "fake driver: device pointers fault on host access, handles go stale after a reset" {
    run timeout 10 env LD_PRELOAD="$LIB" "$CP/cuda_lcuda" deref
    [ "$status" -eq 139 ]
    [[ "$output" != *"host-accessible"* ]]
    hooked "$CP/cuda_lcuda" reset
    [ "$status" -eq 0 ]
    [[ "$output" == *"after reset: getfunction=400 free=201"* ]]
}

@test "fake driver: streams are asynchronous (a missing synchronize reads stale data)" {
    run timeout 20 "$CP/cuda_orch_hooked" stale
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"stale=1"* ]]
    [[ "$output" == *"synced=1"* ]]
}

@test "checkpoint orchestration in process: Lock, Checkpoint, serialise, data copies, Restore, Unlock" {
    run timeout 30 env CKPT_CUDA_DATA=1 "$CP/cuda_orch_hooked" cycle
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"before_checkpoint=0"* ]]
    # CHECKPOINTED, and the device memory mapping is gone from the process
    [[ "$output" == *"state=2 device_mapped=0"* ]]
    [[ "$output" == *"image version=1.0 devices=1 records=7 flags=0x3 driver=13000 device_bytes=16384"* ]]
    [[ "$output" == *"device 0 name=Fake CUDA Device 0 uuid0=f0 total=268435456"* ]]
    [[ "$output" == *"records ctx=1 alloc=2 module=1 function=2 global=0 stream=1"* ]]
    [[ "$output" == *"record function name=slow_fill"* ]]
    # the kernel still running at checkpoint time finished before the copy
    [[ "$output" == *"data buffers=2 a_synced=1 b_ok=1"* ]]
    [[ "$output" == *"after_checkpoint=0  state=0 device_mapped=1"* ]]
    [[ "$output" == *"after: a=1 b=1"* ]]
}

@test "gate: managed memory refuses the checkpoint, the device stays RUNNING" {
    run timeout 20 "$CP/cuda_orch_hooked" managed
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"gate=-1 CUDA managed memory is in use"* ]]
    [[ "$output" == *"before_checkpoint=-1 state=0"* ]]
    [[ "$output" == *"gate after free=0"* ]]
}

@test "a driver without checkpoint support is refused with a clear message" {
    run timeout 20 env FAKECUDA_NO_CKPT_API=1 "$CP/cuda_orch_hooked" noapi
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"before_checkpoint=-1 the CUDA driver (version 13000) does not support checkpointing"* ]]
}

@test "a failed Restore is reported, and the driver's later 304 is explained" {
    run timeout 20 env FAKECUDA_RESTORE_FAIL=1 "$CP/cuda_orch_hooked" restorefail
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"after_checkpoint=-5 cuCheckpointProcessRestore failed: CUDA_ERROR_OUT_OF_MEMORY (2)"* ]]
    [[ "$output" == *"again=-5 cuCheckpointProcessRestore failed: CUDA_ERROR_OPERATING_SYSTEM (304)"*"state=2"* ]]
}

@test "a call stuck in the driver makes Lock time out instead of hanging; a retry works" {
    run timeout 20 env FAKECUDA_HOLD_US=2000000 "$CP/cuda_orch_hooked" locktimeout
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"before_checkpoint=-2 cuCheckpointProcessLock timed out after 300 ms"*"state=0"* ]]
    [[ "$output" == *"retry=0 state=2"* ]]
    [[ "$output" == *"after=0 state=0"* ]]
}

@test "CKPT_LOG=debug: lookups, tracking and the pointer-identity self-test are logged" {
    run timeout 30 env LD_PRELOAD="$LIB" CKPT_LOG=debug CKPT_CUDA_SELFTEST=1 "$CP/cuda_lcuda"
    [ "$status" -eq 0 ]
    [[ "$output" == *"cuda: driver libcuda.so.1 resolved"* ]]
    [[ "$output" == *"cuda: selftest: cuMemcpyHtoD_v2_ptds ok"* ]]
    [[ "$output" == *"cuda: track alloc key=0x"*" size=16384"* ]]
    [[ "$output" != *"selftest: "*" but "* ]]
}

@test "an AddressSanitizer program under libckpt: the sanitizer's start-up dlsym calls work" {
    asan=$(gcc -print-file-name=libasan.so 2>/dev/null)
    [ -f "$asan" ] || skip "no libasan"
    run timeout 30 env ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$asan $LIB" CKPT_CUDA_DUMP="$DUMP" "$CP/cuda_lcuda_asan"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"RESULT ok"* ]]
    dump_has "tracked ctx=1 alloc=5 "
}

@test "gate: IPC handles, a second GPU, MIG and MPS are each refused with their reason" {
    run timeout 20 "$CP/cuda_orch_hooked" gate
    [[ "$output" == *"gate=0 ok"* ]]
    run timeout 20 "$CP/cuda_orch_hooked" gate ipc
    echo "$output"
    [[ "$output" == *"gate=-1 CUDA IPC or shareable memory handles were used"* ]]
    run timeout 20 env FAKECUDA_DEVICES=2 "$CP/cuda_orch_hooked" gate multigpu
    echo "$output"
    [[ "$output" == *"gate=-1 more than one GPU (or peer access) is in use"* ]]
    run timeout 20 env FAKECUDA_MIG=1 "$CP/cuda_orch_hooked" gate
    echo "$output"
    [[ "$output" == *"gate=-1 the program runs on a MIG instance"* ]]
    mkdir -p "$WORK/mps" && touch "$WORK/mps/control"
    run timeout 20 env CUDA_MPS_PIPE_DIRECTORY="$WORK/mps" "$CP/cuda_orch_hooked" gate
    echo "$output"
    [[ "$output" == *"gate=-1 the program is an MPS client"* ]]
}

@test "RTLD_NEXT from the program and from a dlopen()ed library: same answers (and dlerror) as glibc alone" {
    PLUGIN=$BUILD/tests/fakecuda/libnextplugin.so
    run "$CP/cuda_rtldnext_dl" "$PLUGIN"
    [ "$status" -eq 0 ]
    plain=$output
    hooked "$CP/cuda_rtldnext_dl" "$PLUGIN"
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$output" = "$plain" ]
    [[ "$output" == *"plugin next malloc -> libc.so.6"* ]]
    [[ "$output" == *"plugin next missing -> NULL, dlerror set"* ]]
}

@test "the restored-process path: Restore and Unlock bring the buffers back, state RUNNING" {
    run timeout 20 "$CP/cuda_orch_hooked" newproc
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"before_checkpoint=0"* ]]
    [[ "$output" == *"after_restore=0 state=0 a=1"* ]]
}

@test "fake driver: the checkpoint API's state machine and error codes" {
    run timeout 20 "$CP/cuda_orch_hooked" states
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"running: unlock=401 checkpoint=401 restore=401 foreign=1 reserved=1"* ]]
    [[ "$output" == *"lock=0 state=1 lock-again=401"* ]]
    [[ "$output" == *"checkpoint=0 state=2 unlock=401"* ]]
    [[ "$output" == *"restore=0 state=1 unlock=0 state=0"* ]]
}
