//! A session's socket: frames in through the [`Decoder`], encoded frames out.
//!
//! Memory is spent only while there is work. Reads land in a scratch buffer on
//! the worker thread's stack; whole frames are decoded straight from it, and only
//! the tail of a frame that spans reads is copied into `pending`, which is freed
//! again as soon as it is consumed. Outbound frames are taken from the mailbox
//! in batches and written with one vectored write; the batch's queue is freed
//! when it empties. An idle connection therefore holds no buffer at all.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::ws::{DecodeError, Decoder, Frame, Inflate, Item, Limits, Step};

/// Size of a read into the stack scratch buffer. 8 KiB holds a burst of typical
/// small messages in one system call; the stack it borrows is the worker's, not
/// the connection's.
const SCRATCH: usize = 8 << 10;

/// Extra room read past a frame that spans reads, so the frames after it come in
/// the same system call. Small: this buffer lives as long as its frame does.
const READ_AHEAD: usize = 1 << 10;

/// Most frames handed to one vectored write (Linux accepts up to 1024).
const MAX_IOVECS: usize = 64;

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The client's bytes broke a rule (mapped to a close code).
    Decode(DecodeError),
    /// The socket failed.
    Io,
}

/// The socket with its framing state.
pub(crate) struct Transport<S> {
    io: S,
    decoder: Decoder,
    /// Input of a frame that spans reads: `pending[start..end]` is unconsumed.
    /// Empty and unallocated when no frame is in progress.
    pending: Vec<u8>,
    start: usize,
    end: usize,
    /// Frames taken from the mailbox, not yet fully written.
    out: VecDeque<Frame>,
    /// Bytes of `out.front()` already written.
    written: usize,
    /// A write since the last flush.
    unflushed: bool,
}

/// What one [`Transport::poll_write_out`] call finished.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Written {
    /// Whole frames written.
    pub(crate) frames: usize,
    /// Of which text or binary messages.
    pub(crate) messages: u64,
    /// Their wire bytes.
    pub(crate) bytes: usize,
}

// === impl Transport ===

impl<S: AsyncRead + AsyncWrite + Unpin> Transport<S> {
    /// Wraps `io`; `leftover` is input read past the handshake, if any. It is
    /// copied, not kept: it may be a view into the whole handshake read buffer.
    pub(crate) fn new(
        io: S,
        limits: Limits,
        inflate: Inflate,
        leftover: bytes::Bytes,
    ) -> Transport<S> {
        Transport {
            io,
            decoder: Decoder::with_inflate(limits, inflate),
            pending: leftover.to_vec(),
            start: 0,
            end: leftover.len(),
            out: VecDeque::new(),
            written: 0,
            unflushed: false,
        }
    }

    /// New size limits for frames that start from now (after a reload).
    pub(crate) fn set_limits(&mut self, limits: Limits) {
        self.decoder.set_limits(limits);
    }

    /// The queue the mailbox refills (only while it is empty, see `Connection::take_outbound`).
    pub(crate) fn out_mut(&mut self) -> &mut VecDeque<Frame> {
        &mut self.out
    }

    /// Whether anything is waiting to be written or flushed.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty() || self.unflushed
    }

    /// Drops queued frames, except one already partly written (cutting it would
    /// corrupt the stream), then queues `frame` (a close frame).
    pub(crate) fn replace_output(&mut self, frame: Frame) {
        let keep = usize::from(self.written > 0);
        self.out.truncate(keep);
        self.out.push_back(frame);
    }

    /// Reads and decodes until one item is complete. `Ok(None)` is end of stream.
    pub(crate) fn poll_item(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Item>, ReadError>> {
        loop {
            if self.start < self.end {
                let step = self
                    .decoder
                    .decode(&self.pending[self.start..self.end])
                    .map_err(ReadError::Decode)?;
                match step {
                    Step::Frame { consumed, item } => {
                        self.start += consumed;
                        if self.start == self.end {
                            self.pending = Vec::new();
                            (self.start, self.end) = (0, 0);
                        }
                        if let Some(item) = item {
                            return Poll::Ready(Ok(Some(item)));
                        }
                    }
                    Step::Need(n) => {
                        if ready!(self.poll_fill_pending(cx, n))? == 0 {
                            return Poll::Ready(Ok(None));
                        }
                    }
                }
                continue;
            }
            let mut scratch = [MaybeUninit::<u8>::uninit(); SCRATCH];
            let mut buf = ReadBuf::uninit(&mut scratch);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)).map_err(|_| ReadError::Io)?;
            let data = buf.filled();
            if data.is_empty() {
                return Poll::Ready(Ok(None));
            }
            let mut at = 0;
            while at < data.len() {
                match self
                    .decoder
                    .decode(&data[at..])
                    .map_err(ReadError::Decode)?
                {
                    Step::Frame { consumed, item } => {
                        at += consumed;
                        if let Some(item) = item {
                            self.keep(&data[at..], 0);
                            return Poll::Ready(Ok(Some(item)));
                        }
                    }
                    Step::Need(n) => {
                        self.keep(&data[at..], n);
                        break;
                    }
                }
            }
        }
    }

    /// Keeps unconsumed input (nothing is pending when this is called), with room
    /// for `need` bytes in all.
    fn keep(&mut self, rest: &[u8], need: usize) {
        if rest.is_empty() {
            return;
        }
        let mut buf = Vec::with_capacity(need.max(rest.len()));
        buf.extend_from_slice(rest);
        (self.pending, self.start, self.end) = (buf, 0, rest.len());
    }

    /// Reads more into `pending` toward `need` unconsumed bytes. Returns the
    /// bytes read; 0 is end of stream.
    fn poll_fill_pending(
        &mut self,
        cx: &mut Context<'_>,
        need: usize,
    ) -> Poll<Result<usize, ReadError>> {
        if self.start > 0 {
            self.pending.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        // Room for the rest of this frame, plus some for whatever follows it.
        // The buffer is zero-filled only where it grows, once per frame.
        let room = need.max(self.end + READ_AHEAD);
        if self.pending.len() < room {
            self.pending.resize(room, 0);
        }
        let mut buf = ReadBuf::new(&mut self.pending[self.end..]);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)).map_err(|_| ReadError::Io)?;
        let n = buf.filled().len();
        self.end += n;
        Poll::Ready(Ok(n))
    }

    /// Writes queued frames until the queue is empty or the socket is full, then
    /// flushes. Reports what was completed even when it then stops on `Pending`.
    pub(crate) fn poll_write_out(
        &mut self,
        cx: &mut Context<'_>,
        done: &mut Written,
    ) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            for (i, frame) in self.out.iter().take(MAX_IOVECS).enumerate() {
                let skip = if i == 0 { self.written } else { 0 };
                slices[i] = IoSlice::new(&frame.as_bytes()[skip..]);
                count += 1;
            }
            // One frame (the usual case): a plain send, which costs the kernel
            // less than a one-element writev.
            let io = Pin::new(&mut self.io);
            let n = if count == 1 {
                ready!(io.poll_write(cx, &slices[0]))?
            } else {
                ready!(io.poll_write_vectored(cx, &slices[..count]))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.unflushed = true;
            self.advance(n, done);
        }
        if self.out.capacity() > 0 {
            // Free the batch's queue: an idle connection holds no allocation.
            self.out = VecDeque::new();
        }
        if self.unflushed {
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    fn advance(&mut self, mut n: usize, done: &mut Written) {
        while let Some(front) = self.out.front() {
            let left = front.len() - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            self.written = 0;
            done.frames += 1;
            done.bytes += front.len();
            done.messages += u64::from(front.is_data());
            self.out.pop_front();
        }
    }

    /// Shuts down the write side (sends FIN after anything buffered).
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
