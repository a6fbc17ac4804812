//! Primitive fields: integers, variable byte integers, UTF-8 strings and
//! binary data, read with bounds checks and written with length checks.

use super::DecodeError;

/// A cursor over one packet's body; reading past the end is malformed.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// Trailing bytes after the last field are an error.
    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Malformed("trailing bytes"))
        }
    }
}
