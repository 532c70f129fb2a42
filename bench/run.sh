#!/usr/bin/env bash
# run.sh - runs every bench/bench_*.sh and updates BENCHMARKS.md.
#
# Each script prints one markdown section beginning with "## <title>".  The
# section of BENCHMARKS.md with the same title is replaced (or appended);
# sections written by other scripts are left alone.  A failing script leaves
# its old section in place.
# Environment: O (build dir), BENCH_ONLY (run only bench/bench_$BENCH_ONLY.sh),
# BENCH_SIZE_MB (passed on).  Exported to scripts: CKPT_BUILD, BENCH_MACHINE.
set -u
cd "$(dirname "$0")/.."
O=${O:-build}
export CKPT_BUILD=$PWD/$O
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
export BENCH_MACHINE="${cpu:-unknown CPU}, $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB RAM, Linux $(uname -r)"
out=BENCHMARKS.md
[ -f "$out" ] || printf '# Benchmarks\n\nWritten by `make bench` (bench/run.sh): one section per bench/bench_*.sh, each replaced when its script runs again.\n' > "$out"
status=0
for s in bench/bench_${BENCH_ONLY:-*}.sh; do
    [ -f "$s" ] || continue
    echo "== $s" >&2
    sec=$(mktemp)
    if bash "$s" > "$sec" && head -1 "$sec" | grep -q '^## '; then
        cat "$sec"
        title=$(head -1 "$sec")
        tmp=$(mktemp)
        # replace the section with this title where it stands, or append it
        awk -v t="$title" -v f="$sec" '
            function put() { while ((getline l < f) > 0) print l; print ""; done = 1 }
            /^## / { skip = 0; if ($0 == t) { put(); skip = 1; next } }
            !skip { print }
            END { if (!done) { print ""; put() } }' "$out" | cat -s > "$tmp"
        sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$tmp" > "$out"
        rm -f "$tmp"
    else
        echo "bench: $s failed; its section of $out is unchanged" >&2
        status=1
    fi
    rm -f "$sec"
done
exit $status
