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
//! buffers between messages: in the steady state no frame allocates.

use byteorder::{BigEndian, ByteOrder};
use std::io::{self, Read, Write};

use aes::cipher::{KeyIvInit, StreamCipher};

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
/// The body holds the message code too, so the largest payload that fits
/// uncompressed is 0xFFFFFE bytes for codes below 0x80.
pub const MAX_FRAME_SIZE: usize = 0xFF_FFFF;

/// Header bytes 3..6: RLP of `[0, 0]` (capability id and context id, unused).
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

/// Initial size of the ingress read buffer.
const INITIAL_READ_BUFFER: usize = 16 * 1024;

/// AES-CTR with a 128-bit big-endian counter, in the key size that was given.
enum AesCtr {
    A128(ctr::Ctr128BE<aes::Aes128>),
    A192(ctr::Ctr128BE<aes::Aes192>),
    A256(ctr::Ctr128BE<aes::Aes256>),
}

impl AesCtr {
    fn new(key: &[u8]) -> Result<Self> {
        let bad = |_| RlpxError::InvalidSecretKey("AES secret must have 16, 24 or 32 bytes");
        let iv = [0u8; 16];
        Ok(match key.len() {
            16 => AesCtr::A128(ctr::Ctr128BE::new_from_slices(key, &iv).map_err(bad)?),
            24 => AesCtr::A192(ctr::Ctr128BE::new_from_slices(key, &iv).map_err(bad)?),
            32 => AesCtr::A256(ctr::Ctr128BE::new_from_slices(key, &iv).map_err(bad)?),
            _ => {
                return Err(RlpxError::InvalidSecretKey(
                    "AES secret must have 16, 24 or 32 bytes",
                ))
            }
        })
    }

    fn apply(&mut self, buf: &mut [u8]) {
        match self {
            AesCtr::A128(c) => c.apply_keystream(buf),
            AesCtr::A192(c) => c.apply_keystream(buf),
            AesCtr::A256(c) => c.apply_keystream(buf),
        }
    }
}

fn padded(len: usize) -> usize {
    len.div_ceil(16) * 16
}

/// Builds both halves of a session from the handshake secrets.
pub fn session(secrets: Secrets) -> (FrameEgress, FrameIngress) {
    let egress = FrameEgress::new(&secrets.aes, &secrets.mac, secrets.egress_mac);
    let ingress = FrameIngress::new(&secrets.aes, &secrets.mac, secrets.ingress_mac);
    match (egress, ingress) {
        (Ok(e), Ok(i)) => (e, i),
        // Both secrets are 32 bytes, a valid AES-256 key.
        _ => unreachable!("32-byte secrets are valid AES keys"),
    }
}

/// The sending half: encrypts and authenticates messages into frames.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::{FrameEgress, FrameIngress, KeccakMac};
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
    buf: Vec<u8>,
    snappy: bool,
    encoder: snap::raw::Encoder,
    snappy_buf: Vec<u8>,
}

impl<H: MacHash> FrameEgress<H> {
    /// Creates the sending half from the AES secret, the MAC secret (16, 24 or
    /// 32 bytes each) and the initial egress MAC state.
    pub fn new(aes_secret: &[u8], mac_secret: &[u8], egress_mac: H) -> Result<Self> {
        Ok(FrameEgress {
            ctr: AesCtr::new(aes_secret)?,
            mac: HashMac::new(mac_secret, egress_mac)?,
            buf: Vec::new(),
            snappy: false,
            encoder: snap::raw::Encoder::new(),
            snappy_buf: Vec::new(),
        })
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
        let payload: &[u8] = if self.snappy {
            let max = snap::raw::max_compress_len(data.len());
            if self.snappy_buf.len() < max {
                self.snappy_buf.resize(max, 0);
            }
            let n = self.encoder.compress(data, &mut self.snappy_buf)?;
            &self.snappy_buf[..n]
        } else {
            data
        };
        let fsize = rlp::uint_size(code) + payload.len();
        if fsize > MAX_FRAME_SIZE {
            return Err(if self.snappy {
                RlpxError::FrameTooLarge { size: fsize }
            } else {
                RlpxError::PlainMessageTooLarge
            });
        }

        Self::seal(&mut self.ctr, &mut self.mac, &mut self.buf, fsize, |buf| {
            rlp::append_uint(buf, code);
            buf.extend_from_slice(payload);
        });
        Ok(payload.len())
    }

    /// Frames `content` as it is: no message code is added and nothing is
    /// compressed. Meant for tools and tests that need to send malformed
    /// messages; the frame is then available from [`frame`](FrameEgress::frame).
    pub fn encode_raw(&mut self, content: &[u8]) -> Result<()> {
        if content.len() > MAX_FRAME_SIZE {
            return Err(RlpxError::PlainMessageTooLarge);
        }
        Self::seal(
            &mut self.ctr,
            &mut self.mac,
            &mut self.buf,
            content.len(),
            |buf| buf.extend_from_slice(content),
        );
        Ok(())
    }

    /// Builds one frame in `buf`: header, header MAC, the `fsize` content
    /// bytes appended by `content`, padding, body MAC.
    fn seal(
        ctr: &mut AesCtr,
        mac: &mut HashMac<H>,
        buf: &mut Vec<u8>,
        fsize: usize,
        content: impl FnOnce(&mut Vec<u8>),
    ) {
        buf.clear();
        buf.reserve(32 + padded(fsize) + 16);

        let mut header = [0u8; 16];
        BigEndian::write_u24(&mut header[..3], fsize as u32);
        header[3..6].copy_from_slice(&HEADER_DATA);
        ctr.apply(&mut header);
        buf.extend_from_slice(&header);
        buf.extend_from_slice(&mac.header(&header));

        let body_start = buf.len();
        content(buf);
        debug_assert_eq!(buf.len() - body_start, fsize);
        buf.resize(body_start + padded(fsize), 0);
        ctr.apply(&mut buf[body_start..]);
        let body_mac = mac.frame(&buf[body_start..]);
        buf.extend_from_slice(&body_mac);
    }

    /// The frame built by the last successful [`encode`](FrameEgress::encode).
    pub fn frame(&self) -> &[u8] {
        &self.buf
    }

    /// Encodes one message and writes the frame to `w` with a single
    /// `write_all`. Returns the wire size of the payload.
    pub fn write_msg<W: Write + ?Sized>(
        &mut self,
        w: &mut W,
        code: u64,
        data: &[u8],
    ) -> Result<usize> {
        let wire_size = self.encode(code, data)?;
        w.write_all(&self.buf)?;
        Ok(wire_size)
    }
}

/// One received message. `data` borrows the reader's buffer and is valid
/// until the next read.
#[derive(Debug, PartialEq, Eq)]
pub struct Msg<'a> {
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
}

impl<H: MacHash> FrameIngress<H> {
    /// Creates the receiving half from the AES secret, the MAC secret (16, 24
    /// or 32 bytes each) and the initial ingress MAC state.
    pub fn new(aes_secret: &[u8], mac_secret: &[u8], ingress_mac: H) -> Result<Self> {
        Ok(FrameIngress {
            ctr: AesCtr::new(aes_secret)?,
            mac: HashMac::new(mac_secret, ingress_mac)?,
            buf: vec![0; INITIAL_READ_BUFFER],
            start: 0,
            end: 0,
            snappy: false,
            decoder: snap::raw::Decoder::new(),
            snappy_buf: Vec::new(),
        })
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
        self.end - self.start
    }

    /// Reads and decodes one message from `r`.
    ///
    /// Errors: [`RlpxError::BadHeaderMac`] / [`RlpxError::BadFrameMac`] for
    /// authentication failures, [`RlpxError::InvalidMessageCode`],
    /// [`RlpxError::Snappy`] and [`RlpxError::PlainMessageTooLarge`] (declared
    /// decompressed size above [`MAX_FRAME_SIZE`], checked before allocating),
    /// and I/O errors from `r` (end of stream is `UnexpectedEof`). A timeout
    /// that hits before the first byte of a frame leaves the reader usable;
    /// after any other error the stream is out of sync and must be dropped.
    pub fn read_msg<R: Read + ?Sized>(&mut self, r: &mut R) -> Result<Msg<'_>> {
        self.fill(r, 32)?;
        let h = self.start;
        let mut header = [0u8; 16];
        header.copy_from_slice(&self.buf[h..h + 16]);
        let want = self.mac.header(&header);
        if !ct_eq(&want, &self.buf[h + 16..h + 32]) {
            return Err(RlpxError::BadHeaderMac);
        }
        self.ctr.apply(&mut header);
        let fsize = BigEndian::read_u24(&header[..3]) as usize;
        let rsize = padded(fsize);

        self.fill(r, 32 + rsize + 16)?;
        let body_start = self.start + 32;
        let body_end = body_start + rsize;
        let want = self.mac.frame(&self.buf[body_start..body_end]);
        if !ct_eq(&want, &self.buf[body_end..body_end + 16]) {
            return Err(RlpxError::BadFrameMac);
        }
        self.ctr.apply(&mut self.buf[body_start..body_end]);
        self.start = body_end + 16;

        let content = &self.buf[body_start..body_start + fsize];
        let (code, data) = rlp::split_uint64(content).map_err(RlpxError::InvalidMessageCode)?;
        let wire_size = data.len();
        if !self.snappy {
            return Ok(Msg {
                code,
                data,
                wire_size,
            });
        }
        let decompressed = (|| {
            let len = snap::raw::decompress_len(data)?;
            if len > MAX_FRAME_SIZE {
                return Err(RlpxError::PlainMessageTooLarge);
            }
            if self.snappy_buf.len() < len {
                self.snappy_buf.resize(len, 0);
            }
            Ok(self.decoder.decompress(data, &mut self.snappy_buf[..len])?)
        })();
        match decompressed {
            Ok(n) => Ok(Msg {
                code,
                data: &self.snappy_buf[..n],
                wire_size,
            }),
            // Some clients (ethereumjs, older geth) send their Disconnect uncompressed even
            // when snappy is on. Its payload is a few bytes that are not valid snappy, so
            // after a failed decompression a short one is taken as it is; every other
            // message must decompress.
            Err(_) if code == DISCONNECT_CODE && data.len() <= MAX_RAW_DISCONNECT => Ok(Msg {
                code,
                data,
                wire_size,
            }),
            Err(e) => Err(e),
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
    /// `r` as needed (possibly more than `need`).
    fn fill<R: Read + ?Sized>(&mut self, r: &mut R, need: usize) -> Result<()> {
        if self.end - self.start >= need {
            return Ok(());
        }
        if self.buf.len() - self.start < need {
            self.compact();
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
        }
        while self.end - self.start < need {
            match r.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
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
    fn halves_are_send() {
        fn send<T: Send + 'static>() {}
        send::<FrameEgress>();
        send::<FrameIngress>();
        send::<crate::rlpx::ConnReader>();
        send::<crate::rlpx::ConnWriter>();
        send::<crate::rlpx::Conn>();
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
