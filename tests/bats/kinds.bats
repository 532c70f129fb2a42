#!/usr/bin/env bats
# kinds.bats - descriptors that are kernel objects rather than files: epoll
# sets (with their registrations), timerfds, eventfds, signalfds.

load ../lib/ckpt

setup_file() {
    load ../lib/ckpt
    ck_probe
}

setup() { WORK=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ckpt-kinds.XXXXXX"); }

teardown() {
    [ -n "${CK_PID:-}" ] && kill -9 "$CK_PID" 2>/dev/null || true
    [ -n "${CK_RPID:-}" ] && kill -9 "$CK_RPID" 2>/dev/null || true
    rm -rf "$WORK"
}

@test "evloop: epoll over timerfd + eventfd + signalfd keeps firing after restore" {
    ck_roundtrip "$WORK" evloop "$CKPT_BUILD/tests/kinds/evloop" "$(ck_pick 300 900)"
}
