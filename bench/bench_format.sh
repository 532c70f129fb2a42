#!/usr/bin/env bash
# bench_format.sh - container format throughput (bench/bench_format.c).
set -eu
exec "${CKPT_BUILD:-build}/bench/bench_format"
