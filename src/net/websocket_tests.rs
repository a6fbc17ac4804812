use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::TcpStream;

use super::*;
use crate::websocket::frame::{OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG, OPCODE_TEXT};

/// A socket in memory: reads come in the chunks queued, writes take at most
/// `room` bytes per call (0: would block).
#[derive(Default)]
struct Mock {
    input: RefCell<VecDeque<Vec<u8>>>,
    output: RefCell<Vec<u8>>,
    room: Cell<usize>,
    shut: Cell<bool>,
    /// Output of its own not yet on the wire (TLS records).
    pending: Cell<bool>,
}

impl ByteStream for Rc<Mock> {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut input = self.input.borrow_mut();
        let Some(chunk) = input.front_mut() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            input.pop_front();
        }
        Ok(n)
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut room = self.room.get();
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut written = 0;
        for b in bufs {
            let n = b.len().min(room);
            self.output.borrow_mut().extend_from_slice(&b[..n]);
            room -= n;
            written += n;
        }
        Ok(written)
    }

    fn poll_readable(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }

    fn poll_writable(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }

    fn shutdown(&self) {
        self.shut.set(true);
    }

    fn has_pending_output(&self) -> bool {
        self.pending.get()
    }
}

const UPGRADE: &str = "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";

fn stream(room: usize) -> (Rc<Mock>, WsStream<Rc<Mock>>) {
    let mock = Rc::new(Mock::default());
    mock.room.set(room);
    let listener = Rc::new(WsListener {
        path: "/mqtt".into(),
        head_bytes: 1024,
        max_packet_size: Rc::new(Cell::new(100)),
    });
    let ws = WsStream::new(
        mock.clone(),
        listener,
        "127.0.0.1:1"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    );
    (mock, ws)
}

fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut out = vec![u8::from(fin) << 7 | opcode, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads until WouldBlock, end or error; the data and how it ended.
fn read_all(ws: &WsStream<Rc<Mock>>) -> (Vec<u8>, io::Result<usize>) {
    let mut data = Vec::new();
    loop {
        let mut buf = [0u8; 64];
        match ws.read(&mut buf) {
            Ok(0) => return (data, Ok(0)),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && ws.state.borrow().again => {}
            Err(e) => return (data, Err(e)),
        }
    }
}

/// Server frames in `out` after the 101 answer: (opcode, payload) each.
fn server_frames(out: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let text = String::from_utf8_lossy(out);
    let start = text.find("\r\n\r\n").map_or(0, |p| p + 4);
    let mut rest = &out[start..];
    let mut frames = Vec::new();
    while rest.len() >= 2 {
        let (len, at) = match rest[1] {
            126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        frames.push((rest[0] & 0x0f, rest[at..at + len].to_vec()));
        rest = &rest[at + len..];
    }
    frames
}

#[test]
fn upgrade_then_frames_in_the_same_read() {
    let (mock, ws) = stream(4096);
    let mut input = UPGRADE.as_bytes().to_vec();
    input.extend(client_frame(OPCODE_BINARY, false, b"\x10\x0c"));
    input.extend(client_frame(OPCODE_PING, true, b"p"));
    input.extend(client_frame(0, true, b"rest"));
    mock.input.borrow_mut().push_back(input);
    let (data, end) = read_all(&ws);
    assert_eq!(data, b"\x10\x0crest");
    assert_eq!(end.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    let out = String::from_utf8_lossy(&mock.output.borrow()).into_owned();
    assert!(
        out.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{out}"
    );
    assert!(out.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(out.contains("Sec-WebSocket-Protocol: mqtt\r\n"));
    assert_eq!(
        server_frames(&mock.output.borrow()),
        [(OPCODE_PONG, b"p".to_vec())]
    );
    // The broker hears of the upgrade once.
    assert!(matches!(ws.take_handshake(), Some(Handshake::Upgraded)));
    assert!(ws.take_handshake().is_none());
    // Nothing held once idle.
    let st = ws.state.borrow();
    assert!(st.head.is_none() && st.own.capacity() == 0 && st.decoder.is_idle());
}

#[test]
fn a_head_in_pieces_and_a_head_too_large() {
    let (mock, ws) = stream(4096);
    for piece in UPGRADE.as_bytes().chunks(7) {
        mock.input.borrow_mut().push_back(piece.to_vec());
    }
    let (data, _) = read_all(&ws);
    assert!(data.is_empty());
    assert!(String::from_utf8_lossy(&mock.output.borrow()).starts_with("HTTP/1.1 101"));

    let (mock, ws) = stream(4096);
    mock.input
        .borrow_mut()
        .push_back(b"GET /mqtt HTTP/1.1\r\nX: ".to_vec());
    mock.input.borrow_mut().push_back(vec![b'a'; 2000]);
    let (_, end) = read_all(&ws);
    assert_eq!(end.unwrap_err().kind(), io::ErrorKind::InvalidData);
    assert!(String::from_utf8_lossy(&mock.output.borrow()).starts_with("HTTP/1.1 431"));
    assert!(ws.state.borrow().head.is_none());
}

#[test]
fn a_wrong_path_gets_404_and_the_stream_fails() {
    let (mock, ws) = stream(4096);
    let request = UPGRADE.replace("/mqtt", "/");
    mock.input.borrow_mut().push_back(request.into_bytes());
    let (_, end) = read_all(&ws);
    assert_eq!(end.unwrap_err().kind(), io::ErrorKind::InvalidData);
    assert!(String::from_utf8_lossy(&mock.output.borrow()).starts_with("HTTP/1.1 404 Not Found"));
    match ws.take_handshake() {
        Some(Handshake::UpgradeRefused {
            status: 404,
            reason,
        }) => assert!(reason.contains("path")),
        other => panic!("{other:?}"),
    }
    assert!(ws.take_handshake().is_none(), "news is given once");
    ws.shutdown();
    assert!(mock.shut.get());
}

/// Each write is one binary frame; partial writes of any size leave a
/// well-formed frame sequence carrying exactly the bytes written.
#[test]
fn writes_are_frames_whatever_the_socket_takes() {
    for room in [1, 2, 3, 5, 64, 4096] {
        let (mock, ws) = stream(4096);
        mock.input
            .borrow_mut()
            .push_back(UPGRADE.as_bytes().to_vec());
        let _ = read_all(&ws);
        mock.room.set(room);
        let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut sent = 0;
        let mut calls = 0;
        while sent < payload.len() {
            let rest = &payload[sent..];
            let (a, b) = rest.split_at(rest.len() / 2);
            match ws.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]) {
                Ok(n) => sent += n,
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
            }
            calls += 1;
            assert!(calls < 10_000);
        }
        let frames = server_frames(&mock.output.borrow());
        assert!(frames.iter().all(|(op, _)| *op == OPCODE_BINARY));
        let joined: Vec<u8> = frames.into_iter().flat_map(|(_, p)| p).collect();
        assert_eq!(joined, payload, "room {room}");
    }
}

/// A Pong owed while a data frame is half written goes after that frame.
#[test]
fn a_pong_waits_for_the_frame_being_written() {
    let (mock, ws) = stream(4096);
    mock.input
        .borrow_mut()
        .push_back(UPGRADE.as_bytes().to_vec());
    let _ = read_all(&ws);
    mock.room.set(5);
    assert_eq!(
        ws.write_vectored(&[IoSlice::new(b"0123456789")]).unwrap(),
        3
    );
    mock.room.set(0);
    mock.input
        .borrow_mut()
        .push_back(client_frame(OPCODE_PING, true, b"hi"));
    let (data, end) = read_all(&ws);
    assert!(data.is_empty());
    assert_eq!(end.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    // Reading stops while the Pong waits.
    mock.input
        .borrow_mut()
        .push_back(client_frame(OPCODE_BINARY, true, b"x"));
    let mut buf = [0u8; 16];
    assert!(ws.read(&mut buf).is_err());
    mock.room.set(4096);
    assert_eq!(ws.write_vectored(&[IoSlice::new(b"3456789")]).unwrap(), 7);
    assert_eq!(
        server_frames(&mock.output.borrow()),
        [
            (OPCODE_BINARY, b"0123456789".to_vec()),
            (OPCODE_PONG, b"hi".to_vec())
        ]
    );
    assert_eq!(read_all(&ws).0, b"x");
}

#[test]
fn close_is_answered_and_ends_the_stream() {
    let (mock, ws) = stream(4096);
    let mut input = UPGRADE.as_bytes().to_vec();
    input.extend(client_frame(OPCODE_BINARY, true, b"bye"));
    input.extend(client_frame(OPCODE_CLOSE, true, &1000u16.to_be_bytes()));
    mock.input.borrow_mut().push_back(input);
    let (data, end) = read_all(&ws);
    assert_eq!(data, b"bye");
    assert_eq!(end.unwrap(), 0);
    assert_eq!(
        server_frames(&mock.output.borrow()),
        [(OPCODE_CLOSE, 1000u16.to_be_bytes().to_vec())]
    );
    assert!(ws.write_vectored(&[IoSlice::new(b"late")]).is_err());
    ws.shutdown();
    assert_eq!(
        server_frames(&mock.output.borrow()).len(),
        1,
        "one Close only"
    );
}

#[test]
fn violations_close_with_their_codes() {
    let cases: [(Vec<u8>, u16); 3] = [
        (client_frame(OPCODE_TEXT, true, b"{}"), 1003),
        (vec![0x82, 0x03, b'a', b'b', b'c'], 1002),
        // Over max_packet_size (100) + slack, from the header alone.
        (
            vec![0x82, 0x80 | 127, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4],
            1009,
        ),
    ];
    for (input, code) in cases {
        let (mock, ws) = stream(4096);
        mock.input
            .borrow_mut()
            .push_back(UPGRADE.as_bytes().to_vec());
        let _ = read_all(&ws);
        assert!(matches!(ws.take_handshake(), Some(Handshake::Upgraded)));
        mock.input.borrow_mut().push_back(input);
        let (data, end) = read_all(&ws);
        assert!(data.is_empty());
        assert_eq!(end.unwrap_err().kind(), io::ErrorKind::InvalidData);
        match ws.take_handshake() {
            Some(Handshake::FrameRefused { close_code, why }) => {
                assert_eq!(close_code, code);
                assert!(!why.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(ws.take_handshake().is_none());
        assert_eq!(
            server_frames(&mock.output.borrow()),
            [(OPCODE_CLOSE, code.to_be_bytes().to_vec())]
        );
    }
}

#[test]
fn shutdown_says_goodbye_between_frames() {
    let (mock, ws) = stream(4096);
    mock.input
        .borrow_mut()
        .push_back(UPGRADE.as_bytes().to_vec());
    let _ = read_all(&ws);
    ws.shutdown();
    assert_eq!(
        server_frames(&mock.output.borrow()),
        [(OPCODE_CLOSE, 1000u16.to_be_bytes().to_vec())]
    );
    assert!(mock.shut.get());
}

/// Over TLS (`wss://`) the task must wait to write the records the socket
/// has not taken, even with no frame of its own left.
#[test]
fn the_inner_streams_pending_output_shows_through() {
    let (mock, ws) = stream(4096);
    assert!(!ws.has_pending_output());
    mock.pending.set(true);
    assert!(ws.has_pending_output());
}

/// Every WebSocket connection pays for this while idle (a TCP one's task
/// is 40 bytes; this adds the peer address for logs,
/// the decoder's and the frame writer's fixed state).
#[test]
fn an_idle_websocket_stream_is_small() {
    let size = std::mem::size_of::<WsStream<async_io::Async<TcpStream>>>();
    eprintln!("WsStream over TCP: {size} bytes");
    assert!(size <= 256, "{size}");
}
