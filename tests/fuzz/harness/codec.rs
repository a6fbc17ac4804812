//! The packet decoder, as a connection meets it: bytes cut into reads of
//! any size go through the `Framer`, with the version switched by CONNECT
//! as `net` does, and each packet is also decoded alone. A decoded packet
//! must encode and decode back to itself.

use edgemq::codec::{self, Decoded, Framer, Packet, ProtocolVersion};

/// The cap a listener applies by default is larger; a small one here lets
/// the fuzzer reach the "too large" path with short inputs too.
const MAX_PACKET_SIZE: usize = 4096;

/// Input: one control byte (version before CONNECT, read size, cap), then
/// the byte stream.
pub fn codec(data: &[u8]) {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let mut version = match control % 3 {
        0 => ProtocolVersion::V3_1,
        1 => ProtocolVersion::V3_1_1,
        _ => ProtocolVersion::V5,
    };
    let read_size = usize::from((control >> 2) & 0x1f) + 1;
    let cap = if control & 0x80 == 0 {
        MAX_PACKET_SIZE
    } else {
        usize::MAX
    };

    if let Ok(Decoded::Packet(packet, used)) = codec::decode(stream, version, cap) {
        assert!(used <= stream.len(), "decode used more than it was given");
        round_trip(&packet, version);
    }

    let mut framer = Framer::new();
    'reads: for read in stream.chunks(read_size) {
        let mut packets = framer.feed(read);
        loop {
            match packets.next_packet(version, cap) {
                Ok(Some(packet)) => {
                    if let Packet::Connect(connect) = &packet {
                        version = connect.protocol;
                    }
                    round_trip(&packet, version);
                }
                Ok(None) => break,
                Err(_) => break 'reads,
            }
        }
    }
}

/// What the broker writes must read back as what it meant.
fn round_trip(packet: &Packet, version: ProtocolVersion) {
    let mut bytes = Vec::new();
    if codec::encode(packet, version, &mut bytes).is_err() {
        return;
    }
    match codec::decode(&bytes, version, usize::MAX) {
        Ok(Decoded::Packet(again, used)) => {
            assert_eq!(used, bytes.len(), "re-encoded {packet:?}: trailing bytes");
            assert_eq!(&again, packet, "re-encoded packet reads back differently");
        }
        other => panic!("re-encoded {packet:?} does not decode: {other:?}"),
    }
}
