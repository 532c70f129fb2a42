#!/usr/bin/env bats
# writer_read.bats - CKPT_WRITER_READ: the writer reads the program's memory in
# place or through /proc/self/mem (auto measures both and keeps the faster).
# Each way must store the same memory: the restored run prints exactly what
# the uninterrupted run printed, with fork capture and with copy capture.

load ../lib/ckpt

setup_file() {
    load ../lib/ckpt
    ck_probe
}

setup() {
    ck_work wread
}

teardown() { ck_cleanup; }

# the writer's choice, from its log line
read_mode() { cat "$WORK"/r*.err 2>/dev/null | sed -n 's/.*writer: reads memory \(in place\|through [^ ]*\).*/\1/p' | sort -u; }

@test "writer reads in place: bigmem and 4 pthreads restore exactly" {
    export CK_ENV="CKPT_WRITER_READ=direct CKPT_LOG=debug"
    ck_roundtrip "$WORK" bigmem "$PROGS/bigmem" "$(ck_pick 256 512)" 1
    ck_roundtrip "$WORK" threads_mt "$PROGS/threads_mt" "$(ck_pick 70 200)"
    [ -z "$(read_mode)" ]              # no measurement when told
}

@test "writer reads through /proc/self/mem: bigmem and 4 pthreads restore exactly" {
    export CK_ENV="CKPT_WRITER_READ=mem CKPT_LOG=debug"
    ck_roundtrip "$WORK" bigmem "$PROGS/bigmem" "$(ck_pick 256 512)" 1
    ck_roundtrip "$WORK" threads_mt "$PROGS/threads_mt" "$(ck_pick 70 200)"
}

@test "writer reads through /proc/self/mem with copy capture: OpenMP restores exactly" {
    export CK_ENV="CKPT_WRITER_READ=mem CKPT_CAPTURE=copy CKPT_LOG=debug"
    ck_roundtrip "$WORK" loop_omp "$PROGS/loop_omp" "$(ck_pick 60 150)"
}

@test "auto: the writer measures both ways on a large program and says which it took" {
    export CK_ENV="CKPT_LOG=debug"
    ck_roundtrip "$WORK" bigmem "$PROGS/bigmem" "$(ck_pick 256 512)" 1
    # every checkpoint measures anew and takes one of the two ways
    m=$(read_mode | tr '\n' ',')
    echo "# chose: $m"
    [ -n "$m" ]
    read_mode | while read -r l; do [ "$l" = "in place" ] || [ "$l" = "through /proc/self/mem" ]; done
}

@test "an unknown CKPT_WRITER_READ is reported and the checkpoint still works" {
    export CK_ENV="CKPT_WRITER_READ=sideways"
    ck_roundtrip "$WORK" single "$PROGS/single" "$(ck_pick 60 150)"
    grep -q "CKPT_WRITER_READ=sideways: use auto, direct or mem" "$WORK"/r*.err
}

@test "writer reads through /proc/self/mem without compression threads (CKPT_THREADS=1)" {
    export CK_ENV="CKPT_WRITER_READ=mem CKPT_THREADS=1"
    ck_roundtrip "$WORK" bigmem "$PROGS/bigmem" "$(ck_pick 256 512)" 1
}

# The file itself: written with O_DIRECT by the writer's I/O thread where the
# file system takes it, through the page cache otherwise or when told.
@test "file written through the page cache (CKPT_DIRECT_IO=0): bigmem restores exactly" {
    export CK_ENV="CKPT_DIRECT_IO=0 CKPT_LOG=debug"
    ck_roundtrip "$WORK" bigmem "$PROGS/bigmem" "$(ck_pick 256 512)" 1
    grep -q "writer: writes the file through the page cache" "$WORK"/r*.err
}

@test "file written with O_DIRECT where the file system allows it: 4 pthreads restore exactly" {
    export CK_ENV="CKPT_LOG=debug"
    ck_roundtrip "$WORK" threads_mt "$PROGS/threads_mt" "$(ck_pick 70 200)"
    grep -q "writer: writes the file \(with O_DIRECT\|through the page cache\)" "$WORK"/r*.err
    # a file system that takes O_DIRECT at open must be written that way
    if grep -q "writer: writes the file through the page cache" "$WORK"/r*.err; then
        python3 -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT|os.O_DIRECT, 0o600))' \
            "$WORK/odirect" 2>/dev/null && return 1 || true
    fi
}

# Resident zero pages between data pages: blocks are stored without them
# (codec ZPAGES) and come back as zero.
@test "mostly-zero grid: blocks stored without their zero pages restore exactly" {
    ck_roundtrip "$WORK" halfzero "$PROGS/halfzero" "$(ck_pick 64 256)" "$(ck_pick 60 120)"
    n=$("$CKPT_BUILD/bin/ckpt" inspect --json "$CK_CKPT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["memory"]["zpages_blocks"])')
    echo "# zpages blocks: $n"
    [ "$n" -ge 8 ]
}

# Thread backtraces are unwound in a fork of the writer that leaves out large
# data mappings: a program with a 256 MiB array still gets symbolized frames.
@test "backtraces of a program with a large array name its functions" {
    ck_roundtrip "$WORK" bigmem "$PROGS/bigmem" "$(ck_pick 256 512)" 1
    "$CKPT_BUILD/bin/ckpt" inspect "$CK_CKPT" > "$WORK/inspect.txt"
    grep -A12 '^threads' "$WORK/inspect.txt" | sed 's/^/# /'
    grep -q '^    #[0-9].* main+0x' "$WORK/inspect.txt"
}

# A program that keeps one thread busy on a machine with more CPUs: the
# writer keeps to the other CPUs (it samples the program's threads when it
# starts), and the restore is exact.
@test "a busy single-threaded program: the writer keeps off its CPU, restore exact" {
    export CK_ENV="CKPT_LOG=debug"
    ck_roundtrip "$WORK" single "$PROGS/single" 150
    [ "$(nproc)" -ge 2 ] || skip "one CPU: nothing to keep off"
    grep -h "busy program thread" "$WORK"/r*.err | sed 's/^/# /'
    grep -q "writer: 1 busy program thread; the writer keeps to the [0-9]* other CPU" "$WORK"/r*.err
}
