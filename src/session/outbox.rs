//! A connection's outbound frames: what the broker has decided to send and
//! the network layer has not yet written.
//!
//! `bytes` counts every frame from the moment it is pushed until the network
//! layer reports it written, so `max_outbound_bytes` bounds what one slow
//! reader can pin in memory (docs/design.md ## Queues and back-pressure).
//!
//! The frames are handed to the writer whole, allocation and all, so an
//! idle connection's outbox holds no memory (docs/transports.md: "an idle
//! connection holds no read buffer" — the same goes for the write side).

use std::collections::VecDeque;

use crate::codec::Frame;

#[derive(Debug, Default)]
pub struct Outbox {
    /// Oldest first; only ever taken whole, so a `Vec` is enough.
    frames: Vec<Frame>,
    bytes: usize,
}

impl Outbox {
    pub fn push(&mut self, frame: Frame) {
        self.bytes = self.bytes.saturating_add(frame.len());
        self.frames.push(frame);
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
        let frames = std::mem::take(&mut self.frames);
        if dst.is_empty() {
            // The common case: the writer had nothing left. Its queue
            // becomes this one, without copying a frame.
            *dst = VecDeque::from(frames);
        } else {
            dst.extend(frames);
        }
    }

    /// The writer put `n` bytes on the wire.
    pub fn written(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_sub(n);
    }

    /// Frames that will never be written (the connection is gone).
    /// Frames taken but not yet written changed size from `before` to
    /// `after` bytes (an MQTT 5 topic alias replaced a topic name).
    pub fn resized(&mut self, before: usize, after: usize) {
        self.bytes = self.bytes.saturating_sub(before).saturating_add(after);
    }

    pub fn clear(&mut self) {
        self.frames = Vec::new();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Packet, ProtocolVersion};

    fn ping() -> Frame {
        match Frame::packet(&Packet::PingResp, ProtocolVersion::V3_1_1) {
            Ok(frame) => frame,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn taking_keeps_order_and_leaves_no_memory() {
        let mut outbox = Outbox::default();
        let mut dst = VecDeque::new();
        outbox.push(ping());
        outbox.take_into(&mut dst);
        assert_eq!(outbox.frames.capacity(), 0);
        outbox.push(ping());
        outbox.push(ping());
        outbox.take_into(&mut dst);
        assert_eq!(dst.len(), 3);
        assert_eq!(outbox.frames.capacity(), 0);
        assert_eq!(outbox.bytes(), 6);
        outbox.written(6);
        assert_eq!(outbox.bytes(), 0);
        assert!(!outbox.has_frames());
    }
}
