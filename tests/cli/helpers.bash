# tests/cli/helpers.bash - shared by tests/bats/cli*.bats.
#
# cli_fixtures DIR   writes the mkfixture checkpoints into DIR and a checkpoint
#                    directory DIR/dir: seq 1 = a, 2 = b (latest), 3 = a corrupt
#                    copy, 4 = an incomplete temporary.
# golden NAME ARGS   runs `ckpt ARGS` in the fixture directory and compares its
#                    stdout with tests/cli/expected/NAME; with CKPT_REGEN=1 it
#                    rewrites the expected file instead (review the diff!).

CKPT_ROOT=${CKPT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CKPT_BUILD=${CKPT_BUILD:-$CKPT_ROOT/build}
CKPT=$CKPT_BUILD/bin/ckpt
MKFIXTURE=$CKPT_BUILD/tests/cli/mkfixture
FAKELIB=$CKPT_BUILD/tests/cli/fake/libckpt.so
EXPECTED=$CKPT_ROOT/tests/cli/expected

# A python3 with numpy, if there is one (Debian's, then the one on PATH).
cli_numpy_python() {
    local p
    for p in /usr/bin/python3 python3; do
        if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then
            echo "$p"; return 0
        fi
    done
    return 1
}

cli_python() {
    if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else echo python3; fi
}

cli_fixtures() {
    local d=$1
    mkdir -p "$d"
    "$MKFIXTURE" "$d" || return 1
    mkdir -p "$d/dir"
    cp "$d/a.ckpt" "$d/dir/ckpt-000001-4242.ckpt"
    cp "$d/b.ckpt" "$d/dir/ckpt-000002-4242.ckpt"
    cp "$d/corrupt-payload.ckpt" "$d/dir/ckpt-000003-4242.ckpt"
    head -c 1000 "$d/a.ckpt" > "$d/dir/.ckpt-000004-4242.tmp"
    ln -s ckpt-000002-4242.ckpt "$d/dir/latest"
}

golden() {
    local name=$1; shift
    local out rc=0
    out=$(cd "$FX" && "$CKPT" "$@" 2>/dev/null) || rc=$?
    if [ "${CKPT_REGEN:-0}" = 1 ]; then
        printf '%s\n' "$out" > "$EXPECTED/$name"
        echo "# regenerated $name"
        GOLDEN_RC=$rc
        return 0
    fi
    if ! diff -u "$EXPECTED/$name" <(printf '%s\n' "$out"); then
        echo "# ckpt $* differs from tests/cli/expected/$name (exit $rc)"
        return 1
    fi
    GOLDEN_RC=$rc
}
