#!/usr/bin/env bash
# bench_overhead.sh - the cost of running under libckpt when no checkpoint is
# taken (target: <= 1 %).  Real programs, alternating runs with and without
# LD_PRELOAD, best of N (BENCH_OVERHEAD_RUNS, default 7) each.
set -u
LIB=$CKPT_BUILD/lib/libckpt.so
N=${BENCH_OVERHEAD_RUNS:-7}
CKPT_ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/ckpt-ovh.XXXXXX)
trap 'rm -rf "$W"' EXIT
head -c 6000000 /dev/zero | openssl enc -aes-128-ctr -pass pass:ckpt -nosalt 2>/dev/null | base64 > "$W/in" \
    || python3 -c "import random,base64,sys; random.seed(1); sys.stdout.write(base64.b64encode(random.randbytes(6000000)).decode())" > "$W/in"
cat > "$W/py.py" <<'PY'
import hashlib
d = {}
h = hashlib.sha256()
for i in range(12000000):
    d[i % 65536] = d.get(i % 65536, 0) + i
    if i % 1000 == 0: h.update(str(d[i % 65536]).encode())
print(h.hexdigest())
PY
t() { local s e; s=$(date +%s%N); "$@" > /dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
best() { sort -n | head -1; }
echo "## Overhead without checkpoints"
echo
echo "Machine: ${BENCH_MACHINE:-$(nproc) cores}; best of $N alternating runs; load average at start $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| program | plain ms | under libckpt ms | overhead |"
echo "|---|---|---|---|"
for prog in "xz -T2 -6 -c $W/in" "/usr/bin/python3 $W/py.py" "sqlite3 :memory: -init /dev/null -cmd .read\\ $CKPT_ROOT/tests/thirdparty/job.sql .quit"; do
    a=(); b=()
    for i in $(seq "$N"); do
        a+=("$(t bash -c "$prog")")
        b+=("$(t env LD_PRELOAD="$LIB" CKPT_DIR="$W/ck" bash -c "exec $prog")")
    done
    pa=$(printf '%s\n' "${a[@]}" | best); pb=$(printf '%s\n' "${b[@]}" | best)
    name=$(echo "$prog" | awk '{print $1, $2}' | sed "s|$W/||")
    echo "| \`$name\` | $((pa / 1000)) | $((pb / 1000)) | $(awk -v a="$pa" -v b="$pb" 'BEGIN { printf "%+.2f %%", 100 * (b - a) / a }') |"
done
echo
echo "The library's steady-state work is a sleeping manager thread and thin wrappers"
echo "around pthread_create and the signal-mask functions."
