//! CONNECT: the only packet that carries its own protocol version.

use super::wire::Reader;
use super::{DecodeError, EncodeError, Properties, ProtocolVersion, QoS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub protocol: ProtocolVersion,
    /// Protocol level with 0x80 set: a mosquitto-style bridge (`try_private`).
    pub bridge: bool,
    /// "Clean session" in 3.x, "clean start" in 5.0.
    pub clean_start: bool,
    pub keep_alive: u16,
    /// Raw as sent; the broker validates it into a client id.
    pub client_id: String,
    pub will: Option<Will>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Raw as sent; the broker validates it as a topic name.
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    pub properties: Properties,
}

pub(super) fn read(reader: &mut Reader<'_>) -> Result<Connect, DecodeError> {
    let _ = reader;
    Err(DecodeError::Malformed("CONNECT not implemented"))
}

pub(super) fn write(packet: &Connect, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = (packet, out);
    Err(EncodeError::Invalid("CONNECT not implemented"))
}
