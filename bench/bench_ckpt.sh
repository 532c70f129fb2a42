#!/usr/bin/env bash
# bench_ckpt.sh - what a checkpoint costs the program, beside same-run references.
#
# For each memory size (BENCH_CKPT_MB, default "1024 4096"), capture
# (BENCH_CAPTURES, default "fork wp copy auto"; above 1 GiB
# BENCH_CAPTURES_LARGE, the same by default; "auto", the default, is shown
# with what it chose), write pattern
# (sparse: one word per 64 pages per step; all: a stencil sweep that rewrites
# every page each step) and thread count (1, 2), bench_ckpt (bench/bench_ckpt.c)
# fills memory of the "mixed" shape (75 % zero pages, 25 % simulation-like
# doubles; every page resident) and runs steps; one checkpoint is taken in
# the middle.  Measured in the same run:
#   fork      first fork() of the same process shape after it wrote its memory
#   pause     how long libckpt stopped the program (its own log line)
#   extra     runtime the checkpoint added (the pause, the capture, the writer
#             competing for cores and memory bandwidth): the steps from the
#             trigger until the file is durable (plus 3 steps) beyond the
#             run's median step, less the same window of a run without the
#             checkpoint; median of BENCH_REPS (3) alternating pairs for the
#             write-everything rows at 1 GiB (see window_sum)
#   (every run, with or without the measured checkpoint, first takes one warm-up
#   checkpoint, BENCH_WARMUP=1, before its measured steps: the staging area of
#   copy and wp capture is then in place, as in a periodically checkpointed run)
#   capture   the part of it in the steps the capture slowed (pause, faults,
#             copy): the three slowest steps beyond the median step, less the
#             same for the run without the measured checkpoint
#   memcpy    one memcpy of the resident memory
#   ckpt      trigger -> durable file (libckpt's log line)
#   writer cpu  CPU time of the writer process (user + sys): what the
#             checkpoint takes from a program that keeps every core busy
#   zstd -T2  `zstd -1 -T2` of the non-zero pages of the same memory (best of 3)
#   size      checkpoint file / resident memory
#   restore   ckpt-restore until the program runs again (it exits at once)
#   read      `ckpt verify` of the file: read + checksum + decompress it all
#             (restore and read: best of 3 alternating runs)
# Prints one markdown section.
set -u
B=$CKPT_BUILD/bench/bench_ckpt
LIB=$CKPT_BUILD/lib/libckpt.so
REST=$CKPT_BUILD/bin/ckpt-restore
TOOL=$CKPT_BUILD/bin/ckpt
SIZES=${BENCH_CKPT_MB:-1024 4096}
W=$(mktemp -d /tmp/ckpt-bench.XXXXXX)
trap 'pkill -9 -f "$W" 2>/dev/null; rm -rf "$W"' EXIT

now_ms() { date +%s%3N; }
declare -A IDLE_CK IDLE_LINE ZSTD_MS
# top3 MEDIAN - the three slowest steps of the last run, beyond MEDIAN, summed (ms)
top3() {
    awk -v m="$1" '{ print $1 - m }' "$W/steps" | sort -rn | head -3 |
        awk '{ if ($1 > 0) s += $1 } END { printf "%.0f", s }'
}
# window_sum TRIG_MS CKPT_MS - the steps of the last run from TRIG_MS until
# 3 median steps (at least 200 ms) after CKPT_MS more (or the end of the
# run), each less the median step of that run, summed (ms).  The runs
# without the measured checkpoint are summed over the same window, and what
# the checkpoint added ("extra") is the difference of the medians of the two
# sums over BENCH_REPS alternating pairs (the steps of this machine's
# programs jump by 40-120 ms every half second or so, with or without a
# checkpoint: single runs, or two whole-run totals, differ by more than the
# effect measured).
window_sum() {
    local med
    med=$(cut -d' ' -f1 "$W/steps_at" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] + 0 }')
    awk -v t0="$1" -v ck="$2" -v med="$med" '
        BEGIN { m = 3 * med; if (m < 200) m = 200 }
        { d[NR] = $1; e[NR] = $2 }
        END {
            t1 = ck > 0 ? t0 + ck + m : e[NR] + 1
            for (i = 1; i <= NR; i++) if (e[i] >= t0 && e[i] - d[i] <= t1) x += d[i] - med
            printf "%.0f", x
        }' "$W/steps_at"
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] + 0 }'; }
# keep_min VAR MS - VAR becomes MS if it is empty or larger
keep_min() { local -n v=$1; if [ -z "$v" ] || [ "$2" -lt "$v" ]; then v=$2; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# run_once SIZE WRITE THREADS STEPS CKPT_AT_MS [CAPTURE] -> sets T_TOTAL PAUSE CKMS FILE
run_once() {
    local size=$1 write=$2 th=$3 steps=$4 at=$5 cap=${6:-fork}
    local ckd=$W/ck${NOTRIG:+-base}
    rm -rf "$ckd" "$W/ready" "$W/out" "$W/err"
    local sl=0
    [ "$write" = sparse ] && sl=5
    [ -n "${IDLE_SLEEP_MS:-}" ] && sl=$IDLE_SLEEP_MS
    # auto capture learns from its first checkpoint: that one is taken while
    # the program steps (BENCH_WARMUP=2), as a periodic checkpoint would be
    local warm=1
    [ "$cap" = auto ] && warm=2
    CKPT_CAPTURE=$cap CKPT_DIR=$ckd CKPT_LOG=debug LD_PRELOAD=$LIB BENCH_STEP_SLEEP_MS=$sl BENCH_WARMUP=$warm \
        "$B" run "$size" mixed "$th" "$steps" "$write" "$W/ready" > "$W/out" 2> "$W/err" &
    local pid=$!
    while [ ! -f "$W/ready" ]; do sleep 0.01; done
    if [ "$at" -gt 0 ]; then
        sleep "$(awk -v m="$at" 'BEGIN { printf "%.3f", m / 1000 }')"
        TRIG_MS=$(now_ms)
        [ -n "${NOTRIG:-}" ] || kill -USR1 $pid
    fi
    wait $pid
    # the writer may still be finishing when a short run ends
    for _ in $(seq 600); do
        [ "$at" = 0 ] || [ -n "${NOTRIG:-}" ] && break
        [ "$(grep -c 'checkpoint 2 written: total [0-9]* ms\|checkpoint 2 failed' "$W/err" 2>/dev/null)" -ge 1 ] && break
        sleep 0.05
    done
    T_TOTAL=$(awk '/^total/ { print $2 }' "$W/out")
    awk '$1 == "step" { print $3 }' "$W/out" > "$W/steps"
    awk '$1 == "step" { print $3, $4 }' "$W/out" > "$W/steps_at"
    # checkpoint 1 is the warm-up (BENCH_WARMUP) taken before the measured steps
    PAUSE=$(sed -n 's/.*checkpoint 2: program paused \([0-9]*\) us.*/\1/p' "$W/err" | head -1)
    CKMS=$(sed -n 's/.*checkpoint 2 written: total \([0-9]*\) ms.*/\1/p' "$W/err" | head -1)
    STG_MS=$(sed -n 's/.*staging ready in \([0-9]*\) ms.*/\1/p' "$W/err" | head -1)
    FILE=$(readlink -f "$ckd/latest" 2>/dev/null)
    # the measured checkpoint's writer (the last one): CPU time, user + sys
    CHOSEN=fork
    grep -q "later checkpoints copy it" "$W/err" && CHOSEN=copy
    grep -q "later checkpoints copy it as the program writes to it" "$W/err" && CHOSEN=wp
    grep -q "lost under write-protect capture" "$W/err" && CHOSEN=copy
    WCPU=$(grep -h "writer: start" "$W/err" | tail -1 | sed -n 's/.*cpu user \([0-9]*\) ms, sys \([0-9]*\) ms.*/\1 \2/p' |
           awk '{ print $1 + $2 }')
}

echo "## Checkpoint cost (pause, slowdown, write, size, restore)"
echo
echo "Machine: ${BENCH_MACHINE:-$(nproc) cores}. Memory shape: mixed (75 % zero pages,"
echo "25 % simulation-like doubles, all resident). zstd level 1, writer on 2 cores."
echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| size | write | threads | capture | fork ms | pause ms | pause/fork | extra ms | capture ms | memcpy ms | extra/memcpy | capture/memcpy | ckpt ms | writer cpu ms | zstd -T2 ms | ckpt/zstd | size % | restore ms | read ms | restore/read |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for size in $SIZES; do
    "$B" dump "$size" mixed 1 "$W/nonzero" >/dev/null
    sync
    # the writer alone: the same checkpoint of a program that sleeps (50 ms per
    # step, writing nothing), so that the writer has both cores as zstd -T2 had;
    # best of 3 each, alternating
    zstd_ms=""; IDLE_CK[$size]=""
    for _ in 1 2 3; do
        t0=$(now_ms); zstd -q -1 -T2 -c "$W/nonzero" > /dev/null; t1=$(now_ms)
        keep_min zstd_ms $((t1 - t0))
        IDLE_SLEEP_MS=50 run_once "$size" none 1 $((60 + 40 * size / 1024)) 150 fork
        if [ -n "${CKMS:-}" ] && { [ -z "${IDLE_CK[$size]}" ] || [ "$CKMS" -lt "${IDLE_CK[$size]}" ]; }; then
            IDLE_CK[$size]=$CKMS
            IDLE_LINE[$size]=$(grep -h "writer: start" "$W/err" | tail -1 | sed 's/.*writer: //')
        fi
    done
    [ -n "${IDLE_CK[$size]}" ] || IDLE_CK[$size]="?"
    ZSTD_MS[$size]=$zstd_ms
    rm -f "$W/nonzero"
    for write in ${BENCH_CKPT_WRITES:-sparse all}; do
        for th in 1 2; do
            fork=$("$B" fork "$size" mixed "$th")
            mc=$("$B" memcpy "$size" mixed "$th")
            steps=$([ "$write" = all ] && echo $((100 + 20 * size / 1024)) || echo $((600 + 400 * size / 1024)))
          caps=${BENCH_CAPTURES:-fork wp copy auto}
          [ "$size" -gt 1024 ] && caps=${BENCH_CAPTURES_LARGE:-fork wp copy auto}
          for cap in $caps; do
            [ "$write" = sparse ] && [ "$cap" = copy ] && continue
            # alternating pairs: with the measured checkpoint, then the same
            # run without it, its window placed as the checkpoint's was
            reps=1
            [ "$write" = all ] && [ "$size" -le 1024 ] && reps=${BENCH_REPS:-3}
            ws_with=""; ws_base=""
            for _ in $(seq "$reps"); do
                run_once "$size" "$write" "$th" "$steps" 150 "$cap"
                ck_with=${CKMS:-}; pause_us=${PAUSE:-0}; ck_file=$FILE; wcpu=$WCPU; chosen=$CHOSEN
                ws_with="$ws_with $(window_sum "$TRIG_MS" "${ck_with:-0}")"
                top1=$(top3 "$(sort -n "$W/steps" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')")
                NOTRIG=1 run_once "$size" "$write" "$th" "$steps" 150 "$cap"
                ws_base="$ws_base $(window_sum "$TRIG_MS" "${ck_with:-0}")"
                med=$(sort -n "$W/steps" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
                top0=$(top3 "$med")
            done
            CKMS=$ck_with; PAUSE=$pause_us; FILE=$ck_file
            extra=$(awk -v a="$(echo "$ws_with" | median)" -v b="$(echo "$ws_base" | median)" 'BEGIN { printf "%.0f", a - b }')
            # capture: the three slowest steps beyond the median step of the run
            # without checkpoint (the pause, the copy-on-write or write-protect
            # faults, the copy) - without the writer's background work
            cap_ms=$(awk -v a="$top1" -v b="$top0" 'BEGIN { printf "%.0f", a - b }')
            pause=$(awk -v p="${PAUSE:-0}" 'BEGIN { printf "%.1f", p / 1000 }')
            fsize=$(stat -c %s "$FILE" 2>/dev/null || echo 0)
            pct=$(awk -v f="$fsize" -v s="$size" 'BEGIN { printf "%.1f", 100 * f / (s * 1048576) }')
            # best of 3, alternating: first touch of fresh memory on a VM
            # varies by seconds between runs (the host backs it anew)
            read_ms=""; rest_ms=""
            for _ in 1 2 3; do
                t0=$(now_ms); "$TOOL" verify "$FILE" > /dev/null; t1=$(now_ms)
                keep_min read_ms $((t1 - t0))
                t0=$(now_ms); "$REST" "$FILE" > "$W/rout" 2>/dev/null; t1=$(now_ms)
                grep -q restored "$W/rout" || { rest_ms="fail"; break; }
                keep_min rest_ms $((t1 - t0))
            done
            capname=$cap
            [ "$cap" = auto ] && capname="auto: $chosen"
            echo "| $((size / 1024)) GiB | $write | $th | $capname | $fork | $pause | $(ratio "$pause" "$fork") | $extra | $cap_ms | $mc | $(ratio "$extra" "$mc") | $(ratio "$cap_ms" "$mc") | ${CKMS:-?} | ${wcpu:-?} | $zstd_ms | $(ratio "${CKMS:-0}" "$zstd_ms") | $pct | $rest_ms | $read_ms | $(ratio "$rest_ms" "$read_ms") |"
          done
        done
    done
done
echo
for size in $SIZES; do
    echo "Checkpoint of the $((size / 1024)) GiB mixed shape while the program sleeps (the writer has"
    echo "both cores, as zstd had; best of 3 each): ${IDLE_CK[$size]} ms (${IDLE_LINE[$size]}) against zstd -1 -T2"
    echo "${ZSTD_MS[$size]} ms: ckpt/zstd $(ratio "${IDLE_CK[$size]}" "${ZSTD_MS[$size]}")."
    echo
done
echo "Targets: pause/fork <= 1.5; extra/memcpy <= 2 (write-everything); ckpt/zstd <= 1.2;"
echo "size <= 30 % (4 GiB mixed); restore/read <= 1.2.  CRIU: Debian 12's package does not"
echo "start on this kernel (see research notes), so the peers are represented by their"
echo "measured figures in DESIGN-NOTES (CRIU freezes 1-2.4 s/GiB, DMTCP 2-30 s/GiB)."
