//! Primitive fields: integers, variable byte integers, UTF-8 strings and
//! binary data, read with bounds checks and written with length checks.
//!
//! Invariants: a [`Reader`] never reads past the packet it was given (running
//! out of bytes is malformed, never "incomplete": the caller hands it a whole
//! packet); every writer refuses a length MQTT cannot express instead of
//! truncating it.

use super::{DecodeError, EncodeError, PacketId};

/// The largest remaining length (and variable byte integer) MQTT can express:
/// four 7-bit groups.
pub(super) const MAX_VARINT: usize = 268_435_455;

/// A cursor over one packet's body; reading past the end is malformed.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
}

const SHORT: DecodeError = DecodeError::Malformed("field runs past the end of the packet");

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Trailing bytes after the last field are an error.
    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Malformed("trailing bytes"))
        }
    }

    /// The next `n` bytes.
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, rest) = self.buf.split_at_checked(n).ok_or(SHORT)?;
        self.buf = rest;
        Ok(head)
    }

    /// Everything left, without consuming it.
    pub(super) fn remaining(&self) -> &'a [u8] {
        self.buf
    }

    /// Everything left (a payload, a list of reason codes).
    pub(super) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// A reader over the next `n` bytes (a property block), advancing past them.
    pub(super) fn sub(&mut self, n: usize) -> Result<Reader<'a>, DecodeError> {
        self.take(n).map(Reader::new)
    }

    pub(super) fn read_u8(&mut self) -> Result<u8, DecodeError> {
        let (&byte, rest) = self.buf.split_first().ok_or(SHORT)?;
        self.buf = rest;
        Ok(byte)
    }

    pub(super) fn read_u16(&mut self) -> Result<u16, DecodeError> {
        let (bytes, rest) = self.buf.split_first_chunk::<2>().ok_or(SHORT)?;
        self.buf = rest;
        Ok(u16::from_be_bytes(*bytes))
    }

    pub(super) fn read_u32(&mut self) -> Result<u32, DecodeError> {
        let (bytes, rest) = self.buf.split_first_chunk::<4>().ok_or(SHORT)?;
        self.buf = rest;
        Ok(u32::from_be_bytes(*bytes))
    }

    /// A variable byte integer of at most four bytes. Non-minimal encodings
    /// are accepted (as mosquitto does); a fifth byte is malformed.
    pub(super) fn read_varint(&mut self) -> Result<u32, DecodeError> {
        match parse_varint(self.buf)? {
            Some((value, used)) => {
                self.buf = self.buf.get(used..).unwrap_or(&[]);
                Ok(value)
            }
            None => Err(SHORT),
        }
    }

    /// A packet identifier, never zero [MQTT-2.3.1-1].
    pub(super) fn read_packet_id(&mut self) -> Result<PacketId, DecodeError> {
        PacketId::new(self.read_u16()?)
            .ok_or(DecodeError::Protocol("packet identifier 0 [MQTT-2.3.1-1]"))
    }

    /// A length-prefixed UTF-8 string.
    pub(super) fn read_str(&mut self) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.read_u16()?);
        check_str(self.take(len)?)
    }

    pub(super) fn read_string(&mut self) -> Result<String, DecodeError> {
        self.read_str().map(str::to_owned)
    }

    /// Length-prefixed binary data.
    pub(super) fn read_binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.read_u16()?);
        self.take(len)
    }
}

/// Well-formed UTF-8 [MQTT-1.5.3-1] (Rust's decoder also refuses the
/// surrogates U+D800..U+DFFF) and no U+0000 [MQTT-1.5.3-2], which in UTF-8
/// is exactly the byte 0x00.
pub(super) fn check_str(bytes: &[u8]) -> Result<&str, DecodeError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| DecodeError::Malformed("invalid UTF-8 string [MQTT-1.5.3-1]"))?;
    if bytes.contains(&0) {
        return Err(DecodeError::Malformed(
            "U+0000 in a UTF-8 string [MQTT-1.5.3-2]",
        ));
    }
    Ok(text)
}

/// A variable byte integer at the front of `buf`: `Ok(None)` when `buf` ends
/// inside it, malformed when a fourth byte still has its continuation bit.
pub(super) fn parse_varint(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().enumerate().take(4) {
        // i < 4, so the shift is at most 21 and the value below 2^28.
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
        if i == 3 {
            return Err(DecodeError::Malformed(
                "variable byte integer over four bytes",
            ));
        }
    }
    Ok(None)
}

/// The bytes of `value` as a variable byte integer.
pub(super) fn varint(value: usize) -> Result<heapless::Vec<u8, 4>, EncodeError> {
    if value > MAX_VARINT {
        return Err(EncodeError::TooLarge(
            "variable byte integer over 268,435,455",
        ));
    }
    let mut out = heapless::Vec::new();
    let mut rest = value;
    loop {
        // Truncation intended: the low seven bits.
        let mut byte = (rest & 0x7F) as u8;
        rest >>= 7;
        if rest > 0 {
            byte |= 0x80;
        }
        // At most four pushes: value <= MAX_VARINT.
        out.push(byte)
            .map_err(|_| EncodeError::TooLarge("variable byte integer over four bytes"))?;
        if rest == 0 {
            return Ok(out);
        }
    }
}

/// How many bytes `value` takes as a variable byte integer (for values up to
/// [`MAX_VARINT`]; larger ones are refused when written).
pub(super) fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

pub(super) fn put_varint(out: &mut Vec<u8>, value: usize) -> Result<(), EncodeError> {
    out.extend_from_slice(&varint(value)?);
    Ok(())
}

pub(super) fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

pub(super) fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Length-prefixed binary data (and, through [`put_str`], strings).
pub(super) fn put_binary(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), EncodeError> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| EncodeError::TooLarge("string or binary field over 65,535 bytes"))?;
    put_u16(out, len);
    out.extend_from_slice(bytes);
    Ok(())
}

pub(super) fn put_str(out: &mut Vec<u8>, text: &str) -> Result<(), EncodeError> {
    put_binary(out, text.as_bytes())
}

/// Appends one whole packet: the first byte, the remaining length, then
/// whatever `body` writes. The body is written first behind a 5-byte gap and
/// the header slid in front of it, so no writer has to size its packet in
/// advance. On error `out` is left as it was.
pub(super) fn packet(
    out: &mut Vec<u8>,
    first_byte: u8,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    const GAP: usize = 5;
    let start = out.len();
    out.extend_from_slice(&[0; GAP]);
    let header = body(out).and_then(|()| {
        let remaining = out.len().saturating_sub(start + GAP);
        let mut header = heapless::Vec::<u8, GAP>::new();
        header
            .push(first_byte)
            .map_err(|_| EncodeError::Invalid("fixed header"))?;
        header
            .extend_from_slice(&varint(remaining)?)
            .map_err(|_| EncodeError::Invalid("fixed header"))?;
        Ok(header)
    });
    match header {
        Ok(header) => {
            out.splice(start..start + GAP, header);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn varint_boundaries() {
        for (value, bytes) in [
            (0usize, &[0x00][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            assert_eq!(varint(value).unwrap().as_slice(), bytes, "{value}");
            assert_eq!(varint_len(value), bytes.len());
            assert_eq!(
                parse_varint(bytes).unwrap(),
                Some((value as u32, bytes.len()))
            );
        }
        assert!(varint(268_435_456).is_err());
    }

    #[test]
    fn varint_five_bytes_is_malformed() {
        assert!(matches!(
            parse_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(DecodeError::Malformed(_))
        ));
        // Incomplete, not an error.
        assert_eq!(parse_varint(&[0xFF, 0xFF]).unwrap(), None);
        // Non-minimal: accepted.
        assert_eq!(parse_varint(&[0x80, 0x00]).unwrap(), Some((0, 2)));
    }

    #[test]
    fn strings() {
        let mut r = Reader::new(&[0, 2, b'h', b'i', 0, 1]);
        assert_eq!(r.read_str().unwrap(), "hi");
        assert!(r.read_str().is_err());
        // [MQTT-1.5.3-2]
        assert!(Reader::new(&[0, 1, 0]).read_str().is_err());
        // [MQTT-1.5.3-1]: an encoded surrogate, and a bare continuation byte.
        assert!(Reader::new(&[0, 3, 0xED, 0xA0, 0x80]).read_str().is_err());
        assert!(Reader::new(&[0, 1, 0x80]).read_str().is_err());
        let mut out = Vec::new();
        assert!(put_binary(&mut out, &vec![0; 65_536]).is_err());
        assert!(put_binary(&mut out, &vec![0; 65_535]).is_ok());
    }

    #[test]
    fn packet_slides_header_in() {
        let mut out = vec![9];
        packet(&mut out, 0x30, |o| {
            o.extend_from_slice(&[1; 200]);
            Ok(())
        })
        .unwrap();
        assert_eq!(out.len(), 1 + 3 + 200);
        assert_eq!(&out[..4], &[9, 0x30, 0xC8, 0x01]);
        let err = packet(&mut out, 0x30, |o| {
            o.push(1);
            Err(EncodeError::Invalid("x"))
        });
        assert!(err.is_err());
        assert_eq!(out.len(), 204);
    }
}
