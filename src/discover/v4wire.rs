//! The discovery v4 packet codec, without sockets.
//!
//! A packet is `hash ‖ signature ‖ type ‖ data`: `data` is the RLP list of the packet's
//! fields, `signature` is the 65-byte recoverable secp256k1 signature of
//! `keccak256(type ‖ data)` by the sender's node key (so the receiver learns the sender's
//! key by recovering it), and `hash` is `keccak256(signature ‖ type ‖ data)`, which replies
//! quote to match their request. Packets are at most [`MAX_PACKET_SIZE`] bytes.
//!
//! Decoding follows EIP-8: list elements after the known fields, and bytes after the list,
//! are ignored, so newer versions can add fields.
//!
//! ```
//! use devp2p_peer::discover::v4wire::{decode, encode, Endpoint, Packet, Ping};
//! use devp2p_peer::rlpx::SecretKey;
//!
//! let key = SecretKey::random();
//! let ping = Packet::Ping(Ping {
//!     version: 4,
//!     from: Endpoint::new("127.0.0.1:30303".parse().unwrap(), 30303),
//!     to: Endpoint::new("127.0.0.1:30304".parse().unwrap(), 0),
//!     expiration: 2_000_000_000,
//!     enr_seq: Some(1),
//!     rest: vec![],
//! });
//! let (bytes, hash) = encode(&key, &ping);
//! let (decoded, sender, got_hash) = decode(&bytes).unwrap();
//! assert_eq!(decoded, ping);
//! assert_eq!(sender, key.public_key());
//! assert_eq!(got_hash, hash);
//!
//! let mut bad = bytes.clone();
//! bad[0] ^= 1;
//! assert_eq!(decode(&bad).unwrap_err().to_string(), "bad hash");
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::enr::{EnrError, Record};
use crate::rlpx::{keccak256, PublicKey, RlpError, SecretKey};
use crate::strict_rlp::{self as rlp, Kind};

/// The largest discovery packet, in bytes.
pub const MAX_PACKET_SIZE: usize = 1280;

/// The most nodes in one Neighbors packet: twelve IPv6 nodes with the largest ports fit in
/// [`MAX_PACKET_SIZE`].
pub const MAX_NEIGHBORS: usize = 12;

const MAC_SIZE: usize = 32;
const SIG_SIZE: usize = 65;
const HEAD_SIZE: usize = MAC_SIZE + SIG_SIZE;

/// Packet type of Ping.
pub const PING: u8 = 1;
/// Packet type of Pong.
pub const PONG: u8 = 2;
/// Packet type of FindNode.
pub const FIND_NODE: u8 = 3;
/// Packet type of Neighbors.
pub const NEIGHBORS: u8 = 4;
/// Packet type of ENRRequest (EIP-868).
pub const ENR_REQUEST: u8 = 5;
/// Packet type of ENRResponse (EIP-868).
pub const ENR_RESPONSE: u8 = 6;

/// Why a packet was rejected. [`Display`](fmt::Display) prints go-ethereum's texts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketError {
    /// Shorter than hash, signature and type.
    TooSmall,
    /// Longer than [`MAX_PACKET_SIZE`].
    TooBig,
    /// The hash does not match the rest of the packet.
    BadHash,
    /// No public key can be recovered from the signature; the text says why.
    BadSignature(&'static str),
    /// A packet type this implementation does not know.
    UnknownType(u8),
    /// The packet data is not valid RLP for its type.
    Rlp(RlpError),
    /// A field has the wrong size; the text says which.
    BadField(&'static str),
    /// The record in an ENRResponse is malformed.
    Record(EnrError),
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::TooSmall => f.write_str("too small"),
            PacketError::TooBig => write!(f, "packet bigger than {MAX_PACKET_SIZE} bytes"),
            PacketError::BadHash => f.write_str("bad hash"),
            PacketError::BadSignature(why) => f.write_str(why),
            PacketError::UnknownType(t) => write!(f, "unknown type: {t}"),
            PacketError::Rlp(e) => write!(f, "{e}"),
            PacketError::BadField(why) => f.write_str(why),
            PacketError::Record(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PacketError {}

impl From<RlpError> for PacketError {
    fn from(e: RlpError) -> Self {
        PacketError::Rlp(e)
    }
}

/// A UDP/TCP endpoint as packets carry it: `[ip, udp, tcp]`, the IP as 4 or 16 bytes.
///
/// # Examples
///
/// ```
/// use devp2p_peer::discover::v4wire::Endpoint;
///
/// let e = Endpoint::new("[::ffff:10.0.0.1]:30301".parse().unwrap(), 30303);
/// assert_eq!(e.ip.to_string(), "10.0.0.1"); // IPv4-mapped addresses become IPv4
/// assert_eq!((e.udp, e.tcp), (30301, 30303));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The IP address. An IP of any length other than 4 or 16 bytes decodes as `0.0.0.0`.
    pub ip: IpAddr,
    /// The discovery (UDP) port.
    pub udp: u16,
    /// The RLPx (TCP) port.
    pub tcp: u16,
}

impl Endpoint {
    /// The endpoint of a UDP address, with a TCP port.
    pub fn new(addr: SocketAddr, tcp: u16) -> Self {
        Endpoint {
            ip: canonical_ip(addr.ip()),
            udp: addr.port(),
            tcp,
        }
    }

    /// The UDP address.
    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.udp)
    }
}

/// An IPv4-mapped IPv6 address as IPv4; other addresses unchanged.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A node in a Neighbors packet: `[ip, udp, tcp, public key]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeEntry {
    /// Its address.
    pub endpoint: Endpoint,
    /// Its 64-byte public key (not checked to be on the curve when decoded).
    pub id: [u8; 64],
}

/// Ping: asks for a Pong and proves the sender's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// Protocol version, 4.
    pub version: u64,
    /// The sender's endpoint as it believes it to be.
    pub from: Endpoint,
    /// The recipient's endpoint as the sender sees it.
    pub to: Endpoint,
    /// Unix time after which the packet is void.
    pub expiration: u64,
    /// The sender's record sequence number (EIP-868), if sent.
    pub enr_seq: Option<u64>,
    /// Further list elements (RLP), kept for forward compatibility.
    pub rest: Vec<Vec<u8>>,
}

/// Pong: the reply to Ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pong {
    /// The UDP envelope address the Ping came from, as the replier saw it.
    pub to: Endpoint,
    /// The hash of the Ping packet.
    pub reply_tok: Vec<u8>,
    /// Unix time after which the packet is void.
    pub expiration: u64,
    /// The sender's record sequence number (EIP-868), if sent.
    pub enr_seq: Option<u64>,
    /// Further list elements (RLP).
    pub rest: Vec<Vec<u8>>,
}

/// FindNode: asks for the nodes closest to a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindNode {
    /// The target public key (its keccak256 is the target ID).
    pub target: [u8; 64],
    /// Unix time after which the packet is void.
    pub expiration: u64,
    /// Further list elements (RLP).
    pub rest: Vec<Vec<u8>>,
}

/// Neighbors: the reply to FindNode (possibly several packets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbors {
    /// The nodes.
    pub nodes: Vec<NodeEntry>,
    /// Unix time after which the packet is void.
    pub expiration: u64,
    /// Further list elements (RLP).
    pub rest: Vec<Vec<u8>>,
}

/// ENRRequest (EIP-868): asks for the recipient's node record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrRequest {
    /// Unix time after which the packet is void.
    pub expiration: u64,
    /// Further list elements (RLP).
    pub rest: Vec<Vec<u8>>,
}

/// ENRResponse (EIP-868): the reply to ENRRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrResponse {
    /// The hash of the ENRRequest packet.
    pub reply_tok: Vec<u8>,
    /// The record (its signature is checked by the receiver, not by [`decode`]).
    pub record: Record,
    /// Further list elements (RLP).
    pub rest: Vec<Vec<u8>>,
}

/// A discovery v4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Packet {
    Ping(Ping),
    Pong(Pong),
    FindNode(FindNode),
    Neighbors(Neighbors),
    EnrRequest(EnrRequest),
    EnrResponse(EnrResponse),
}

impl Packet {
    /// The packet type byte.
    pub fn kind(&self) -> u8 {
        match self {
            Packet::Ping(_) => PING,
            Packet::Pong(_) => PONG,
            Packet::FindNode(_) => FIND_NODE,
            Packet::Neighbors(_) => NEIGHBORS,
            Packet::EnrRequest(_) => ENR_REQUEST,
            Packet::EnrResponse(_) => ENR_RESPONSE,
        }
    }

    /// The name go-ethereum logs it under, such as `PING/v4`.
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Ping(_) => "PING/v4",
            Packet::Pong(_) => "PONG/v4",
            Packet::FindNode(_) => "FINDNODE/v4",
            Packet::Neighbors(_) => "NEIGHBORS/v4",
            Packet::EnrRequest(_) => "ENRREQUEST/v4",
            Packet::EnrResponse(_) => "ENRRESPONSE/v4",
        }
    }

    /// The expiration time, for the packets that carry one (all but ENRResponse).
    pub fn expiration(&self) -> Option<u64> {
        match self {
            Packet::Ping(p) => Some(p.expiration),
            Packet::Pong(p) => Some(p.expiration),
            Packet::FindNode(p) => Some(p.expiration),
            Packet::Neighbors(p) => Some(p.expiration),
            Packet::EnrRequest(p) => Some(p.expiration),
            Packet::EnrResponse(_) => None,
        }
    }

    fn encode_data(&self, out: &mut Vec<u8>) {
        let mut b = Vec::with_capacity(MAX_PACKET_SIZE);
        let rest: &[Vec<u8>] = match self {
            Packet::Ping(p) => {
                rlp::append_uint(&mut b, p.version);
                append_endpoint(&mut b, &p.from);
                append_endpoint(&mut b, &p.to);
                rlp::append_uint(&mut b, p.expiration);
                if let Some(seq) = p.enr_seq {
                    rlp::append_uint(&mut b, seq);
                }
                &p.rest
            }
            Packet::Pong(p) => {
                append_endpoint(&mut b, &p.to);
                rlp::append_bytes(&mut b, &p.reply_tok);
                rlp::append_uint(&mut b, p.expiration);
                if let Some(seq) = p.enr_seq {
                    rlp::append_uint(&mut b, seq);
                }
                &p.rest
            }
            Packet::FindNode(p) => {
                rlp::append_bytes(&mut b, &p.target);
                rlp::append_uint(&mut b, p.expiration);
                &p.rest
            }
            Packet::Neighbors(p) => {
                let mut nodes = Vec::with_capacity(p.nodes.len() * 90);
                for n in &p.nodes {
                    let mut one = Vec::with_capacity(90);
                    append_endpoint_fields(&mut one, &n.endpoint);
                    rlp::append_bytes(&mut one, &n.id);
                    rlp::append_list_header(&mut nodes, one.len());
                    nodes.extend_from_slice(&one);
                }
                rlp::append_list_header(&mut b, nodes.len());
                b.extend_from_slice(&nodes);
                rlp::append_uint(&mut b, p.expiration);
                &p.rest
            }
            Packet::EnrRequest(p) => {
                rlp::append_uint(&mut b, p.expiration);
                &p.rest
            }
            Packet::EnrResponse(p) => {
                rlp::append_bytes(&mut b, &p.reply_tok);
                // A record is only ever built signed here (decoded or signed locally).
                b.extend_from_slice(p.record.to_rlp().unwrap_or(&[0xc0]));
                &p.rest
            }
        };
        for r in rest {
            b.extend_from_slice(r);
        }
        rlp::append_list_header(out, b.len());
        out.extend_from_slice(&b);
    }
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match canonical_ip(*ip) {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn append_endpoint_fields(out: &mut Vec<u8>, e: &Endpoint) {
    rlp::append_bytes(out, &ip_bytes(&e.ip));
    rlp::append_uint(out, e.udp.into());
    rlp::append_uint(out, e.tcp.into());
}

fn append_endpoint(out: &mut Vec<u8>, e: &Endpoint) {
    let mut b = Vec::with_capacity(24);
    append_endpoint_fields(&mut b, e);
    rlp::append_list_header(out, b.len());
    out.extend_from_slice(&b);
}

/// Reads the fields of one RLP list in order.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn more(&self) -> bool {
        !self.0.is_empty()
    }

    fn need(&self) -> Result<(), RlpError> {
        if self.0.is_empty() {
            Err(RlpError::TooFewElements)
        } else {
            Ok(())
        }
    }

    fn uint(&mut self) -> Result<u64, RlpError> {
        self.need()?;
        let (x, rest) = rlp::split_uint64(self.0)?;
        self.0 = rest;
        Ok(x)
    }

    fn port(&mut self) -> Result<u16, PacketError> {
        let x = self.uint()?;
        u16::try_from(x).map_err(|_| PacketError::Rlp(RlpError::UintOverflow))
    }

    fn bytes(&mut self) -> Result<&'a [u8], RlpError> {
        self.need()?;
        let (b, rest) = rlp::split_string(self.0)?;
        self.0 = rest;
        Ok(b)
    }

    fn list(&mut self) -> Result<Fields<'a>, RlpError> {
        self.need()?;
        let (b, rest) = rlp::split_list(self.0)?;
        self.0 = rest;
        Ok(Fields(b))
    }

    fn pubkey(&mut self) -> Result<[u8; 64], PacketError> {
        self.bytes()?
            .try_into()
            .map_err(|_| PacketError::BadField("public key must be 64 bytes"))
    }

    /// The remaining elements (each checked to be one well-formed value).
    fn rest(self) -> Result<Vec<Vec<u8>>, RlpError> {
        let mut out = Vec::new();
        let mut b = self.0;
        while !b.is_empty() {
            let (raw, rest) = rlp::split_raw(b)?;
            out.push(raw.to_vec());
            b = rest;
        }
        Ok(out)
    }

    /// Requires that no elements remain (structs without a tail); `err` names the struct
    /// as go-ethereum's decoder does.
    fn end(self, err: &'static str) -> Result<(), PacketError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(PacketError::BadField(err))
        }
    }

    fn endpoint_fields(&mut self) -> Result<Endpoint, PacketError> {
        let ip = match self.bytes()? {
            b if b.len() == 4 => IpAddr::from(<[u8; 4]>::try_from(b).expect("4 bytes")),
            b if b.len() == 16 => {
                canonical_ip(IpAddr::from(<[u8; 16]>::try_from(b).expect("16 bytes")))
            }
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        let udp = self.port()?;
        let tcp = self.port()?;
        Ok(Endpoint { ip, udp, tcp })
    }

    fn endpoint(&mut self) -> Result<Endpoint, PacketError> {
        let mut l = self.list()?;
        let e = l.endpoint_fields()?;
        l.end("rlp: input list has too many elements for v4wire.Endpoint")?;
        Ok(e)
    }
}

fn decode_data(kind: u8, data: &[u8]) -> Result<Packet, PacketError> {
    // Bytes after the first RLP value are ignored (EIP-8).
    let (content, _) = match rlp::split(data)? {
        (Kind::List, content, rest) => (content, rest),
        _ => return Err(RlpError::ExpectedList.into()),
    };
    let mut f = Fields(content);
    let packet = match kind {
        PING => {
            let version = f.uint()?;
            let from = f.endpoint()?;
            let to = f.endpoint()?;
            let expiration = f.uint()?;
            let enr_seq = if f.more() { Some(f.uint()?) } else { None };
            Packet::Ping(Ping {
                version,
                from,
                to,
                expiration,
                enr_seq,
                rest: f.rest()?,
            })
        }
        PONG => {
            let to = f.endpoint()?;
            let reply_tok = f.bytes()?.to_vec();
            let expiration = f.uint()?;
            let enr_seq = if f.more() { Some(f.uint()?) } else { None };
            Packet::Pong(Pong {
                to,
                reply_tok,
                expiration,
                enr_seq,
                rest: f.rest()?,
            })
        }
        FIND_NODE => {
            let target = f.pubkey()?;
            let expiration = f.uint()?;
            Packet::FindNode(FindNode {
                target,
                expiration,
                rest: f.rest()?,
            })
        }
        NEIGHBORS => {
            let mut list = f.list()?;
            let mut nodes = Vec::new();
            while list.more() {
                let mut n = list.list()?;
                let endpoint = n.endpoint_fields()?;
                let id = n.pubkey()?;
                n.end("rlp: input list has too many elements for v4wire.Node")?;
                nodes.push(NodeEntry { endpoint, id });
            }
            let expiration = f.uint()?;
            Packet::Neighbors(Neighbors {
                nodes,
                expiration,
                rest: f.rest()?,
            })
        }
        ENR_REQUEST => {
            let expiration = f.uint()?;
            Packet::EnrRequest(EnrRequest {
                expiration,
                rest: f.rest()?,
            })
        }
        ENR_RESPONSE => {
            let reply_tok = f.bytes()?.to_vec();
            f.need()?;
            let (record, after) = Record::decode_unverified(f.0).map_err(PacketError::Record)?;
            f.0 = after;
            Packet::EnrResponse(EnrResponse {
                reply_tok,
                record,
                rest: f.rest()?,
            })
        }
        other => return Err(PacketError::UnknownType(other)),
    };
    Ok(packet)
}

/// Encodes and signs a packet; returns it with its hash.
pub fn encode(key: &SecretKey, packet: &Packet) -> (Vec<u8>, [u8; 32]) {
    let mut out = vec![0u8; HEAD_SIZE];
    out.push(packet.kind());
    packet.encode_data(&mut out);
    let sig = key.sign_recoverable(&keccak256(&[&out[HEAD_SIZE..]]));
    out[MAC_SIZE..HEAD_SIZE].copy_from_slice(&sig);
    let hash = keccak256(&[&out[MAC_SIZE..]]);
    out[..MAC_SIZE].copy_from_slice(&hash);
    (out, hash)
}

/// Decodes a packet: checks the hash, recovers the sender's key from the signature and
/// decodes the data. Returns the packet, the sender's key and the packet's hash.
///
/// Neither the expiration nor the size limit is checked here; the service does both.
pub fn decode(input: &[u8]) -> Result<(Packet, PublicKey, [u8; 32]), PacketError> {
    if input.len() < HEAD_SIZE + 1 {
        return Err(PacketError::TooSmall);
    }
    let hash: [u8; 32] = input[..MAC_SIZE].try_into().expect("32 bytes");
    if keccak256(&[&input[MAC_SIZE..]]) != hash {
        return Err(PacketError::BadHash);
    }
    let sig: [u8; 65] = input[MAC_SIZE..HEAD_SIZE].try_into().expect("65 bytes");
    if sig[64] > 3 {
        return Err(PacketError::BadSignature("invalid signature recovery id"));
    }
    let sender = PublicKey::recover(&keccak256(&[&input[HEAD_SIZE..]]), &sig)
        .map_err(|_| PacketError::BadSignature("recovery failed"))?;
    let packet = decode_data(input[HEAD_SIZE], &input[HEAD_SIZE + 1..])?;
    Ok((packet, sender, hash))
}

/// Whether the Unix time `ts` is in the past, read as go-ethereum reads it: as a signed
/// 64-bit number, so values of 2^63 and above are negative times, long past.
///
/// # Examples
///
/// ```
/// use devp2p_peer::discover::v4wire::{expired, now_unix};
///
/// assert!(expired(now_unix() - 1));
/// assert!(!expired(now_unix() + 20));
/// assert!(expired(0u64.wrapping_sub(now_unix() + 20))); // "-future" wraps around
/// ```
pub fn expired(ts: u64) -> bool {
    if ts > i64::MAX as u64 {
        return true;
    }
    match SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(ts)) {
        Some(t) => t < SystemTime::now(),
        // Beyond what the platform's clock can represent: far in the future.
        None => false,
    }
}

/// The current Unix time in seconds.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twelve IPv6 nodes with the largest ports, in the largest expiration, fit in one
    /// packet; thirteen do not (how go-ethereum derives its constant).
    #[test]
    fn max_neighbors_fits() {
        let key = SecretKey::random();
        let node = NodeEntry {
            endpoint: Endpoint {
                ip: "2001:db8::1".parse().unwrap(),
                udp: u16::MAX,
                tcp: u16::MAX,
            },
            id: [0xff; 64],
        };
        let mk = |n: usize| {
            Packet::Neighbors(Neighbors {
                nodes: vec![node; n],
                expiration: u64::MAX,
                rest: vec![],
            })
        };
        assert!(encode(&key, &mk(MAX_NEIGHBORS)).0.len() <= MAX_PACKET_SIZE);
        assert!(encode(&key, &mk(MAX_NEIGHBORS + 1)).0.len() > MAX_PACKET_SIZE);
    }
}
