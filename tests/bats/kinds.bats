#!/usr/bin/env bats
# kinds.bats - descriptors that are kernel objects rather than files: epoll
# sets (with their registrations), timerfds, eventfds, signalfds, listening
# unix sockets.

load ../lib/ckpt

setup_file() {
    load ../lib/ckpt
    ck_probe
}

setup() { ck_work kinds; }

teardown() { ck_cleanup; }

@test "evloop: epoll over timerfd + eventfd + signalfd keeps firing after restore" {
    ck_roundtrip "$WORK" evloop "$CKPT_BUILD/tests/kinds/evloop" "$(ck_pick 300 900)"
}

@test "sleepy: checkpoints never end a sleep early (the program's sleeps resume)" {
    ck_need_checkpoint
    mkdir -p "$WORK/wd"
    ck_spawn "$WORK/wd" "$WORK/run" "$WORK/ck" "$CKPT_BUILD/tests/kinds/sleepy" 3
    sleep 0.3   # libckpt's handler is installed once the program has started
    for t in 1 2 3 4; do
        sleep 0.$((3 + RANDOM % 5)); kill -USR1 "$CK_PID" 2>/dev/null || true
    done
    ck_wait_pid "$CK_PID" 60
    cat "$WORK/run.out"
    [ "$CK_RC" = 0 ]
    grep -q 'early=0' "$WORK/run.out"
}

@test "sleepy: restored in the middle of a sleep, it sleeps the rest" {
    ck_roundtrip "$WORK" sleepy "$CKPT_BUILD/tests/kinds/sleepy" 3
}

@test "listener: two listening unix sockets (abstract and bound to a path) listen again after restore" {
    ck_roundtrip "$WORK" listener "$CKPT_BUILD/tests/kinds/listener" "$(ck_pick 150 400)"
}
