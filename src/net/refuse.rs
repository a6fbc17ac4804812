//! Refusing a connection over `max_connections` the way MQTT asks: read its
//! CONNECT, answer CONNACK "server unavailable" in its version, close.
//! The refusal holds no broker slot; how many run at once is capped, and
//! past that the socket is simply closed. Any transport's byte stream can
//! be refused: over the global cap or its listener's.

use std::future::Future;
use std::time::Duration;

use async_io::Timer;
use futures_lite::future;

use crate::codec::{ConnAck, ConnectReturn, Frame, Framer, Packet, Properties, ProtocolVersion};

use super::connection::{read_some, write_all, AnyStream, ByteStream};
use super::Shared;

/// Refusals in progress at once; a flood past this is closed unanswered.
const MAX_REFUSALS: usize = 32;
/// A CONNECT is small; a refused client gets this much room and time.
const REFUSAL_BYTES: usize = 4096;
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn start(
    shared: &std::rc::Rc<Shared>,
    stream: AnyStream,
) -> Option<impl Future<Output = ()>> {
    if shared.refusals_in_progress.get() >= MAX_REFUSALS {
        return None;
    }
    shared
        .refusals_in_progress
        .set(shared.refusals_in_progress.get() + 1);
    let shared = shared.clone();
    Some(async move {
        let answer = async { refuse(&stream).await };
        let timeout = async {
            Timer::after(REFUSAL_TIMEOUT).await;
        };
        future::or(answer, timeout).await;
        shared
            .refusals_in_progress
            .set(shared.refusals_in_progress.get().saturating_sub(1));
    })
}

async fn refuse(stream: &dyn ByteStream) {
    // The same framer as every connection; a CONNECT over the refusal's
    // size cap is an error like any other packet over a cap.
    let mut buf = [0u8; 1024];
    let mut framer = Framer::new();
    let mut received = 0usize;
    let version = loop {
        let n = match read_some(stream, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        received += n;
        let mut packets = framer.feed(buf.get(..n).unwrap_or(&[]));
        match packets.next_packet(ProtocolVersion::V3_1_1, REFUSAL_BYTES) {
            Ok(Some(Packet::Connect(connect))) => break connect.protocol,
            Ok(None) if received < REFUSAL_BYTES => continue,
            _ => return,
        }
    };
    let connack = ConnAck {
        session_present: false,
        code: ConnectReturn::ServerUnavailable.code(version),
        properties: Properties::default(),
    };
    if let Ok(frame) = Frame::packet(&Packet::ConnAck(connack), version) {
        let bytes: Vec<u8> = frame
            .slices()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect();
        let _ = write_all(stream, &bytes).await;
    }
}
