//! Messages, their payloads, and the reader/writer traits protocols use.

use std::fmt;
use std::io::{self, Read};
use std::time::Instant;

use crossbeam_channel::Sender;
use rlp::{Decodable, Encodable, RlpStream};

use crate::strict_rlp::{self, RlpError};
use crate::util::hex;
use crate::Error;

/// A message's payload: the RLP bytes after the message code, read once.
///
/// It implements [`Read`]; [`Payload::consume`] hands out the unread rest without copying.
/// A payload that came through a [`MsgPipeRw`](crate::MsgPipeRw) tells the writer when it
/// has been read to the end or dropped, which is when the pipe's `write_msg` returns.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use devp2p_peer::Payload;
/// let mut p = Payload::new(vec![0x82, 0x68, 0x69]); // RLP of "hi"
/// let mut first = [0u8; 1];
/// p.read_exact(&mut first).unwrap();
/// assert_eq!(p.remaining(), &[0x68, 0x69]);
/// assert_eq!(p.into_vec(), vec![0x68, 0x69]); // the unread rest
/// ```
pub struct Payload {
    data: Vec<u8>,
    pos: usize,
    consumed: Option<Sender<()>>,
}

impl Payload {
    /// A payload over `data`.
    pub fn new(data: Vec<u8>) -> Payload {
        Payload {
            data,
            pos: 0,
            consumed: None,
        }
    }

    /// The bytes not read yet, without reading them.
    pub fn remaining(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    /// Reads the rest of the payload at once and returns it.
    pub fn consume(&mut self) -> &[u8] {
        let start = self.pos;
        self.pos = self.data.len();
        self.signal();
        &self.data[start..]
    }

    /// Reads the rest of the payload into an owned vector (no copy when nothing was read yet).
    pub fn into_vec(mut self) -> Vec<u8> {
        self.signal();
        let mut data = std::mem::take(&mut self.data);
        if self.pos > 0 {
            data.drain(..self.pos);
        }
        data
    }

    /// Takes the whole vector, read or not, leaving an empty payload: for a transport
    /// that reuses the vectors of messages it has written.
    #[cfg(feature = "rlpx")]
    pub(crate) fn take_buffer(&mut self) -> Vec<u8> {
        self.signal();
        self.pos = 0;
        std::mem::take(&mut self.data)
    }

    pub(crate) fn set_consumed_signal(&mut self, tx: Sender<()>) {
        self.consumed = Some(tx);
    }

    fn signal(&mut self) {
        if let Some(tx) = self.consumed.take() {
            let _ = tx.try_send(());
        }
    }
}

impl Read for Payload {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.data[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        if self.pos == self.data.len() {
            self.signal();
        }
        Ok(n)
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        // A dropped payload is done with: never leave a pipe writer waiting for it.
        self.signal();
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Payload({} of {} bytes unread)",
            self.data.len() - self.pos,
            self.data.len()
        )
    }
}

/// A devp2p message: a code and an RLP payload.
///
/// Codes are absolute on the transport (Hello 0, Disconnect 1, Ping 2, Pong 3, sub-protocols
/// from 16) and relative to the protocol inside a protocol's [`ProtoRw`](crate::ProtoRw).
///
/// # Examples
///
/// ```
/// use devp2p_peer::Msg;
/// let mut msg = Msg::new(3, rlp::encode_list::<u64, u64>(&[1, 2]).to_vec());
/// assert_eq!(msg.to_string(), "msg #3 (3 bytes)");
/// let items: Vec<u64> = msg.decode_list().unwrap();
/// assert_eq!(items, vec![1, 2]);
/// ```
#[derive(Debug)]
pub struct Msg {
    /// The message code.
    pub code: u64,
    /// The payload's size in bytes (uncompressed).
    pub size: u32,
    /// The payload.
    pub payload: Payload,
    /// When the message was read from the network (its creation time for local messages).
    pub received_at: Instant,
}

impl Msg {
    /// A message with the given code and payload bytes (which should be RLP).
    ///
    /// A payload longer than `u32::MAX` bytes cannot be sent; its `size` saturates and every
    /// transport rejects it (RLPx's limit is 16 MiB).
    pub fn new(code: u64, data: Vec<u8>) -> Msg {
        Msg {
            code,
            size: u32::try_from(data.len()).unwrap_or(u32::MAX),
            payload: Payload::new(data),
            received_at: Instant::now(),
        }
    }

    /// Decodes the payload's first RLP value as `T`, consuming the payload. Bytes after the
    /// first value are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMsg`] with the text `invalid message: (code C) (size S) <rlp error>`.
    pub fn decode<T: Decodable>(&mut self) -> Result<T, Error> {
        let (code, size) = (self.code, self.size);
        let bytes = self.payload.consume();
        decode_first(bytes)
            .map_err(|e| Error::invalid_msg(format!("(code {code:x}) (size {size}) {e}")))
    }

    /// Decodes the payload's first RLP value as a list of `T`, consuming the payload.
    ///
    /// # Errors
    ///
    /// As [`Msg::decode`].
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::Msg;
    /// let mut msg = Msg::new(16, vec![0xc8, 0x83, b'f', b'o', b'o', 0x83, b'b', b'a', b'r']);
    /// assert_eq!(msg.decode_list::<String>().unwrap(), vec!["foo", "bar"]);
    /// ```
    pub fn decode_list<T: Decodable>(&mut self) -> Result<Vec<T>, Error> {
        let (code, size) = (self.code, self.size);
        let bytes = self.payload.consume();
        first_item(bytes)
            .and_then(|item| Ok(rlp::Rlp::new(item).as_list()?))
            .map_err(|e| Error::invalid_msg(format!("(code {code:x}) (size {size}) {e}")))
    }

    /// Reads and drops the rest of the payload.
    pub fn discard(&mut self) -> Result<(), Error> {
        self.payload.consume();
        Ok(())
    }

    /// When the message was received.
    pub fn time(&self) -> Instant {
        self.received_at
    }
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "msg #{} ({} bytes)", self.code, self.size)
    }
}

/// Decodes the first RLP value of `bytes`, ignoring what follows it.
pub(crate) fn decode_first<T: Decodable>(bytes: &[u8]) -> Result<T, DecodeFailure> {
    Ok(rlp::decode(first_item(bytes)?)?)
}

/// The bytes of the first RLP value of `bytes`, its structure checked first: the `rlp`
/// crate trusts the sizes in nested headers, and a size near 2^64 overflows its arithmetic.
fn first_item(bytes: &[u8]) -> Result<&[u8], DecodeFailure> {
    Ok(strict_rlp::split_checked(bytes)?.0)
}

/// Why a payload did not decode: its structure (with go-ethereum's text) or the `rlp`
/// crate's decoding of a well-formed value.
#[derive(Debug)]
pub(crate) enum DecodeFailure {
    Structure(RlpError),
    Value(rlp::DecoderError),
}

impl From<RlpError> for DecodeFailure {
    fn from(e: RlpError) -> Self {
        DecodeFailure::Structure(e)
    }
}

impl From<rlp::DecoderError> for DecodeFailure {
    fn from(e: rlp::DecoderError) -> Self {
        DecodeFailure::Value(e)
    }
}

impl fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeFailure::Structure(e) => fmt::Display::fmt(e, f),
            DecodeFailure::Value(e) => write!(f, "rlp: {e}"),
        }
    }
}

/// Reads messages. Implementations allow calls from several threads at once.
///
/// # Examples
///
/// A protocol's [`ProtoRw`](crate::ProtoRw) is one; so is either end of a pipe:
///
/// ```
/// use devp2p_peer::{msg_pipe, send, MsgReader};
/// let (a, b) = msg_pipe();
/// let t = std::thread::spawn(move || send(&a, 5, &7u64));
/// let mut msg = b.read_msg().unwrap();
/// assert_eq!((msg.code, msg.decode::<u64>().unwrap()), (5, 7));
/// t.join().unwrap().unwrap();
/// ```
pub trait MsgReader: Send + Sync {
    /// Blocks until a message arrives, or fails when the stream ends.
    fn read_msg(&self) -> Result<Msg, Error>;
}

/// Writes messages. Implementations allow calls from several threads at once.
///
/// # Examples
///
/// A writer that only counts (say, to test code that writes):
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use devp2p_peer::{send, Error, Msg, MsgWriter};
/// #[derive(Default)]
/// struct Count(AtomicUsize);
/// impl MsgWriter for Count {
///     fn write_msg(&self, _msg: Msg) -> Result<(), Error> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// let w = Count::default();
/// send(&w, 0, &"x").unwrap();
/// assert_eq!(w.0.load(Ordering::Relaxed), 1);
/// ```
pub trait MsgWriter: Send + Sync {
    /// Writes `msg`, blocking until its payload has been taken (by the transport or, for a
    /// pipe, by the reader on the other end).
    fn write_msg(&self, msg: Msg) -> Result<(), Error>;
}

/// Both [`MsgReader`] and [`MsgWriter`]; implemented for every type that is both.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{msg_pipe, Msg, MsgReadWriter};
/// fn hello(rw: &dyn MsgReadWriter) {
///     rw.write_msg(Msg::new(0x10, vec![0x80])).unwrap();
/// }
/// let (a, b) = msg_pipe();
/// let t = std::thread::spawn(move || hello(&a));
/// let mut msg = devp2p_peer::MsgReader::read_msg(&b).unwrap();
/// assert_eq!(msg.code, 0x10);
/// msg.discard().unwrap(); // the write returns once its payload is taken
/// t.join().unwrap();
/// ```
pub trait MsgReadWriter: MsgReader + MsgWriter {}

impl<T: MsgReader + MsgWriter + ?Sized> MsgReadWriter for T {}

impl<T: MsgReader + ?Sized> MsgReader for std::sync::Arc<T> {
    fn read_msg(&self) -> Result<Msg, Error> {
        (**self).read_msg()
    }
}

impl<T: MsgWriter + ?Sized> MsgWriter for std::sync::Arc<T> {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        (**self).write_msg(msg)
    }
}

/// Encodes `data` as RLP and writes it with the given code. `data` should encode as a list.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{msg_pipe, send, MsgReader};
/// let (a, b) = msg_pipe();
/// let t = std::thread::spawn(move || send(&a, 16, &"hello"));
/// let mut msg = b.read_msg().unwrap();
/// assert_eq!((msg.code, msg.decode::<String>().unwrap()), (16, "hello".to_string()));
/// t.join().unwrap().unwrap();
/// ```
pub fn send<W, T>(w: &W, code: u64, data: &T) -> Result<(), Error>
where
    W: MsgWriter + ?Sized,
    T: Encodable + ?Sized,
{
    w.write_msg(Msg::new(code, data.rlp_bytes().to_vec()))
}

/// Writes a message whose payload is the RLP list of `items` (the empty list `c0` when there
/// are none, as in Ping and Pong).
///
/// # Examples
///
/// ```
/// use devp2p_peer::{msg_pipe, send_items, MsgReader};
/// let (a, b) = msg_pipe();
/// let t = std::thread::spawn(move || send_items(&a, 17, &[&"foo", &"bar"]));
/// let mut msg = b.read_msg().unwrap();
/// assert_eq!(msg.decode_list::<String>().unwrap(), vec!["foo", "bar"]);
/// t.join().unwrap().unwrap();
/// ```
pub fn send_items<W>(w: &W, code: u64, items: &[&dyn Encodable]) -> Result<(), Error>
where
    W: MsgWriter + ?Sized,
{
    w.write_msg(Msg::new(code, encode_items(items)))
}

pub(crate) fn encode_items(items: &[&dyn Encodable]) -> Vec<u8> {
    RlpList(items).rlp_bytes().to_vec()
}

/// An RLP list of values of any encodable types, e.g. for [`send`] or [`expect_msg`].
///
/// # Examples
///
/// ```
/// use devp2p_peer::RlpList;
/// let list = RlpList(&[&"foo", &7u64]);
/// assert_eq!(rlp::encode(&list).to_vec(), vec![0xc5, 0x83, b'f', b'o', b'o', 0x07]);
/// ```
pub struct RlpList<'a>(pub &'a [&'a dyn Encodable]);

impl Encodable for RlpList<'_> {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(self.0.len());
        for item in self.0 {
            s.append_raw(&item.rlp_bytes(), 1);
        }
    }
}

/// Reads one message and checks its code and, when `content` is given, its payload against
/// the RLP encoding of `content`. A test helper.
///
/// # Errors
///
/// [`Error::Mismatch`] with `message code mismatch: got G, expected E`,
/// `message size mismatch: got G, want W` or `message payload mismatch:\ngot:  <hex>\nwant: <hex>`;
/// or the reader's error.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{expect_msg, msg_pipe, send_items, RlpList};
/// let (a, b) = msg_pipe();
/// let t = std::thread::spawn(move || send_items(&a, 1, &[&"hi", &2u8]));
/// expect_msg(&b, 1, Some(&RlpList(&[&"hi", &2u8]))).unwrap();
/// t.join().unwrap().unwrap();
/// ```
pub fn expect_msg<R>(r: &R, code: u64, content: Option<&dyn Encodable>) -> Result<(), Error>
where
    R: MsgReader + ?Sized,
{
    let mut msg = r.read_msg()?;
    if msg.code != code {
        return Err(Error::Mismatch(format!(
            "message code mismatch: got {}, expected {}",
            msg.code, code
        )));
    }
    let Some(content) = content else {
        return msg.discard();
    };
    let want = content.rlp_bytes();
    if want.len() != msg.size as usize {
        return Err(Error::Mismatch(format!(
            "message size mismatch: got {}, want {}",
            msg.size,
            want.len()
        )));
    }
    let got = msg.payload.consume();
    if got != &want[..] {
        return Err(Error::Mismatch(format!(
            "message payload mismatch:\ngot:  {}\nwant: {}",
            hex(got),
            hex(&want)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::bounded;

    // go-ethereum's TestEOFSignal, on a payload that knows its own length.
    #[test]
    fn eof_signal() {
        let mut buf = [0u8; 10];

        // An empty payload signals on the first read.
        let (tx, rx) = bounded(1);
        let mut p = Payload::new(Vec::new());
        p.set_consumed_signal(tx);
        assert_eq!(p.read(&mut buf).unwrap(), 0);
        assert!(rx.try_recv().is_ok());

        // Reading all 4 bytes in one go signals.
        let (tx, rx) = bounded(1);
        let mut p = Payload::new(b"aaaa".to_vec());
        p.set_consumed_signal(tx);
        assert_eq!(p.read(&mut buf).unwrap(), 4);
        assert!(rx.try_recv().is_ok());
        assert_eq!(p.read(&mut buf).unwrap(), 0);
        assert!(rx.try_recv().is_err(), "signals once only");

        // A partial read does not.
        let (tx, rx) = bounded(1);
        let mut p = Payload::new(vec![b'a'; 21]);
        p.set_consumed_signal(tx);
        assert_eq!(p.read(&mut buf).unwrap(), 10);
        assert!(rx.try_recv().is_err());
        // ... and dropping the rest does.
        drop(p);
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn decode_ignores_trailing_bytes() {
        let mut msg = Msg::new(1, vec![0xc2, 0x01, 0x02, 0xff, 0xff]);
        assert_eq!(msg.decode_list::<u64>().unwrap(), vec![1, 2]);
    }

    #[test]
    fn decode_error_text() {
        let mut msg = Msg::new(0x1a, vec![0xc5, 0x01]);
        let err = msg.decode_list::<u8>().unwrap_err().to_string();
        assert!(
            err.starts_with("invalid message: (code 1a) (size 2) rlp: "),
            "{err}"
        );
    }
}
