use super::*;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A client frame as a browser sends it: masked, FIN as given.
fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    frame_with(opcode, fin, payload, Some(MASK))
}

fn frame_with(opcode: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![u8::from(fin) << 7 | opcode];
    let bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n if n <= 0xffff => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Decodes `input` cut into reads at `cuts`; the data bytes in order.
fn decode_in_reads(d: &mut Decoder, input: &[u8], cuts: &[usize], max: u64) -> Vec<u8> {
    let mut data = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        let mut buf = input[start..end].to_vec();
        let n = d.decode(&mut buf, max);
        data.extend_from_slice(&buf[..n]);
        start = end;
    }
    data
}

#[test]
fn one_binary_frame() {
    let mut d = Decoder::default();
    let mut buf = frame(OPCODE_BINARY, true, b"\x30\x03\x00\x01a");
    let n = d.decode(&mut buf, 1000);
    assert_eq!(&buf[..n], b"\x30\x03\x00\x01a");
    assert_eq!(d.stop(), None);
    assert!(d.is_idle());
}

/// Fragments, a ping between them, lengths of every encoding: every split
/// point of the byte stream gives the same data and the same pong.
#[test]
fn every_split_point_gives_the_same_bytes() {
    let big: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut input = frame(OPCODE_BINARY, false, b"abc");
    input.extend(frame(OPCODE_PING, true, b"are you there"));
    input.extend(frame(OPCODE_CONTINUATION, false, b""));
    input.extend(frame(OPCODE_CONTINUATION, true, &big));
    input.extend(frame(OPCODE_PONG, true, b"unsolicited"));
    input.extend(frame(OPCODE_BINARY, true, b"defg"));
    let mut expected = b"abc".to_vec();
    expected.extend_from_slice(&big);
    expected.extend_from_slice(b"defg");
    for a in 0..input.len() {
        for b in [a, a + 1, a + 7, input.len()] {
            let b = b.min(input.len());
            let mut d = Decoder::default();
            let data = decode_in_reads(&mut d, &input, &[a, b], 100_000);
            assert_eq!(data, expected, "cut at {a} and {b}");
            assert_eq!(d.stop(), None);
            assert_eq!(d.take_pong().as_deref(), Some(&b"are you there"[..]));
            assert!(d.is_idle());
        }
    }
}

#[test]
fn a_flood_of_pings_owes_one_pong_for_the_latest() {
    let mut d = Decoder::default();
    let mut input = Vec::new();
    for i in 0..100u8 {
        input.extend(frame(OPCODE_PING, true, &[i]));
    }
    assert_eq!(d.decode(&mut input, 10), 0);
    assert_eq!(d.take_pong().as_deref(), Some(&[99u8][..]));
    assert_eq!(d.take_pong(), None);
    assert!(d.is_idle());
}

#[test]
fn an_unmasked_frame_fails_from_its_first_two_bytes() {
    let mut d = Decoder::default();
    let mut buf = frame_with(OPCODE_BINARY, true, b"abc", None)[..2].to_vec();
    assert_eq!(d.decode(&mut buf, 100), 0);
    assert_eq!(d.stop(), Some(Stop::Failed(FrameError::Unmasked)));
    assert_eq!(FrameError::Unmasked.close_code(), CLOSE_PROTOCOL_ERROR);
}

#[test]
fn a_text_frame_fails_with_1003() {
    let mut d = Decoder::default();
    let mut buf = frame(OPCODE_TEXT, true, b"hello");
    d.decode(&mut buf, 100);
    assert_eq!(d.stop(), Some(Stop::Failed(FrameError::Text)));
    assert_eq!(FrameError::Text.close_code(), CLOSE_UNSUPPORTED_DATA);
}

/// Data decoded before a violation is delivered; nothing after it is.
#[test]
fn data_before_a_violation_is_kept() {
    let mut d = Decoder::default();
    let mut buf = frame(OPCODE_BINARY, true, b"ok");
    buf.extend(frame(OPCODE_TEXT, true, b"no"));
    buf.extend(frame(OPCODE_BINARY, true, b"never"));
    let n = d.decode(&mut buf, 100);
    assert_eq!(&buf[..n], b"ok");
    assert_eq!(d.stop(), Some(Stop::Failed(FrameError::Text)));
    let mut more = frame(OPCODE_BINARY, true, b"later");
    assert_eq!(d.decode(&mut more, 100), 0);
}

#[test]
fn an_oversized_frame_fails_from_its_header() {
    let mut d = Decoder::default();
    // Only the header of a 1 GiB frame: no payload needed to refuse it.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&MASK);
    d.decode(&mut header, 131_077);
    assert_eq!(
        d.stop(),
        Some(Stop::Failed(FrameError::TooBig {
            length: 1 << 30,
            max: 131_077
        }))
    );
    assert_eq!(
        FrameError::TooBig { length: 0, max: 0 }.close_code(),
        CLOSE_TOO_BIG
    );
    let mut d = Decoder::default();
    let mut top_bit = vec![0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1];
    top_bit.extend_from_slice(&MASK);
    d.decode(&mut top_bit, u64::MAX);
    assert_eq!(d.stop(), Some(Stop::Failed(FrameError::BadLength)));
}

#[test]
fn control_frame_rules() {
    let cases: [(Vec<u8>, FrameError); 5] = [
        (frame(OPCODE_PING, false, b"x"), FrameError::BadControlFrame),
        (
            frame(OPCODE_PING, true, &[0; 126]),
            FrameError::BadControlFrame,
        ),
        (frame(OPCODE_CLOSE, true, &[3]), FrameError::BadClose),
        (frame(0x3, true, b""), FrameError::UnknownOpcode(3)),
        (
            vec![0x82 | 0x40, 0x80, 1, 2, 3, 4],
            FrameError::ReservedBits,
        ),
    ];
    for (mut input, error) in cases {
        let mut d = Decoder::default();
        d.decode(&mut input, 100);
        assert_eq!(d.stop(), Some(Stop::Failed(error)));
    }
}

#[test]
fn fragmentation_rules() {
    let mut d = Decoder::default();
    d.decode(&mut frame(OPCODE_CONTINUATION, true, b"x"), 100);
    assert_eq!(d.stop(), Some(Stop::Failed(FrameError::BadFragmentation)));
    let mut d = Decoder::default();
    let mut input = frame(OPCODE_BINARY, false, b"x");
    input.extend(frame(OPCODE_BINARY, true, b"y"));
    d.decode(&mut input, 100);
    assert_eq!(d.stop(), Some(Stop::Failed(FrameError::BadFragmentation)));
}

#[test]
fn close_stops_and_ignores_the_rest() {
    let mut d = Decoder::default();
    let mut input = frame(OPCODE_BINARY, true, b"last");
    input.extend(frame(OPCODE_CLOSE, true, &[0x03, 0xe8, b'b', b'y', b'e']));
    input.extend(frame(OPCODE_BINARY, true, b"ignored"));
    let n = d.decode(&mut input, 100);
    assert_eq!(&input[..n], b"last");
    assert_eq!(d.stop(), Some(Stop::Closed(Some(1000))));
    let mut d = Decoder::default();
    d.decode(&mut frame(OPCODE_CLOSE, true, b""), 100);
    assert_eq!(d.stop(), Some(Stop::Closed(None)));
}

#[test]
fn server_headers() {
    assert_eq!(server_header(OPCODE_BINARY, 0).as_slice(), &[0x82, 0]);
    assert_eq!(server_header(OPCODE_BINARY, 125).as_slice(), &[0x82, 125]);
    assert_eq!(
        server_header(OPCODE_BINARY, 126).as_slice(),
        &[0x82, 126, 0, 126]
    );
    assert_eq!(
        server_header(OPCODE_BINARY, 65_535).as_slice(),
        &[0x82, 126, 0xff, 0xff]
    );
    assert_eq!(
        server_header(OPCODE_BINARY, 65_536).as_slice(),
        &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]
    );
    assert_eq!(close_frame(1002).as_slice(), &[0x88, 2, 0x03, 0xea]);
    assert_eq!(
        control_frame(OPCODE_PONG, b"hi").as_slice(),
        &[0x8a, 2, b'h', b'i']
    );
}

/// Random bytes never panic, and what comes out is never longer than
/// what went in.
#[test]
fn random_bytes_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2_000 {
        let mut d = Decoder::default();
        for _ in 0..4 {
            let len = (next() % 64) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Masked, binary, small, some of the time: get past the header.
            if len > 1 && next() % 2 == 0 {
                buf[0] = 0x82;
                buf[1] = 0x80 | (buf[1] & 0x3f);
            }
            let n = d.decode(&mut buf, 1_000);
            assert!(n <= len);
        }
    }
}
