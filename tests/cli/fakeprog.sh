#!/usr/bin/env bash
# fakeprog.sh - a stand-in for a program running under libckpt, for the CLI tests.
#
# On its trigger signal (CKPT_SIGNAL, default USR1) it "takes a checkpoint" by
# copying $FIXTURE into $CKPT_DIR with the directory protocol of format/ckdir.h:
# write .ckpt-<seq>-<pid>.tmp, rename it to ckpt-<seq>-<pid>.ckpt, point a fresh
# .latest-<pid>.tmp symlink at it and rename that over `latest`.
# FAKE_MODE=ignore ignores the signal; FAKE_MODE=exit exits on it.
# Touches $READY once the trap is installed.
sig=${CKPT_SIGNAL:-USR1}
sig=${sig#SIG}
dir=${CKPT_DIR:-ckpt}
n=0
take() {
    n=$((n + 1))
    local name tmp
    name=$(printf 'ckpt-%06d-%d.ckpt' "$n" "$$")
    tmp=$(printf '.ckpt-%06d-%d.tmp' "$n" "$$")
    mkdir -p "$dir"
    cp "$FIXTURE" "$dir/$tmp"
    sleep 0.1                                   # a writer takes a while
    mv "$dir/$tmp" "$dir/$name"
    ln -s "$name" "$dir/.latest-$$.tmp"
    mv -T "$dir/.latest-$$.tmp" "$dir/latest"
}
case ${FAKE_MODE:-} in
ignore) trap '' "$sig" ;;
exit)   trap 'exit 0' "$sig" ;;
*)      trap take "$sig" ;;
esac
: > "$READY"
while :; do sleep 0.05; done
