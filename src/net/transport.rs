//! What a listener's sockets speak — MQTT or MQTT over WebSocket, either
//! of them over TLS on a TCP listener — and how an accepted socket becomes
//! a connection task, or is turned away over `max_connections`. The accept
//! loops ask this file and nothing else.

use std::rc::Rc;

use smol::LocalExecutor;

use crate::broker::{ConnId, ListenerId, PeerAddr};
use crate::config::{ListenerConfig, ListenerProtocol};

use super::connection::{AnyStream, ConnectionTask};
use super::spawn::spawn;
use super::{refuse, BindError, Shared};

/// A listener's transport as configured; made into a [`Transport`] when
/// the listener starts serving (the WebSocket side needs the running
/// broker's limits).
#[derive(Clone)]
#[cfg_attr(not(feature = "websocket"), allow(dead_code))]
pub(super) struct TransportConfig {
    protocol: ListenerProtocol,
    path: String,
    head_bytes: usize,
    /// The listener's certificates, read once at bind.
    #[cfg(feature = "tls")]
    tls: Option<Rc<super::tls::Acceptor>>,
}

impl TransportConfig {
    /// Reads a TLS listener's certificate, key, CA and CRL files (as root,
    /// before `user` drops it).
    pub(super) fn new(
        config: &ListenerConfig,
        websockets_headers_size: usize,
    ) -> Result<Self, BindError> {
        #[cfg(feature = "tls")]
        let tls = match config.tls.as_deref() {
            Some(_) if config.unix.is_some() => {
                return Err(BindError::Internal(
                    "TLS on a unix socket listener is not supported",
                ))
            }
            Some(tls) => Some(Rc::new(
                super::tls::Acceptor::new(tls).map_err(BindError::Tls)?,
            )),
            None => None,
        };
        Ok(TransportConfig {
            protocol: config.protocol,
            path: config.websockets_path.clone(),
            head_bytes: websockets_headers_size,
            #[cfg(feature = "tls")]
            tls,
        })
    }
}

impl TransportConfig {
    /// The listener's TLS side, which SIGHUP re-reads.
    #[cfg(feature = "tls")]
    pub(super) fn acceptor(&self) -> Option<&Rc<super::tls::Acceptor>> {
        self.tls.as_ref()
    }
}

pub(super) struct Transport {
    speaks: Speaks,
    #[cfg(feature = "tls")]
    tls: Option<Rc<super::tls::Acceptor>>,
}

enum Speaks {
    Mqtt,
    #[cfg(feature = "websocket")]
    WebSocket(Rc<super::websocket::WsListener>),
}

impl Transport {
    /// `local` is where the listener serves, for the log.
    pub(super) fn start(config: &TransportConfig, shared: &Shared, local: &str) -> Transport {
        Transport {
            speaks: Speaks::start(config, shared, local),
            #[cfg(feature = "tls")]
            tls: config.tls.clone(),
        }
    }

    /// An accepted TCP socket: TLS first where the listener has it (the
    /// handshake runs in the connection's task, bounded by
    /// `connect_timeout`, the broker slot taken now), then [`super::open`].
    pub(super) fn open_tcp(
        &self,
        executor: &LocalExecutor<'static>,
        shared: &Rc<Shared>,
        id: ListenerId,
        stream: async_io::Async<std::net::TcpStream>,
        peer: std::net::SocketAddr,
    ) {
        #[cfg(feature = "tls")]
        if let Some(acceptor) = &self.tls {
            match acceptor.accept(stream) {
                Ok(stream) => {
                    super::open(executor, shared, id, Box::new(stream), peer.into(), self)
                }
                Err(error) => log::error!("cannot start TLS with {peer}: {error}"),
            }
            return;
        }
        super::open(executor, shared, id, Box::new(stream), peer.into(), self);
    }

    /// Starts the connection task of an accepted stream the broker took.
    pub(super) fn open(
        &self,
        executor: &LocalExecutor<'static>,
        shared: &Rc<Shared>,
        stream: AnyStream,
        peer: PeerAddr,
        conn: ConnId,
    ) {
        self.speaks.open(executor, shared, stream, peer, conn);
    }

    /// Turns away a stream over `max_connections` (on a TLS listener the
    /// refusal's reads run the handshake first).
    pub(super) fn refuse(
        &self,
        executor: &LocalExecutor<'static>,
        shared: &Rc<Shared>,
        stream: AnyStream,
    ) {
        self.speaks.refuse(executor, shared, stream);
    }
}

impl Speaks {
    fn start(config: &TransportConfig, shared: &Shared, local: &str) -> Speaks {
        match config.protocol {
            ListenerProtocol::Mqtt => Speaks::Mqtt,
            #[cfg(feature = "websocket")]
            ListenerProtocol::WebSockets => {
                log::info!(
                    "{local}: MQTT over WebSocket at path {}, subprotocol mqtt",
                    config.path
                );
                Speaks::WebSocket(Rc::new(super::websocket::WsListener {
                    path: config.path.as_str().into(),
                    head_bytes: config.head_bytes,
                    max_packet_size: shared.max_packet_size.clone(),
                }))
            }
            // The config refuses `protocol websockets` without the feature.
            #[cfg(not(feature = "websocket"))]
            ListenerProtocol::WebSockets => {
                let _ = (shared, local);
                Speaks::Mqtt
            }
        }
    }

    fn open(
        &self,
        executor: &LocalExecutor<'static>,
        shared: &Rc<Shared>,
        stream: AnyStream,
        peer: PeerAddr,
        conn: ConnId,
    ) {
        match self {
            Speaks::Mqtt => {
                let _ = peer;
                spawn_connection(executor, ConnectionTask::new(shared.clone(), stream, conn));
            }
            #[cfg(feature = "websocket")]
            Speaks::WebSocket(listener) => {
                let stream = super::websocket::WsStream::new(stream, listener.clone(), peer);
                let stream: AnyStream = Box::new(stream);
                spawn_connection(executor, ConnectionTask::new(shared.clone(), stream, conn));
            }
        }
    }

    /// Turns away a socket over `max_connections`: MQTT gets its CONNACK 3
    /// from a refusal task; WebSocket an HTTP 503, written at once if the
    /// socket takes it (it always has room for 100 bytes when new).
    fn refuse(&self, executor: &LocalExecutor<'static>, shared: &Rc<Shared>, stream: AnyStream) {
        match self {
            Speaks::Mqtt => {
                if let Some(task) = refuse::start(shared, stream) {
                    spawn(executor, task).detach();
                }
            }
            #[cfg(feature = "websocket")]
            Speaks::WebSocket(_) => {
                let answer = super::websocket::over_capacity_response();
                let _ = stream.write_vectored(&[std::io::IoSlice::new(&answer)]);
            }
        }
    }
}

/// A connection task is spawned as it is, not boxed like the others
/// (net/spawn.rs): one type whatever the transport, so one instantiation
/// of the executor's machinery either way, and no allocation more per
/// connection.
fn spawn_connection(executor: &LocalExecutor<'static>, task: ConnectionTask) {
    executor.spawn(task).detach();
}
