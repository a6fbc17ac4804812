#!/bin/sh
# Makes a patched copy of async-io 2.6.0 and prints its directory. The
# Makefile passes it to cargo, for every build it makes (host and cross), as
#   --config 'patch.crates-io.async-io.path="DIR"'
# async-io's source is never committed here.
#
#   cross/patch-async-io.sh OUT_DIR      (prints OUT_DIR/async-io-2.6.0)
#
# Why: async-io runs a helper thread, "async-io", that drives the reactor
# when no `block_on` thread does. While the broker's one `block_on` thread
# sits in epoll, the helper backs off and then waits on the reactor lock;
# the moment the broker thread lets go of the lock to run the task an event
# woke, the helper takes it, and from then on every event reaches the
# broker through the helper: two thread wake-ups and a handful of futex
# calls per event instead of one wake-up
# (https://github.com/smol-rs/async-io/issues/40). A broker
# that idles between sporadic messages — a sensor LAN — pays it on every
# message: measured here, 5 context switches per message, p50 latency
# 140-190 µs instead of 40-70 µs at 50 msg/s, twice the CPU.
#
# The patch: while a `block_on` runs, the helper never waits on the lock,
# retries it no sooner than 1 ms after each wake-up (the `block_on` thread
# takes it back first), and after its back-off (~50 ms) parks until a `block_on` thread hands the reactor
# over explicitly (`block_on` unparks it whenever it stops driving the
# reactor, and when it returns). Without any `block_on` it behaves as before.
#
# Idempotent: an existing, already patched copy is reused.
set -eu

. "$(dirname "$0")/patch-copy.sh"
patch_copy async-io 2.6.0 "${1:?usage: patch-async-io.sh OUT_DIR}"

DRIVER="$WORK/src/driver.rs"
LOCK='            let reactor_lock = if sleeps >= 10 {'
PARK='        if BLOCK_ON_COUNT.load(Ordering::SeqCst) > 0 {'
DELAY='            let delay_us = [50, 75, 100, 250, 500, 750, 1000, 2500, 5000]'
[ "$(grep -cxF "$LOCK" "$DRIVER")" = 1 ] && [ "$(grep -cxF "$PARK" "$DRIVER")" = 1 ] &&
    [ "$(grep -cxF "$DELAY" "$DRIVER")" = 1 ] || {
    echo "patch-async-io.sh: $DRIVER does not contain the expected lines; async-io changed?" >&2
    exit 1
}
# 1. Block on the reactor lock only when no block_on thread exists.
sed -i "s/^$LOCK\$/            let reactor_lock = if sleeps >= 10 \&\& BLOCK_ON_COUNT.load(Ordering::SeqCst) == 0 {/" "$DRIVER"
# 2. Past the back-off, park until handed the reactor (or block_on ends).
sed -i "/^$PARK\$/a\\
            if sleeps >= 10 {\\
                parker.park();\\
                last_tick = Reactor::get().ticker();\\
                sleeps = 0;\\
                continue;\\
            }" "$DRIVER"
# 3. Retry the lock only after 1 ms: time for the block_on thread, done with
#    the tasks an event woke, to take the reactor back itself.
sed -i 's/^            let delay_us = \[50, 75, 100, 250, 500, 750, 1000, 2500, 5000\]$/            let delay_us = [1000, 1000, 1000, 2500, 2500, 5000, 5000, 10000, 10000]/' "$DRIVER"
grep -q 'sleeps >= 10 && BLOCK_ON_COUNT.load(Ordering::SeqCst) == 0' "$DRIVER" &&
    grep -q 'let delay_us = \[1000, 1000, 1000,' "$DRIVER" &&
    grep -q '^                parker.park();$' "$DRIVER" ||
    { echo "patch-async-io.sh: patch did not apply" >&2; exit 1; }
sed -i '1i #![allow(warnings)]' "$WORK/src/lib.rs"

patch_done
