#!/bin/sh
# Makes a patched copy of polling 3.11.0 (async-io's epoll backend) for the
# 32-bit targets (armv7, mips, mipsel) and prints its directory. The
# Makefile passes it to cargo as
#   --config 'patch.crates-io.polling.path="DIR"'
# for those targets only. polling's source is never committed here.
#
#   cross/patch-polling.sh OUT_DIR      (prints OUT_DIR/polling-3.11.0)
#
# Why: polling sets epoll timeouts through a timerfd, and on 32-bit targets
# rustix calls timerfd_settime64, which Linux has only since 5.1 (OpenWrt
# 19.07 runs 4.14) and Debian's qemu-user 7.2 does not emulate: the call
# fails and no async-io timer ever fires (keepalive, expiry, retries). The
# patch makes polling use the plain epoll_pwait timeout (millisecond
# precision, every kernel) on those targets instead of the timerfd.
#
# Idempotent: an existing, already patched copy is reused.
set -eu

. "$(dirname "$0")/patch-copy.sh"
patch_copy polling 3.11.0 "${1:?usage: patch-polling.sh OUT_DIR}"

EPOLL="$WORK/src/epoll.rs"
# `let timer_fd = timerfd_create(...).ok();` -> no timerfd: epoll_pwait's
# own timeout is used (the code path polling keeps for Redox).
grep -q '^        \.ok();$' "$EPOLL" || {
    echo "patch-polling.sh: $EPOLL does not contain the expected line; polling changed?" >&2
    exit 1
}
sed -i '0,/^        \.ok();$/s//        .ok().filter(|_| false);/' "$EPOLL"
grep -q 'ok().filter(|_| false);' "$EPOLL" || { echo "patch-polling.sh: patch did not apply" >&2; exit 1; }
sed -i '1i #![allow(warnings)]' "$WORK/src/lib.rs"

patch_done
