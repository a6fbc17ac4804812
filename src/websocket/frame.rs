//! WebSocket frames (RFC 6455 §5) as the server of MQTT over WebSocket sees
//! them: client frames decoded, in place, into the MQTT byte stream they
//! carry; server frame headers and control frames encoded.
//!
//! Owns: the frame rules — masking from clients (RFC 6455 §5.1), reserved bits (no
//! extension is negotiated), opcodes, fragmentation (RFC 6455 §5.4), control frames
//! (RFC 6455 §5.5: not fragmented, at most 125 bytes, allowed between fragments),
//! binary data only [MQTT-6.0.0-1]. A data frame's payload is never held:
//! it is unmasked where it was read and moved over the frame headers, so
//! the caller gets the MQTT bytes in its own buffer and MQTT packets may be
//! split across frames or share one [MQTT-6.0.0-2] (the framer reassembles
//! them). What is kept between reads is a header cut by the end of a read
//! (at most 14 bytes) and, only while a control frame is in progress or a
//! pong is owed, a boxed 125-byte buffer.
//!
//! The first violation stops the decoder (`Stop::Failed`), the peer's Close
//! stops it too (`Stop::Closed`); bytes after either are ignored. A data
//! frame announcing more than the caller's cap fails from its header,
//! before any of its payload is read.

use heapless::Vec as HVec;

/// Control frame payloads are at most 125 bytes (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A client header: 2 bytes, up to 8 of extended length, a 4-byte mask.
const MAX_CLIENT_HEADER: usize = 14;

/// A server header: 2 bytes and up to 8 of extended length, no mask.
pub const MAX_SERVER_HEADER: usize = 10;

/// Close status codes (RFC 6455 §7.4.1).
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub const CLOSE_UNSUPPORTED_DATA: u16 = 1003;
pub const CLOSE_TOO_BIG: u16 = 1009;

pub const OPCODE_CONTINUATION: u8 = 0x0;
pub const OPCODE_TEXT: u8 = 0x1;
pub const OPCODE_BINARY: u8 = 0x2;
pub const OPCODE_CLOSE: u8 = 0x8;
pub const OPCODE_PING: u8 = 0x9;
pub const OPCODE_PONG: u8 = 0xA;

/// How a client broke the frame rules; each closes the connection with
/// its status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// RFC 6455 §5.1: a server closes on an unmasked client frame.
    Unmasked,
    /// RSV1-3 set without a negotiated extension (RFC 6455 §5.2).
    ReservedBits,
    UnknownOpcode(u8),
    /// MQTT rides in binary frames only [MQTT-6.0.0-1].
    Text,
    /// A fragmented control frame, or one over 125 bytes (RFC 6455 §5.5).
    BadControlFrame,
    /// A continuation with no message to continue, or a new data frame
    /// inside a fragmented message (RFC 6455 §5.4).
    BadFragmentation,
    /// A 64-bit length with its most significant bit set (RFC 6455 §5.2).
    BadLength,
    /// A Close payload of one byte (RFC 6455 §5.5.1).
    BadClose,
    /// A data frame longer than the cap.
    TooBig {
        length: u64,
        max: u64,
    },
}

impl FrameError {
    /// The status code of the Close frame this error is answered with.
    pub fn close_code(self) -> u16 {
        match self {
            FrameError::Text => CLOSE_UNSUPPORTED_DATA,
            FrameError::TooBig { .. } => CLOSE_TOO_BIG,
            _ => CLOSE_PROTOCOL_ERROR,
        }
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Unmasked => write!(f, "an unmasked client frame"),
            FrameError::ReservedBits => write!(f, "reserved bits set"),
            FrameError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            FrameError::Text => write!(f, "a text frame (MQTT needs binary frames)"),
            FrameError::BadControlFrame => write!(f, "a fragmented or oversized control frame"),
            FrameError::BadFragmentation => write!(f, "bad fragmentation"),
            FrameError::BadLength => write!(f, "a frame length with the top bit set"),
            FrameError::BadClose => write!(f, "a one-byte close payload"),
            FrameError::TooBig { length, max } => {
                write!(f, "a frame of {length} bytes, over the cap of {max}")
            }
        }
    }
}

/// Why the decoder stopped: nothing after it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The peer's Close, with its status code if it gave one.
    Closed(Option<u16>),
    Failed(FrameError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Data,
    Ping,
    Pong,
    Close,
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct Payload {
    kind: Kind,
    left: u64,
    /// The mask rotated so that its first byte applies to the next payload
    /// byte.
    mask: [u8; 4],
}

/// What a control frame in progress, or a pong owed, needs.
#[derive(Default)]
struct Control {
    payload: HVec<u8, MAX_CONTROL_PAYLOAD>,
    /// The payload of the latest Ping not yet answered: RFC 6455 §5.5.3
    /// lets a flood of pings get one Pong, for the most recent.
    pong: Option<HVec<u8, MAX_CONTROL_PAYLOAD>>,
}

/// Client frames in, MQTT bytes out; see the module docs.
#[derive(Default)]
pub struct Decoder {
    header: [u8; MAX_CLIENT_HEADER],
    header_len: u8,
    frame: Option<Payload>,
    /// Inside a fragmented binary message.
    in_message: bool,
    /// `None` while no control frame is in progress and no pong is owed.
    control: Option<Box<Control>>,
    stop: Option<Stop>,
}

impl Decoder {
    /// Decodes the frames in `buf` (raw bytes from the peer): the payload
    /// of its data frames, unmasked, ends up at the front of `buf`, and its
    /// length is returned. Whatever is cut at the end of `buf` is carried
    /// over to the next call. `max_frame` caps a data frame's length.
    pub fn decode(&mut self, buf: &mut [u8], max_frame: u64) -> usize {
        let mut read = 0;
        let mut write = 0;
        while read < buf.len() && self.stop.is_none() {
            let Some(mut frame) = self.frame else {
                let rest = buf.get(read..).unwrap_or(&[]);
                read += self.take_header(rest, max_frame);
                continue;
            };
            let take = usize::try_from(frame.left)
                .unwrap_or(usize::MAX)
                .min(buf.len() - read);
            if frame.kind == Kind::Data {
                buf.copy_within(read..read + take, write);
                unmask(
                    buf.get_mut(write..write + take).unwrap_or(&mut []),
                    frame.mask,
                );
                write += take;
            } else {
                let chunk = buf.get_mut(read..read + take).unwrap_or(&mut []);
                unmask(chunk, frame.mask);
                let control = self.control.get_or_insert_with(Box::default);
                // Cannot fail: a control frame's length was checked to fit.
                let _ = control.payload.extend_from_slice(chunk);
            }
            read += take;
            frame.left -= take as u64;
            frame.mask.rotate_left(take % 4);
            self.frame = Some(frame);
            if frame.left == 0 {
                self.finish_frame(frame.kind);
            }
        }
        write
    }

    /// Set once the peer closed or broke a rule.
    pub fn stop(&self) -> Option<Stop> {
        self.stop
    }

    /// The payload of the Pong owed, if any (taking it settles the debt).
    pub fn take_pong(&mut self) -> Option<HVec<u8, MAX_CONTROL_PAYLOAD>> {
        let pong = self.control.as_mut()?.pong.take();
        self.drop_idle_control();
        pong
    }

    /// Whether the decoder holds nothing but its fixed-size state.
    pub fn is_idle(&self) -> bool {
        self.control.is_none()
    }

    /// Collects header bytes from `input`; once the header is whole (or
    /// wrong), starts its frame (or stops). Returns the bytes used.
    fn take_header(&mut self, input: &[u8], max_frame: u64) -> usize {
        let mut used = 0;
        loop {
            let have = usize::from(self.header_len);
            let need = match self.header.get(1) {
                Some(&b1) if have >= 2 => 2 + extended_length_bytes(b1) + 4,
                _ => 2,
            };
            if have == need {
                self.header_len = 0;
                let header = self.header.get(..need).unwrap_or(&[]);
                match parse_header(header, max_frame) {
                    Ok((opcode, fin, length, mask)) => self.start_frame(opcode, fin, length, mask),
                    Err(e) => self.stop = Some(Stop::Failed(e)),
                }
                return used;
            }
            let want = need - have;
            let src = input.get(used..).unwrap_or(&[]);
            let n = want.min(src.len());
            if let (Some(dst), Some(src)) = (self.header.get_mut(have..have + n), src.get(..n)) {
                dst.copy_from_slice(src);
            }
            used += n;
            self.header_len += n as u8;
            if n < want {
                return used;
            }
            if need == 2 {
                // The first two bytes decide most errors: fail before the
                // rest of the header arrives.
                let [b0, b1, ..] = self.header;
                if let Err(e) = check_start(b0, b1, self.in_message) {
                    self.stop = Some(Stop::Failed(e));
                    return used;
                }
            }
        }
    }

    fn start_frame(&mut self, opcode: u8, fin: bool, length: u64, mask: [u8; 4]) {
        let kind = match opcode {
            OPCODE_PING => Kind::Ping,
            OPCODE_PONG => Kind::Pong,
            OPCODE_CLOSE => Kind::Close,
            _ => {
                // Binary or continuation, checked by `check_start`.
                self.in_message = !fin;
                Kind::Data
            }
        };
        if kind != Kind::Data {
            let control = self.control.get_or_insert_with(Box::default);
            control.payload.clear();
        }
        let frame = Payload {
            kind,
            left: length,
            mask,
        };
        self.frame = Some(frame);
        if length == 0 {
            self.finish_frame(kind);
        }
    }

    fn finish_frame(&mut self, kind: Kind) {
        self.frame = None;
        let payload = match self.control.as_mut() {
            Some(control) if kind != Kind::Data => std::mem::take(&mut control.payload),
            _ => return,
        };
        match kind {
            Kind::Ping => {
                if let Some(control) = self.control.as_mut() {
                    control.pong = Some(payload);
                }
            }
            Kind::Close => {
                self.stop = Some(match payload.as_slice() {
                    [] => Stop::Closed(None),
                    [_] => Stop::Failed(FrameError::BadClose),
                    [a, b, ..] => Stop::Closed(Some(u16::from_be_bytes([*a, *b]))),
                });
            }
            Kind::Pong | Kind::Data => {}
        }
        self.drop_idle_control();
    }

    fn drop_idle_control(&mut self) {
        if self
            .control
            .as_ref()
            .is_some_and(|c| c.pong.is_none() && c.payload.is_empty())
            && self.frame.is_none_or(|f| f.kind == Kind::Data)
        {
            self.control = None;
        }
    }
}

/// Bytes of extended length after the second header byte (RFC 6455 §5.2).
fn extended_length_bytes(b1: u8) -> usize {
    match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    }
}

/// The rules the first two bytes decide.
fn check_start(b0: u8, b1: u8, in_message: bool) -> Result<(), FrameError> {
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0f;
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    if b1 & 0x80 == 0 {
        return Err(FrameError::Unmasked);
    }
    match opcode {
        OPCODE_CONTINUATION if !in_message => Err(FrameError::BadFragmentation),
        OPCODE_TEXT | OPCODE_BINARY if in_message => Err(FrameError::BadFragmentation),
        OPCODE_TEXT => Err(FrameError::Text),
        OPCODE_CONTINUATION | OPCODE_BINARY => Ok(()),
        OPCODE_CLOSE | OPCODE_PING | OPCODE_PONG => {
            if !fin || usize::from(b1 & 0x7f) > MAX_CONTROL_PAYLOAD {
                Err(FrameError::BadControlFrame)
            } else {
                Ok(())
            }
        }
        other => Err(FrameError::UnknownOpcode(other)),
    }
}

/// A whole client header: opcode, FIN, payload length, mask.
fn parse_header(h: &[u8], max_frame: u64) -> Result<(u8, bool, u64, [u8; 4]), FrameError> {
    let (&b0, &b1) = match (h.first(), h.get(1)) {
        (Some(b0), Some(b1)) => (b0, b1),
        _ => return Err(FrameError::BadLength),
    };
    let ext = extended_length_bytes(b1);
    let length = match ext {
        0 => u64::from(b1 & 0x7f),
        _ => h
            .get(2..2 + ext)
            .unwrap_or(&[])
            .iter()
            .fold(0u64, |n, &b| n << 8 | u64::from(b)),
    };
    if length >> 63 != 0 {
        return Err(FrameError::BadLength);
    }
    let opcode = b0 & 0x0f;
    let is_data = matches!(opcode, OPCODE_BINARY | OPCODE_CONTINUATION);
    if is_data && length > max_frame {
        return Err(FrameError::TooBig {
            length,
            max: max_frame,
        });
    }
    let mut mask = [0u8; 4];
    if let Some(m) = h.get(2 + ext..2 + ext + 4) {
        mask.copy_from_slice(m);
    }
    Ok((opcode, b0 & 0x80 != 0, length, mask))
}

/// XORs `data` with the repeating `mask` (RFC 6455 §5.3).
fn unmask(data: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = data.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u32::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (b, m) in chunks.into_remainder().iter_mut().zip(mask) {
        *b ^= m;
    }
}

/// The header of a server frame (unmasked, RFC 6455 §5.1) carrying
/// `length` bytes, FIN set.
pub fn server_header(opcode: u8, length: usize) -> HVec<u8, MAX_SERVER_HEADER> {
    let mut h = HVec::new();
    let _ = h.push(0x80 | opcode);
    // Cannot fail: at most 10 bytes go into a 10-byte vector.
    if length < 126 {
        let _ = h.push(length as u8);
    } else if let Ok(short) = u16::try_from(length) {
        let _ = h.push(126);
        let _ = h.extend_from_slice(&short.to_be_bytes());
    } else {
        let _ = h.push(127);
        let _ = h.extend_from_slice(&(length as u64).to_be_bytes());
    }
    h
}

/// A whole server control frame; `payload` is cut to 125 bytes.
pub fn control_frame(opcode: u8, payload: &[u8]) -> HVec<u8, { MAX_CONTROL_PAYLOAD + 2 }> {
    let payload = payload.get(..MAX_CONTROL_PAYLOAD).unwrap_or(payload);
    let mut frame = HVec::new();
    let _ = frame.extend_from_slice(&server_header(opcode, payload.len()));
    let _ = frame.extend_from_slice(payload);
    frame
}

/// A Close frame with a status code (RFC 6455 §5.5.1).
pub fn close_frame(code: u16) -> HVec<u8, { MAX_CONTROL_PAYLOAD + 2 }> {
    control_frame(OPCODE_CLOSE, &code.to_be_bytes())
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
