//! Bytes → whole packets for any byte stream: the one place that keeps the
//! bytes of a packet split across reads. Client connections (`net`) and
//! bridge links (`net::bridge`) both use it; a new transport hands it what
//! it reads and takes packets out (docs/transports.md).
//!
//! Owns: the leftover of a packet that a read cut in two, and, when the
//! caller stops taking packets (a paused publisher), the unread rest of the
//! input. It never reads a socket or the clock, and keeps no state but
//! those bytes.
//!
//! Invariants:
//! - Nothing is held between calls but bytes not yet decoded: after a
//!   whole packet is taken and no leftover remains, [`Framer::is_empty`] is
//!   true and the buffer's capacity is released, so an idle connection
//!   that drops an empty framer holds no read buffer at all.
//! - The caller's input is decoded in place. Only a packet cut by the end
//!   of a read is copied (its first part when the read ends, then what it
//!   lacks from the next reads, and not a byte more), and the input a stop
//!   leaves unread, at most one read.
//! - Packets come out one at a time and in order: the caller may stop after
//!   any of them, and the rest comes out first on the next call.
//! - After a decode error the framer yields nothing more and holds nothing:
//!   the stream cannot be resynchronised, the connection ends.
//!
//! Where each connection rule lives:
//! - The size limit is the codec's: [`decode`] and [`frame_length`] refuse a
//!   packet whose fixed header announces more than `max_packet_size` as soon
//!   as the header is complete (header.rs). The framer asks them before it
//!   copies any byte past a fixed header, so it never buffers a packet the
//!   cap refuses; what it holds is an incomplete header (under five bytes),
//!   part of a packet under the cap, or the input left by a stop.
//! - The first-packet rules are not here. "The first packet from a client
//!   must be CONNECT" [MQTT-3.1.0-1] is checked by `Broker::handle_packet`,
//!   next to its other half, "a second CONNECT is a protocol violation"
//!   [MQTT-3.1.0-2], and "the first packet from a server must be CONNACK"
//!   [MQTT-3.2.0-1] by `bridge::Link::handle_packet`, next to the CONNACK's
//!   return code. Both need the session's state, which those sans-IO state
//!   machines own and their tests drive with packets, not bytes; in the
//!   framer the rule would be a second copy, and one more per-connection
//!   flag to keep while idle. So the framer is the same for both sides and
//!   takes the protocol version per packet from its caller (before CONNECT,
//!   any version does: CONNECT carries its own).

use super::header::frame_length;
use super::{decode, DecodeError, Decoded, Packet, ProtocolVersion};

/// The partial-packet buffer of one byte stream. Empty and allocation-free
/// when no packet is split; `Default` is the empty framer.
#[derive(Debug, Default)]
pub struct Framer {
    /// Bytes not decoded yet: an incomplete packet, or after a stop the
    /// input the caller left unread (whole packets, then maybe a partial).
    held: Vec<u8>,
    /// The caller stopped before the framer ran out of whole packets.
    stopped: bool,
}

impl Framer {
    pub const fn new() -> Framer {
        Framer {
            held: Vec::new(),
            stopped: false,
        }
    }

    /// Nothing held: the framer can be dropped (or kept) at no cost.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The caller stopped taking packets while whole ones may remain: feed
    /// `&[]` to take them before reading more from the stream.
    pub fn may_hold_packets(&self) -> bool {
        self.stopped
    }

    /// Decodes `data` after what is held. Take packets with
    /// [`Packets::next_packet`]; what is not taken when the returned value
    /// is dropped is kept for the next call.
    pub fn feed<'a>(&'a mut self, data: &'a [u8]) -> Packets<'a> {
        self.stopped = false;
        Packets {
            framer: self,
            held_at: 0,
            data,
            dry: false,
            failed: false,
        }
    }
}

/// One call's worth of input: what the framer held, then `data`.
///
/// Dropping it keeps what was not taken (from the first byte of the next
/// packet) in the framer.
#[derive(Debug)]
pub struct Packets<'a> {
    framer: &'a mut Framer,
    /// Bytes of `framer.held` already decoded.
    held_at: usize,
    /// The caller's input not yet decoded nor copied into `framer.held`.
    data: &'a [u8],
    /// The last call found no whole packet.
    dry: bool,
    /// A decode error ended the stream.
    failed: bool,
}

impl Packets<'_> {
    /// The next whole packet, `Ok(None)` when more bytes are needed.
    ///
    /// `version` decodes this packet (it may change after CONNECT, between
    /// two packets of the same read); a packet whose fixed header announces
    /// more than `max_packet_size` is an error before its body is buffered.
    /// After an error, every call answers `Ok(None)` and nothing is kept.
    pub fn next_packet(
        &mut self,
        version: ProtocolVersion,
        max_packet_size: usize,
    ) -> Result<Option<Packet>, DecodeError> {
        if self.failed {
            return Ok(None);
        }
        let result = if self.held_at < self.framer.held.len() {
            self.next_from_held(version, max_packet_size)
        } else {
            self.next_from_data(version, max_packet_size)
        };
        match &result {
            Ok(packet) => self.dry = packet.is_none(),
            Err(_) => {
                self.failed = true;
                self.discard();
            }
        }
        result
    }

    /// Drops what is held and what is left of the input: the connection is
    /// closing and nothing more will be decoded.
    pub fn discard(&mut self) {
        self.framer.held = Vec::new();
        self.held_at = 0;
        self.data = &[];
        self.dry = true;
    }

    /// The common case: a packet that lies whole in the caller's input is
    /// decoded where it is.
    fn next_from_data(
        &mut self,
        version: ProtocolVersion,
        max_packet_size: usize,
    ) -> Result<Option<Packet>, DecodeError> {
        match decode(self.data, version, max_packet_size)? {
            Decoded::Packet(packet, used) => {
                self.data = self.data.get(used..).unwrap_or(&[]);
                Ok(Some(packet))
            }
            Decoded::Incomplete => Ok(None),
        }
    }

    /// A packet begun in an earlier call: moves from the input exactly the
    /// bytes it lacks (never a byte past a fixed header the cap refuses),
    /// then decodes it from the held buffer.
    fn next_from_held(
        &mut self,
        version: ProtocolVersion,
        max_packet_size: usize,
    ) -> Result<Option<Packet>, DecodeError> {
        loop {
            let rest = self.framer.held.get(self.held_at..).unwrap_or(&[]);
            if let Decoded::Packet(packet, used) = decode(rest, version, max_packet_size)? {
                self.held_at += used;
                return Ok(Some(packet));
            }
            let lacking = match frame_length(rest, max_packet_size)? {
                Some(len) => len.saturating_sub(rest.len()),
                // The header is still incomplete (at most five bytes): one
                // byte at a time, so no byte of the body comes before the
                // size check.
                None => 1,
            };
            let Some((moved, data)) = self
                .data
                .split_at_checked(lacking.min(self.data.len()))
                .filter(|(moved, _)| !moved.is_empty())
            else {
                return Ok(None);
            };
            self.framer.held.extend_from_slice(moved);
            self.data = data;
        }
    }
}

impl Drop for Packets<'_> {
    /// Keeps the undecoded rest: the held bytes not yet taken, then the
    /// input not yet copied. Releases the buffer when nothing remains.
    fn drop(&mut self) {
        let framer = &mut *self.framer;
        let taken = self.held_at.min(framer.held.len());
        if taken == framer.held.len() {
            framer.held.clear();
        } else {
            framer.held.drain(..taken);
        }
        framer.held.extend_from_slice(self.data);
        if framer.held.is_empty() {
            framer.held = Vec::new();
        }
        framer.stopped = !self.dry && !framer.held.is_empty();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::codec::{encode, PacketId, Publish, PublishBody, QoS};

    const V: ProtocolVersion = ProtocolVersion::V3_1_1;
    const MAX: usize = 1 << 20;

    fn publish(topic: &str, payload: &[u8]) -> Packet {
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            packet_id: PacketId::new(7),
            body: PublishBody::new(topic, payload).unwrap(),
            properties: Default::default(),
        })
    }

    fn stream(packets: &[Packet]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in packets {
            encode(p, V, &mut out).unwrap();
        }
        out
    }

    fn sample() -> Vec<Packet> {
        vec![
            publish("a/b", b"hello"),
            Packet::PingReq,
            publish("c", &[7; 300]),
            Packet::PingReq,
            publish("d/e/f", b""),
        ]
    }

    /// Every packet `data` completes, in order.
    fn drain(framer: &mut Framer, data: &[u8]) -> Vec<Packet> {
        let mut packets = framer.feed(data);
        let mut out = Vec::new();
        while let Some(p) = packets.next_packet(V, MAX).unwrap() {
            out.push(p);
        }
        out
    }

    #[test]
    fn every_split_point_yields_the_same_packets() {
        let packets = sample();
        let bytes = stream(&packets);
        for cut in 0..=bytes.len() {
            let mut framer = Framer::new();
            let mut got = drain(&mut framer, &bytes[..cut]);
            got.extend(drain(&mut framer, &bytes[cut..]));
            assert_eq!(got, packets, "cut at {cut}");
            assert!(framer.is_empty());
            assert_eq!(framer.held.capacity(), 0, "cut at {cut}");
        }
    }

    #[test]
    fn byte_by_byte() {
        let packets = sample();
        let mut framer = Framer::new();
        let mut got = Vec::new();
        for b in stream(&packets) {
            got.extend(drain(&mut framer, &[b]));
        }
        assert_eq!(got, packets);
        assert!(framer.is_empty());
    }

    #[test]
    fn only_the_cut_packet_is_copied() {
        let packets = sample();
        let bytes = stream(&packets);
        // Cut inside the third packet (the 300-byte PUBLISH).
        let third = stream(&packets[..2]).len();
        let third_end = stream(&packets[..3]).len();
        let cut = third + 10;
        let mut framer = Framer::new();
        assert_eq!(drain(&mut framer, &bytes[..cut]).len(), 2);
        assert_eq!(framer.held.len(), 10);
        // The next read: the rest of the stream, minus the last 3 bytes.
        let end = bytes.len() - 3;
        let mut feed = framer.feed(&bytes[cut..end]);
        assert_eq!(feed.next_packet(V, MAX).unwrap(), Some(packets[2].clone()));
        // Exactly the third packet was assembled in the held buffer.
        assert_eq!(feed.framer.held.len(), third_end - third);
        assert_eq!(feed.next_packet(V, MAX).unwrap(), Some(Packet::PingReq));
        assert_eq!(feed.next_packet(V, MAX).unwrap(), None);
        drop(feed);
        // What is kept is the start of the last packet, nothing before it.
        assert_eq!(framer.held, &bytes[third_end + 2..end]);
        assert_eq!(drain(&mut framer, &bytes[end..]), [packets[4].clone()]);
    }

    #[test]
    fn oversize_is_refused_before_its_body_is_buffered() {
        // A PUBLISH announcing 1,000,000 bytes, its header in two reads.
        let header = [0x30, 0xC0, 0x84, 0x3D];
        let mut framer = Framer::new();
        assert_eq!(drain(&mut framer, &header[..2]), []);
        assert_eq!(framer.held.len(), 2);
        let body = vec![0u8; 4096];
        let mut input = header[2..].to_vec();
        input.extend_from_slice(&body);
        let mut packets = framer.feed(&input);
        assert_eq!(
            packets.next_packet(V, 1024),
            Err(DecodeError::TooLarge {
                size: 1_000_004,
                max: 1024
            })
        );
        // No byte of the body was copied, and nothing is kept.
        assert_eq!(packets.framer.held.capacity(), 0);
        assert_eq!(packets.next_packet(V, 1024), Ok(None));
        drop(packets);
        assert!(framer.is_empty());

        // Whole in one read: refused from the header too.
        let mut framer = Framer::new();
        let mut input = header.to_vec();
        input.extend_from_slice(&body);
        assert!(matches!(
            framer.feed(&input).next_packet(V, 1024),
            Err(DecodeError::TooLarge { .. })
        ));
        assert_eq!(framer.held.capacity(), 0);
    }

    #[test]
    fn garbage_is_an_error_and_nothing_is_kept() {
        // Type 0; HTTP (0x47: PUBACK with reserved flags, once its 69
        // announced bytes are there); a five-byte remaining length.
        let http =
            b"GET / HTTP/1.1\r\nHost: broker.lan\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
        for garbage in [&b"\x00\x00"[..], http, b"\x30\xFF\xFF\xFF\xFF\x01"] {
            let mut framer = Framer::new();
            let mut packets = framer.feed(garbage);
            assert!(packets.next_packet(V, MAX).is_err(), "{garbage:?}");
            assert_eq!(packets.next_packet(V, MAX), Ok(None));
            drop(packets);
            assert!(framer.is_empty());
            assert!(!framer.may_hold_packets());
        }
        // After good packets, and once they were held.
        let mut bytes = stream(&sample());
        bytes.extend_from_slice(&[0xF0, 0x00]); // AUTH below 5.0
        let mut framer = Framer::new();
        let mut packets = framer.feed(&bytes[..3]);
        assert_eq!(packets.next_packet(V, MAX), Ok(None));
        drop(packets);
        let mut packets = framer.feed(&bytes[3..]);
        for p in sample() {
            assert_eq!(packets.next_packet(V, MAX), Ok(Some(p)));
        }
        assert!(packets.next_packet(V, MAX).is_err());
        drop(packets);
        assert!(framer.is_empty());
    }

    #[test]
    fn a_stop_keeps_the_rest_in_order() {
        let packets = sample();
        let bytes = stream(&packets);
        let cut = bytes.len() - 4;
        let mut framer = Framer::new();
        let mut first = framer.feed(&bytes[..cut]);
        assert_eq!(first.next_packet(V, MAX).unwrap(), Some(packets[0].clone()));
        drop(first);
        assert!(framer.may_hold_packets());
        assert_eq!(framer.held.len(), cut - stream(&packets[..1]).len());
        // Resume with no new input; stop again after one.
        let mut again = framer.feed(&[]);
        assert_eq!(again.next_packet(V, MAX).unwrap(), Some(Packet::PingReq));
        drop(again);
        assert!(framer.may_hold_packets());
        assert_eq!(drain(&mut framer, &[]), packets[2..4]);
        assert!(!framer.may_hold_packets());
        assert_eq!(framer.held.len(), cut - stream(&packets[..4]).len());
        assert_eq!(drain(&mut framer, &bytes[cut..]), packets[4..]);
        assert!(framer.is_empty());
        assert_eq!(framer.held.capacity(), 0);
    }

    #[test]
    fn a_stop_on_the_last_whole_packet_keeps_nothing() {
        let bytes = stream(&[Packet::PingReq]);
        let mut framer = Framer::new();
        let mut packets = framer.feed(&bytes);
        assert_eq!(packets.next_packet(V, MAX).unwrap(), Some(Packet::PingReq));
        drop(packets);
        assert!(framer.is_empty());
        assert!(!framer.may_hold_packets());
    }

    #[test]
    fn discard_keeps_nothing() {
        let bytes = stream(&sample());
        let mut framer = Framer::new();
        drop(framer.feed(&bytes[..3]));
        let mut packets = framer.feed(&bytes[3..]);
        assert!(packets.next_packet(V, MAX).unwrap().is_some());
        packets.discard();
        assert_eq!(packets.next_packet(V, MAX), Ok(None));
        drop(packets);
        assert!(framer.is_empty());
        assert_eq!(framer.held.capacity(), 0);
        assert!(!framer.may_hold_packets());
    }

    #[test]
    fn the_version_may_change_between_two_packets_of_one_read() {
        use crate::codec::Connect;
        let connect = Packet::Connect(Box::new(Connect {
            protocol: ProtocolVersion::V5,
            bridge: false,
            clean_start: true,
            keep_alive: 30,
            client_id: "c".into(),
            will: None,
            username: None,
            password: None,
            properties: Default::default(),
        }));
        // A 5.0 PUBLISH has a property length that 3.1.1 would read as payload.
        let publish = publish("a", b"x");
        let mut bytes = Vec::new();
        encode(&connect, ProtocolVersion::V5, &mut bytes).unwrap();
        encode(&publish, ProtocolVersion::V5, &mut bytes).unwrap();
        let mut framer = Framer::new();
        let mut packets = framer.feed(&bytes);
        let Some(Packet::Connect(c)) = packets.next_packet(V, MAX).unwrap() else {
            panic!("not CONNECT");
        };
        assert_eq!(packets.next_packet(c.protocol, MAX).unwrap(), Some(publish));
    }
}
