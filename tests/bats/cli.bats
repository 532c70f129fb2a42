#!/usr/bin/env bats
# cli.bats - the `ckpt` tool on deterministic checkpoint files (tests/cli/mkfixture):
# expected text and JSON output (tests/cli/expected/), exit codes, error lines.
# Regenerate the expected files after an intended change:
#   CKPT_REGEN=1 bats tests/bats/cli.bats && git diff tests/cli/expected

load ../cli/helpers

setup_file() {
    load ../cli/helpers
    export FX="$BATS_FILE_TMPDIR/fx"
    cli_fixtures "$FX"
}

setup() {
    load ../cli/helpers
    WORK=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ckpt-cli.XXXXXX")
}

teardown() {
    rm -rf "$WORK"
}

# ---- help and usage ---------------------------------------------------------------------

@test "ckpt --help lists every command; --version; no command is a usage error" {
    run "$CKPT" --help
    [ "$status" -eq 0 ]
    for c in run signal inspect verify ls diff gc extract; do
        [[ "$output" == *"  $c "* ]]
    done
    run "$CKPT" --version
    [ "$status" -eq 0 ]
    [[ "$output" == "ckpt "* ]]
    run "$CKPT"
    [ "$status" -eq 2 ]
}

@test "every subcommand has --help (exit 0, usage on stdout)" {
    for c in run signal inspect verify ls diff gc extract; do
        run "$CKPT" "$c" --help
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "usage: ckpt $c"* ]]
        run "$CKPT" help "$c"
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "usage: ckpt $c"* ]]
    done
}

@test "usage errors: exit 2 and exactly one line on stderr" {
    for args in "bogus" "inspect" "inspect --bogus x" "verify" "ls" "ls a b" "diff a" \
                "gc $FX/dir" "gc --keep x $FX/dir" "extract $FX/a.ckpt" \
                "extract $FX/a.ckpt --region 0x7f0000000000 --as f128 -o x" \
                "extract $FX/a.ckpt --region temperature --shape 2x2 -o x" \
                "signal" "signal notapid" "run" "run --interval soon -- true" \
                "run --signal SIGNOPE -- true" "run --log loud -- true"; do
        err=$("$CKPT" $args 2>&1 >/dev/null) && { echo "ckpt $args succeeded"; false; }
        rc=0; "$CKPT" $args >/dev/null 2>&1 || rc=$?
        [ "$rc" -eq 2 ] || { echo "ckpt $args: exit $rc"; false; }
        [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "ckpt $args: '$err'"; false; }
        [[ "$err" == "ckpt"* ]]
    done
}

# ---- inspect --------------------------------------------------------------------------------

@test "inspect: text output of a.ckpt" {
    golden inspect-a.txt inspect a.ckpt
    [ "$GOLDEN_RC" -eq 0 ]
}

@test "inspect: text output of b.ckpt (CUDA chunks, grown heap)" {
    golden inspect-b.txt inspect b.ckpt
}

@test "inspect: a directory means its latest" {
    cd "$FX"
    diff <("$CKPT" inspect dir | tail -n +2) <("$CKPT" inspect b.ckpt | tail -n +2)
    run "$CKPT" inspect dir
    [[ "${lines[0]}" == "checkpoint  dir/ckpt-000002-4242.ckpt" ]]
}

@test "inspect --json: expected output, valid JSON, documented top-level keys" {
    golden inspect-a.json inspect --json a.ckpt
    golden inspect-b.json inspect --json b.ckpt
    py=$(cli_python)
    "$CKPT" inspect --json "$FX/b.ckpt" | "$py" -m json.tool >/dev/null
    keys=$("$CKPT" inspect --json "$FX/b.ckpt" | "$py" -c 'import json,sys; print(" ".join(json.load(sys.stdin)))')
    [ "$keys" = "file format program process checkpoint memory threads files signals timers rlimits cuda regions notes chunks errors" ]
}

@test "inspect: corrupt files give one error line and exit 1" {
    for f in truncated badmagic; do
        run "$CKPT" inspect "$FX/$f.ckpt"
        [ "$status" -eq 1 ]
        [ "${#lines[@]}" -eq 1 ]
        [[ "${lines[0]}" == "ckpt inspect: $FX/$f.ckpt: "* ]]
    done
    # a bad thread chunk: the rest is still shown, the error is reported, exit 1
    run "$CKPT" inspect "$FX/corrupt-header.ckpt"
    [ "$status" -eq 1 ]
    [[ "$output" == *"ckpt inspect: $FX/corrupt-header.ckpt: thread chunk 3: header checksum mismatch"* ]]
    [[ "$output" == *"threads: 3"* ]]
    run "$CKPT" inspect "$WORK/nonexistent"
    [ "$status" -eq 1 ]
    [ "$output" = "ckpt inspect: $WORK/nonexistent: No such file or directory" ]
}

@test "inspect: a directory without latest is an error" {
    mkdir "$WORK/empty"
    run "$CKPT" inspect "$WORK/empty"
    [ "$status" -eq 1 ]
    [[ "$output" == *"no checkpoint here"* ]]
}

# ---- verify ---------------------------------------------------------------------------------

@test "verify: every corruption is named with its chunk; exit 1 unless all hold" {
    golden verify.txt verify a.ckpt b.ckpt corrupt-payload.ckpt corrupt-header.ckpt \
        corrupt-content.ckpt truncated.ckpt badmagic.ckpt
    [ "$GOLDEN_RC" -eq 1 ]
    run "$CKPT" verify "$FX/a.ckpt" "$FX/b.ckpt"
    [ "$status" -eq 0 ]
    for f in corrupt-payload corrupt-header corrupt-content truncated badmagic; do
        run "$CKPT" verify "$FX/$f.ckpt"
        [ "$status" -eq 1 ]
    done
}

@test "verify DIR checks every complete checkpoint in it" {
    golden verify-dir.txt verify dir
    [ "$GOLDEN_RC" -eq 1 ]
    run "$CKPT" verify -q "$FX/dir"
    [ "$status" -eq 1 ]
    [ "${#lines[@]}" -eq 1 ]
}

# ---- ls -------------------------------------------------------------------------------------

@test "ls: seq, time, size, status, latest" {
    golden ls.txt ls dir
    [ "$GOLDEN_RC" -eq 0 ]
    golden ls-verify.txt ls --verify dir
    golden ls.json ls --json dir
    "$CKPT" ls --json "$FX/dir" | "$(cli_python)" -m json.tool >/dev/null
}

@test "ls: missing directory is an error, an empty one lists nothing" {
    run "$CKPT" ls "$WORK/none"
    [ "$status" -eq 1 ]
    mkdir "$WORK/e"
    run "$CKPT" ls "$WORK/e"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 1 ]
}

# ---- diff -----------------------------------------------------------------------------------

@test "diff: per-region changes, added/removed regions, total" {
    golden diff-ab.txt diff a.ckpt b.ckpt
    [ "$GOLDEN_RC" -eq 0 ]
    golden diff-ab.json diff --json a.ckpt b.ckpt
    "$CKPT" diff --json "$FX/a.ckpt" "$FX/b.ckpt" | "$(cli_python)" -m json.tool >/dev/null
}

@test "diff: a checkpoint against itself changes nothing" {
    run "$CKPT" diff "$FX/a.ckpt" "$FX/dir/ckpt-000001-4242.ckpt"
    [ "$status" -eq 0 ]
    [[ "${lines[-1]}" == "total: 0 bytes changed (0 B, in 0 pages) in 0 of 8 common regions; 0 added (0 B stored), 0 removed (0 B stored)" ]]
}

@test "diff: the known rewrite of the array is counted exactly" {
    # b rewrote doubles 0..999 of the array: 2 pages, and 2968 of those 8000 bytes differ
    line=$("$CKPT" diff "$FX/a.ckpt" "$FX/b.ckpt" | grep ' 00007f0000000000 ')
    [[ "$line" == *" 2968       2  [anon]" ]]
}

# ---- gc -------------------------------------------------------------------------------------

@test "gc --keep 1: keeps latest and the newest, removes dead temporaries" {
    cp -a "$FX/dir" "$WORK/d"
    run "$CKPT" gc "$WORK/d" --keep 1 --dry-run
    [ "$status" -eq 0 ]
    [ "$output" = "would delete $WORK/d/ckpt-000001-4242.ckpt" ]
    [ -f "$WORK/d/ckpt-000001-4242.ckpt" ]
    run "$CKPT" gc "$WORK/d" --keep 1
    [ "$status" -eq 0 ]
    [[ "$output" == *"deleted $WORK/d/ckpt-000001-4242.ckpt"* ]]
    # pid 4242 is (almost certainly) not running here: its temporary goes
    if ! kill -0 4242 2>/dev/null; then
        [[ "$output" == *"removed $WORK/d/.ckpt-000004-4242.tmp"* ]]
    fi
    [ -f "$WORK/d/ckpt-000002-4242.ckpt" ]   # latest
    [ -f "$WORK/d/ckpt-000003-4242.ckpt" ]   # the newest (corrupt, but newest)
    [ ! -f "$WORK/d/ckpt-000001-4242.ckpt" ]
}

@test "gc never deletes the newest valid checkpoint" {
    mkdir "$WORK/d"
    cp "$FX/a.ckpt" "$WORK/d/ckpt-000001-7.ckpt"
    cp "$FX/truncated.ckpt" "$WORK/d/ckpt-000002-7.ckpt"
    cp "$FX/badmagic.ckpt" "$WORK/d/ckpt-000003-7.ckpt"
    ln -s ckpt-000003-7.ckpt "$WORK/d/latest"
    run "$CKPT" gc "$WORK/d" --keep 1
    [ "$status" -eq 0 ]
    [ "$output" = "deleted $WORK/d/ckpt-000002-7.ckpt" ]
    [ -f "$WORK/d/ckpt-000001-7.ckpt" ]
    run "$CKPT" gc "$WORK/d" --keep 0
    [ "$status" -eq 0 ]
    [ -z "$output" ]
}

# ---- extract --------------------------------------------------------------------------------

@test "extract: raw bytes of a named region and of an address range" {
    "$CKPT" extract "$FX/a.ckpt" --region temperature -o "$WORK/t.bin"
    [ "$(stat -c %s "$WORK/t.bin")" -eq 131072 ]
    [ "$(stat -c %a "$WORK/t.bin")" = 600 ]
    py=$(cli_python)
    "$py" - "$WORK/t.bin" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
v = struct.unpack('<16384d', d)
assert all(v[i] == i * 0.25 for i in range(16384)), v[:4]
PY
    # from an address, to the end of its region
    "$CKPT" extract "$FX/a.ckpt" --region 0x7f0000010000 > "$WORK/tail.bin"
    [ "$(stat -c %s "$WORK/tail.bin")" -eq 65536 ]
    cmp "$WORK/tail.bin" <(tail -c 65536 "$WORK/t.bin")
    # explicit length, across a block boundary
    "$CKPT" extract "$FX/a.ckpt" --region 0x7f000000fff8 --length 16 -o "$WORK/x.bin"
    cmp "$WORK/x.bin" <(dd if="$WORK/t.bin" bs=1 skip=65528 count=16 2>/dev/null)
    # a zero page of the heap reads as zeros; the directory means latest (b)
    "$CKPT" extract "$FX/dir" --region 0x610000 --length 4K -o "$WORK/z.bin"
    cmp "$WORK/z.bin" <(head -c 4096 /dev/zero)
}

@test "extract: errors (unknown name, unmapped address, size mismatch, terminal)" {
    run "$CKPT" extract "$FX/a.ckpt" --region nosuch -o "$WORK/o"
    [ "$status" -eq 1 ]
    [ "$output" = "ckpt extract: $FX/a.ckpt: no region named 'nosuch' (see 'ckpt inspect')" ]
    [ ! -e "$WORK/o" ]
    run "$CKPT" extract "$FX/a.ckpt" --region 0x1000 -o "$WORK/o"
    [ "$status" -eq 1 ]
    [[ "$output" == *"0x1000 is not inside any memory region"* ]]
    run "$CKPT" extract "$FX/a.ckpt" --region temperature --as f64 --shape 3x3 --length 64 -o "$WORK/o"
    [ "$status" -eq 2 ]
    run "$CKPT" extract "$FX/a.ckpt" --region 0x7f0000000000 --length 7 --as f64 -o "$WORK/o"
    [ "$status" -eq 1 ]
    [[ "$output" == *"not a whole number of f64"* ]]
    run "$CKPT" extract "$FX/corrupt-payload.ckpt" --region 0x401000 -o "$WORK/o"
    [ "$status" -eq 1 ]
    [[ "$output" == *"payload checksum mismatch"* ]]
    [ ! -e "$WORK/o" ]
}

@test "extract --as f64 --shape writes a .npy numpy loads (C order, <f8)" {
    "$CKPT" extract "$FX/a.ckpt" --region temperature --as f64 --shape 128x128 -o "$WORK/t.npy"
    # the NPY 1.0 header, checked without numpy
    head -c 6 "$WORK/t.npy" | od -An -c | grep -q 'N   U   M   P   Y'
    grep -a -q "{'descr': '<f8', 'fortran_order': False, 'shape': (128, 128), }" "$WORK/t.npy"
    [ "$(stat -c %s "$WORK/t.npy")" -eq $((131072 + 128)) ]
    py=$(cli_numpy_python) || skip "numpy not installed (Debian: python3-numpy)"
    "$py" - "$WORK/t.npy" <<'PY'
import numpy as np, sys
a = np.load(sys.argv[1])
assert a.shape == (128, 128) and a.dtype == np.dtype('<f8'), (a.shape, a.dtype)
assert (a.ravel() == np.arange(16384) * 0.25).all()
assert a[1, 0] == 128 * 0.25
PY
    # 1-D default shape, other types
    "$CKPT" extract "$FX/a.ckpt" --region temperature --as f32 -o "$WORK/f.npy"
    "$CKPT" extract "$FX/a.ckpt" --region step --as u8 -o "$WORK/u.npy"
    "$py" -c "
import numpy as np
assert np.load('$WORK/f.npy').shape == (32768,)
u = np.load('$WORK/u.npy'); assert u.shape == (8,) and u.dtype == np.uint8
assert list(u) == [(i * 7) & 255 for i in range(16, 24)], list(u)
"
}

# ---- hostile payloads -------------------------------------------------------------------------

@test "malformed payloads (valid checksums) are reported, never trusted" {
    run "$CKPT" verify "$FX/malformed.ckpt"
    [ "$status" -eq 0 ]                 # every checksum holds...
    [ "$output" = "$FX/malformed.ckpt: ok (chunk 11 has type 0x8123, unknown to this version: this ckpt-restore will refuse it)" ]
    "$CKPT" inspect "$FX/malformed.ckpt" >"$WORK/out" 2>"$WORK/err" && false
    [ "$(wc -l < "$WORK/err")" -eq 7 ]  # ...but seven payloads are wrong
    grep -q "vmas chunk 1 is malformed" "$WORK/err"
    grep -q "thread chunk 2 is malformed (frame count)" "$WORK/err"
    grep -q "region chunk 7 is malformed (short)" "$WORK/err"
    "$CKPT" inspect --json "$FX/malformed.ckpt" 2>/dev/null | "$(cli_python)" -m json.tool >/dev/null
    run "$CKPT" diff "$FX/malformed.ckpt" "$FX/a.ckpt"
    [ "$status" -eq 1 ]
    run "$CKPT" extract "$FX/malformed.ckpt" --region 0x1000 -o "$WORK/o"
    [ "$status" -eq 1 ]
    run "$CKPT" extract "$FX/malformed.ckpt" --region 0x1000 --length 64 -o "$WORK/o"
    [ "$status" -eq 0 ]
    [ "$(stat -c %s "$WORK/o")" -eq 64 ]
}

@test "strings with controls, quotes and broken UTF-8 are escaped (text and JSON)" {
    golden inspect-weird.txt inspect weird.ckpt
    golden inspect-weird.json inspect --json weird.ckpt
    "$CKPT" inspect --json "$FX/weird.ckpt" | "$(cli_python)" -m json.tool >/dev/null
    # no raw escape character reaches the terminal
    ! "$CKPT" inspect "$FX/weird.ckpt" | grep -q $'\x1b'
}

# ---- incremental chains -------------------------------------------------------------------------

@test "incremental: parent found by id in the same directory (verify, extract, diff)" {
    run "$CKPT" inspect "$FX/c.ckpt"
    [ "$status" -eq 0 ]
    [[ "${lines[3]}" == "  parent    8182838485868788898a8b8c8d8e8f90" ]]
    [[ "$output" == *"128.0 KiB in the parent"* ]]
    run "$CKPT" verify "$FX/c.ckpt"
    [ "$status" -eq 0 ]
    cmp <("$CKPT" extract "$FX/c.ckpt" --region temperature) \
        <("$CKPT" extract "$FX/b.ckpt" --region temperature)
    run "$CKPT" diff "$FX/b.ckpt" "$FX/c.ckpt"
    [[ "${lines[-1]}" == "total: 0 bytes changed"* ]]
    diff <("$CKPT" diff "$FX/a.ckpt" "$FX/c.ckpt" | tail -n +3) \
         <("$CKPT" diff "$FX/a.ckpt" "$FX/b.ckpt" | tail -n +3)
    # without its parent
    cp "$FX/c.ckpt" "$WORK/"
    run "$CKPT" extract "$WORK/c.ckpt" --region temperature -o "$WORK/o"
    [ "$status" -eq 1 ]
    [ "$output" = "ckpt extract: $WORK/c.ckpt: this incremental checkpoint needs its parent for 0x7f0000000000" ]
    run "$CKPT" verify "$WORK/c.ckpt"
    [ "$status" -eq 0 ]
}
