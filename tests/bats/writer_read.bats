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
