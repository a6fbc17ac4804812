//! What a listener's sockets speak — MQTT, or MQTT over WebSocket — and how
//! an accepted socket becomes a connection task, or is turned away over
//! `max_connections`. The accept loop asks this file and nothing else.

use std::rc::Rc;

use smol::LocalExecutor;

use crate::broker::{ConnId, PeerAddr};
use crate::config::{ListenerConfig, ListenerProtocol};

use super::connection::{ByteStream, ConnectionTask};
use super::{refuse, Shared};

/// A listener's transport as configured; made into a [`Transport`] when
/// the listener starts serving (the WebSocket side needs the running
/// broker's limits).
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "websocket"), allow(dead_code))]
pub(super) struct TransportConfig {
    protocol: ListenerProtocol,
    path: String,
    head_bytes: usize,
}

impl TransportConfig {
    pub(super) fn new(config: &ListenerConfig, websockets_headers_size: usize) -> Self {
        TransportConfig {
            protocol: config.protocol,
            path: config.websockets_path.clone(),
            head_bytes: websockets_headers_size,
        }
    }
}

pub(super) enum Transport {
    Mqtt,
    #[cfg(feature = "websocket")]
    WebSocket(Rc<super::websocket::WsListener>),
}

impl Transport {
    /// `local` is where the listener serves, for the log.
    pub(super) fn start(config: &TransportConfig, shared: &Shared, local: &str) -> Transport {
        match config.protocol {
            ListenerProtocol::Mqtt => Transport::Mqtt,
            #[cfg(feature = "websocket")]
            ListenerProtocol::WebSockets => {
                log::info!(
                    "{local}: MQTT over WebSocket at path {}, subprotocol mqtt",
                    config.path
                );
                Transport::WebSocket(Rc::new(super::websocket::WsListener {
                    path: config.path.as_str().into(),
                    head_bytes: config.head_bytes,
                    max_packet_size: shared.max_packet_size.clone(),
                }))
            }
            // The config refuses `protocol websockets` without the feature.
            #[cfg(not(feature = "websocket"))]
            ListenerProtocol::WebSockets => {
                let _ = (shared, local);
                Transport::Mqtt
            }
        }
    }

    /// Starts the connection task of an accepted socket the broker took.
    pub(super) fn open<S: ByteStream>(
        &self,
        executor: &LocalExecutor<'static>,
        shared: &Rc<Shared>,
        stream: S,
        peer: PeerAddr,
        conn: ConnId,
    ) {
        match self {
            Transport::Mqtt => {
                let _ = peer;
                executor
                    .spawn(ConnectionTask::new(shared.clone(), stream, conn))
                    .detach();
            }
            #[cfg(feature = "websocket")]
            Transport::WebSocket(listener) => {
                let stream = super::websocket::WsStream::new(stream, listener.clone(), peer);
                executor
                    .spawn(ConnectionTask::new(shared.clone(), stream, conn))
                    .detach();
            }
        }
    }

    /// Turns away a socket over `max_connections`: MQTT gets its CONNACK 3
    /// from a refusal task; WebSocket an HTTP 503, written at once if the
    /// socket takes it (it always has room for 100 bytes when new).
    pub(super) fn refuse<S: ByteStream>(
        &self,
        executor: &LocalExecutor<'static>,
        shared: &Rc<Shared>,
        stream: S,
    ) {
        match self {
            Transport::Mqtt => {
                if let Some(task) = refuse::start(shared, stream) {
                    executor.spawn(task).detach();
                }
            }
            #[cfg(feature = "websocket")]
            Transport::WebSocket(_) => {
                let answer = super::websocket::over_capacity_response();
                let _ = stream.write_vectored(&[std::io::IoSlice::new(&answer)]);
            }
        }
    }
}
