//! The fixed header: packet type, flags and the remaining length, checked
//! against the size cap before the rest of the packet is buffered.
//!
//! Invariant: a header is refused as soon as the bytes seen prove the packet
//! bad (reserved type 0, a five-byte length, a size over the cap), so a peer
//! cannot make us buffer anything beyond five bytes of a packet we will refuse.

use super::wire;
use super::DecodeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// Packet type, 1..=15.
    pub kind: u8,
    /// The low nibble of the first byte.
    pub flags: u8,
    pub remaining_len: usize,
    /// 1 plus the bytes of the remaining-length varint.
    pub header_len: usize,
}

impl FixedHeader {
    /// `Ok(None)` when the header itself is not complete yet.
    ///
    /// Type 15 (AUTH) is accepted here; whether the version allows it is the
    /// body decoder's call, since the header does not know the version.
    pub fn parse(buf: &[u8], max_packet_size: usize) -> Result<Option<FixedHeader>, DecodeError> {
        let Some((&first, rest)) = buf.split_first() else {
            return Ok(None);
        };
        let kind = first >> 4;
        if kind == 0 {
            return Err(DecodeError::Malformed("reserved packet type 0"));
        }
        let Some((remaining, varint_len)) = wire::parse_varint(rest)? else {
            return Ok(None);
        };
        // At most 268,435,455 + 5: fits any usize of 32 bits or more.
        let remaining_len = usize::try_from(remaining)
            .map_err(|_| DecodeError::Malformed("remaining length does not fit in memory"))?;
        let header_len = 1 + varint_len;
        let size = header_len
            .checked_add(remaining_len)
            .ok_or(DecodeError::Malformed("remaining length overflows"))?;
        if size > max_packet_size {
            return Err(DecodeError::TooLarge {
                size,
                max: max_packet_size,
            });
        }
        Ok(Some(FixedHeader {
            kind,
            flags: first & 0x0F,
            remaining_len,
            header_len,
        }))
    }

    /// Header plus remaining length: the whole packet's size (checked against
    /// overflow when parsed).
    pub fn frame_len(&self) -> usize {
        self.header_len.saturating_add(self.remaining_len)
    }
}

/// The size of the packet at the front of `buf`, once its fixed header is
/// complete; refuses a packet over the cap as soon as its length is known.
pub fn frame_length(buf: &[u8], max_packet_size: usize) -> Result<Option<usize>, DecodeError> {
    Ok(FixedHeader::parse(buf, max_packet_size)?.map(|h| h.frame_len()))
}

pub(super) fn expect_flags(flags: u8, expected: u8) -> Result<(), DecodeError> {
    if flags == expected {
        Ok(())
    } else {
        Err(DecodeError::Malformed(
            "reserved fixed-header flags [MQTT-2.2.2-2]",
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_headers() {
        assert_eq!(FixedHeader::parse(&[], 100).unwrap(), None);
        assert_eq!(FixedHeader::parse(&[0x30], 100).unwrap(), None);
        assert_eq!(FixedHeader::parse(&[0x30, 0x80], 1000).unwrap(), None);
    }

    #[test]
    fn parses_type_flags_and_length() {
        let h = FixedHeader::parse(&[0x3B, 0xC8, 0x01, 0xAA], 1000)
            .unwrap()
            .unwrap();
        assert_eq!(
            h,
            FixedHeader {
                kind: 3,
                flags: 0xB,
                remaining_len: 200,
                header_len: 3
            }
        );
        assert_eq!(h.frame_len(), 203);
        assert_eq!(frame_length(&[0xC0, 0x00], 2).unwrap(), Some(2));
    }

    #[test]
    fn reserved_type_zero_is_malformed() {
        assert!(matches!(
            FixedHeader::parse(&[0x00], 100),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn five_byte_length_is_malformed() {
        let r = FixedHeader::parse(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], usize::MAX);
        assert!(matches!(r, Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn over_the_cap_before_the_body_arrives() {
        // Only the header is here; the 1,000,000-byte body is refused unseen.
        let r = FixedHeader::parse(&[0x30, 0xC0, 0x84, 0x3D], 1024);
        assert_eq!(
            r,
            Err(DecodeError::TooLarge {
                size: 1_000_004,
                max: 1024
            })
        );
        // Exactly at the cap is fine.
        assert!(FixedHeader::parse(&[0x30, 0x02], 4).unwrap().is_some());
        assert!(FixedHeader::parse(&[0x30, 0x03], 4).is_err());
    }
}
