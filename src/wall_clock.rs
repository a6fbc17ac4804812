//! The wall clock, read in one place: log timestamps, the clock stamped in
//! the store, stored deadlines, token and JWT expiry, `$SYS` event times.
//! Timers (keepalive, session expiry, will delay, message expiry while
//! running) never read it: they run on `Instant`, so a clock that jumps
//! (NTP after a boot without a battery-backed clock, an operator) moves no
//! timer (README.md ## Durability and the store).
//!
//! Debug builds only: `EDGEMQ_TEST_CLOCK_FILE` names a file holding a
//! signed number of seconds added to every read, re-read each time, so an
//! end-to-end test jumps this process's wall clock both ways without
//! touching the machine's (tests/e2e_faults.rs). Release builds compile
//! the hook out.

use std::time::SystemTime;

/// The wall clock now (with the test offset in debug builds).
pub fn now() -> SystemTime {
    let now = SystemTime::now();
    #[cfg(debug_assertions)]
    {
        let offset = test_offset();
        let shift = std::time::Duration::from_secs(offset.unsigned_abs());
        let shifted = if offset >= 0 {
            now.checked_add(shift)
        } else {
            now.checked_sub(shift)
        };
        if let Some(shifted) = shifted {
            return shifted;
        }
    }
    now
}

/// Logs that the test hook is on, once at startup (debug builds).
pub fn announce() {
    #[cfg(debug_assertions)]
    if let Some(path) = std::env::var_os("EDGEMQ_TEST_CLOCK_FILE") {
        log::warn!(
            "test hook: the wall clock is offset by the seconds in {} (EDGEMQ_TEST_CLOCK_FILE)",
            std::path::Path::new(&path).display()
        );
    }
}

/// The offset in the file `EDGEMQ_TEST_CLOCK_FILE` names; 0 without one.
#[cfg(debug_assertions)]
fn test_offset() -> i64 {
    let Some(path) = std::env::var_os("EDGEMQ_TEST_CLOCK_FILE") else {
        return 0;
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().trim_start_matches('+').parse().ok())
        .unwrap_or(0)
}
