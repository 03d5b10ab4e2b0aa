//! The frames of one received message, read straight from libzmq into reused buffers.

use tmq::Multipart;

use crate::error::Result;

/// Frames per message looked at without an allocation (REP envelopes with a few hops fit).
const INLINE_FRAMES: usize = 8;

/// The frames of one received message, in reused `zmq::Message` buffers.
#[derive(Default)]
pub(crate) struct Frames {
    parts: Vec<zmq::Message>,
    len: usize,
}

impl Frames {
    /// Runs `f` on the frames received, as byte slices.
    ///
    /// Every look at a `zmq::Message`'s bytes is two calls into libzmq
    /// (`zmq_msg_data`, `zmq_msg_size`), so each frame is looked at once
    /// here; up to [`INLINE_FRAMES`] views live on the stack.
    #[inline]
    pub(crate) fn with_views<R>(&self, f: impl FnOnce(&[&[u8]]) -> R) -> R {
        let parts = &self.parts[..self.len];
        if parts.len() <= INLINE_FRAMES {
            let mut views: [&[u8]; INLINE_FRAMES] = [&[]; INLINE_FRAMES];
            for (view, part) in views.iter_mut().zip(parts) {
                *view = part;
            }
            f(&views[..parts.len()])
        } else {
            let views: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
            f(&views)
        }
    }

    /// Receives one whole message without blocking; `false` when none is waiting.
    #[inline]
    pub(super) fn recv(&mut self, socket: &zmq::Socket) -> Result<bool> {
        self.len = 0;
        loop {
            if self.parts.len() == self.len {
                self.parts.push(zmq::Message::new());
            }
            // Later frames of a multipart message are already there: ZeroMQ delivers them atomically.
            let flags = if self.len == 0 { zmq::DONTWAIT } else { 0 };
            match socket.recv(&mut self.parts[self.len], flags) {
                Ok(()) => {
                    self.len += 1;
                    if !self.parts[self.len - 1].get_more() {
                        return Ok(true);
                    }
                }
                Err(zmq::Error::EAGAIN) if self.len == 0 => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub(super) fn fill_from(&mut self, multipart: Multipart) {
        self.parts.clear();
        self.parts.extend(multipart);
        self.len = self.parts.len();
    }
}
