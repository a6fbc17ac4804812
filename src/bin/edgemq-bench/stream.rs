//! What a bench client talks over: plain TCP, or TLS when the run has
//! `--tls`. A blocking [`Stream`] for the threads of fan-in, fan-out and
//! latency, an [`AsyncStream`] for the one-thread scenarios (conns,
//! handshakes).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use async_io::Async;
use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::tls::{self, AsyncTls, BlockingTls, TlsClient};

pub enum Stream {
    Tcp(TcpStream),
    Tls(BlockingTls),
}

impl Stream {
    /// TCP connect (no Nagle), wrapped in TLS when `tls` is given; the
    /// TLS handshake runs with the first write.
    pub fn connect(addr: SocketAddr, tls: Option<&TlsClient>) -> io::Result<Stream> {
        let socket = TcpStream::connect(addr)?;
        socket.set_nodelay(true)?;
        Ok(match tls {
            None => Stream::Tcp(socket),
            Some(tls) => Stream::Tls(tls.wrap(addr, socket)?),
        })
    }

    /// A read that waits longer fails with `WouldBlock` or `TimedOut`.
    pub fn set_read_timeout(&self, limit: Option<Duration>) -> io::Result<()> {
        let socket = match self {
            Stream::Tcp(s) => s,
            Stream::Tls(t) => tls::socket(t),
        };
        socket.set_read_timeout(limit)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

pub enum AsyncStream {
    Tcp(Async<TcpStream>),
    Tls(Box<AsyncTls>),
}

impl AsyncStream {
    /// TCP connect, and the whole TLS handshake when `tls` is given.
    pub async fn connect(addr: SocketAddr, tls: Option<&TlsClient>) -> io::Result<AsyncStream> {
        Ok(match tls {
            None => AsyncStream::Tcp(Async::<TcpStream>::connect(addr).await?),
            Some(tls) => AsyncStream::Tls(Box::new(tls.connect_async(addr).await?)),
        })
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            AsyncStream::Tcp(s) => s.write_all(bytes).await,
            AsyncStream::Tls(t) => t.write_all(bytes).await,
        }
    }

    /// Some bytes into `buf`; 0 at the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            AsyncStream::Tcp(s) => s.read(buf).await,
            AsyncStream::Tls(t) => t.read(buf).await,
        }
    }

    pub async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let rest = buf.get_mut(filled..).unwrap_or(&mut []);
            match self.read(rest).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => filled += n,
            }
        }
        Ok(())
    }
}
