//! Stands in for `tls.rs` in a build without the `tls` feature: the
//! types exist so that the scenarios compile, none can be made, and
//! `--tls` is refused.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// Cannot be made: no value of this type exists.
pub enum TlsClient {}

impl TlsClient {
    pub fn new(_cafile: &str, _group: &str) -> io::Result<TlsClient> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "--tls: this edgemq-bench was built without the `tls` feature",
        ))
    }

    pub fn wrap(&self, _addr: SocketAddr, _socket: TcpStream) -> io::Result<BlockingTls> {
        match *self {}
    }

    pub async fn connect_async(&self, _addr: SocketAddr) -> io::Result<AsyncTls> {
        match *self {}
    }
}

pub enum BlockingTls {}

/// The socket under a blocking TLS stream.
pub fn socket(tls: &BlockingTls) -> &TcpStream {
    match *tls {}
}

impl Read for BlockingTls {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        match *self {}
    }
}

impl Write for BlockingTls {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        match *self {}
    }

    fn flush(&mut self) -> io::Result<()> {
        match *self {}
    }
}

pub enum AsyncTls {}

impl AsyncTls {
    pub async fn write_all(&mut self, _plaintext: &[u8]) -> io::Result<()> {
        match *self {}
    }

    pub async fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        match *self {}
    }
}
