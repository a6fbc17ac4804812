//! TEMPORARY stub (lead's), replaced by the config helper's module.
use std::time::{Duration, Instant};
pub struct RateLimitedLog { interval: Duration, last: Option<Instant>, suppressed: u64 }
impl RateLimitedLog {
    pub fn new(interval: Duration) -> Self { Self { interval, last: None, suppressed: 0 } }
    pub fn should_log(&mut self, now: Instant) -> Option<u64> {
        match self.last { Some(t) if now.saturating_duration_since(t) < self.interval => { self.suppressed += 1; None }
            _ => { self.last = Some(now); Some(std::mem::take(&mut self.suppressed)) } }
    }
}
pub fn init(level: log::LevelFilter) { let _ = simple_logger::SimpleLogger::new().with_level(level).init(); }
