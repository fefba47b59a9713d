//! Sub-protocols: capabilities, protocol descriptions and protocol matching.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use rlp::{Decodable, DecoderError, Encodable, Rlp, RlpStream};

use crate::strict_rlp::{self, field, DecodeError, Item, Items, Kind, RlpError};
use crate::{Error, NodeId, Peer, ProtoRw};

/// go-ethereum's name for a capability, as its decoding errors show it.
const CAP_TYPE: &str = "p2p.Cap";

/// A capability: a sub-protocol name and version, as listed in a Hello message.
///
/// Ordered by name (byte-wise), then by version, which is the order capabilities are
/// matched and message codes assigned in. Encodes as the RLP list `[name, version]`.
///
/// # Examples
///
/// ```
/// use devp2p_peer::Cap;
/// let mut caps = vec![Cap::new("snap", 1), Cap::new("eth", 69), Cap::new("eth", 68)];
/// caps.sort();
/// assert_eq!(caps[0].to_string(), "eth/68");
/// assert_eq!(rlp::encode(&Cap::new("eth", 68)).to_vec(), vec![0xc5, 0x83, b'e', b't', b'h', 0x44]);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Cap {
    /// The protocol's name, e.g. `eth`.
    pub name: String,
    /// The protocol's version, e.g. `68`.
    pub version: u32,
}

impl Cap {
    /// A capability.
    pub fn new(name: impl Into<String>, version: u32) -> Cap {
        Cap {
            name: name.into(),
            version,
        }
    }
}

impl Ord for Cap {
    fn cmp(&self, other: &Cap) -> Ordering {
        self.name
            .as_bytes()
            .cmp(other.name.as_bytes())
            .then(self.version.cmp(&other.version))
    }
}

impl PartialOrd for Cap {
    fn partial_cmp(&self, other: &Cap) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

impl Encodable for Cap {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2);
        s.append(&self.name.as_bytes());
        s.append(&self.version);
    }
}

impl Decodable for Cap {
    /// Decodes `[name, version]` with go-ethereum's rules (see [`Hello`](crate::Hello)):
    /// exactly two elements, the name a byte string, the version a canonical integer. A
    /// version above `u32::MAX` is an error here (a [`Hello`](crate::Hello) skips such a
    /// capability instead).
    fn decode(rlp: &Rlp<'_>) -> Result<Cap, DecoderError> {
        let (item, _) = strict_rlp::split_item(rlp.as_raw(), false)
            .map_err(|e| DecoderError::Custom(DecodeError::wrap(e, CAP_TYPE).message()))?;
        decode_cap(&item)
            .map_err(|e| DecoderError::Custom(e.message()))?
            .ok_or(DecoderError::Custom("capability version above u32::MAX"))
    }
}

/// Decodes a capability `[name, version]` as go-ethereum does, with its error texts.
/// `Ok(None)` for a well-formed capability whose version does not fit in a `u32`: it can
/// match no local protocol.
pub(crate) fn decode_cap(item: &Item<'_>) -> Result<Option<Cap>, DecodeError> {
    let wrap = |typ| move |e| DecodeError::wrap(e, typ);
    if item.kind != Kind::List {
        return Err(wrap(CAP_TYPE)(RlpError::ExpectedList));
    }
    let mut fields = Items::new(item.content);
    let name = field(&mut fields, CAP_TYPE, "string", ".Name")?;
    let name = strict_rlp::bytes(&name).map_err(|e| wrap("string")(e).context(".Name"))?;
    let version = field(&mut fields, CAP_TYPE, "uint", ".Version")?;
    let version =
        strict_rlp::uint(&version, 64).map_err(|e| wrap("uint")(e).context(".Version"))?;
    if !fields.at_end() {
        return Err(DecodeError::typed(
            "input list has too many elements",
            CAP_TYPE,
        ));
    }
    // Names are read as bytes: a peer's odd bytes must not fail its whole Hello.
    let name = String::from_utf8_lossy(name).into_owned();
    Ok(u32::try_from(version)
        .ok()
        .map(|version| Cap { name, version }))
}

/// The function that runs a protocol on a peer (see [`Protocol::run`]).
pub type RunFn = dyn Fn(Peer, ProtoRw) -> Result<(), Error> + Send + Sync;
/// Reports a protocol's metadata about the local node (see [`Protocol::node_info`]).
pub type NodeInfoFn = dyn Fn() -> String + Send + Sync;
/// Reports a protocol's metadata about a peer (see [`Protocol::peer_info`]).
pub type PeerInfoFn = dyn Fn(&NodeId) -> Option<String> + Send + Sync;

/// A sub-protocol that runs on peers: its name, version, message-code range and the function
/// that speaks it.
///
/// # The `run` function
///
/// Once a peer negotiated the protocol, [`Peer::run`] calls `run` on a thread of its own
/// (named `proto-<name>/<version>`) with the peer and the protocol's reader/writer. `run`
/// reads and writes messages with codes relative to the protocol (`0..length`) and must
/// consume or drop each message it reads. When `run` returns, the whole connection is torn
/// down: `Ok(())` disconnects with "client quitting", a [`DiscReason`](crate::DiscReason)
/// error with that reason, an invalid-message error with "breach of protocol", anything else
/// with "subprotocol error". A panic in `run` is caught and counts as a subprotocol error;
/// the process goes on.
///
/// When the peer shuts down for any reason, reads return [`Error::Eof`] and writes
/// [`Error::ShuttingDown`]; `run` must then return. **`Peer::run` waits for every protocol's
/// `run` to return**, so a protocol that ignores these errors and never returns keeps the
/// peer (and the thread that called `Peer::run`) alive forever.
///
/// Delivery to a protocol is a rendezvous: the connection's reader waits until `run` reads
/// the message. A protocol that stops reading holds back the whole connection (pings
/// included); that is the back-pressure devp2p peers rely on. Spawn work off the protocol
/// thread if it must go on reading meanwhile.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{Protocol, MsgReader, MsgWriter};
///
/// // An echo protocol with 8 message codes: every message goes back with its code.
/// let echo = Protocol::new("echo", 1, 8, |_peer, rw| loop {
///     let mut msg = rw.read_msg()?;
///     let data = msg.payload.consume().to_vec();
///     rw.write_msg(devp2p_peer::Msg::new(msg.code, data))?;
/// });
/// assert_eq!(echo.cap().to_string(), "echo/1");
/// ```
#[derive(Clone)]
pub struct Protocol {
    /// The official name, often three letters (at most 8 ASCII characters by the spec).
    pub name: String,
    /// The version.
    pub version: u32,
    /// How many message codes the protocol uses.
    pub length: u64,
    /// Speaks the protocol on one peer; see the type's docs.
    pub run: Arc<RunFn>,
    /// Optional: metadata about the local node (reported by a server's node info).
    pub node_info: Option<Arc<NodeInfoFn>>,
    /// Optional: metadata about a peer, for [`Peer::info`]; `None` means the protocol's own
    /// handshake is still running.
    pub peer_info: Option<Arc<PeerInfoFn>>,
}

impl Protocol {
    /// A protocol with no info callbacks.
    pub fn new<F>(name: impl Into<String>, version: u32, length: u64, run: F) -> Protocol
    where
        F: Fn(Peer, ProtoRw) -> Result<(), Error> + Send + Sync + 'static,
    {
        Protocol {
            name: name.into(),
            version,
            length,
            run: Arc::new(run),
            node_info: None,
            peer_info: None,
        }
    }

    /// Sets the node-info callback.
    pub fn with_node_info(mut self, f: impl Fn() -> String + Send + Sync + 'static) -> Protocol {
        self.node_info = Some(Arc::new(f));
        self
    }

    /// Sets the peer-info callback.
    pub fn with_peer_info(
        mut self,
        f: impl Fn(&NodeId) -> Option<String> + Send + Sync + 'static,
    ) -> Protocol {
        self.peer_info = Some(Arc::new(f));
        self
    }

    /// The protocol's capability, `name/version`.
    pub fn cap(&self) -> Cap {
        Cap::new(self.name.clone(), self.version)
    }
}

impl fmt::Debug for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Protocol")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// A protocol both sides support, with the first absolute message code of its range.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{match_protocols, Cap, Protocol};
/// let ours = [Protocol::new("eth", 68, 17, |_, _| Ok(()))];
/// let matched = match_protocols(&ours, &[Cap::new("eth", 68), Cap::new("snap", 1)]);
/// assert_eq!(matched.len(), 1);
/// assert_eq!(matched[0].protocol.cap(), Cap::new("eth", 68));
/// assert_eq!(matched[0].offset, 16);
/// ```
#[derive(Clone, Debug)]
pub struct MatchedProtocol {
    /// The local protocol.
    pub protocol: Protocol,
    /// Its first message code on this connection (16 or more).
    pub offset: u64,
}

/// The first message code available to sub-protocols; codes below are the base protocol's.
pub const BASE_PROTOCOL_LENGTH: u64 = 16;

/// The protocols to run with a peer that advertised `caps`.
///
/// For every name both sides know, the highest version both support wins. Matched protocols
/// come sorted by name and get consecutive code ranges from 16, each `length` wide.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{match_protocols, Cap, Protocol};
/// let noop = |_, _| Ok(());
/// let local = [Protocol::new("snap", 1, 8, noop), Protocol::new("eth", 68, 17, noop),
///              Protocol::new("eth", 69, 18, noop)];
/// let remote = [Cap::new("eth", 68), Cap::new("eth", 69), Cap::new("snap", 1), Cap::new("les", 4)];
/// let m = match_protocols(&local, &remote);
/// assert_eq!(m.len(), 2);
/// assert_eq!((m[0].protocol.cap().to_string(), m[0].offset), ("eth/69".into(), 16));
/// assert_eq!((m[1].protocol.cap().to_string(), m[1].offset), ("snap/1".into(), 34));
/// ```
pub fn match_protocols(protocols: &[Protocol], caps: &[Cap]) -> Vec<MatchedProtocol> {
    let mut sorted: Vec<&Cap> = caps.iter().collect();
    sorted.sort();
    let mut result: Vec<MatchedProtocol> = Vec::new();
    let mut offset = BASE_PROTOCOL_LENGTH;
    for cap in sorted {
        let Some(proto) = protocols
            .iter()
            .find(|p| p.name == cap.name && p.version == cap.version)
        else {
            continue;
        };
        // Caps are sorted, so an older match of the same name is the last entry: give its
        // codes back before the newer version takes its place.
        if result.last().is_some_and(|m| m.protocol.name == proto.name) {
            if let Some(old) = result.pop() {
                offset = old.offset;
            }
        }
        result.push(MatchedProtocol {
            protocol: proto.clone(),
            offset,
        });
        offset = offset.saturating_add(proto.length);
    }
    result
}

/// How many of `caps` a local protocol supports exactly (same name and version).
/// A server drops a peer with none as useless.
pub fn count_matching_protocols(protocols: &[Protocol], caps: &[Cap]) -> usize {
    caps.iter()
        .map(|c| {
            protocols
                .iter()
                .filter(|p| p.name == c.name && p.version == c.version)
                .count()
        })
        .sum()
}
