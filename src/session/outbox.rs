//! A connection's outbound frames: what the broker has decided to send and
//! the network layer has not yet written.
//!
//! `bytes` counts every frame from the moment it is pushed until the network
//! layer reports it written, so `max_outbound_bytes` bounds what one slow
//! reader can pin in memory (SPEC §3).

use std::collections::VecDeque;

use crate::codec::Frame;

/// Above this many slots an empty queue gives its memory back: an idle
/// connection should hold no buffer (ARCHITECTURE: "idle connections hold no
/// read buffer" — the same goes for the write side).
const KEEP_CAPACITY: usize = 8;

#[derive(Debug, Default)]
pub struct Outbox {
    frames: VecDeque<Frame>,
    bytes: usize,
}

impl Outbox {
    pub fn push(&mut self, frame: Frame) {
        self.bytes = self.bytes.saturating_add(frame.len());
        self.frames.push_back(frame);
    }

    /// Bytes queued or being written.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn has_frames(&self) -> bool {
        !self.frames.is_empty()
    }

    /// Hands every queued frame to the writer; their bytes stay counted
    /// until [`Outbox::written`].
    pub fn take_into(&mut self, dst: &mut VecDeque<Frame>) {
        dst.extend(self.frames.drain(..));
        if self.frames.capacity() > KEEP_CAPACITY {
            self.frames = VecDeque::new();
        }
    }

    /// The writer put `n` bytes on the wire.
    pub fn written(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_sub(n);
    }

    /// Frames that will never be written (the connection is gone).
    pub fn clear(&mut self) {
        self.frames = VecDeque::new();
        self.bytes = 0;
    }
}
