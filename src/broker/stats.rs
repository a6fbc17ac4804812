//! Counters for everything the broker refuses, drops or closes, and the
//! rate limiter that keeps their log lines from flooding the log daemon
//! (STYLE rule 5: the first event is logged, then a summary per interval).

use std::time::{Duration, Instant};

use log::warn;

use crate::logging::RateLimitedLog;

/// What is counted; `$SYS` and the admin API read these later.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub connections_accepted: u64,
    pub refused_max_connections: u64,
    pub refused_max_sessions: u64,
    pub refused_client_id: u64,
    pub refused_not_authorized: u64,
    pub refused_duplicate_client_id: u64,
    pub takeovers: u64,
    pub malformed_packets: u64,
    pub protocol_errors: u64,
    pub connect_timeouts: u64,
    pub keepalive_timeouts: u64,
    pub messages_received: u64,
    pub bytes_received: u64,
    /// Messages written to a subscriber's outbox, at routing or later from its queue.
    pub deliveries: u64,
    pub dropped_qos0_outbound_full: u64,
    pub dropped_offline_queue_full: u64,
    /// Messages for offline sessions not queued: the store was full.
    pub dropped_store_full: u64,
    pub dropped_lagging: u64,
    pub lagging_events: u64,
    pub retained_refused: u64,
    pub subscriptions_refused: u64,
    pub sessions_expired: u64,
    pub wills_published: u64,
    pub refused_memory_limit: u64,
}

/// One rate-limited log line kind each.
#[derive(Debug, Clone, Copy)]
pub enum LogKind {
    MaxConnections,
    MaxSessions,
    ClientId,
    NotAuthorized,
    Duplicate,
    Malformed,
    Protocol,
    Timeout,
    Topic,
    Subscription,
    DropOutbound,
    DropOffline,
    DropLagging,
    Lagging,
    Retained,
    StoreFull,
    Memory,
}

const KINDS: usize = LogKind::Memory as usize + 1;

/// The first line of a kind is logged; later ones within this interval are
/// counted and summarised with the next line logged.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

pub struct LimitLogs {
    limiters: [RateLimitedLog; KINDS],
}

impl Default for LimitLogs {
    fn default() -> LimitLogs {
        LimitLogs {
            limiters: std::array::from_fn(|_| RateLimitedLog::new(LOG_INTERVAL)),
        }
    }
}

impl LimitLogs {
    /// Logs `line()` at warn level unless this kind logged within the
    /// interval; `line` is only built when it is logged.
    pub fn warn(&mut self, kind: LogKind, now: Instant, line: impl FnOnce() -> String) {
        let Some(limiter) = self.limiters.get_mut(kind as usize) else {
            return;
        };
        match limiter.should_log(now) {
            Some(0) => warn!("{}", line()),
            Some(suppressed) => warn!("{} ({suppressed} more like it suppressed)", line()),
            None => {}
        }
    }
}
