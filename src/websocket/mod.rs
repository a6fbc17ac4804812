//! MQTT over WebSocket (MQTT 3.1.1 §6, MQTT 5.0 §6; RFC 6455), sans-IO:
//! the opening handshake and the frames. The network side — a WebSocket
//! stream over any byte stream, TCP today, TLS later — is
//! `net/websocket.rs`.
//!
//! Owns: HTTP request heads and WebSocket frames in, answers and frame
//! headers out. It never touches a socket or the clock and uses nothing of
//! ours; MQTT framing stays the codec's (`codec::Framer`).

pub mod frame;
pub mod handshake;

pub use frame::{Decoder, FrameError, Stop};
pub use handshake::{Refusal, Status, Subprotocol, Upgrade};
