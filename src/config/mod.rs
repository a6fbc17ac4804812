//! TEMPORARY stub (lead's), replaced by the config helper's module.
use std::path::PathBuf;
use std::time::Duration;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateClientId { Takeover, Reject }
#[derive(Debug, Clone)]
pub struct ListenerConfig { pub port: u16, pub address: Option<String>, pub line: usize }
impl ListenerConfig { pub fn socket_addrs(&self) -> Vec<std::net::SocketAddr> { let a = self.address.clone().unwrap_or("0.0.0.0".into()); format!("{a}:{}", self.port).parse().into_iter().collect() } }
#[derive(Debug, Clone)]
pub struct Config {
  pub listeners: Vec<ListenerConfig>, pub listeners_from_file: bool, pub allow_anonymous: bool,
  pub max_connections: usize, pub max_sessions: usize, pub max_packet_size: usize,
  pub max_inflight_messages: u16, pub max_queued_messages: usize,
  pub backpressure_timeout: Duration, pub max_outbound_bytes: usize,
  pub queue_qos0_messages: bool, pub persistent_client_expiration: Option<Duration>,
  pub duplicate_client_id: DuplicateClientId,
  pub max_client_id_length: usize, pub max_topic_length: usize, pub max_topic_levels: usize,
  pub max_subscriptions_per_client: usize, pub strict_identifiers: bool, pub connect_timeout: Duration,
  pub persistence: bool, pub persistence_location: PathBuf, pub autosave_interval: Duration,
  pub persistence_sync: bool, pub persistence_cache_bytes: u64, pub max_store_bytes: u64,
  pub max_retained_messages: usize, pub memory_limit: u64, pub log_level: log::LevelFilter,
  pub allow_zero_length_clientid: bool, pub auto_id_prefix: String, pub max_keepalive: u16, pub pid_file: Option<PathBuf>,
}
impl Default for Config { fn default() -> Self { Config {
  listeners: vec![ListenerConfig { port: 1883, address: Some("127.0.0.1".into()), line: 0 }], listeners_from_file: false, allow_anonymous: true,
  max_connections: 1024, max_sessions: 2048, max_packet_size: 131072, max_inflight_messages: 20, max_queued_messages: 10,
  backpressure_timeout: Duration::from_secs(5), max_outbound_bytes: 262144, queue_qos0_messages: false,
  persistent_client_expiration: Some(Duration::from_secs(7200)), duplicate_client_id: DuplicateClientId::Takeover,
  max_client_id_length: 128, max_topic_length: 1024, max_topic_levels: 32, max_subscriptions_per_client: 100,
  strict_identifiers: false, connect_timeout: Duration::from_secs(10), persistence: true, persistence_location: "./edgemq-data/".into(),
  autosave_interval: Duration::from_secs(1), persistence_sync: false, persistence_cache_bytes: 2097152, max_store_bytes: 67108864,
  max_retained_messages: 10000, memory_limit: 0, log_level: log::LevelFilter::Info, allow_zero_length_clientid: true,
  auto_id_prefix: "auto-".into(), max_keepalive: 65535, pid_file: None } } }
