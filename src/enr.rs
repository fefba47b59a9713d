//! Ethereum Node Records (EIP-778): a node's signed, versioned set of key/value pairs.
//!
//! A record says who a node is (its identity scheme and public key) and where to reach it
//! (`ip`, `tcp`, `udp` and their IPv6 twins), plus anything else a protocol wants to
//! advertise, such as the `eth` fork identifier. It is RLP
//! `[signature, seq, k1, v1, k2, v2, ...]` with keys sorted and unique, at most 300 bytes,
//! and is signed with the "v4" scheme: a secp256k1 signature over
//! `keccak256(rlp([seq, k1, v1, ...]))` by the key stored under `secp256k1`.
//!
//! # Building and signing a record
//!
//! ```
//! use std::net::Ipv4Addr;
//! use devp2p_peer::enr::Record;
//! use devp2p_peer::rlpx::SecretKey;
//!
//! let key = SecretKey::random();
//! let mut record = Record::new();
//! record.set_ip(Ipv4Addr::new(127, 0, 0, 1).into());
//! record.set_udp(30303);
//! record.sign(&key).unwrap();            // adds `id` = "v4" and `secp256k1`
//! assert_eq!(record.seq(), 0);
//! assert_eq!(record.node_id().unwrap(), key.public_key().node_id().0);
//!
//! // Changing a signed record drops the signature and bumps the sequence number.
//! record.set_tcp(30303);
//! assert!(!record.is_signed());
//! assert_eq!(record.seq(), 1);
//! record.sign(&key).unwrap();
//!
//! // The text form, as used in configuration files and by `devp2p`.
//! let text = record.to_string();
//! assert!(text.starts_with("enr:"));
//! let back: Record = text.parse().unwrap();
//! assert_eq!(back, record);
//! assert_eq!(back.udp().unwrap(), 30303);
//! ```
//!
//! Decoding ([`Record::decode`], [`str::parse`]) checks the structure and the signature,
//! with go-ethereum's error texts:
//!
//! ```
//! use devp2p_peer::enr::Record;
//!
//! // [sig, seq, "b", 1, "a", 2]: keys out of order.
//! let err = Record::decode(&[0xc6, 0x80, 0x01, 0x62, 0x01, 0x61, 0x02]).unwrap_err();
//! assert_eq!(err.to_string(), "record key/value pairs are not sorted by key");
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::rlpx::{keccak256, Enode, PublicKey, RlpError, SecretKey};
use crate::strict_rlp as rlp;

/// The largest encoded record, in bytes.
pub const SIZE_LIMIT: usize = 300;

/// Why a record could not be decoded, verified, signed, encoded or read.
///
/// [`Display`](fmt::Display) prints go-ethereum's text for each case.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnrError {
    /// The signature does not verify, or the identity scheme is not "v4".
    InvalidSig,
    /// Keys are not in ascending order.
    NotSorted,
    /// A key appears twice.
    DuplicateKey,
    /// A key has no value after it.
    IncompletePair,
    /// The record has no signature or no sequence number.
    IncompleteList,
    /// The encoded record exceeds [`SIZE_LIMIT`].
    TooBig,
    /// An unsigned record cannot be encoded.
    EncodeUnsigned,
    /// The key is not in the record.
    NotFound(String),
    /// The key's value does not decode as the type asked for; the text says why.
    BadValue {
        /// The key.
        key: String,
        /// Why its value was rejected.
        why: String,
    },
    /// The `secp256k1` entry is not a 33-byte compressed public key.
    InvalidPublicKey,
    /// The text form does not start with `enr:`.
    MissingPrefix,
    /// The text form is not valid unpadded URL-safe base64.
    Base64,
    /// The RLP structure is malformed.
    Rlp(RlpError),
    /// Bytes follow the record where only the record was expected.
    TrailingData,
}

impl fmt::Display for EnrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnrError::InvalidSig => f.write_str("invalid signature on node record"),
            EnrError::NotSorted => f.write_str("record key/value pairs are not sorted by key"),
            EnrError::DuplicateKey => f.write_str("record contains duplicate key"),
            EnrError::IncompletePair => f.write_str("record contains incomplete k/v pair"),
            EnrError::IncompleteList => f.write_str("record contains less than two list elements"),
            EnrError::TooBig => write!(f, "record bigger than {SIZE_LIMIT} bytes"),
            EnrError::EncodeUnsigned => f.write_str("can't encode unsigned record"),
            EnrError::NotFound(key) => write!(f, "missing ENR key {key:?}"),
            EnrError::BadValue { key, why } => write!(f, "ENR key {key:?}: {why}"),
            EnrError::InvalidPublicKey => f.write_str("invalid public key"),
            EnrError::MissingPrefix => {
                f.write_str("missing 'enr:' prefix for base64-encoded record")
            }
            EnrError::Base64 => f.write_str("illegal base64 data"),
            EnrError::Rlp(e) => write!(f, "{e}"),
            EnrError::TrailingData => f.write_str("rlp: input contains more than one value"),
        }
    }
}

impl std::error::Error for EnrError {}

impl From<RlpError> for EnrError {
    fn from(e: RlpError) -> Self {
        EnrError::Rlp(e)
    }
}

/// The `eth` entry: the fork identifier of EIP-2124, `[[hash, next]]` in the record.
///
/// # Examples
///
/// ```
/// use devp2p_peer::enr::{EthEntry, Record};
///
/// let mut r = Record::new();
/// let fork = EthEntry { hash: [0xfc, 0x64, 0xec, 0x04], next: 1_150_000 };
/// r.set_eth(fork);
/// assert_eq!(r.eth().unwrap(), fork);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EthEntry {
    /// CRC32 of the genesis hash and the passed fork blocks.
    pub hash: [u8; 4],
    /// The next scheduled fork (block or time), 0 if none.
    pub next: u64,
}

/// A node record (EIP-778). See the [module docs](self).
///
/// Values are kept as their RLP encoding; typed getters decode them. Any change drops the
/// signature, and the first change after signing bumps the sequence number, as
/// go-ethereum does.
///
/// # Examples
///
/// ```
/// use devp2p_peer::enr::Record;
///
/// // The example record of EIP-778.
/// let text = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
/// let r: Record = text.parse().unwrap();
/// assert_eq!(r.seq(), 1);
/// assert_eq!(r.ip().unwrap().to_string(), "127.0.0.1");
/// assert_eq!(r.udp().unwrap(), 30303);
/// assert!(r.tcp().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Record {
    seq: u64,
    /// The 64-byte v4 signature, once signed or decoded.
    signature: Option<Vec<u8>>,
    /// Sorted by key, keys unique; values are RLP.
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The encoding, kept while the record is signed.
    raw: Vec<u8>,
}

impl Record {
    /// An empty, unsigned record with sequence number 0.
    pub fn new() -> Self {
        Record::default()
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Sets the sequence number and drops the signature.
    pub fn set_seq(&mut self, seq: u64) {
        self.signature = None;
        self.raw.clear();
        self.seq = seq;
    }

    /// Whether the record carries a (verified) signature.
    pub fn is_signed(&self) -> bool {
        self.signature.is_some()
    }

    /// The 64-byte signature, if signed.
    pub fn signature(&self) -> Option<&[u8]> {
        self.signature.as_deref()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.pairs.iter().map(|(k, _)| k.as_slice())
    }

    fn invalidate(&mut self) {
        if self.signature.take().is_some() {
            self.seq += 1;
        }
        self.raw.clear();
    }

    /// Sets `key` to an already RLP-encoded value (one complete RLP item), replacing any
    /// value it had, and keeps the keys sorted.
    ///
    /// # Panics
    ///
    /// If `value` is not exactly one RLP item (a programming error).
    pub fn set_raw(&mut self, key: &str, value: Vec<u8>) {
        assert!(
            matches!(rlp::split_raw(&value), Ok((_, rest)) if rest.is_empty()),
            "enr: value for {key:?} is not one RLP item"
        );
        self.invalidate();
        let key = key.as_bytes();
        match self.pairs.binary_search_by(|(k, _)| k.as_slice().cmp(key)) {
            Ok(i) => self.pairs[i].1 = value,
            Err(i) => self.pairs.insert(i, (key.to_vec(), value)),
        }
    }

    /// Sets `key` to a byte string.
    pub fn set_bytes(&mut self, key: &str, value: &[u8]) {
        let mut v = Vec::with_capacity(value.len() + 3);
        rlp::append_bytes(&mut v, value);
        self.set_raw(key, v);
    }

    /// Sets `key` to an unsigned integer.
    pub fn set_uint(&mut self, key: &str, value: u64) {
        let mut v = Vec::with_capacity(9);
        rlp::append_uint(&mut v, value);
        self.set_raw(key, v);
    }

    /// Sets `ip` (IPv4) or `ip6` (IPv6). An IPv4-mapped IPv6 address is stored as `ip`.
    pub fn set_ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => self.set_bytes("ip", &v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.set_bytes("ip", &v4.octets()),
                None => self.set_bytes("ip6", &v6.octets()),
            },
        }
    }

    /// Sets the IPv4 `tcp` port.
    pub fn set_tcp(&mut self, port: u16) {
        self.set_uint("tcp", port.into());
    }

    /// Sets the IPv4 `udp` port.
    pub fn set_udp(&mut self, port: u16) {
        self.set_uint("udp", port.into());
    }

    /// Sets the IPv6 `tcp6` port.
    pub fn set_tcp6(&mut self, port: u16) {
        self.set_uint("tcp6", port.into());
    }

    /// Sets the IPv6 `udp6` port.
    pub fn set_udp6(&mut self, port: u16) {
        self.set_uint("udp6", port.into());
    }

    /// Sets the `eth` fork-id entry.
    pub fn set_eth(&mut self, fork: EthEntry) {
        let mut inner = Vec::with_capacity(16);
        rlp::append_bytes(&mut inner, &fork.hash);
        rlp::append_uint(&mut inner, fork.next);
        let mut outer = Vec::with_capacity(18);
        rlp::append_list_header(&mut outer, inner.len() + 1);
        rlp::append_list_header(&mut outer, inner.len());
        outer.extend_from_slice(&inner);
        self.set_raw("eth", outer);
    }

    /// The RLP value of `key`, if present.
    pub fn get_raw(&self, key: &str) -> Option<&[u8]> {
        let key = key.as_bytes();
        self.pairs
            .binary_search_by(|(k, _)| k.as_slice().cmp(key))
            .ok()
            .map(|i| self.pairs[i].1.as_slice())
    }

    fn get(&self, key: &str) -> Result<&[u8], EnrError> {
        self.get_raw(key)
            .ok_or_else(|| EnrError::NotFound(key.to_string()))
    }

    fn bad(key: &str, why: impl fmt::Display) -> EnrError {
        EnrError::BadValue {
            key: key.to_string(),
            why: why.to_string(),
        }
    }

    /// The byte string under `key`.
    pub fn get_bytes(&self, key: &str) -> Result<&[u8], EnrError> {
        let (b, rest) = rlp::split_string(self.get(key)?).map_err(|e| Self::bad(key, e))?;
        debug_assert!(rest.is_empty());
        Ok(b)
    }

    /// The unsigned integer under `key`.
    pub fn get_uint(&self, key: &str) -> Result<u64, EnrError> {
        let (x, _) = rlp::split_uint64(self.get(key)?).map_err(|e| Self::bad(key, e))?;
        Ok(x)
    }

    fn get_port(&self, key: &str) -> Result<u16, EnrError> {
        let x = self.get_uint(key)?;
        u16::try_from(x).map_err(|_| Self::bad(key, RlpError::UintOverflow))
    }

    /// The identity scheme name (`id`), normally "v4".
    pub fn id_scheme(&self) -> Result<String, EnrError> {
        Ok(String::from_utf8_lossy(self.get_bytes("id")?).into_owned())
    }

    /// The IPv4 address (`ip`).
    pub fn ip(&self) -> Result<Ipv4Addr, EnrError> {
        let b = self.get_bytes("ip")?;
        let arr: [u8; 4] = b.try_into().map_err(|_| {
            Self::bad(
                "ip",
                format_args!("invalid IPv4 address, want 4 bytes: {b:?}"),
            )
        })?;
        Ok(Ipv4Addr::from(arr))
    }

    /// The IPv6 address (`ip6`).
    pub fn ip6(&self) -> Result<Ipv6Addr, EnrError> {
        let b = self.get_bytes("ip6")?;
        let arr: [u8; 16] = b.try_into().map_err(|_| {
            Self::bad(
                "ip6",
                format_args!("invalid IPv6 address, want 16 bytes: {b:?}"),
            )
        })?;
        Ok(Ipv6Addr::from(arr))
    }

    /// The IPv4 TCP port (`tcp`).
    pub fn tcp(&self) -> Result<u16, EnrError> {
        self.get_port("tcp")
    }

    /// The IPv4 UDP port (`udp`).
    pub fn udp(&self) -> Result<u16, EnrError> {
        self.get_port("udp")
    }

    /// The IPv6 TCP port (`tcp6`).
    pub fn tcp6(&self) -> Result<u16, EnrError> {
        self.get_port("tcp6")
    }

    /// The IPv6 UDP port (`udp6`).
    pub fn udp6(&self) -> Result<u16, EnrError> {
        self.get_port("udp6")
    }

    /// The `eth` fork-id entry. Fields after the fork id are ignored (forward
    /// compatibility); the fork id itself must be exactly `[hash, next]`.
    pub fn eth(&self) -> Result<EthEntry, EnrError> {
        let bad = |e: RlpError| Self::bad("eth", e);
        let (outer, _) = rlp::split_list(self.get("eth")?).map_err(bad)?;
        let (inner, _) = rlp::split_list(outer).map_err(bad)?;
        let (hash, rest) = rlp::split_string(inner).map_err(bad)?;
        let hash: [u8; 4] = hash
            .try_into()
            .map_err(|_| Self::bad("eth", "fork hash must be 4 bytes"))?;
        let (next, rest) = rlp::split_uint64(rest).map_err(bad)?;
        if !rest.is_empty() {
            return Err(Self::bad("eth", "rlp: input list has too many elements"));
        }
        Ok(EthEntry { hash, next })
    }

    /// The public key under `secp256k1` (33-byte compressed form).
    pub fn public_key(&self) -> Result<PublicKey, EnrError> {
        let b = self.get_bytes("secp256k1")?;
        PublicKey::from_compressed(b).map_err(|_| EnrError::InvalidPublicKey)
    }

    /// The node ID: keccak256 of the uncompressed public key.
    pub fn node_id(&self) -> Result<[u8; 32], EnrError> {
        Ok(self.public_key()?.node_id().0)
    }

    /// The node as an `enode://` address, chosen as go-ethereum reads a record:
    ///
    /// - of `ip` and `ip6`, the more global address (public before private before
    ///   link-local before loopback before unspecified; IPv4 on a tie); a multicast
    ///   address does not count, and an IPv4-mapped `ip6` is an IPv4 address;
    /// - the IPv4 endpoint's ports are `tcp` and `udp`; the IPv6 one's are `tcp6` and
    ///   `udp6`, each falling back to the IPv4 entry when missing;
    /// - a missing port is 0: a node without a TCP port serves no RLPx (dialers skip TCP
    ///   port 0), one without a UDP port no discovery.
    ///
    /// A record with no usable address, or with neither port, is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::enr::Record;
    /// use devp2p_peer::rlpx::SecretKey;
    /// let mut r = Record::new();
    /// r.set_ip("192.168.1.5".parse().unwrap());
    /// r.set_ip("2001:db8::5".parse().unwrap()); // `ip6`: more global
    /// r.set_tcp(30303); // no `tcp6`: the IPv6 endpoint uses `tcp`
    /// r.set_udp(30301);
    /// r.sign(&SecretKey::random()).unwrap();
    /// let e = r.to_enode().unwrap();
    /// assert_eq!(e.ip, "2001:db8::5".parse::<std::net::IpAddr>().unwrap());
    /// assert_eq!((e.tcp_port, e.udp_port), (30303, 30301));
    /// ```
    pub fn to_enode(&self) -> Result<Enode, EnrError> {
        let pubkey = self.public_key()?;
        let (ip, tcp, udp) = self
            .endpoint()
            .ok_or_else(|| EnrError::NotFound("ip".into()))?;
        if tcp.is_none() && udp.is_none() {
            return Err(EnrError::NotFound("udp".into()));
        }
        Ok(Enode {
            pubkey,
            ip,
            tcp_port: tcp.unwrap_or(0),
            udp_port: udp.unwrap_or(0),
        })
    }

    /// The endpoint [`to_enode`](Record::to_enode) chooses: its address and the ports
    /// found for it, or `None` without a usable address.
    fn endpoint(&self) -> Option<(IpAddr, Option<u16>, Option<u16>)> {
        let ip4 = self.ip().ok().filter(|ip| !ip.is_multicast());
        let ip6 = self
            .ip6()
            .ok()
            .filter(|ip| !IpAddr::V6(*ip).to_canonical().is_multicast());
        let v4 = |ip: Ipv4Addr| (IpAddr::V4(ip), self.tcp().ok(), self.udp().ok());
        Some(match (ip4, ip6) {
            (Some(a), Some(b)) if locality(IpAddr::V4(a)) >= locality(IpAddr::V6(b)) => v4(a),
            (_, Some(b)) => match b.to_ipv4_mapped() {
                Some(a) => v4(a),
                None => (
                    IpAddr::V6(b),
                    self.tcp6().or_else(|_| self.tcp()).ok(),
                    self.udp6().or_else(|_| self.udp()).ok(),
                ),
            },
            (Some(a), None) => v4(a),
            (None, None) => return None,
        })
    }

    /// The address of the endpoint [`to_enode`](Record::to_enode) chooses, also for a
    /// record without ports (go-ethereum's `Node.IPAddr`); `None` without a usable one.
    pub(crate) fn endpoint_ip(&self) -> Option<IpAddr> {
        self.endpoint().map(|(ip, _, _)| ip)
    }

    /// The RLP of `[seq, k1, v1, ...]`: what the signature covers.
    fn signing_content(&self) -> Vec<u8> {
        let body = self.body(None);
        let mut out = Vec::with_capacity(body.len() + 3);
        rlp::append_list_header(&mut out, body.len());
        out.extend_from_slice(&body);
        out
    }

    fn body(&self, sig: Option<&[u8]>) -> Vec<u8> {
        let mut body = Vec::with_capacity(SIZE_LIMIT);
        if let Some(sig) = sig {
            rlp::append_bytes(&mut body, sig);
        }
        rlp::append_uint(&mut body, self.seq);
        for (k, v) in &self.pairs {
            rlp::append_bytes(&mut body, k);
            body.extend_from_slice(v);
        }
        body
    }

    fn encode_with(&self, sig: &[u8]) -> Result<Vec<u8>, EnrError> {
        let body = self.body(Some(sig));
        let mut out = Vec::with_capacity(body.len() + 3);
        rlp::append_list_header(&mut out, body.len());
        out.extend_from_slice(&body);
        if out.len() > SIZE_LIMIT {
            return Err(EnrError::TooBig);
        }
        Ok(out)
    }

    /// The encoded size (of the signed record, or of `[0, seq, ...]` when unsigned, as
    /// go-ethereum computes it).
    pub fn size(&self) -> usize {
        if self.is_signed() {
            return self.raw.len();
        }
        let body = self.body(Some(&[]));
        let mut out = Vec::new();
        rlp::append_list_header(&mut out, body.len());
        out.len() + body.len()
    }

    /// Signs with the "v4" scheme: sets `id` and `secp256k1`, then signs. Setting those two
    /// entries counts as a change, so signing a signed record bumps its sequence number.
    /// On error ([`EnrError::TooBig`]) the record is left as it was.
    pub fn sign(&mut self, key: &SecretKey) -> Result<(), EnrError> {
        let mut cpy = self.clone();
        cpy.set_bytes("id", b"v4");
        cpy.set_bytes("secp256k1", &key.public_key().compressed());
        let digest = keccak256(&[&cpy.signing_content()]);
        let sig = key.sign_recoverable(&digest);
        let sig = sig[..64].to_vec();
        cpy.verify_sig(&sig)?;
        cpy.raw = cpy.encode_with(&sig)?;
        cpy.signature = Some(sig);
        *self = cpy;
        Ok(())
    }

    fn verify_sig(&self, sig: &[u8]) -> Result<(), EnrError> {
        if self.get_raw("id") != Some(&[0x82, b'v', b'4'][..]) {
            return Err(EnrError::InvalidSig);
        }
        let b = self.get_bytes("secp256k1")?;
        if b.len() != 33 {
            return Err(EnrError::InvalidPublicKey);
        }
        let pubkey = PublicKey::from_compressed(b).map_err(|_| EnrError::InvalidSig)?;
        let digest = keccak256(&[&self.signing_content()]);
        if pubkey.verify_compact(&digest, sig) {
            Ok(())
        } else {
            Err(EnrError::InvalidSig)
        }
    }

    /// Checks the signature with the "v4" scheme.
    pub fn verify(&self) -> Result<(), EnrError> {
        match &self.signature {
            Some(sig) => self.verify_sig(sig),
            None => Err(EnrError::InvalidSig),
        }
    }

    /// The RLP encoding of a signed record.
    pub fn to_rlp(&self) -> Result<&[u8], EnrError> {
        if self.is_signed() {
            Ok(&self.raw)
        } else {
            Err(EnrError::EncodeUnsigned)
        }
    }

    /// Decodes a record and verifies its "v4" signature. `input` must hold exactly one
    /// record.
    pub fn decode(input: &[u8]) -> Result<Self, EnrError> {
        let (r, rest) = Self::decode_unverified(input)?;
        if !rest.is_empty() {
            return Err(EnrError::TrailingData);
        }
        r.verify()?;
        Ok(r)
    }

    /// Decodes the first record in `input` without checking its signature, and returns it
    /// with the bytes after it. The structure is checked as go-ethereum does: size limit,
    /// signature and sequence number present, keys sorted and unique, pairs complete.
    pub fn decode_unverified(input: &[u8]) -> Result<(Self, &[u8]), EnrError> {
        let (raw, rest) = rlp::split_raw(input)?;
        if raw.len() > SIZE_LIMIT {
            return Err(EnrError::TooBig);
        }
        let (content, _) = rlp::split_list(raw)?;
        if content.is_empty() {
            return Err(EnrError::IncompleteList);
        }
        let (sig, content) = rlp::split_string(content)?;
        if content.is_empty() {
            return Err(EnrError::IncompleteList);
        }
        let (seq, mut content) = rlp::split_uint64(content)?;
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        while !content.is_empty() {
            let (k, rest) = rlp::split_string(content)?;
            if rest.is_empty() {
                return Err(EnrError::IncompletePair);
            }
            let (v, rest) = rlp::split_raw(rest)?;
            if let Some((prev, _)) = pairs.last() {
                if k == prev.as_slice() {
                    return Err(EnrError::DuplicateKey);
                }
                if k < prev.as_slice() {
                    return Err(EnrError::NotSorted);
                }
            }
            pairs.push((k.to_vec(), v.to_vec()));
            content = rest;
        }
        Ok((
            Record {
                seq,
                signature: Some(sig.to_vec()),
                pairs,
                raw: raw.to_vec(),
            },
            rest,
        ))
    }

    /// Parses the `enr:` text form (unpadded URL-safe base64 of the RLP) and verifies
    /// the signature.
    pub fn from_text(s: &str) -> Result<Self, EnrError> {
        let b64 = s.strip_prefix("enr:").ok_or(EnrError::MissingPrefix)?;
        let bytes = Base64UrlUnpadded::decode_vec(b64).map_err(|_| EnrError::Base64)?;
        Self::decode(&bytes)
    }

    /// The `enr:` text form of a signed record.
    pub fn to_text(&self) -> Result<String, EnrError> {
        Ok(format!(
            "enr:{}",
            Base64UrlUnpadded::encode_string(self.to_rlp()?)
        ))
    }
}

impl fmt::Display for Record {
    /// The `enr:` text form; `enr:<unsigned>` for an unsigned record.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_text() {
            Ok(s) => f.write_str(&s),
            Err(_) => f.write_str("enr:<unsigned>"),
        }
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        m.entry(&"seq", &self.seq);
        for (k, v) in &self.pairs {
            let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
            m.entry(&String::from_utf8_lossy(k), &hex);
        }
        m.finish()
    }
}

impl FromStr for Record {
    type Err = EnrError;
    fn from_str(s: &str) -> Result<Self, EnrError> {
        Self::from_text(s)
    }
}

/// How global an address is, for choosing between a record's `ip` and `ip6` as
/// go-ethereum does: unspecified 0, loopback 1, link-local 2, private (RFC 1918, or IPv6
/// unique local) 3, anything else 4. An IPv4-mapped IPv6 address ranks as its IPv4
/// address, except that `::ffff:0.0.0.0` is not unspecified (as in Go's `netip`).
fn locality(ip: IpAddr) -> u8 {
    if ip.is_unspecified() {
        return 0;
    }
    let (loopback, link_local, private) = match ip.to_canonical() {
        IpAddr::V4(a) => (a.is_loopback(), a.is_link_local(), a.is_private()),
        IpAddr::V6(a) => (
            a.is_loopback(),
            a.is_unicast_link_local(),
            a.is_unique_local(),
        ),
    };
    if loopback {
        1
    } else if link_local {
        2
    } else if private {
        3
    } else {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_size_matches_geth() {
        let mut r = Record::new();
        assert_eq!(r.size(), 3);
        r.set_bytes("k", b"v");
        assert_eq!(r.size(), 5);
    }

    #[test]
    fn eth_entry_layout() {
        let mut r = Record::new();
        r.set_eth(EthEntry {
            hash: [1, 2, 3, 4],
            next: 0,
        });
        assert_eq!(
            r.get_raw("eth").unwrap(),
            &[0xc7, 0xc6, 0x84, 1, 2, 3, 4, 0x80]
        );
    }
}
