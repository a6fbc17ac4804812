//! The fixed header: packet type, flags and the remaining length, checked
//! against the size cap before the rest of the packet is buffered.

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
    pub fn parse(buf: &[u8], max_packet_size: usize) -> Result<Option<FixedHeader>, DecodeError> {
        let _ = (buf, max_packet_size);
        Err(DecodeError::Malformed("fixed header not implemented"))
    }

    /// Header plus remaining length: the whole packet's size.
    pub fn frame_len(&self) -> usize {
        self.header_len + self.remaining_len
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
        Err(DecodeError::Malformed("reserved fixed-header flags"))
    }
}
