//! PINGREQ and PINGRESP: a fixed header and nothing else.

use super::wire::Reader;
use super::{DecodeError, EncodeError};

pub(super) fn read(reader: &mut Reader<'_>) -> Result<(), DecodeError> {
    let _ = reader;
    Ok(())
}

pub(super) fn write(packet_type: u8, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.push(packet_type << 4);
    out.push(0);
    Ok(())
}
