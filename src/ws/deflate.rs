//! permessage-deflate's codec (RFC 7692 §7.2): a server message deflated once
//! for every receiver, and a client message inflated within its limit.
//!
//! Nothing here is held by an idle connection. The server never keeps context
//! (see `extension`), so one compressor per worker thread, reset between
//! messages, serves every connection; a client without context takeover is
//! inflated by a per-thread inflater the same way. Only a client that keeps
//! its context has an inflater of its own ([`Inflate::Takeover`]), created at
//! its first compressed message: zlib's inflate state (about 7 KiB) and a
//! window of `2^bits` bytes, bits capped by the stage's `max_window_bits`.
//!
//! Concurrency: the per-thread state is a `thread_local` `RefCell`, borrowed
//! only inside one synchronous call, so no lock and no `.await` is involved.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::encode::{Frame, header};
use super::extension::Deflate;

/// What a sync flush ends with; removed from each message sent and added back
/// to each one received (§7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// Room kept before the compressed bytes for the frame header, so the frame is
/// built in the compressor's own buffer (one allocation per message).
const ROOM: usize = 10;

thread_local! {
    /// This thread's compressor: (level, window bits, state).
    static DEFLATER: RefCell<Option<(u8, u8, Compress)>> = const { RefCell::new(None) };
    /// This thread's inflater for clients without context takeover (window 15:
    /// large enough for any client window).
    static INFLATER: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

/// What permessage-deflate has done since the process started, for
/// `/metrics` (read at scrape time; three relaxed adds per message).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeflateTotals {
    /// Messages deflated (once per message, however many receivers share it).
    pub deflated: u64,
    /// Their payload bytes before and after.
    pub deflated_from: u64,
    /// And after.
    pub deflated_to: u64,
    /// Client messages inflated.
    pub inflated: u64,
    /// Their payload bytes as received.
    pub inflated_from: u64,
    /// And inflated.
    pub inflated_to: u64,
}

/// The counters behind [`totals`], in [`DeflateTotals`]' order.
static TOTALS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

/// Where the deflate side's three counters start in [`TOTALS`].
const DEFLATED: usize = 0;
/// Where the inflate side's start.
const INFLATED: usize = 3;

fn count(first: usize, from: usize, to: usize) {
    TOTALS[first].fetch_add(1, Ordering::Relaxed);
    TOTALS[first + 1].fetch_add(from as u64, Ordering::Relaxed);
    TOTALS[first + 2].fetch_add(to as u64, Ordering::Relaxed);
}

/// What permessage-deflate has done so far, process-wide.
pub fn totals() -> DeflateTotals {
    let t = TOTALS.each_ref().map(|a| a.load(Ordering::Relaxed));
    DeflateTotals {
        deflated: t[0],
        deflated_from: t[1],
        deflated_to: t[2],
        inflated: t[3],
        inflated_from: t[4],
        inflated_to: t[5],
    }
}

/// A data frame on its way to one or more connections: its plain bytes, and
/// its deflated bytes made at most once, by the first receiver that agreed
/// permessage-deflate. Without server context takeover those bytes are the
/// same for every receiver whose window holds the message.
#[derive(Debug)]
pub struct Outgoing {
    plain: Frame,
    deflated: OnceLock<Option<Frame>>,
    /// Deflated with each smaller window (9 to 14 bits) that receivers asked
    /// for and the message does not fit: also once per window, so clients
    /// asking for small windows cannot make a broadcast deflate once per
    /// connection. Allocated only when such a receiver is met.
    windowed: OnceLock<Box<[OnceLock<Option<Frame>>; 6]>>,
}

impl From<Frame> for Outgoing {
    fn from(plain: Frame) -> Outgoing {
        Outgoing {
            plain,
            deflated: OnceLock::new(),
            windowed: OnceLock::new(),
        }
    }
}

impl Outgoing {
    /// The uncompressed frame.
    pub fn plain(&self) -> &Frame {
        &self.plain
    }

    /// [`Outgoing::for_receiver`] for the one receiver there is: an
    /// uncompressed frame is moved out, not cloned (a reply's path).
    pub fn into_receiver(self, deflate: Option<&Deflate>) -> Frame {
        match deflate {
            None => self.plain,
            Some(_) => self.for_receiver(deflate),
        }
    }

    /// The frame for a receiver that agreed `deflate` (or nothing): deflated
    /// when it is a data message of at least `min_bytes` that shrinks.
    pub fn for_receiver(&self, deflate: Option<&Deflate>) -> Frame {
        let plain = &self.plain;
        let Some(d) = deflate else {
            return plain.clone();
        };
        let len = plain.payload().len();
        if !plain.is_data() || len < d.min_bytes as usize {
            return plain.clone();
        }
        let deflated = if d.server_window == 15 || len <= 1 << d.server_window {
            // Back-references never reach before a message's start, so a
            // message no longer than the client's window fits it whatever
            // window the compressor used: shared by every receiver (as is
            // everything for the full window most clients take).
            self.deflated
                .get_or_init(|| deflate_frame(plain, d.level, 15))
                .clone()
        } else if d.server_window >= 9 {
            // A client that asked for a smaller window than this message (no
            // browser does): deflated once for every receiver with that window.
            let slots = self.windowed.get_or_init(Default::default);
            slots[usize::from(d.server_window - 9)]
                .get_or_init(|| deflate_frame(plain, d.level, d.server_window))
                .clone()
        } else {
            // zlib cannot deflate with a 256-byte window.
            None
        };
        deflated.unwrap_or_else(|| plain.clone())
    }
}

/// `plain`'s payload deflated into a frame with RSV1 set, or `None` when that
/// would not be smaller.
fn deflate_frame(plain: &Frame, level: u8, bits: u8) -> Option<Frame> {
    let payload = plain.payload();
    let mut buf = Vec::with_capacity(ROOM + payload.len() + 16);
    buf.resize(ROOM, 0);
    DEFLATER.with_borrow_mut(|slot| {
        let stale = !matches!(slot, Some((l, b, _)) if *l == level && *b == bits);
        if stale {
            let c = Compress::new_with_window_bits(Compression::new(level.into()), false, bits);
            *slot = Some((level, bits, c));
        }
        let (_, _, c) = slot.as_mut()?;
        c.reset();
        let mut input = payload;
        loop {
            buf.reserve(64 + input.len() / 2);
            let before = c.total_in();
            c.compress_vec(input, &mut buf, FlushCompress::Sync).ok()?;
            input = &input[(c.total_in() - before) as usize..];
            // Done once the input is taken and the flush's empty block is out.
            if input.is_empty() && buf.len() < buf.capacity() && buf.ends_with(&TAIL) {
                return Some(());
            }
        }
    })?;
    buf.truncate(buf.len() - TAIL.len());
    let body = buf.len() - ROOM;
    count(DEFLATED, payload.len(), body);
    if body >= payload.len() {
        return None;
    }
    // RSV1 marks the message compressed (§6); FIN and the opcode as the plain one's.
    let (head, n) = header(plain.first_byte() | 0x40, body);
    let at = ROOM - n;
    buf[at..ROOM].copy_from_slice(&head[..n]);
    buf.shrink_to_fit();
    Some(Frame::from_wire(Bytes::from(buf).slice(at..)))
}

/// Why a compressed message cannot be read (the decoder maps it to a close code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InflateError {
    /// Inflated, it passes the message limit (1009).
    TooBig,
    /// It is not deflate, or compression was not agreed (1002).
    Invalid,
}

/// How a connection's compressed messages are inflated.
#[derive(Debug, Default)]
pub enum Inflate {
    /// permessage-deflate was not agreed: RSV1 is a protocol error.
    #[default]
    Off,
    /// No client context takeover: each message alone, on the thread's inflater.
    PerMessage,
    /// The client keeps its context: this connection's inflater (created at
    /// its first compressed message) and its window bits.
    Takeover(u8, Option<Box<Decompress>>),
}

impl Inflate {
    /// The inbound side of what was agreed.
    pub fn agreed(deflate: Option<&Deflate>) -> Inflate {
        match deflate {
            None => Inflate::Off,
            Some(Deflate {
                client_takeover: None,
                ..
            }) => Inflate::PerMessage,
            // zlib inflates with at least 9 bits; a larger window than the
            // client's is harmless.
            Some(Deflate {
                client_takeover: Some(bits),
                ..
            }) => Inflate::Takeover((*bits).max(9), None),
        }
    }

    /// Whether compressed messages are allowed.
    pub fn is_on(&self) -> bool {
        !matches!(self, Inflate::Off)
    }

    /// Inflates one message's payload to at most `max` bytes: `TooBig` as soon
    /// as the output would pass it (nothing past `max + 1` bytes is ever
    /// produced), `Invalid` for data that is not deflate.
    pub(super) fn inflate(&mut self, data: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
        let out = self.inflate_uncounted(data, max)?;
        count(INFLATED, data.len(), out.len());
        Ok(out)
    }

    fn inflate_uncounted(&mut self, data: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
        if data.is_empty() && self.is_on() {
            // An empty message (RFC 7692 §7.2.3.6 deflates it to one 0x00
            // byte; some clients send nothing at all): empty, as zlib's users
            // read it, and the stream left as it was.
            return Ok(Vec::new());
        }
        match self {
            Inflate::Off => Err(InflateError::Invalid),
            Inflate::PerMessage => INFLATER.with_borrow_mut(|slot| {
                let z = slot.get_or_insert_with(|| Decompress::new(false));
                z.reset(false);
                let inflated = run_inflate(z, data, max)?;
                ended_cleanly(z, inflated)
            }),
            Inflate::Takeover(bits, state) => {
                let z = state.get_or_insert_with(|| {
                    Box::new(Decompress::new_with_window_bits(false, *bits))
                });
                // The stream goes on into the next message, so a message cut
                // inside a block is not seen here (as zlib's own users, Python's
                // websockets among them, do not see it): it only garbles this
                // client's own messages, within the same limits.
                let out = run_inflate(z, data, max).map(|(out, _)| out);
                if out.is_err() {
                    // The context is lost with the message; the connection closes.
                    *state = None;
                }
                out
            }
        }
    }
}

/// A final, empty fixed-Huffman block: after a message that ended where it
/// should (at the block boundary its sync flush leaves), it ends the stream at
/// once and yields nothing.
const FINAL_EMPTY_BLOCK: [u8; 2] = [0x03, 0x00];

/// Checks that a message without context takeover ended at a block boundary
/// (zlib would otherwise take a message cut mid-block as complete).
fn ended_cleanly(
    z: &mut Decompress,
    (out, ended): (Vec<u8>, bool),
) -> Result<Vec<u8>, InflateError> {
    if ended {
        return Ok(out);
    }
    let mut rest = Vec::with_capacity(8);
    match z.decompress_vec(&FINAL_EMPTY_BLOCK, &mut rest, FlushDecompress::Sync) {
        Ok(Status::StreamEnd) if rest.is_empty() => Ok(out),
        _ => Err(InflateError::Invalid),
    }
}

/// Inflates `data` and the sync flush's tail: the output, and whether a final
/// block ended the stream.
fn run_inflate(
    z: &mut Decompress,
    data: &[u8],
    max: usize,
) -> Result<(Vec<u8>, bool), InflateError> {
    // A first guess at the size (deflate rarely gains more than 4x on
    // messages); grown in steps, never past `max + 1`.
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).max(64).min(max + 1));
    for input in [data, &TAIL[..]] {
        let mut input = input;
        loop {
            if out.len() == out.capacity() {
                if out.len() > max {
                    return Err(InflateError::TooBig);
                }
                out.reserve_exact((out.len() + 1).min(max + 1 - out.len()));
            }
            let (before_in, before_out) = (z.total_in(), z.total_out());
            let status = z
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Invalid)?;
            input = &input[(z.total_in() - before_in) as usize..];
            if out.len() > max {
                return Err(InflateError::TooBig);
            }
            let progressed = z.total_in() > before_in || z.total_out() > before_out;
            match status {
                // A final block ends the stream (RFC 7692 §7.2.3.5: a sender
                // may end each message so; what follows it, the empty block
                // the sender appended and the tail, is ignored). The next
                // message starts afresh.
                Status::StreamEnd => {
                    z.reset(false);
                    return Ok((out, true));
                }
                _ if input.is_empty() && out.len() < out.capacity() => break,
                _ if !progressed && out.len() < out.capacity() => {
                    return Err(InflateError::Invalid);
                }
                _ => {}
            }
        }
    }
    Ok((out, false))
}
