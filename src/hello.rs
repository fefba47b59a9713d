//! The protocol handshake: the Hello message both sides send first, read as go-ethereum
//! reads it.

use rlp::{Decodable, DecoderError, Encodable, Rlp, RlpStream};

use crate::protocol::decode_cap;
use crate::strict_rlp::{self, field, DecodeError, Items, Kind};
use crate::transport::{
    BASE_PROTOCOL_MAX_MSG_SIZE, BASE_PROTOCOL_VERSION, DISC_MSG, HANDSHAKE_MSG,
};
use crate::{Cap, DiscReason, Error, Msg, MsgReadWriter, MsgReader};

/// go-ethereum's name for the Hello, as its decoding errors show it.
const HELLO_TYPE: &str = "p2p.protoHandshake";

/// The Hello message (code 0) both sides send first: the base protocol version, the client's
/// name, its capabilities and its node key.
///
/// Decoding follows go-ethereum exactly. It is liberal where EIP-8 asks: any version is
/// accepted, and list elements after the node key are kept in `rest` rather than rejected.
/// It is strict on the RLP itself: the name and each capability's name must be byte
/// strings (not lists), integers canonical (no leading zeros) and at most 64 bits, each
/// capability exactly `[name, version]`. A name's bytes that are not UTF-8 are replaced
/// (U+FFFD), as a peer's odd name must not fail its Hello.
///
/// A capability version is a 64-bit integer on the wire, as in go-ethereum; a [`Cap`]'s
/// version is 32 bits, like every local [`Protocol`](crate::Protocol)'s. A capability whose
/// version does not fit can never match a local protocol, so it is left out of `caps`
/// rather than failing the Hello.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{Cap, Hello};
/// let hello = Hello::new("my-client/v1", vec![Cap::new("eth", 68)], [7; 64]);
/// let bytes = rlp::encode(&hello);
/// let back: Hello = rlp::decode(&bytes).unwrap();
/// assert_eq!(back, hello);
/// assert_eq!(back.version, 5);
///
/// // A name that is a list rather than a byte string fails the Hello, as in go-ethereum.
/// let mut s = rlp::RlpStream::new_list(5);
/// s.append(&5u64).begin_list(0);
/// s.begin_list(0).append(&0u64).append(&vec![7u8; 64]);
/// assert!(rlp::decode::<Hello>(&s.out()).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The base protocol version (5 today; 5 or more means "compress with snappy").
    pub version: u64,
    /// The client's name, e.g. `Geth/v1.14.0-stable/linux-amd64/go1.22`.
    pub name: String,
    /// The capabilities (sub-protocols) offered.
    pub caps: Vec<Cap>,
    /// Legacy listening port; sent as 0, ignored.
    pub listen_port: u64,
    /// The sender's 64-byte secp256k1 public key (X ‖ Y).
    pub id: Vec<u8>,
    /// Raw RLP of any further list elements (forward compatibility).
    pub rest: Vec<Vec<u8>>,
}

impl Hello {
    /// Our Hello: version 5, caps sorted, listen port 0.
    pub fn new(name: impl Into<String>, mut caps: Vec<Cap>, id: [u8; 64]) -> Hello {
        caps.sort();
        Hello {
            version: BASE_PROTOCOL_VERSION,
            name: name.into(),
            caps,
            listen_port: 0,
            id: id.to_vec(),
            rest: Vec::new(),
        }
    }
}

impl Encodable for Hello {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(5 + self.rest.len());
        s.append(&self.version);
        s.append(&self.name.as_bytes());
        s.append_list(&self.caps);
        s.append(&self.listen_port);
        s.append(&self.id);
        for raw in &self.rest {
            s.append_raw(raw, 1);
        }
    }
}

impl Hello {
    /// Decodes a Hello payload with go-ethereum's rules; the error displays as
    /// go-ethereum's does (`rlp: expected input string or byte for string, decoding into
    /// (p2p.protoHandshake).Name`). Bytes after the Hello's list are ignored.
    pub(crate) fn decode_payload(payload: &[u8]) -> Result<Hello, DecodeError> {
        decode_hello(payload).map_err(|e| e.top(HELLO_TYPE))
    }
}

fn decode_hello(payload: &[u8]) -> Result<Hello, DecodeError> {
    if payload.is_empty() {
        return Err(DecodeError::Eof);
    }
    let wrap = |typ| move |e| DecodeError::wrap(e, typ);
    let (hello, _) = strict_rlp::split_item(payload, false).map_err(wrap(HELLO_TYPE))?;
    if hello.kind != Kind::List {
        return Err(wrap(HELLO_TYPE)(strict_rlp::RlpError::ExpectedList));
    }
    let mut fields = Items::new(hello.content);

    let item = field(&mut fields, HELLO_TYPE, "uint64", ".Version")?;
    let version = strict_rlp::uint(&item, 64).map_err(|e| wrap("uint64")(e).context(".Version"))?;

    let item = field(&mut fields, HELLO_TYPE, "string", ".Name")?;
    let name = strict_rlp::bytes(&item).map_err(|e| wrap("string")(e).context(".Name"))?;
    let name = String::from_utf8_lossy(name).into_owned();

    let item = field(&mut fields, HELLO_TYPE, "[]p2p.Cap", ".Caps")?;
    if item.kind != Kind::List {
        return Err(wrap("[]p2p.Cap")(strict_rlp::RlpError::ExpectedList).context(".Caps"));
    }
    let mut caps = Vec::new();
    let mut list = Items::new(item.content);
    for i in 0.. {
        let in_caps = |e: DecodeError| e.context(format!("[{i}]")).context(".Caps");
        let item = match list.next_item() {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(e) => return Err(in_caps(wrap("p2p.Cap")(e))),
        };
        caps.extend(decode_cap(&item).map_err(in_caps)?);
    }

    let item = field(&mut fields, HELLO_TYPE, "uint64", ".ListenPort")?;
    let listen_port =
        strict_rlp::uint(&item, 64).map_err(|e| wrap("uint64")(e).context(".ListenPort"))?;

    let item = field(&mut fields, HELLO_TYPE, "[]uint8", ".ID")?;
    let id = strict_rlp::bytes(&item)
        .map_err(|e| wrap("[]uint8")(e).context(".ID"))?
        .to_vec();

    // Forward compatibility: any further elements are kept as they are.
    let mut rest = Vec::new();
    while let Some(item) = fields.next_item().map_err(DecodeError::Plain)? {
        rest.push(item.raw.to_vec());
    }
    Ok(Hello {
        version,
        name,
        caps,
        listen_port,
        id,
        rest,
    })
}

impl Decodable for Hello {
    /// Decodes with go-ethereum's rules, as [`read_protocol_handshake`] does; the error is
    /// [`DecoderError::Custom`] with go-ethereum's message.
    fn decode(rlp: &Rlp<'_>) -> Result<Hello, DecoderError> {
        Hello::decode_payload(rlp.as_raw()).map_err(|e| DecoderError::Custom(e.message()))
    }
}

/// Reads the remote's Hello from `r`, checking, in order: the size (at most 2 KiB, else
/// [`Error::MessageTooBig`]), a Disconnect instead (its reason becomes the error), the code
/// ([`Error::ExpectedHandshake`]), the RLP ([`Error::InvalidMsg`], with go-ethereum's text,
/// e.g. `invalid message: (code 0) (size 9) rlp: expected input string or byte for string,
/// decoding into (p2p.protoHandshake).Name`) and the node key (64 bytes, not all zero, else
/// [`DiscReason::INVALID_IDENTITY`]).
///
/// # Examples
///
/// ```
/// use devp2p_peer::{msg_pipe, read_protocol_handshake, DiscReason, Msg, MsgWriter};
/// let (a, b) = msg_pipe();
/// std::thread::spawn(move || a.write_msg(Msg::new(1, DiscReason::TOO_MANY_PEERS.encode())));
/// let err = read_protocol_handshake(&b).unwrap_err();
/// assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
/// ```
pub fn read_protocol_handshake<R: MsgReader + ?Sized>(r: &R) -> Result<Hello, Error> {
    let mut msg = r.read_msg()?;
    if msg.size > BASE_PROTOCOL_MAX_MSG_SIZE {
        return Err(Error::MessageTooBig);
    }
    if msg.code == DISC_MSG {
        return Err(Error::Disconnected(DiscReason::decode(
            msg.payload.consume(),
        )));
    }
    if msg.code != HANDSHAKE_MSG {
        return Err(Error::ExpectedHandshake(msg.code));
    }
    let (code, size) = (msg.code, msg.size);
    let hello = Hello::decode_payload(msg.payload.consume())
        .map_err(|e| Error::invalid_msg(format!("(code {code:x}) (size {size}) {e}")))?;
    if hello.id.len() != 64 || hello.id.iter().all(|b| *b == 0) {
        return Err(DiscReason::INVALID_IDENTITY.into());
    }
    Ok(hello)
}

/// Exchanges Hellos over `rw`: writes `ours` on a second thread **while** reading theirs, so
/// that it works over synchronous transports too (a write-then-read would deadlock on a
/// [`MsgPipeRw`](crate::MsgPipeRw)). A read error wins over a write error, so a remote's
/// Disconnect reason is what the caller sees.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{do_protocol_handshake, msg_pipe, Cap, Hello};
/// let (a, b) = msg_pipe();
/// let ha = Hello::new("a", vec![Cap::new("eth", 68)], [1; 64]);
/// let hb = Hello::new("b", vec![Cap::new("snap", 1)], [2; 64]);
/// let (ha2, hb2) = (ha.clone(), hb.clone());
/// let t = std::thread::spawn(move || do_protocol_handshake(&a, &ha2));
/// assert_eq!(do_protocol_handshake(&b, &hb2).unwrap(), ha);
/// assert_eq!(t.join().unwrap().unwrap(), hb);
/// ```
pub fn do_protocol_handshake<T: MsgReadWriter + ?Sized>(
    rw: &T,
    ours: &Hello,
) -> Result<Hello, Error> {
    let payload = rlp::encode(ours).to_vec();
    std::thread::scope(|s| {
        let writer = std::thread::Builder::new()
            .name("hello-write".into())
            .spawn_scoped(s, || rw.write_msg(Msg::new(HANDSHAKE_MSG, payload)))
            .map_err(Error::from)?;
        let theirs = read_protocol_handshake(rw);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(Error::other("hello writer panicked")));
        let theirs = theirs?;
        written.map_err(|e| Error::other(format!("write error: {e}")))?;
        Ok(theirs)
    })
}
