//! The RLPx frame codec, split into independent egress and ingress halves.
//!
//! A frame on the wire is
//!
//! ```text
//! header-ct (16) ‖ header-mac (16) ‖ body-ct (padded to 16) ‖ body-mac (16)
//! ```
//!
//! The header plaintext is the 3-byte big-endian body size, the RLP list
//! `[0, 0]` (`c2 80 80`) and zero padding. The body plaintext is the message
//! code as an RLP integer followed by the payload, zero-padded to a multiple
//! of 16. Header and body are encrypted with one continuing AES-CTR stream
//! per direction (zero IV, key = aes-secret); the MACs are described in
//! [`HashMac`]. When snappy is on, the payload (never the code) is
//! compressed in the snappy *block* format.
//!
//! [`FrameEgress`] and [`FrameIngress`] share no state, so a connection can
//! write on one thread and read on another without a lock. Each half keeps its
//! buffers between messages and works in them in place: a frame is built in
//! one buffer (the payload compressed straight into it, then encrypted where it
//! lies) and read in another (authenticated and decrypted where it arrived), so
//! in the steady state no frame allocates or copies more than once.
//!
//! Memory follows the bytes that arrived, never what a remote announced: a
//! sparse connection (an idle peer's Pings) holds no read buffer while it waits,
//! reads the next frame's 32-byte header into the reader's own state and then
//! sizes a buffer from it; a busy one reads into a buffer of 1 KiB that grows (at
//! most doubling) only when it is full of received bytes, and shrinks back when
//! reads turn sparse; a snappy length
//! the compressed input cannot produce is rejected before anything is
//! allocated; and a buffer that grew past [`RELEASE_ABOVE`] for one large
//! message is given back once that message has been consumed. Only a run of
//! large messages keeps its buffers, until the first small message after it,
//! so an idle connection holds a few KiB, not the largest message it ever
//! carried.

use byteorder::{BigEndian, ByteOrder};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::time::{Duration, Instant};

use super::aes::{AesCtr, SharedAes};
use super::error::{Result, RlpxError};
use super::handshake::Secrets;
use super::mac::{ct_eq, HashMac, KeccakMac, MacHash};
use crate::strict_rlp as rlp;

/// The devp2p Disconnect message code, whose payload may arrive uncompressed.
const DISCONNECT_CODE: u64 = 0x01;
/// The longest uncompressed Disconnect payload accepted with snappy on (the peer reads at
/// most this much of a reason anyway).
const MAX_RAW_DISCONNECT: usize = 100;

/// Largest frame body, plain message and decompressed message: 0xFFFFFF bytes.
///
/// A vector from `spare` for a payload of `len` bytes, if the payload is large (over
/// [`RELEASE_ABOVE`]) and the vector's capacity is at least `len` and at most twice it:
/// a reused vector never hands the application far more memory than its message needs.
fn reusable(spare: impl FnOnce() -> Option<Vec<u8>>, len: usize) -> Option<Vec<u8>> {
    if len <= RELEASE_ABOVE {
        return None;
    }
    spare().filter(|v| v.capacity() >= len && v.capacity() / 2 <= len)
}

/// The body holds the message code too, so the largest payload that fits
/// uncompressed is 0xFFFFFE bytes for codes below 0x80.
pub const MAX_FRAME_SIZE: usize = 0xFF_FFFF;

/// Header bytes 3..6: RLP of `[0, 0]` (capability id and context id, unused).
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

/// Size of the ingress read buffer on a busy connection that carries small frames, and the
/// size it returns to when such a connection quiets down: enough for a few small frames per
/// read. A sparse connection holds no read buffer at all while it waits (see
/// [`BUSY_WAITS`]).
const INITIAL_READ_BUFFER: usize = 1024;

/// Waits for frames that begin less than this apart count as busy traffic (a request
/// answered, the next message of an exchange); longer as a sparse connection (an idle
/// peer's Pings, 15 s apart).
const SHORT_WAIT: Duration = Duration::from_millis(100);

/// After this many frames in a row that came without a long wait ([`SHORT_WAIT`]) the
/// connection is busy and the reader waits for the next frame with its read buffer, so
/// one read brings a whole small frame (or several). Otherwise it gives the buffer back
/// while it waits and reads the next frame's header into a small array inside the reader's
/// state, then sizes the buffer from the header: a sparse connection holds no read buffer,
/// at the cost of one more read per frame that followed a long wait. An idle peer's Ping
/// and Pong alternate long and short waits, so it stays sparse.
const BUSY_WAITS: u8 = 2;

/// The read buffer doubles, up to this size, each time a read fills it to the
/// end, so a busy connection reads many frames per system call.
const BUSY_READ_BUFFER: usize = 16 * 1024;

/// After this many reads in a row that each brought less than half of
/// [`INITIAL_READ_BUFFER`] (a quiet connection: pings, the odd small message),
/// a read buffer that grew goes back to [`INITIAL_READ_BUFFER`].
const QUIET_READS: u32 = 16;

/// Buffers larger than this (64 KiB) are released once the message that needed
/// them has been consumed: a connection that carried one 16 MiB message does not
/// keep 16 MiB per buffer while idle. Smaller buffers are kept, so a stream of
/// ordinary messages never reallocates; so are large ones during a run of large
/// messages (two or more in a row), until the first small message after it.
pub const RELEASE_ABOVE: usize = 64 * 1024;

/// How much the read buffer may grow at once beyond doubling: with the
/// doubling, the buffer never exceeds twice the bytes received plus this.
const READ_GROWTH: usize = 64 * 1024;

/// The most bytes a snappy block whose elements (everything after the length
/// preamble) take `n` bytes can decode to.
///
/// Per input byte, the most productive element is a 2-byte-offset copy: 3 bytes
/// for up to 64 output bytes. A 1-byte-offset copy gives at most 11 bytes for 2,
/// a 4-byte-offset copy 64 for 5, and a literal one byte per input byte at best
/// (its tag byte included). So `n = 3q + r` bytes give at most `64q`, plus 11
/// when `r == 2` (one more 1-byte-offset copy); `r == 1` adds nothing.
pub fn snappy_max_decoded_len(n: usize) -> usize {
    let (q, r) = (n / 3, n % 3);
    q.saturating_mul(64)
        .saturating_add(if r == 2 { 11 } else { 0 })
}

/// The decompressed length a snappy payload declares, checked before anything is
/// allocated for it: at most [`MAX_FRAME_SIZE`], and no more than its compressed
/// bytes can produce.
fn checked_decompress_len(data: &[u8]) -> Result<usize> {
    let len = snap::raw::decompress_len(data)?;
    if len > MAX_FRAME_SIZE {
        return Err(RlpxError::PlainMessageTooLarge);
    }
    // decompress_len succeeded, so the preamble is complete.
    let body = data.len() - snappy_preamble_len(data).unwrap_or(data.len());
    let max = snappy_max_decoded_len(body);
    if len > max {
        return Err(RlpxError::SnappyImpossibleLength { declared: len, max });
    }
    Ok(len)
}

/// Some clients (ethereumjs, older geth) send their Disconnect uncompressed even when
/// snappy is on. Its payload is a few bytes that are not valid snappy, so after a failed
/// decompression a short one is taken as it is; every other message must decompress.
fn raw_disconnect_allowed(code: u64, data: &[u8]) -> bool {
    code == DISCONNECT_CODE && data.len() <= MAX_RAW_DISCONNECT
}

/// Length of the varint length preamble at the start of a snappy block, if it
/// is complete (at most 5 bytes for a 32-bit length).
fn snappy_preamble_len(data: &[u8]) -> Option<usize> {
    data.iter()
        .take(5)
        .position(|b| b & 0x80 == 0)
        .map(|i| i + 1)
}

/// Payloads shorter than this are encoded by `snap` as a single literal element: too
/// short to hold a copy (its `MIN_NON_LITERAL_BLOCK_SIZE`, one tag byte, one byte and a
/// 15-byte input margin).
const SNAPPY_LITERAL_ONLY: usize = 17;

/// The snappy block of a payload shorter than [`SNAPPY_LITERAL_ONLY`], byte for byte as
/// `snap`'s encoder writes it, without its 2 KiB hash table: the length as a varint (one
/// byte), then one literal element (tag byte with the length minus one in its upper six
/// bits, then the bytes); an empty payload is the length alone. Returns the bytes written
/// to `out`, which holds at least `snap::raw::max_compress_len(data.len())` bytes.
fn snappy_literal(data: &[u8], out: &mut [u8]) -> usize {
    debug_assert!(data.len() < SNAPPY_LITERAL_ONLY);
    let n = data.len();
    out[0] = n as u8;
    if n == 0 {
        return 1;
    }
    out[1] = ((n - 1) as u8) << 2;
    out[2..2 + n].copy_from_slice(data);
    2 + n
}

/// A snappy encoder on the heap (kept out of the caller's frame).
#[cold]
#[inline(never)]
fn new_encoder() -> Box<snap::raw::Encoder> {
    Box::new(snap::raw::Encoder::new())
}

/// The frames' cipher key for `aes_secret`, to share between the two directions (each runs
/// its own CTR stream from a zero IV on it).
fn aes_key(aes_secret: &[u8]) -> Result<SharedAes> {
    SharedAes::new(aes_secret, "AES secret must have 16, 24 or 32 bytes")
}

fn padded(len: usize) -> usize {
    len.div_ceil(16) * 16
}

/// Builds both halves of a session from the handshake secrets. The two halves share one
/// expanded key for the aes-secret and one for the mac-secret.
pub fn session(secrets: Secrets) -> (FrameEgress, FrameIngress) {
    let keys =
        aes_key(&secrets.aes).and_then(|aes| Ok((aes, HashMac::<KeccakMac>::key(&secrets.mac)?)));
    let Ok((aes, mac)) = keys else {
        // Both secrets are 32 bytes, a valid AES-256 key.
        unreachable!("32-byte secrets are valid AES keys")
    };
    let egress = FrameEgress::with_keys(aes.clone(), mac.clone(), secrets.egress_mac);
    let ingress = FrameIngress::with_keys(aes, mac, secrets.ingress_mac);
    (egress, ingress)
}

/// The sending half: encrypts and authenticates messages into frames.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::wire::{FrameEgress, FrameIngress, KeccakMac};
///
/// let (aes, mac) = ([1u8; 32], [2u8; 32]);
/// let mut tx = FrameEgress::new(&aes, &mac, KeccakMac::new()).unwrap();
/// let mut rx = FrameIngress::new(&aes, &mac, KeccakMac::new()).unwrap();
/// tx.set_snappy(true);
/// rx.set_snappy(true);
///
/// let mut wire = Vec::new();
/// tx.write_msg(&mut wire, 0x10, b"hello hello hello").unwrap();
/// let msg = rx.read_msg(&mut &wire[..]).unwrap();
/// assert_eq!((msg.code, msg.data), (0x10, &b"hello hello hello"[..]));
/// ```
pub struct FrameEgress<H: MacHash = KeccakMac> {
    ctr: AesCtr,
    mac: HashMac<H>,
    /// Scratch space the frame is built in, in place: header, header MAC, message
    /// code, payload (compressed straight into it), padding, body MAC. Its length
    /// is what has been initialised; the frame is `buf[..frame_len]`.
    buf: Vec<u8>,
    frame_len: usize,
    snappy: bool,
    /// The snappy encoder (2 KiB of hash table, and 32 KiB more once a payload over
    /// 1 KiB was compressed), created for the first payload that is not too short to
    /// compress and dropped after [`QUIET_READS`] messages in a row that did not need it:
    /// an idle connection's Pings and Pongs (one-byte payloads) never do.
    encoder: Option<Box<snap::raw::Encoder>>,
    /// Consecutive messages encoded without `encoder`.
    encoder_unused: u32,
    /// Consecutive messages that needed more than [`RELEASE_ABOVE`] of buffer.
    large: LargeStreak,
    /// Consecutive frames of at most half of [`INITIAL_READ_BUFFER`].
    quiet_frames: u32,
}

impl<H: MacHash> FrameEgress<H> {
    /// Creates the sending half from the AES secret, the MAC secret (16, 24 or
    /// 32 bytes each) and the initial egress MAC state.
    pub fn new(aes_secret: &[u8], mac_secret: &[u8], egress_mac: H) -> Result<Self> {
        Ok(FrameEgress::with_keys(
            aes_key(aes_secret)?,
            HashMac::<H>::key(mac_secret)?,
            egress_mac,
        ))
    }

    /// The sending half on expanded keys (shared with the receiving half).
    fn with_keys(aes: SharedAes, mac: SharedAes, egress_mac: H) -> Self {
        FrameEgress {
            ctr: AesCtr::with_key(aes, [0; 16]),
            mac: HashMac::with_cipher(mac, egress_mac),
            buf: Vec::new(),
            frame_len: 0,
            snappy: false,
            encoder: None,
            encoder_unused: 0,
            large: LargeStreak::default(),
            quiet_frames: 0,
        }
    }

    /// Turns snappy compression of outgoing payloads on or off.
    pub fn set_snappy(&mut self, on: bool) {
        self.snappy = on;
    }

    /// Whether outgoing payloads are compressed.
    pub fn snappy(&self) -> bool {
        self.snappy
    }

    /// Encodes one message into the internal buffer and returns the wire size
    /// of the payload (after compression). The frame is then available from
    /// [`frame`](FrameEgress::frame).
    ///
    /// Fails with [`RlpxError::PlainMessageTooLarge`] if `data` is larger
    /// than [`MAX_FRAME_SIZE`] (checked before compressing) or if code plus
    /// data does not fit in a frame, and with [`RlpxError::FrameTooLarge`]
    /// if code plus *compressed* data does not fit. On error nothing was
    /// encrypted, so the stream stays usable.
    pub fn encode(&mut self, code: u64, data: &[u8]) -> Result<usize> {
        if data.len() > MAX_FRAME_SIZE {
            return Err(RlpxError::PlainMessageTooLarge);
        }
        let (code_rlp, clen) = rlp::encode_uint(code);
        debug_assert_eq!(clen, rlp::uint_size(code));
        let most = if self.snappy {
            snap::raw::max_compress_len(data.len())
        } else {
            data.len()
        };
        self.frame_len = 0;
        self.prepare(32 + padded(clen + most) + 16);
        // The payload goes straight to its place in the frame: compressed into it, or
        // copied once.
        let body = &mut self.buf[32..];
        body[..clen].copy_from_slice(&code_rlp[..clen]);
        let n = if self.snappy {
            let out = &mut body[clen..clen + most];
            let encoder = if data.len() < SNAPPY_LITERAL_ONLY {
                None
            } else {
                Some(self.encoder.get_or_insert_with(new_encoder))
            };
            match encoder {
                Some(e) => e.compress(data, out)?,
                None => snappy_literal(data, out),
            }
        } else {
            body[clen..clen + data.len()].copy_from_slice(data);
            data.len()
        };
        let fsize = clen + n;
        if fsize > MAX_FRAME_SIZE {
            return Err(if self.snappy {
                RlpxError::FrameTooLarge { size: fsize }
            } else {
                RlpxError::PlainMessageTooLarge
            });
        }
        self.seal(fsize);
        self.note_encoder_use(self.snappy && data.len() >= SNAPPY_LITERAL_ONLY);
        Ok(n)
    }

    /// Drops the snappy encoder after [`QUIET_READS`] messages in a row that did not
    /// use it.
    fn note_encoder_use(&mut self, used: bool) {
        if used || self.encoder.is_none() {
            self.encoder_unused = 0;
            return;
        }
        self.encoder_unused += 1;
        if self.encoder_unused >= QUIET_READS {
            self.encoder = None;
            self.encoder_unused = 0;
        }
    }

    /// Frames `content` as it is: no message code is added and nothing is
    /// compressed. Meant for tools and tests that need to send malformed
    /// messages; the frame is then available from [`frame`](FrameEgress::frame).
    pub fn encode_raw(&mut self, content: &[u8]) -> Result<()> {
        if content.len() > MAX_FRAME_SIZE {
            return Err(RlpxError::PlainMessageTooLarge);
        }
        self.frame_len = 0;
        self.prepare(32 + padded(content.len()) + 16);
        self.buf[32..32 + content.len()].copy_from_slice(content);
        self.seal(content.len());
        Ok(())
    }

    /// Seals only a frame header announcing a body of `size` bytes and returns
    /// it (header ciphertext ‖ header MAC, 32 bytes). A low-level hook for
    /// tools and tests that play a hostile remote: the receiver authenticates
    /// the header and then waits for `size` body bytes, whose MAC it can only
    /// check once they have all arrived, so the caller may follow the header
    /// with any bytes it likes. No body is sealed: after this, frames from
    /// this half no longer make sense to the receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::rlpx::wire::{FrameEgress, FrameIngress, KeccakMac};
    /// use devp2p_peer::rlpx::MAX_FRAME_SIZE;
    ///
    /// let mut tx = FrameEgress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
    /// let mut rx = FrameIngress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
    /// let mut wire = tx.encode_header(MAX_FRAME_SIZE).unwrap().to_vec();
    /// wire.extend_from_slice(&[0; 100]); // 100 of the 16 MiB announced
    /// assert!(rx.read_msg(&mut &wire[..]).unwrap_err().is_eof());
    /// assert!(rx.buffer_capacity() < 1 << 20);
    /// ```
    pub fn encode_header(&mut self, size: usize) -> Result<[u8; 32]> {
        if size > MAX_FRAME_SIZE {
            return Err(RlpxError::PlainMessageTooLarge);
        }
        let mut out = [0u8; 32];
        BigEndian::write_u24(&mut out[..3], size as u32);
        out[3..6].copy_from_slice(&HEADER_DATA);
        self.ctr.apply_keystream(&mut out[..16]);
        let mac = self.mac.header(out[..16].try_into().expect("16 bytes"));
        out[16..].copy_from_slice(&mac);
        Ok(out)
    }

    /// Makes the scratch buffer at least `need` bytes long. A buffer grown past
    /// [`RELEASE_ABOVE`] for an earlier run of large messages is dropped first when
    /// this message is small, and one grown past [`INITIAL_READ_BUFFER`] for
    /// ordinary messages after [`QUIET_READS`] small frames in a row (the
    /// connection went quiet: pings, the odd small message).
    fn prepare(&mut self, need: usize) {
        if need <= RELEASE_ABOVE && self.buf.len() > RELEASE_ABOVE {
            self.buf = Vec::new();
        }
        if need <= INITIAL_READ_BUFFER / 2 {
            self.quiet_frames = self.quiet_frames.saturating_add(1);
            if self.quiet_frames >= QUIET_READS && self.buf.len() > INITIAL_READ_BUFFER {
                self.buf = Vec::new();
                self.quiet_frames = 0;
            }
        } else {
            self.quiet_frames = 0;
        }
        self.large.record(need > RELEASE_ABOVE);
        if self.buf.len() < need {
            // Zero-filled once; later frames overwrite it in place.
            self.buf.resize(need, 0);
        }
    }

    /// Seals the frame whose `fsize` content bytes are in place at `buf[32..]`:
    /// header and its MAC in front, zero padding, body encrypted in place, body MAC.
    fn seal(&mut self, fsize: usize) {
        let rsize = padded(fsize);
        let buf = &mut self.buf[..32 + rsize + 16];

        let mut header = [0u8; 16];
        BigEndian::write_u24(&mut header[..3], fsize as u32);
        header[3..6].copy_from_slice(&HEADER_DATA);
        self.ctr.apply_keystream(&mut header);
        buf[..16].copy_from_slice(&header);
        buf[16..32].copy_from_slice(&self.mac.header(&header));

        let (body, mac) = buf[32..].split_at_mut(rsize);
        body[fsize..].fill(0);
        self.ctr.apply_keystream(body);
        mac.copy_from_slice(&self.mac.frame(body));
        self.frame_len = 32 + rsize + 16;
    }

    /// The frame built by the last successful [`encode`](FrameEgress::encode).
    pub fn frame(&self) -> &[u8] {
        &self.buf[..self.frame_len]
    }

    /// Encodes one message and writes the frame to `w` with a single
    /// `write_all`. Returns the wire size of the payload.
    ///
    /// A buffer grown beyond [`RELEASE_ABOVE`] for this message is released
    /// once it is written (whether or not the write succeeded), so
    /// [`frame`](FrameEgress::frame) is then empty, unless the message before
    /// was large too: a run of large messages reuses one buffer, which goes with
    /// the first small message after the run.
    pub fn write_msg<W: Write + ?Sized>(
        &mut self,
        w: &mut W,
        code: u64,
        data: &[u8],
    ) -> Result<usize> {
        let wire_size = self.encode(code, data)?;
        let written = w.write_all(&self.buf[..self.frame_len]);
        if self.buf.len() > RELEASE_ABOVE && !self.large.is_run() {
            self.buf = Vec::new();
            self.frame_len = 0;
        }
        written?;
        Ok(wire_size)
    }

    /// Bytes of memory held by this half's buffers; for tests and monitoring.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// Counts consecutive messages that needed a buffer larger than [`RELEASE_ABOVE`].
/// One large message among small ones gets a buffer for itself alone, given back
/// once it has been consumed; from the second large message in a row on, the
/// large buffer is kept and reused until a small message ends the run.
#[derive(Default, Debug, Clone, Copy)]
struct LargeStreak(u32);

impl LargeStreak {
    fn record(&mut self, large: bool) {
        self.0 = if large { self.0.saturating_add(1) } else { 0 };
    }

    /// Whether the last two messages were both large.
    fn is_run(&self) -> bool {
        self.0 >= 2
    }
}

/// One received message. `data` borrows the reader's buffer and is valid
/// until the next read.
#[derive(Debug, PartialEq, Eq)]
pub struct RawMsg<'a> {
    /// The message code.
    pub code: u64,
    /// The payload (decompressed if snappy is on).
    pub data: &'a [u8],
    /// Payload size on the wire (before decompression).
    pub wire_size: usize,
}

/// The receiving half: reads frames, checks their MACs and decrypts them.
///
/// It reads from its source in large chunks and keeps any bytes past the
/// current frame for the next one, so one `read` call usually serves several
/// small frames.
pub struct FrameIngress<H: MacHash = KeccakMac> {
    ctr: AesCtr,
    mac: HashMac<H>,
    /// Bytes read from the source; `buf[start..end]` is not consumed yet.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    snappy: bool,
    decoder: snap::raw::Decoder,
    snappy_buf: Vec<u8>,
    /// Frames announcing a larger body are rejected after the header.
    max_frame_size: usize,
    /// Consecutive frames that needed more than [`RELEASE_ABOVE`] of buffer.
    large: LargeStreak,
    /// The last read filled the read buffer to its end: more was probably waiting.
    read_filled: bool,
    /// Consecutive reads that brought less than half of [`INITIAL_READ_BUFFER`].
    quiet_reads: u32,
    /// On a sparse connection the next frame's header is read here while `buf` is given
    /// back; `head[..head_len]` has arrived so far. Bytes are only ever here while `buf`
    /// holds nothing unconsumed.
    head: [u8; 32],
    head_len: u8,
    /// Frames in a row that came without a long wait (saturating); see [`BUSY_WAITS`].
    busy_frames: u8,
    /// When the last wait for a frame began.
    last_wait: Option<Instant>,
}

impl<H: MacHash> FrameIngress<H> {
    /// Creates the receiving half from the AES secret, the MAC secret (16, 24
    /// or 32 bytes each) and the initial ingress MAC state.
    pub fn new(aes_secret: &[u8], mac_secret: &[u8], ingress_mac: H) -> Result<Self> {
        Ok(FrameIngress::with_keys(
            aes_key(aes_secret)?,
            HashMac::<H>::key(mac_secret)?,
            ingress_mac,
        ))
    }

    /// The receiving half on expanded keys (shared with the sending half).
    fn with_keys(aes: SharedAes, mac: SharedAes, ingress_mac: H) -> Self {
        FrameIngress {
            ctr: AesCtr::with_key(aes, [0; 16]),
            mac: HashMac::with_cipher(mac, ingress_mac),
            buf: Vec::new(),
            start: 0,
            end: 0,
            snappy: false,
            decoder: snap::raw::Decoder::new(),
            snappy_buf: Vec::new(),
            max_frame_size: MAX_FRAME_SIZE,
            large: LargeStreak::default(),
            read_filled: false,
            quiet_reads: 0,
            head: [0; 32],
            head_len: 0,
            busy_frames: 0,
            last_wait: None,
        }
    }

    /// Limits the body size a frame header may announce (default and maximum
    /// [`MAX_FRAME_SIZE`]). A frame announcing more fails with
    /// [`RlpxError::FrameOverLimit`] as soon as its header is authenticated,
    /// before any of its body is read or buffered. Before the devp2p Hello,
    /// for example, nothing larger than a Hello may arrive.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::rlpx::wire::{FrameEgress, FrameIngress, KeccakMac};
    /// use devp2p_peer::rlpx::RlpxError;
    ///
    /// let mut tx = FrameEgress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
    /// let mut rx = FrameIngress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
    /// rx.set_max_frame_size(2048);
    /// tx.encode(0x10, &[7; 4096]).unwrap();
    /// // Only the header is given: the limit is checked before the body is awaited.
    /// let err = rx.read_msg(&mut &tx.frame()[..32]).unwrap_err();
    /// assert!(matches!(err, RlpxError::FrameOverLimit { size: 4097, limit: 2048 }));
    /// ```
    pub fn set_max_frame_size(&mut self, limit: usize) {
        self.max_frame_size = limit.min(MAX_FRAME_SIZE);
    }

    /// The current frame body limit (see
    /// [`set_max_frame_size`](FrameIngress::set_max_frame_size)).
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Bytes of memory held by this half's buffers (read and decompression
    /// buffer capacities); for tests and monitoring.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity() + self.snappy_buf.capacity()
    }

    /// Turns snappy decompression of incoming payloads on or off.
    pub fn set_snappy(&mut self, on: bool) {
        self.snappy = on;
    }

    /// Whether incoming payloads are decompressed.
    pub fn snappy(&self) -> bool {
        self.snappy
    }

    /// Hands over bytes that were already read from the source (for example
    /// past the end of the handshake); they are consumed before reading more.
    pub fn push_received(&mut self, bytes: &[u8]) {
        self.unstage_head();
        self.compact();
        let need = self.end + bytes.len();
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        self.buf[self.end..need].copy_from_slice(bytes);
        self.end = need;
    }

    /// Number of received bytes not consumed by a frame yet.
    pub fn buffered(&self) -> usize {
        self.end - self.start + usize::from(self.head_len)
    }

    /// Moves header bytes read into `head` to the (empty) read buffer.
    fn unstage_head(&mut self) {
        if self.head_len > 0 {
            debug_assert_eq!(self.start, self.end);
            let n = usize::from(self.head_len);
            self.buf.clear();
            self.buf.extend_from_slice(&self.head[..n]);
            self.start = 0;
            self.end = n;
            self.head_len = 0;
        }
    }

    /// Reads and decodes one message from `r`.
    ///
    /// Errors: [`RlpxError::BadHeaderMac`] / [`RlpxError::BadFrameMac`] for
    /// authentication failures, [`RlpxError::FrameOverLimit`] for a header
    /// announcing more than [`max_frame_size`](FrameIngress::max_frame_size),
    /// [`RlpxError::InvalidMessageCode`], [`RlpxError::Snappy`],
    /// [`RlpxError::SnappyImpossibleLength`] and
    /// [`RlpxError::PlainMessageTooLarge`] (declared decompressed size above
    /// [`MAX_FRAME_SIZE`]; both length checks come before allocating), and I/O
    /// errors from `r` (end of stream is `UnexpectedEof`). A timeout that hits
    /// before the first byte of a frame leaves the reader usable; after any
    /// other error the stream is out of sync and must be dropped.
    ///
    /// The read buffer grows only as bytes arrive, whatever size a header
    /// announces, and buffers grown for a large message are released when the
    /// next read starts.
    pub fn read_msg<R: Read + ?Sized>(&mut self, r: &mut R) -> Result<RawMsg<'_>> {
        self.read_msg_at(r, None)
    }

    /// [`read_msg`](FrameIngress::read_msg) for a caller that has just read the clock
    /// (`now`), which saves reading it again.
    pub(crate) fn read_msg_at<R: Read + ?Sized>(
        &mut self,
        r: &mut R,
        now: Option<Instant>,
    ) -> Result<RawMsg<'_>> {
        let (code, range) = self.read_frame(r, now)?;
        let data = &self.buf[range.clone()];
        let wire_size = data.len();
        if !self.snappy {
            return Ok(RawMsg {
                code,
                data,
                wire_size,
            });
        }
        let decompressed = checked_decompress_len(data).and_then(|len| {
            if self.snappy_buf.len() < len {
                self.snappy_buf.resize(len, 0);
            }
            Ok(self.decoder.decompress(data, &mut self.snappy_buf[..len])?)
        });
        match decompressed {
            Ok(n) => Ok(RawMsg {
                code,
                data: &self.snappy_buf[..n],
                wire_size,
            }),
            Err(_) if raw_disconnect_allowed(code, data) => Ok(RawMsg {
                code,
                data: &self.buf[range],
                wire_size,
            }),
            Err(e) => Err(e),
        }
    }

    /// Like [`read_msg`](FrameIngress::read_msg), but the payload is returned in a vector
    /// of its own: `(code, payload, wire size)`. A snappy payload is decompressed straight
    /// into that vector, saving the copy out of the reader's buffer that an owned copy of
    /// [`read_msg`](FrameIngress::read_msg)'s payload would need.
    /// `now`, if given, is the time the caller has just read.
    ///
    /// For a payload larger than [`RELEASE_ABOVE`], `spare` is asked for a vector to
    /// reuse (an earlier message's): the payload goes into it if its capacity is at least
    /// the payload's length and at most twice that, which saves allocating and
    /// zero-filling a new one (a decompressed payload overwrites every byte it returns).
    /// A vector that does not fit is dropped.
    pub(crate) fn read_msg_owned<R: Read + ?Sized>(
        &mut self,
        r: &mut R,
        now: Option<Instant>,
        spare: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<(u64, Vec<u8>, usize)> {
        let (code, range) = self.read_frame(r, now)?;
        let wire_size = range.len();
        let data = self.owned_payload(code, range, spare)?;
        Ok((code, data, wire_size))
    }

    /// The payload at `range` of the read buffer in a vector of its own, decompressed if
    /// snappy is on, in a vector from `spare` if one fits (see
    /// [`read_msg_owned`](FrameIngress::read_msg_owned)). Out of line, so that none of
    /// this sits on the stack while a read waits for the next frame.
    #[inline(never)]
    fn owned_payload(
        &mut self,
        code: u64,
        range: Range<usize>,
        spare: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<Vec<u8>> {
        let data = &self.buf[range];
        if !self.snappy {
            return Ok(match reusable(spare, data.len()) {
                Some(mut v) => {
                    v.clear();
                    v.extend_from_slice(data);
                    v
                }
                None => data.to_vec(),
            });
        }
        let decompressed = checked_decompress_len(data).and_then(|len| {
            // The length is bounded by what the input can produce, so this allocation is
            // backed by bytes that arrived.
            let mut out = match reusable(spare, len) {
                Some(mut v) => {
                    // Only the part past the old length is zero-filled; the decoder
                    // writes all of `out[..n]` or fails.
                    v.resize(len, 0);
                    v
                }
                None => vec![0u8; len],
            };
            let n = self.decoder.decompress(data, &mut out)?;
            out.truncate(n);
            Ok(out)
        });
        match decompressed {
            Err(_) if raw_disconnect_allowed(code, data) => Ok(data.to_vec()),
            result => result,
        }
    }

    /// Reads, authenticates and decrypts one frame; returns its message code and where
    /// the (still compressed) payload lies in the read buffer.
    fn read_frame<R: Read + ?Sized>(
        &mut self,
        r: &mut R,
        now: Option<Instant>,
    ) -> Result<(u64, Range<usize>)> {
        // The previous message (borrowed from these buffers) has been consumed.
        self.release_excess();
        let inline = self.wait_header(r, now)?;
        // The header as it arrived: its ciphertext, then its MAC.
        let raw: [u8; 32] = if inline {
            self.head_len = 0;
            self.head
        } else {
            let h = self.start;
            self.buf[h..h + 32].try_into().expect("32 bytes")
        };
        let mut header: [u8; 16] = raw[..16].try_into().expect("16 bytes");
        let want = self.mac.header(&header);
        if !ct_eq(&want, &raw[16..]) {
            return Err(RlpxError::BadHeaderMac);
        }
        self.ctr.apply_keystream(&mut header);
        let fsize = BigEndian::read_u24(&header[..3]) as usize;
        if fsize > self.max_frame_size {
            return Err(RlpxError::FrameOverLimit {
                size: fsize,
                limit: self.max_frame_size,
            });
        }
        let rsize = padded(fsize);
        let need = 32 + rsize + 16;
        self.large.record(need > RELEASE_ABOVE);
        if inline {
            // A read buffer sized from the header: the whole frame if small, else the
            // usual start, grown as the body arrives.
            let mut buf = vec![0u8; need.min(INITIAL_READ_BUFFER)];
            buf[..32].copy_from_slice(&raw);
            self.buf = buf;
            self.start = 0;
            self.end = 32;
        }

        self.fill(r, need)?;
        if inline {
            // The body was read into a buffer of its own size: filling it says nothing
            // about more bytes waiting.
            self.read_filled = false;
        }
        let body_start = self.start + 32;
        let body_end = body_start + rsize;
        let want = self.mac.frame(&self.buf[body_start..body_end]);
        if !ct_eq(&want, &self.buf[body_end..body_end + 16]) {
            return Err(RlpxError::BadFrameMac);
        }
        self.ctr
            .apply_keystream(&mut self.buf[body_start..body_end]);
        self.start = body_end + 16;

        let content = &self.buf[body_start..body_start + fsize];
        let (code, data) = rlp::split_uint64(content).map_err(RlpxError::InvalidMessageCode)?;
        let data_start = body_start + fsize - data.len();
        Ok((code, data_start..body_start + fsize))
    }

    /// Waits until the next frame's 32-byte header has arrived: in `head` (returns true)
    /// on a sparse connection, with the read buffer given back while waiting; else at
    /// `buf[start..]` (returns false). Header bytes that arrived before an error (a
    /// timeout) are kept in either place, so the next call goes on where this one stopped.
    ///
    /// Whether the connection is busy is judged from the time between the starts of the
    /// last waits (`now`, or the clock read here): one clock reading per frame that has
    /// to be waited for, none for frames already buffered.
    fn wait_header<R: Read + ?Sized>(&mut self, r: &mut R, now: Option<Instant>) -> Result<bool> {
        if self.end > self.start {
            // Bytes followed the previous frame: no wait.
            self.fill(r, 32)?;
            self.busy_frames = self.busy_frames.saturating_add(1);
            return Ok(false);
        }
        if self.head_len == 0 {
            // A new wait (not the rest of a header begun before a timeout).
            let now = now.unwrap_or_else(Instant::now);
            let short = self
                .last_wait
                .is_some_and(|t| now.saturating_duration_since(t) < SHORT_WAIT);
            self.busy_frames = if short {
                self.busy_frames.saturating_add(1)
            } else {
                0
            };
            self.last_wait = Some(now);
            if self.read_filled || self.busy_frames >= BUSY_WAITS || self.large.is_run() {
                self.fill(r, 32)?;
                return Ok(false);
            }
            // Nothing unconsumed: wait without a buffer.
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
        self.read_head(r)?;
        Ok(true)
    }

    /// Reads into `head` until it holds a whole header.
    fn read_head<R: Read + ?Sized>(&mut self, r: &mut R) -> Result<()> {
        while usize::from(self.head_len) < self.head.len() {
            match r.read(&mut self.head[usize::from(self.head_len)..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                // At most 32 bytes were asked for.
                Ok(n) => self.head_len += n as u8,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Gives back memory grown for a large message: the read buffer returns to
    /// its initial size (or to the unconsumed bytes, if more) and a large
    /// decompression buffer is dropped. Nothing happens below
    /// [`RELEASE_ABOVE`], so ordinary traffic never reallocates, nor during a
    /// run of large messages (see [`LargeStreak`]), which reuses the buffers.
    fn release_excess(&mut self) {
        if self.large.is_run() {
            return;
        }
        if self.buf.len() > RELEASE_ABOVE {
            self.shrink_read_buffer();
        }
        if self.snappy_buf.len() > RELEASE_ABOVE {
            self.snappy_buf = Vec::new();
        }
    }

    /// Shrinks the read buffer to its initial size, or to the unconsumed bytes if
    /// more.
    fn shrink_read_buffer(&mut self) {
        let keep = (self.end - self.start).max(INITIAL_READ_BUFFER);
        if keep < self.buf.len() {
            self.compact();
            self.buf.truncate(keep);
            self.buf.shrink_to_fit();
        }
    }

    /// Moves unconsumed bytes to the front of the buffer.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Makes sure at least `need` unconsumed bytes are buffered, reading from
    /// `r` as needed (possibly more than `need`, up to the buffer's size).
    ///
    /// The buffer grows for a frame only when it is full of received bytes,
    /// and then at most to twice its size (or by [`READ_GROWTH`]), never past
    /// what the frame needs: memory follows the bytes that arrived, not the
    /// size a header announced. Between frames it adapts to the traffic: after
    /// a read that filled it to the end it doubles, up to
    /// [`BUSY_READ_BUFFER`], and after [`QUIET_READS`] sparse reads it returns
    /// to [`INITIAL_READ_BUFFER`].
    fn fill<R: Read + ?Sized>(&mut self, r: &mut R, need: usize) -> Result<()> {
        if self.end - self.start >= need {
            return Ok(());
        }
        if self.start == self.end && self.buf.len() <= RELEASE_ABOVE {
            self.adapt_read_buffer();
        }
        if self.buf.len() - self.start < need {
            self.compact();
        }
        while self.end - self.start < need {
            if self.end == self.buf.len() {
                let len = self.buf.len();
                let grown = len
                    .saturating_add(len.max(READ_GROWTH))
                    .min(self.start + need);
                self.buf.resize(grown, 0);
            }
            let room = self.buf.len() - self.end;
            match r.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                Ok(n) => {
                    self.end += n;
                    self.read_filled = n == room;
                    if n < INITIAL_READ_BUFFER / 2 {
                        self.quiet_reads = self.quiet_reads.saturating_add(1);
                    } else {
                        self.quiet_reads = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Sizes an empty read buffer (nothing unconsumed) for the traffic seen:
    /// larger after a read that filled it, back to the initial size after a run
    /// of sparse reads.
    fn adapt_read_buffer(&mut self) {
        let len = self.buf.len();
        if len < INITIAL_READ_BUFFER {
            // Given back, or sized for one frame, while the connection was sparse.
            self.start = 0;
            self.end = 0;
            self.buf.resize(INITIAL_READ_BUFFER, 0);
        } else if self.read_filled && len < BUSY_READ_BUFFER {
            self.start = 0;
            self.end = 0;
            self.buf
                .resize((len * 2).clamp(INITIAL_READ_BUFFER, BUSY_READ_BUFFER), 0);
            self.read_filled = false;
        } else if self.quiet_reads >= QUIET_READS && len > INITIAL_READ_BUFFER {
            self.start = 0;
            self.end = 0;
            self.shrink_read_buffer();
            self.quiet_reads = 0;
        }
    }
}

impl<H: MacHash> std::fmt::Debug for FrameEgress<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameEgress")
            .field("snappy", &self.snappy)
            .finish_non_exhaustive()
    }
}

impl<H: MacHash> std::fmt::Debug for FrameIngress<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameIngress")
            .field("snappy", &self.snappy)
            .field("buffered", &self.buffered())
            .finish_non_exhaustive()
    }
}

/// The stack-measuring helpers shared with `tests/idle_stack.rs`.
#[cfg(test)]
#[path = "../../tests/common/stack_paint.rs"]
mod stack_paint;

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(snappy: bool) -> (FrameEgress, FrameIngress) {
        let mut e = FrameEgress::new(&[3; 32], &[4; 32], KeccakMac::new()).unwrap();
        let mut i = FrameIngress::new(&[3; 32], &[4; 32], KeccakMac::new()).unwrap();
        e.set_snappy(snappy);
        i.set_snappy(snappy);
        (e, i)
    }

    #[test]
    fn many_frames_in_one_buffer() {
        for snappy in [false, true] {
            let (mut e, mut i) = pair(snappy);
            let mut wire = Vec::new();
            for n in 0..100u64 {
                e.write_msg(&mut wire, n * 1000, &vec![n as u8; n as usize * 37])
                    .unwrap();
            }
            let mut r = &wire[..];
            for n in 0..100u64 {
                let m = i.read_msg(&mut r).unwrap();
                assert_eq!(m.code, n * 1000);
                assert_eq!(m.data, &vec![n as u8; n as usize * 37][..]);
            }
            assert!(i.read_msg(&mut r).unwrap_err().is_eof());
        }
    }

    #[test]
    fn owned_reads_match_borrowed_reads() {
        for snappy in [false, true] {
            let (mut e, mut i) = pair(snappy);
            let (mut e2, mut i2) = pair(snappy);
            let mut wire = Vec::new();
            let mut wire2 = Vec::new();
            for n in 0..40u64 {
                let data = vec![n as u8; n as usize * 301];
                e.write_msg(&mut wire, n, &data).unwrap();
                e2.write_msg(&mut wire2, n, &data).unwrap();
            }
            // An uncompressed Disconnect, accepted as it is with snappy on too.
            e.encode_raw(&[0x01, 0xc1, 0x04]).unwrap();
            wire.extend_from_slice(e.frame());
            e2.encode_raw(&[0x01, 0xc1, 0x04]).unwrap();
            wire2.extend_from_slice(e2.frame());
            let (mut r, mut r2) = (&wire[..], &wire2[..]);
            for _ in 0..41 {
                let m = i.read_msg(&mut r).unwrap();
                let (code, data, wire_size) = i2.read_msg_owned(&mut r2, None, || None).unwrap();
                assert_eq!((m.code, m.data, m.wire_size), (code, &data[..], wire_size));
            }
            // The owned path keeps no decompression buffer.
            assert_eq!(i2.snappy_buf.capacity(), 0);
        }
    }

    /// A run of large messages reuses one buffer on each side (no allocation, no
    /// zero-filling per message); the first small message after the run gives
    /// them back.
    #[test]
    fn a_run_of_large_messages_reuses_its_buffers() {
        for snappy in [false, true] {
            let (mut e, mut i) = pair(snappy);
            let mut big = vec![0u8; 1 << 20];
            rand::fill(&mut big[..]);
            let mut wire = Vec::new();
            let mut caps = Vec::new();
            for n in 0..5u8 {
                big[0] = n;
                wire.clear();
                e.write_msg(&mut wire, 0x10, &big).unwrap();
                let msg = i.read_msg(&mut &wire[..]).unwrap();
                assert_eq!(msg.data, &big[..]);
                caps.push((
                    e.buf.as_ptr(),
                    e.buffer_capacity(),
                    i.buf.as_ptr(),
                    i.buffer_capacity(),
                ));
            }
            // From the second message of the run on, the same buffers at the same size.
            assert!(caps[1..].iter().all(|c| *c == caps[1]), "snappy {snappy}");
            assert!(caps[1].1 > RELEASE_ABOVE && caps[1].3 > RELEASE_ABOVE);

            for _ in 0..2 {
                wire.clear();
                e.write_msg(&mut wire, 0x11, b"small").unwrap();
                assert_eq!(i.read_msg(&mut &wire[..]).unwrap().data, b"small");
            }
            assert!(e.buffer_capacity() <= RELEASE_ABOVE, "snappy {snappy}");
            assert!(i.buffer_capacity() <= RELEASE_ABOVE, "snappy {snappy}");
        }
    }

    /// A source that hands out at most `chunk` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        chunk: usize,
        reads: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.reads += 1;
            Ok(n)
        }
    }

    /// The read buffer starts small, grows while reads fill it (so a busy
    /// connection reads many frames per call), and goes back to its initial
    /// size once the traffic is sparse again.
    #[test]
    fn read_buffer_follows_the_traffic() {
        let (mut e, mut i) = pair(true);
        // An idle connection holds at most 2 KiB to read into.
        assert!(i.buffer_capacity() <= 2048, "{}", i.buffer_capacity());

        // A burst of 2,000 small frames, all available at once.
        let mut wire = Vec::new();
        for n in 0..2000u64 {
            e.write_msg(&mut wire, 0x10, &n.to_be_bytes()).unwrap();
        }
        let frames = wire.len() / 2000;
        let mut src = Trickle {
            data: &wire,
            chunk: usize::MAX,
            reads: 0,
        };
        for n in 0..2000u64 {
            assert_eq!(i.read_msg(&mut src).unwrap().data, n.to_be_bytes());
        }
        assert_eq!(i.buf.len(), BUSY_READ_BUFFER);
        // Most reads brought a full busy-sized buffer of frames.
        assert!(
            src.reads < 2000 * frames / BUSY_READ_BUFFER + 12,
            "{} reads for 2,000 frames of {frames} bytes",
            src.reads
        );

        // Then one small frame per read, as on a quiet connection.
        let mut wire = Vec::new();
        for n in 0..(QUIET_READS as u64 + 2) {
            wire.clear();
            e.write_msg(&mut wire, 0x02, &n.to_be_bytes()).unwrap();
            let mut one = &wire[..];
            assert_eq!(i.read_msg(&mut one).unwrap().data, n.to_be_bytes());
        }
        assert_eq!(i.buf.len(), INITIAL_READ_BUFFER);
        assert!(i.buffer_capacity() <= 2048, "{}", i.buffer_capacity());
    }

    #[test]
    fn message_codes_are_encoded_as_the_rlp_crate_encodes_integers() {
        let mut codes: Vec<u64> = (0..300).collect();
        for shift in 0..64 {
            codes.extend([1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1]);
        }
        codes.push(u64::MAX);
        for code in codes {
            let (got, n) = rlp::encode_uint(code);
            assert_eq!(&got[..n], &::rlp::encode(&code)[..], "{code:#x}");
        }
    }

    /// A source handing out its pieces one per read (a read gets at most one piece, or
    /// what fits of it); `None` is a read that times out, and so is a read after the last
    /// piece.
    struct Pieces {
        pieces: std::collections::VecDeque<Option<Vec<u8>>>,
        reads: usize,
    }

    impl Pieces {
        fn new(pieces: impl IntoIterator<Item = Option<Vec<u8>>>) -> Self {
            Pieces {
                pieces: pieces.into_iter().collect(),
                reads: 0,
            }
        }
    }

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            match self.pieces.pop_front() {
                Some(Some(mut piece)) => {
                    let n = buf.len().min(piece.len());
                    buf[..n].copy_from_slice(&piece[..n]);
                    if n < piece.len() {
                        self.pieces.push_front(Some(piece.split_off(n)));
                    }
                    Ok(n)
                }
                Some(None) | None => Err(io::ErrorKind::TimedOut.into()),
            }
        }
    }

    fn frame_of(e: &mut FrameEgress, code: u64, data: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        e.write_msg(&mut wire, code, data).unwrap();
        wire
    }

    /// A sparse connection (an idle peer between Pings) waits for the next frame without
    /// a read buffer, and the frames it reads that way come out right.
    #[test]
    fn idle_reader_holds_no_read_buffer() {
        for snappy in [false, true] {
            let (mut e, mut i) = pair(snappy);
            assert_eq!(i.buffer_capacity(), 0, "before the first frame");
            // The clock as the caller read it: an idle peer's Pings come 15 s apart.
            let t0 = Instant::now();
            let at = |s: u64| Some(t0 + Duration::from_secs(s));
            for n in 0..5u8 {
                let wire = frame_of(&mut e, 0x02, &[0xc0, n]);
                let mut src = Pieces::new([Some(wire)]);
                let (code, data, _) = i
                    .read_msg_owned(&mut src, at(15 * n as u64), || None)
                    .unwrap();
                assert_eq!((code, &data[..]), (0x02, &[0xc0, n][..]));
                // Header and body: one read each.
                assert_eq!(src.reads, 2);
                // Waiting for the next frame (it times out here) holds nothing.
                let err = i
                    .read_msg_owned(&mut src, at(15 * n as u64 + 1), || None)
                    .unwrap_err();
                assert!(err.is_timeout(), "{err}");
                assert_eq!(i.buffer_capacity(), 0, "snappy {snappy}");
            }
        }
    }

    /// A header arriving in pieces, with read timeouts in between, is put together across
    /// calls on a sparse connection as on a busy one, and the frames after it decode
    /// (the ciphers stayed in step).
    #[test]
    fn header_in_pieces_across_timeouts() {
        for busy in [false, true] {
            for cut in 1..32 {
                let (mut e, mut i) = pair(true);
                let first = frame_of(&mut e, 0x10, b"first message");
                let second = frame_of(&mut e, 0x11, &[9; 300]);
                // Header in two pieces with a timeout between, then one with three pieces.
                let mut src = Pieces::new(
                    [
                        Some(first[..cut].to_vec()),
                        None,
                        Some(first[cut..].to_vec()),
                        Some(second[..cut / 2].to_vec()),
                        None,
                        Some(second[cut / 2..cut].to_vec()),
                        None,
                        Some(second[cut..].to_vec()),
                    ]
                    .into_iter()
                    .filter(|p| p.as_ref().is_none_or(|p| !p.is_empty())),
                );
                // Waits 1 ms apart (busy) or 15 s apart (sparse), as the caller's clock has it.
                let t0 = Instant::now();
                let mut calls = 0..;
                let mut next = || {
                    let n = calls.next().unwrap();
                    Some(
                        t0 + if busy {
                            Duration::from_millis(n)
                        } else {
                            Duration::from_secs(15 * n)
                        },
                    )
                };
                if busy {
                    i.busy_frames = BUSY_WAITS;
                    i.last_wait = next();
                }
                let err = i.read_msg_at(&mut src, next()).unwrap_err();
                assert!(err.is_timeout(), "{err}");
                assert_eq!(i.buffered(), cut);
                if !busy {
                    assert_eq!(i.buf.capacity(), 0, "the partial header is held inline");
                }
                let m = i.read_msg_at(&mut src, next()).unwrap();
                assert_eq!((m.code, m.data), (0x10, &b"first message"[..]));
                for _ in 0..2 {
                    assert!(i.read_msg_at(&mut src, next()).unwrap_err().is_timeout());
                }
                let m = i.read_msg_at(&mut src, next()).unwrap();
                assert_eq!(
                    (m.code, m.data),
                    (0x11, &[9; 300][..]),
                    "cut {cut} busy {busy}"
                );
                assert_eq!(i.buffered(), 0);
            }
        }
    }

    /// The end of the stream in the middle of a header held inline is an error, as it is
    /// mid-frame on a busy connection.
    #[test]
    fn end_of_stream_mid_header_inline() {
        let (mut e, mut i) = pair(false);
        let wire = frame_of(&mut e, 0x10, b"x");
        let err = i.read_msg(&mut &wire[..20]).unwrap_err();
        assert!(err.is_eof(), "{err}");
    }

    /// A header held inline that fails its MAC, or announces more than the limit, is
    /// refused as one in the read buffer is.
    #[test]
    fn inline_header_is_checked() {
        let (mut e, mut i) = pair(false);
        let mut wire = frame_of(&mut e, 0x10, b"x");
        wire[20] ^= 1;
        assert!(matches!(
            i.read_msg(&mut &wire[..]),
            Err(RlpxError::BadHeaderMac)
        ));
        let (mut e, mut i) = pair(false);
        i.set_max_frame_size(100);
        let wire = frame_of(&mut e, 0x10, &[1; 200]);
        assert!(matches!(
            i.read_msg(&mut &wire[..32]),
            Err(RlpxError::FrameOverLimit {
                size: 201,
                limit: 100
            })
        ));
    }

    /// Frames that come without long waits make the connection busy: then each small
    /// frame takes one read, into the kept read buffer, as before.
    #[test]
    fn busy_connection_reads_a_small_frame_in_one_read() {
        let (mut e, mut i) = pair(true);
        let mut reads = Vec::new();
        let t0 = Instant::now();
        for n in 0..10u64 {
            let wire = frame_of(&mut e, 0x10, &[n as u8; 64]);
            let mut src = Pieces::new([Some(wire)]);
            // Requests 1 ms apart, as the caller's clock has it.
            let now = Some(t0 + Duration::from_millis(n));
            assert_eq!(
                i.read_msg_at(&mut src, now).unwrap().data,
                &[n as u8; 64][..]
            );
            reads.push(src.reads);
        }
        // Two frames read the sparse way, then one read each.
        assert_eq!(reads[..2], [2, 2]);
        assert!(reads[2..].iter().all(|&r| r == 1), "{reads:?}");
        assert_eq!(i.buf.len(), INITIAL_READ_BUFFER);

        // After a long wait the connection is sparse again, and waits without a buffer.
        let wire = frame_of(&mut e, 0x10, b"later");
        let later = Some(t0 + Duration::from_secs(60));
        let mut src = Pieces::new([Some(wire)]);
        assert_eq!(i.read_msg_at(&mut src, later).unwrap().data, b"later");
        let mut src = Pieces::new([]);
        let later = Some(t0 + Duration::from_secs(120));
        assert!(i.read_msg_at(&mut src, later).unwrap_err().is_timeout());
        assert_eq!(i.buf.capacity(), 0);
    }

    /// The write buffer grown for ordinary messages goes back to a small one
    /// once the connection sends only small frames.
    #[test]
    fn write_buffer_shrinks_when_the_connection_goes_quiet() {
        let (mut e, _) = pair(true);
        let mut wire = Vec::new();
        let mut data = vec![0u8; 50_000];
        rand::fill(&mut data[..]);
        e.write_msg(&mut wire, 0x10, &data).unwrap();
        assert!(e.buffer_capacity() > 50_000);
        for n in 0..QUIET_READS as u64 {
            e.write_msg(&mut wire, 0x02, &n.to_be_bytes()).unwrap();
        }
        assert!(e.buffer_capacity() <= 2048, "{}", e.buffer_capacity());
    }

    /// Payloads too short for a copy are written as one literal without the encoder,
    /// byte for byte as `snap` writes them.
    #[test]
    fn short_payloads_compress_as_snap_does() {
        let mut reference = snap::raw::Encoder::new();
        for len in 0..SNAPPY_LITERAL_ONLY {
            for fill in [0u8, 0xc0, 0xff] {
                let mut data: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37) ^ fill).collect();
                for d in [data.clone(), {
                    data.fill(fill);
                    data
                }] {
                    let want = reference.compress_vec(&d).unwrap();
                    let mut out = vec![0xAA; snap::raw::max_compress_len(d.len())];
                    let n = snappy_literal(&d, &mut out);
                    assert_eq!(&out[..n], &want[..], "{d:?}");
                }
            }
        }
    }

    /// An idle connection's Pings never create the snappy encoder; a message that needs
    /// it does, and it goes again after a quiet spell.
    #[test]
    fn snappy_encoder_only_while_needed() {
        let (mut e, mut i) = pair(true);
        let mut wire = Vec::new();
        let mut send = |e: &mut FrameEgress, data: &[u8]| {
            wire.clear();
            e.write_msg(&mut wire, 0x02, data).unwrap();
            assert_eq!(i.read_msg(&mut &wire[..]).unwrap().data, data);
        };
        for _ in 0..3 * QUIET_READS {
            send(&mut e, &[0xc0]);
        }
        assert!(e.encoder.is_none());
        send(&mut e, &[7; SNAPPY_LITERAL_ONLY]);
        assert!(e.encoder.is_some());
        for _ in 1..QUIET_READS {
            send(&mut e, &[0xc0]);
        }
        assert!(e.encoder.is_some());
        send(&mut e, &[0xc0]);
        assert!(e.encoder.is_none());
        // Without snappy nothing is compressed, so no encoder either.
        let (mut plain, _) = pair(false);
        plain.encode(0x10, &[7; 100]).unwrap();
        assert!(plain.encoder.is_none());
    }

    /// The halves hold no key schedule or hash table of their own (those are shared or
    /// created when needed), so a session's long-lived state stays small. The receiving
    /// half has room for one frame header besides (32 bytes, where a sparse connection
    /// waits instead of in a read buffer).
    #[test]
    fn halves_are_small() {
        let (e, i) = (size_of::<FrameEgress>(), size_of::<FrameIngress>());
        eprintln!(
            "FrameEgress {e} B, FrameIngress {i} B, KeccakMac {} B",
            size_of::<KeccakMac>()
        );
        let (e, i) = (e - size_of::<KeccakMac>(), i - size_of::<KeccakMac>());
        assert!(
            e <= 256 && i <= 256 + 32,
            "{e} and {i} bytes besides the keccak state"
        );
    }

    #[test]
    fn halves_are_send() {
        fn send<T: Send + 'static>() {}
        send::<FrameEgress>();
        send::<FrameIngress>();
        send::<crate::rlpx::ConnReader>();
        send::<crate::rlpx::ConnWriter>();
        send::<crate::rlpx::Conn>();
    }

    /// Bytes of stack that `run` uses below its caller, measured by painting the free
    /// part of a fresh thread's stack with a pattern and finding the deepest byte `run`
    /// changed. `setup` runs first, unmeasured.
    fn stack_used<S: Send + 'static>(
        setup: impl FnOnce() -> S + Send + 'static,
        run: impl FnOnce(&mut S) + Send + 'static,
    ) -> usize {
        #[inline(never)]
        fn measure<S>(state: &mut S, run: impl FnOnce(&mut S)) -> usize {
            use super::stack_paint::{below_caller, deepest_change, mapping, paint};
            let top = below_caller();
            let lo = (mapping(top).0 + 4096) & !7;
            // Below the frames of `paint` and `deepest_change`, which sit where
            // `below_caller`'s did.
            let hi = (top - 256) & !7;
            paint(lo, hi);
            run(state);
            top - deepest_change(lo, hi)
        }
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                let mut state = setup();
                measure(&mut state, run)
            })
            .unwrap()
            .join()
            .unwrap()
    }

    /// Encrypting the 32 bytes of a small frame's header takes a shallow stack: an idle
    /// peer's threads each touch every stack page their deepest call ever reached.
    #[test]
    fn small_frame_cipher_takes_a_shallow_stack() {
        let used = stack_used(
            || AesCtr::new(&[7; 32], [0; 16]).unwrap(),
            |c| c.apply_keystream(&mut [0u8; 32]),
        );
        eprintln!("AES-CTR of 32 bytes: {used} bytes of stack");
        // Unoptimised, the cipher's generic code runs in deep frames of its own.
        let limit = if cfg!(debug_assertions) {
            14 << 10
        } else {
            2 << 10
        };
        assert!(used < limit, "{used} bytes of stack");
    }

    /// Stack taken by each part of a Ping frame's way out and in: the deepest of them
    /// sets how many stack pages an idle peer's threads keep.
    #[test]
    fn stack_of_a_small_frame_by_part() {
        use crate::rlpx::mac::{HashMac, MacHash};
        let parts: Vec<(&str, usize)> = vec![
            (
                "AES-256-CTR of 32 B, the frame cipher (src/rlpx/aes.rs)",
                stack_used(
                    || AesCtr::new(&[7; 32], [0; 16]).unwrap(),
                    |c| c.apply_keystream(&mut [0; 32]),
                ),
            ),
            (
                "AES-256-CTR of 32 B, aes 0.9 (VAES-512 where the CPU has it)",
                stack_used(
                    || {
                        use aes09::cipher::KeyIvInit;
                        ctr010::Ctr128BE::<aes09::Aes256>::new(&[7; 32].into(), &[0; 16].into())
                    },
                    |c| {
                        use aes09::cipher::StreamCipher;
                        c.apply_keystream(&mut [0; 32])
                    },
                ),
            ),
            (
                "AES-256 of one block, the frame MAC's (src/rlpx/aes.rs)",
                stack_used(
                    || SharedAes::new(&[7; 32], "32 bytes").unwrap(),
                    |c| c.encrypt(&mut [0u8; 16]),
                ),
            ),
            (
                "AES-256 of one block, aes 0.9",
                stack_used(
                    || {
                        use aes09::cipher::KeyInit;
                        aes09::Aes256::new(&[7; 32].into())
                    },
                    |c| {
                        use aes09::cipher::BlockCipherEncrypt;
                        c.encrypt_block((&mut [0u8; 16]).into())
                    },
                ),
            ),
            (
                "keccak update+digest of 32 B",
                stack_used(KeccakMac::new, |h| {
                    h.update(&[1; 32]);
                    std::hint::black_box(h.digest());
                }),
            ),
            (
                "frame MAC of header and 16 B body",
                stack_used(
                    || HashMac::new(&[2; 32], KeccakMac::new()).unwrap(),
                    |m| {
                        std::hint::black_box(m.header(&[3; 16]));
                        std::hint::black_box(m.frame(&[4; 16]));
                    },
                ),
            ),
            (
                "snappy compress of 2 B",
                stack_used(snap::raw::Encoder::new, |e| {
                    std::hint::black_box(e.compress_vec(&[0xc0, 0x80]).unwrap());
                }),
            ),
            (
                "encode Ping with snappy",
                stack_used(
                    || pair(true).0,
                    |e| {
                        e.encode(0x02, &[0xc0]).unwrap();
                    },
                ),
            ),
            (
                "read_msg Ping with snappy",
                stack_used(
                    || {
                        let (mut e, i) = pair(true);
                        e.encode(0x02, &[0xc0]).unwrap();
                        (e.frame().to_vec(), i)
                    },
                    |(wire, i)| {
                        std::hint::black_box(i.read_msg(&mut &wire[..]).unwrap().code);
                    },
                ),
            ),
        ];
        for (what, used) in &parts {
            eprintln!("stack: {what}: {used} bytes");
        }
        let used = |prefix: &str| parts.iter().find(|p| p.0.starts_with(prefix)).unwrap().1;
        // One reason for not taking aes 0.9: optimised, the frame cipher's calls take under a
        // quarter of the stack of aes 0.9's (unoptimised, generic code adds deep frames).
        let factor = if cfg!(debug_assertions) { 1 } else { 4 };
        let (ours, ctr9) = (
            used("AES-256-CTR of 32 B, the frame cipher"),
            used("AES-256-CTR of 32 B, aes 0.9"),
        );
        assert!(ours * factor < ctr9, "{ours} vs {ctr9}");
        let (ours, block9) = (
            used("AES-256 of one block, the frame MAC's"),
            used("AES-256 of one block, aes 0.9"),
        );
        assert!(ours * factor < block9, "{ours} vs {block9}");
        if !cfg!(debug_assertions) {
            // Optimised, a Ping's frame goes out and in within 3 KiB of its caller.
            assert!(used("encode Ping") < 3 << 10);
            assert!(used("read_msg Ping") < 3 << 10);
        }
    }

    #[test]
    fn aes128_keys_work() {
        let mut e = FrameEgress::new(&[0; 16], &[0; 16], KeccakMac::new()).unwrap();
        let mut i = FrameIngress::new(&[0; 16], &[0; 16], KeccakMac::new()).unwrap();
        let mut wire = Vec::new();
        e.write_msg(&mut wire, 1, b"x").unwrap();
        assert_eq!(i.read_msg(&mut &wire[..]).unwrap().data, b"x");
        assert!(FrameEgress::new(&[0; 15], &[0; 16], KeccakMac::new()).is_err());
    }
}
