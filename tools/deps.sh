#!/bin/sh
# deps.sh PKG... - make sure the named Debian packages are installed.
# As root, installs the missing ones with apt-get; otherwise names them and fails.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >/tmp/ckpt-deps.log 2>&1 \
        || { echo "deps: apt-get failed, see /tmp/ckpt-deps.log" >&2; exit 1; }
else
    echo "deps: missing Debian packages:$missing (run: sudo apt-get install$missing)" >&2
    exit 1
fi
