//! What this binary's build left out, said at startup (cross/README.md,
//! "Patched dependencies"). build.rs sets `edgemq_patched_NAME` for each
//! dependency the Makefile's rules patched; a build made otherwise
//! (`cargo build`, `cargo install`, a distribution's cargo recipe) runs
//! with the registry's copy, and this module makes that impossible to miss:
//!
//! - async-io unpatched: one warning. The broker works; an idle broker's
//!   events cost two thread wake-ups each (cross/patch-async-io.sh).
//! - polling unpatched on a 32-bit target: if this kernel lacks
//!   `timerfd_settime64` (Linux before 5.1, qemu-user 7.2), no timer would
//!   ever fire (keepalive, expiry, retries): the broker refuses to start,
//!   in one line. A newer kernel needs no patch.
//! - sled on MIPS: build.rs fails the build instead.
//!
//! Owns no state; reads only how it was built and one kernel probe.

/// A reason not to start, in one line, or `None`.
pub fn refusal() -> Option<String> {
    if cfg!(target_pointer_width = "32") && !cfg!(edgemq_patched_polling) && timerfd_is_broken() {
        return Some(
            "this build's polling (async-io's epoll backend) arms its timers with \
             timerfd_settime64, which this kernel does not have (Linux before 5.1): no timer \
             would fire. Build with `make cross TARGET=...`, which patches it \
             (cross/patch-polling.sh)"
                .to_owned(),
        );
    }
    None
}

/// Warnings about a build that works but is not what `make` ships.
pub fn warnings() -> Vec<&'static str> {
    let mut out = Vec::new();
    if !cfg!(edgemq_patched_async_io) {
        out.push(
            "built without the async-io patch (cross/patch-async-io.sh): an idle broker wakes \
             two threads per event, with more latency and CPU; `make release` or `make cross` \
             builds with it",
        );
    }
    out
}

/// Whether a timerfd can be made but not armed: what polling needs on a
/// 32-bit target (rustix calls timerfd_settime64 there). A timerfd that
/// cannot be made at all is fine: polling then uses epoll's own timeout.
fn timerfd_is_broken() -> bool {
    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags,
        TimerfdTimerFlags, Timespec,
    };
    let Ok(fd) = timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::CLOEXEC) else {
        return false;
    };
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let disarm = Itimerspec {
        it_interval: zero,
        it_value: zero,
    };
    timerfd_settime(&fd, TimerfdTimerFlags::empty(), &disarm).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_arms_timerfds() {
        // The tests run on a kernel with timerfd_settime64 (or natively on
        // 64-bit, where the call is timerfd_settime): never a refusal.
        assert!(!timerfd_is_broken());
        assert_eq!(refusal(), None);
    }

    #[test]
    fn the_async_io_warning_matches_the_build() {
        assert_eq!(warnings().is_empty(), cfg!(edgemq_patched_async_io));
    }
}
