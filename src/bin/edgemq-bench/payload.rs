//! What every bench message carries: publisher id, sequence number and send
//! time, little-endian at the front of the payload, zero padding after.
//!
//! Send times are nanoseconds since one `Instant` shared by the whole run:
//! publishers and subscribers live in the same process, so no clock sync.

/// Bytes of the stamp; payloads are at least this long.
pub const STAMP_LEN: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub publisher: u32,
    pub seq: u64,
    pub sent_ns: u64,
}

impl Stamp {
    /// Writes the stamp over the first bytes of `payload` (which the caller
    /// sized to at least `STAMP_LEN`).
    pub fn write(self, payload: &mut [u8]) {
        let mut bytes = [0u8; STAMP_LEN];
        let (a, rest) = bytes.split_at_mut(4);
        let (b, c) = rest.split_at_mut(8);
        a.copy_from_slice(&self.publisher.to_le_bytes());
        b.copy_from_slice(&self.seq.to_le_bytes());
        c.copy_from_slice(&self.sent_ns.to_le_bytes());
        if let Some(front) = payload.get_mut(..STAMP_LEN) {
            front.copy_from_slice(&bytes);
        }
    }

    pub fn read(payload: &[u8]) -> Option<Stamp> {
        let publisher = u32::from_le_bytes(payload.get(0..4)?.try_into().ok()?);
        let seq = u64::from_le_bytes(payload.get(4..12)?.try_into().ok()?);
        let sent_ns = u64::from_le_bytes(payload.get(12..20)?.try_into().ok()?);
        Some(Stamp {
            publisher,
            seq,
            sent_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let stamp = Stamp {
            publisher: 7,
            seq: 123_456_789,
            sent_ns: u64::MAX - 3,
        };
        let mut payload = vec![0u8; 64];
        stamp.write(&mut payload);
        assert_eq!(Stamp::read(&payload), Some(stamp));
        assert_eq!(Stamp::read(&payload[..19]), None);
    }
}
