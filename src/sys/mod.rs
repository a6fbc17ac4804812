//! `$SYS` and client events (README.md, "Operating edgemq";
//! docs/observability.md): the `$SYS/broker/...` tree published every
//! `sys_interval`, the load averages behind it, the client event payloads,
//! the numbers the admin API and systemd's STATUS= show, and the JSON
//! writer they all use.
//!
//! Sans-IO and independent of the broker: it is handed plain numbers
//! ([`Snapshot`]) and `now`, and returns topics and payloads; the broker
//! (`broker/observe.rs`) routes them. `$SYS` topics are never matched by a
//! first-level `#` or `+` [MQTT-4.7.2-1]: the trie sees to that.

pub mod alerts;
pub mod events;
pub mod history;
pub mod history_chunk;
pub mod history_log;
pub mod json;
pub mod load;
pub mod snapshot;
pub mod timeline;
pub mod topics;
pub mod trajectory;

use std::time::{Duration, Instant};

pub use events::{ClientEvent, EventKind};
pub use load::{LoadTracker, Loads, Totals};
pub use snapshot::{BridgeNumbers, EdgeFacts, ListenerNumbers, Snapshot};

/// How often the load averages are brought up to date when `$SYS` is off
/// or slower (the admin API and STATUS= show them too).
const LOAD_TICK: Duration = Duration::from_secs(5);

/// `sys_interval` and `event_topics`, set once at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SysSettings {
    /// Zero: `$SYS/broker/...` is never published.
    pub interval: Duration,
    pub events: bool,
}

/// When the tree is due, the load averages, the maximum of clients.
#[derive(Debug, Default)]
pub struct SysState {
    pub settings: SysSettings,
    started: Option<Instant>,
    last_publish: Option<Instant>,
    last_load: Option<Instant>,
    pub loads: LoadTracker,
    pub clients_maximum: u64,
}

impl SysState {
    pub fn new(settings: SysSettings, now: Instant) -> SysState {
        SysState {
            settings,
            started: Some(now),
            ..SysState::default()
        }
    }

    pub fn uptime(&self, now: Instant) -> Duration {
        self.started
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    /// Whether the load averages or the tree are due at `now` (the caller
    /// then measures its [`EdgeFacts`] and calls [`SysState::take_due`]).
    pub fn is_due(&self, now: Instant) -> bool {
        let due = |last: Option<Instant>, every: Duration| {
            last.is_none_or(|l| now.saturating_duration_since(l) >= every)
        };
        due(self.last_load, LOAD_TICK)
            || (!self.settings.interval.is_zero() && due(self.last_publish, self.settings.interval))
    }

    /// Updates the loads; true when the tree should be published now.
    pub fn take_due(&mut self, now: Instant, totals: Totals) -> bool {
        self.loads.tick(now, totals);
        self.last_load = Some(now);
        let interval = self.settings.interval;
        let publish = !interval.is_zero()
            && self
                .last_publish
                .is_none_or(|l| now.saturating_duration_since(l) >= interval);
        if publish {
            self.last_publish = Some(now);
        }
        publish
    }

    pub fn note_clients(&mut self, connected: u64) {
        self.clients_maximum = self.clients_maximum.max(connected);
    }
}
