#!/usr/bin/env bash
# run.sh - runs every test and prints one closing line "N passed, N failed".
#
# C unit tests and fuzz regression drivers print TAP; bats prints TAP.  Each
# "ok" line counts as passed, each "not ok" as failed ("# skip" lines as skipped);
# a test binary that crashes or prints no plan counts as one failure.
# Environment: O (build dir, default build), TESTS (glob of bats files to run),
# CKPT_TEST_QUICK=1 (fewer random repetitions).
set -u
cd "$(dirname "$0")/.."
O=${O:-build}
export CKPT_BUILD=$PWD/$O
pass=0; fail=0; skip=0
log=$(mktemp -d /tmp/ckpt-tests.XXXXXX)

count() { # file
    local p f s
    p=$(grep -cE '^ok [0-9]+' "$1" | head -1)
    s=$(grep -E '^ok [0-9]+' "$1" | grep -ciE '# skip' | head -1)
    f=$(grep -cE '^not ok [0-9]+' "$1" | head -1)
    pass=$((pass + p - s)); skip=$((skip + s)); fail=$((fail + f))
}

run_tap() { # name cmd...
    local name=$1; shift
    local out="$log/$(echo "$name" | tr '/ ' '__').tap"
    echo "== $name"
    "$@" >"$out" 2>&1
    local rc=$?
    grep -E '^(not ok|ok) ' "$out" | sed 's/^/   /'
    grep -E '^not ok' -A20 "$out" | grep -E '^#' | head -40 | sed 's/^/   /'
    count "$out"
    if ! grep -qE '^1\.\.[0-9]+' "$out"; then
        echo "   not ok - $name produced no TAP plan (exit $rc)"; tail -5 "$out" | sed 's/^/   | /'
        fail=$((fail + 1))
    elif [ $rc -ne 0 ] && ! grep -qE '^not ok' "$out"; then
        echo "   not ok - $name exited $rc"; tail -5 "$out" | sed 's/^/   | /'
        fail=$((fail + 1))
    fi
}

for t in "$O"/tests/test_*; do
    [ -x "$t" ] && run_tap "unit/$(basename "$t")" "$t"
done
for t in "$O"/tests/fuzz_*_regress; do
    [ -x "$t" ] || continue
    n=$(basename "$t" _regress); n=${n#fuzz_}
    run_tap "fuzz-regress/$n" "$t" tests/fuzz/corpus/"$n" tests/golden
done
if command -v bats >/dev/null; then
    for b in ${TESTS:-tests/bats/*.bats}; do
        [ -f "$b" ] && run_tap "bats/$(basename "$b")" bats --tap "$b"
    done
else
    echo "bats not found: end-to-end tests not run"; fail=$((fail + 1))
fi
rm -rf "$log"
echo
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
