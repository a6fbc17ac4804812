//! `TlsStream` against a rustls client over a real loopback socket with a
//! small send buffer: the handshake, partial reads into a small buffer,
//! writes the socket takes in parts (would-block, `poll_writable`,
//! `has_pending_output`), and the close. Certificates by `openssl`.

use std::io::{self, IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::task::Poll;

use async_io::Async;
use futures_lite::future;

use super::stream::TLS_BUFFER_LIMIT;
use super::Acceptor;
use crate::config::tls::{PathSetting, TlsListenerConfig};
use crate::net::connection::{ByteStream, Handshake};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn setting(path: PathBuf) -> Option<PathSetting> {
    Some(PathSetting {
        path,
        file: "t.conf".into(),
        line: 1,
    })
}

/// A self-signed ECDSA certificate for localhost.
fn self_signed(dir: &Path) -> TlsListenerConfig {
    std::fs::write(
        dir.join("ext.cnf"),
        "[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=DNS:localhost\n\
         basicConstraints=critical,CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "k.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "k.pem",
            "-subj",
            "/CN=localhost",
            "-days",
            "2",
            "-config",
            "ext.cnf",
            "-extensions",
            "ext",
            "-out",
            "c.pem",
        ],
    );
    TlsListenerConfig {
        certfile: setting(dir.join("c.pem")),
        keyfile: setting(dir.join("k.pem")),
        ..TlsListenerConfig::default()
    }
}

fn client_config(cert: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    #[allow(deprecated)] // ring, as server_config.rs says
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Reads exactly `n` bytes through `read`/`poll_readable`, in reads of at
/// most 1000 bytes.
async fn read_exactly(stream: &impl ByteStream, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1000];
    while got.len() < n {
        match stream.read(&mut buf) {
            Ok(0) => panic!("closed after {} bytes", got.len()),
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                future::poll_fn(|cx| stream.poll_readable(cx))
                    .await
                    .unwrap();
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    got
}

/// Writes all of `data` in vectored writes of two slices, waiting with
/// `poll_writable` when the socket is full; then until rustls has written
/// everything. Returns how many writes would have blocked.
async fn write_all(stream: &impl ByteStream, data: &[u8]) -> usize {
    let mut done = 0;
    let mut blocked = 0;
    while done < data.len() {
        let rest = &data[done..];
        let (a, b) = rest.split_at(rest.len() / 2);
        match stream.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]) {
            Ok(0) => panic!("write zero"),
            Ok(k) => {
                assert!(k <= TLS_BUFFER_LIMIT, "{k} bytes taken at once");
                done += k;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                blocked += 1;
                future::poll_fn(|cx| stream.poll_writable(cx))
                    .await
                    .unwrap();
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    while stream.has_pending_output() {
        future::poll_fn(|cx| match stream.poll_writable(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => Poll::Pending,
        })
        .await
        .unwrap();
    }
    blocked
}

#[test]
fn a_tls_stream_reads_writes_in_parts_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let acceptor = Acceptor::new(&self_signed(dir.path())).unwrap();
    let client_config = client_config(&dir.path().join("c.pem"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let upload: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let download: Vec<u8> = (0..400_000u32).map(|i| (i % 241) as u8).collect();

    let (up, down) = (upload.clone(), download.len());
    let client = std::thread::spawn(move || {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(client_config, name).unwrap();
        let socket = TcpStream::connect(address).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, socket);
        tls.write_all(&up).unwrap();
        tls.flush().unwrap();
        // A slow reader: the server's socket fills up meanwhile.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut got = vec![0u8; down];
        tls.read_exact(&mut got).unwrap();
        let mut rest = Vec::new();
        // The server's close_notify: a clean end of stream.
        tls.read_to_end(&mut rest).unwrap();
        (got, rest.len())
    });

    let (socket, _) = listener.accept().unwrap();
    socket.set_nonblocking(true).unwrap();
    rustix::net::sockopt::set_socket_send_buffer_size(&socket, 4096).unwrap();
    let stream = acceptor.accept(Async::new(socket).unwrap()).unwrap();
    let blocked = async_io::block_on(async {
        let got = read_exactly(&stream, upload.len()).await;
        assert_eq!(got, upload);
        // The listener takes no usernames from certificates: only the
        // end of the handshake is news, once.
        assert!(matches!(
            stream.take_handshake(),
            Some(Handshake::TlsEstablished)
        ));
        assert!(stream.take_handshake().is_none());
        write_all(&stream, &download).await
    });
    assert!(blocked > 0, "the small send buffer never filled");
    stream.shutdown();
    let (got, after) = client.join().unwrap();
    assert_eq!(got, download);
    assert_eq!(after, 0);
}

#[test]
fn garbage_fails_the_handshake_with_news() {
    let dir = tempfile::tempdir().unwrap();
    let acceptor = Acceptor::new(&self_signed(dir.path())).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let (socket, _) = listener.accept().unwrap();
    socket.set_nonblocking(true).unwrap();
    let stream = acceptor.accept(Async::new(socket).unwrap()).unwrap();
    let result = async_io::block_on(async {
        let mut buf = [0u8; 64];
        loop {
            match stream.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    future::poll_fn(|cx| stream.poll_readable(cx))
                        .await
                        .unwrap();
                }
                other => return other,
            }
        }
    });
    assert!(result.is_err(), "{result:?}");
    match stream.take_handshake() {
        Some(Handshake::Failed(why)) => assert!(!why.is_empty()),
        other => panic!("{other:?}"),
    }
    assert!(stream.take_handshake().is_none(), "news is given once");
}

/// A bridge's client stream (`Connector`) against a listener's
/// (`Acceptor`): both sides of the one record layer. The handshake runs
/// on its own first (`poll_handshake`), then bytes go both ways; a name
/// the certificate does not hold fails the handshake.
#[cfg(feature = "bridge-tls")]
#[test]
fn a_bridge_stream_handshakes_first_then_carries_bytes_both_ways() {
    use crate::config::bridge::BridgeTls;

    let dir = tempfile::tempdir().unwrap();
    let acceptor = Acceptor::new(&self_signed(dir.path())).unwrap();
    let bridge = BridgeTls {
        cafile: setting(dir.path().join("c.pem")),
        alpn: Some("mqtt".into()),
        ..BridgeTls::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let pair = |host: &str| {
        let client = Async::new(TcpStream::connect(address).unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        let server = acceptor.accept(Async::new(socket).unwrap()).unwrap();
        let connector = super::Connector::new(&bridge).unwrap();
        (connector.connect(client, host).unwrap(), server)
    };

    let (client, server) = pair("localhost");
    let (up, down): (Vec<u8>, Vec<u8>) =
        ((0..50_000u32).map(|i| i as u8).collect(), vec![7; 30_000]);
    async_io::block_on(async {
        // The server's side of the handshake runs inside its reads.
        let serve = async {
            let got = read_exactly(&server, up.len()).await;
            write_all(&server, &down).await;
            got
        };
        let talk = async {
            future::poll_fn(|cx| client.poll_handshake(cx))
                .await
                .unwrap();
            let agreed = super::describe(&client.connection());
            assert!(agreed.starts_with("TLS 1.3, "), "{agreed}");
            write_all(&client, &up).await;
            read_exactly(&client, down.len()).await
        };
        let (at_server, at_client) = future::zip(serve, talk).await;
        assert_eq!(at_server, up);
        assert_eq!(at_client, down);
    });

    let (client, server) = pair("127.0.0.1");
    // The server answers until the client's alert ends it, then waits.
    let serve = async {
        let mut buf = [0u8; 64];
        while let Err(e) = server.read(&mut buf) {
            if e.kind() != io::ErrorKind::WouldBlock {
                break;
            }
            let _ = future::poll_fn(|cx| server.poll_readable(cx)).await;
        }
        future::pending::<io::Result<()>>().await
    };
    let failed = async_io::block_on(future::or(
        future::poll_fn(|cx| client.poll_handshake(cx)),
        serve,
    ));
    let why = failed.unwrap_err().to_string();
    assert!(why.contains("not valid for name"), "{why}");
}
