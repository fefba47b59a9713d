//! The RLPx encryption handshake (EIP-8 packets), as I/O-free state machines.
//!
//! The initiator (the dialer) knows the recipient's static public key. It
//! sends an *auth* packet and reads back an *ack* packet:
//!
//! ```text
//! auth body = [signature(65), initiator-pubkey(64), initiator-nonce(32), 4, ...]
//! ack body  = [recipient-ephemeral-pubkey(64), recipient-nonce(32), 4, ...]
//! ```
//!
//! The signature is made with the initiator's *ephemeral* key over
//! `ecdh(static keys) XOR initiator-nonce`, so the recipient can recover the
//! initiator's ephemeral public key from it. Each body is RLP, followed by
//! 100–199 bytes of padding, sealed with ECIES for the other side's static
//! key, and sent behind a 2-byte big-endian size prefix (which ECIES also
//! authenticates). Both sides then derive the same [`Secrets`] from the
//! ephemeral ECDH, the two nonces and the exact packet bytes.
//!
//! Readers accept any version number and ignore extra list elements and the
//! padding after the RLP list (EIP-8 forward compatibility). Packets whose
//! prefix announces more than [`MAX_PACKET_SIZE`] bytes are rejected before
//! the body is read.

use std::fmt;

use super::ecies;
use super::error::{Result, RlpError, RlpxError};
use super::keys::{PublicKey, SecretKey};
use super::mac::{keccak256, KeccakMac, MacHash};
use crate::strict_rlp as rlp;

/// Largest handshake packet body accepted (the value of the size prefix).
pub const MAX_PACKET_SIZE: usize = 2048;

/// Version number written into auth and ack bodies.
pub const HANDSHAKE_VERSION: u64 = 4;

/// Reads a 2-byte size prefix and returns the number of packet bytes that
/// follow it. Sizes above [`MAX_PACKET_SIZE`] fail with "message too big".
pub fn packet_body_size(prefix: [u8; 2]) -> Result<usize> {
    let size = usize::from(u16::from_be_bytes(prefix));
    if size > MAX_PACKET_SIZE {
        return Err(RlpxError::HandshakeTooBig);
    }
    Ok(size)
}

/// A decoded auth body (sent by the initiator).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthMsg {
    /// Signature `R ‖ S ‖ V` by the initiator's ephemeral key.
    pub signature: [u8; 65],
    /// The initiator's static public key.
    pub initiator_pubkey: PublicKey,
    /// The initiator's nonce.
    pub nonce: [u8; 32],
    /// The version the initiator announced (any value is accepted).
    pub version: u64,
    /// Extra list elements, each as raw RLP (ignored by the protocol).
    pub rest: Vec<Vec<u8>>,
}

/// A decoded ack body (sent by the recipient).
#[derive(Clone, PartialEq, Eq)]
pub struct AckMsg {
    /// The recipient's ephemeral public key.
    pub ephemeral_pubkey: PublicKey,
    /// The recipient's nonce.
    pub nonce: [u8; 32],
    /// The version the recipient announced (any value is accepted).
    pub version: u64,
    /// Extra list elements, each as raw RLP (ignored by the protocol).
    pub rest: Vec<Vec<u8>>,
}

impl fmt::Debug for AuthMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthMsg")
            .field("initiator_pubkey", &self.initiator_pubkey)
            .field("version", &self.version)
            .field("rest", &self.rest)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AckMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AckMsg")
            .field("ephemeral_pubkey", &self.ephemeral_pubkey)
            .field("version", &self.version)
            .field("rest", &self.rest)
            .finish_non_exhaustive()
    }
}

/// Decrypts and decodes an auth packet (size prefix included) with the
/// recipient's static key.
pub fn decode_auth(packet: &[u8], key: &SecretKey) -> Result<AuthMsg> {
    let plain = open_packet(packet, key)?;
    let (list, _padding) = rlp::split_list(&plain).map_err(RlpxError::InvalidHandshakeRlp)?;
    let (signature, rest) = fixed_field::<65>(list, "signature")?;
    let (pubkey, rest) = fixed_field::<64>(rest, "initiator public key")?;
    let (nonce, rest) = fixed_field::<32>(rest, "nonce")?;
    let (version, rest) = version_field(rest)?;
    Ok(AuthMsg {
        signature,
        initiator_pubkey: PublicKey::from_bytes(&pubkey)?,
        nonce,
        version,
        rest: raw_elements(rest)?,
    })
}

/// Decrypts and decodes an ack packet (size prefix included) with the
/// initiator's static key.
pub fn decode_ack(packet: &[u8], key: &SecretKey) -> Result<AckMsg> {
    let plain = open_packet(packet, key)?;
    let (list, _padding) = rlp::split_list(&plain).map_err(RlpxError::InvalidHandshakeRlp)?;
    let (pubkey, rest) = fixed_field::<64>(list, "ephemeral public key")?;
    let (nonce, rest) = fixed_field::<32>(rest, "nonce")?;
    let (version, rest) = version_field(rest)?;
    Ok(AckMsg {
        ephemeral_pubkey: PublicKey::from_bytes(&pubkey)?,
        nonce,
        version,
        rest: raw_elements(rest)?,
    })
}

/// Checks the size prefix and length of a packet and ECIES-decrypts its body.
fn open_packet(packet: &[u8], key: &SecretKey) -> Result<Vec<u8>> {
    if packet.len() < 2 {
        return Err(RlpxError::HandshakeLength {
            declared: 2,
            got: packet.len(),
        });
    }
    let (prefix, body) = packet.split_at(2);
    let size = packet_body_size([prefix[0], prefix[1]])?;
    if body.len() != size {
        return Err(RlpxError::HandshakeLength {
            declared: size + 2,
            got: packet.len(),
        });
    }
    ecies::decrypt(key, body, prefix)
}

/// Splits a byte string of exactly `N` bytes off a list's content.
fn fixed_field<'a, const N: usize>(
    b: &'a [u8],
    field: &'static str,
) -> Result<([u8; N], &'a [u8])> {
    if b.is_empty() {
        return Err(RlpxError::InvalidHandshakeRlp(RlpError::TooFewElements));
    }
    let (content, rest) = rlp::split_string(b).map_err(RlpxError::InvalidHandshakeRlp)?;
    let arr: [u8; N] = content
        .try_into()
        .map_err(|_| RlpxError::HandshakeFieldSize {
            field,
            expected: N,
            got: content.len(),
        })?;
    Ok((arr, rest))
}

fn version_field(b: &[u8]) -> Result<(u64, &[u8])> {
    if b.is_empty() {
        return Err(RlpxError::InvalidHandshakeRlp(RlpError::TooFewElements));
    }
    rlp::split_uint64(b).map_err(RlpxError::InvalidHandshakeRlp)
}

/// Splits the remaining list content into raw RLP elements.
fn raw_elements(mut b: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (elem, rest) = rlp::split_raw(b)
            .map_err(|_| RlpxError::InvalidHandshakeRlp(RlpError::ElemTooLarge))?;
        out.push(elem.to_vec());
        b = rest;
    }
    Ok(out)
}

/// Pads an RLP body, seals it with ECIES for `remote` and prepends the size prefix.
fn seal_packet(body: &[u8], remote: &PublicKey) -> Vec<u8> {
    use rand::Rng;
    let mut rng = rand::rng();
    let pad = rng.random_range(100..200);
    let mut plain = Vec::with_capacity(body.len() + pad);
    plain.extend_from_slice(body);
    plain.resize(body.len() + pad, 0);
    rng.fill(&mut plain[body.len()..]);

    // The body is at most a few hundred bytes, far below u16::MAX.
    let size = (plain.len() + ecies::OVERHEAD) as u16;
    let prefix = size.to_be_bytes();
    let mut packet = Vec::with_capacity(2 + usize::from(size));
    packet.extend_from_slice(&prefix);
    packet.extend_from_slice(&ecies::encrypt(remote, &plain, &prefix));
    packet
}

/// RLP list of already-encoded fields, then the version.
fn encode_body(fields: &[&[u8]]) -> Vec<u8> {
    let mut content = Vec::with_capacity(200);
    for f in fields {
        rlp::append_bytes(&mut content, f);
    }
    rlp::append_uint(&mut content, HANDSHAKE_VERSION);
    let mut out = Vec::with_capacity(content.len() + 3);
    rlp::append_list_header(&mut out, content.len());
    out.extend_from_slice(&content);
    out
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..32 {
        out[i] = a[i] ^ b[i];
    }
    out
}

/// The session secrets both sides derive from a handshake.
#[derive(Clone)]
pub struct Secrets {
    /// Key of the AES-CTR streams that encrypt frames (same key both ways).
    pub aes: [u8; 32],
    /// Key of the AES block cipher inside the frame MAC.
    pub mac: [u8; 32],
    /// Running MAC state for frames we send.
    pub egress_mac: KeccakMac,
    /// Running MAC state for frames we receive.
    pub ingress_mac: KeccakMac,
    /// The remote side's static public key.
    pub remote_pubkey: PublicKey,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("remote_pubkey", &self.remote_pubkey)
            .finish_non_exhaustive()
    }
}

/// Everything [`Secrets::derive`] needs: the values both sides end up sharing.
#[derive(Debug, Clone, Copy)]
pub struct SessionParams<'a> {
    /// True on the side that sent the auth packet.
    pub initiator: bool,
    /// Our ephemeral key.
    pub ephemeral: &'a SecretKey,
    /// The other side's ephemeral public key.
    pub remote_ephemeral: &'a PublicKey,
    /// The nonce from the auth packet.
    pub initiator_nonce: &'a [u8; 32],
    /// The nonce from the ack packet.
    pub recipient_nonce: &'a [u8; 32],
    /// The auth packet exactly as on the wire (size prefix included).
    pub auth_packet: &'a [u8],
    /// The ack packet exactly as on the wire (size prefix included).
    pub ack_packet: &'a [u8],
    /// The other side's static public key.
    pub remote_pubkey: &'a PublicKey,
}

impl Secrets {
    /// Derives the session secrets:
    ///
    /// ```text
    /// ephemeral-key = ecdh(own ephemeral, remote ephemeral)
    /// shared-secret = keccak(ephemeral-key ‖ keccak(recipient-nonce ‖ initiator-nonce))
    /// aes-secret    = keccak(ephemeral-key ‖ shared-secret)
    /// mac-secret    = keccak(ephemeral-key ‖ aes-secret)
    /// ```
    ///
    /// The MAC states start as keccak of `(mac-secret XOR recipient-nonce) ‖ auth`
    /// (the initiator's egress, the recipient's ingress) and of
    /// `(mac-secret XOR initiator-nonce) ‖ ack` (the other two).
    pub fn derive(p: &SessionParams<'_>) -> Secrets {
        let ephemeral_key = p.ephemeral.ecdh(p.remote_ephemeral);
        let nonce_hash = keccak256(&[p.recipient_nonce, p.initiator_nonce]);
        let shared = keccak256(&[&ephemeral_key, &nonce_hash]);
        let aes = keccak256(&[&ephemeral_key, &shared]);
        let mac = keccak256(&[&ephemeral_key, &aes]);

        let mut auth_side = KeccakMac::new();
        auth_side.update(&xor32(&mac, p.recipient_nonce));
        auth_side.update(p.auth_packet);
        let mut ack_side = KeccakMac::new();
        ack_side.update(&xor32(&mac, p.initiator_nonce));
        ack_side.update(p.ack_packet);

        let (egress_mac, ingress_mac) = if p.initiator {
            (auth_side, ack_side)
        } else {
            (ack_side, auth_side)
        };
        Secrets {
            aes,
            mac,
            egress_mac,
            ingress_mac,
            remote_pubkey: *p.remote_pubkey,
        }
    }
}

/// The dialing side of the handshake.
///
/// Send [`auth_packet`](Initiator::auth_packet), read one packet back (use
/// [`packet_body_size`] on its first two bytes to know how much to read), then
/// call [`read_ack`](Initiator::read_ack).
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::wire::{Initiator, Recipient};
/// use devp2p_peer::rlpx::SecretKey;
///
/// let (a, b) = (SecretKey::random(), SecretKey::random());
/// let initiator = Initiator::new(&a, &b.public_key());
/// let received = Recipient::new(&b).read_auth(initiator.auth_packet()).unwrap();
/// let (ack, b_secrets) = received.respond();
/// let a_secrets = initiator.read_ack(&ack).unwrap();
/// assert_eq!(a_secrets.aes, b_secrets.aes);
/// assert_eq!(a_secrets.remote_pubkey, b.public_key());
/// assert_eq!(b_secrets.remote_pubkey, a.public_key());
/// ```
pub struct Initiator {
    key: SecretKey,
    remote: PublicKey,
    ephemeral: SecretKey,
    nonce: [u8; 32],
    auth: Vec<u8>,
}

impl Initiator {
    /// Prepares a handshake with `remote`, using fresh random ephemeral key and nonce.
    pub fn new(key: &SecretKey, remote: &PublicKey) -> Self {
        Self::with_randomness(key, remote, SecretKey::random(), rand::random())
    }

    /// Like [`new`](Initiator::new) with a given ephemeral key and nonce (for tests).
    pub fn with_randomness(
        key: &SecretKey,
        remote: &PublicKey,
        ephemeral: SecretKey,
        nonce: [u8; 32],
    ) -> Self {
        let token = key.ecdh(remote);
        let signature = ephemeral.sign_recoverable(&xor32(&token, &nonce));
        let body = encode_body(&[&signature, &key.public_key().to_bytes(), &nonce]);
        let auth = seal_packet(&body, remote);
        Initiator {
            key: key.clone(),
            remote: *remote,
            ephemeral,
            nonce,
            auth,
        }
    }

    /// The auth packet to send, size prefix included.
    pub fn auth_packet(&self) -> &[u8] {
        &self.auth
    }

    /// Consumes the recipient's ack packet (size prefix included) and derives the secrets.
    pub fn read_ack(self, ack_packet: &[u8]) -> Result<Secrets> {
        let ack = decode_ack(ack_packet, &self.key)?;
        Ok(Secrets::derive(&SessionParams {
            initiator: true,
            ephemeral: &self.ephemeral,
            remote_ephemeral: &ack.ephemeral_pubkey,
            initiator_nonce: &self.nonce,
            recipient_nonce: &ack.nonce,
            auth_packet: &self.auth,
            ack_packet,
            remote_pubkey: &self.remote,
        }))
    }
}

impl fmt::Debug for Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Initiator")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// The listening side of the handshake.
///
/// Read one packet (use [`packet_body_size`] on its first two bytes), pass it
/// to [`read_auth`](Recipient::read_auth), then send the ack packet from
/// [`AuthReceived::respond`].
pub struct Recipient {
    key: SecretKey,
    ephemeral: SecretKey,
    nonce: [u8; 32],
}

impl Recipient {
    /// Prepares to answer a handshake, with fresh random ephemeral key and nonce.
    pub fn new(key: &SecretKey) -> Self {
        Self::with_randomness(key, SecretKey::random(), rand::random())
    }

    /// Like [`new`](Recipient::new) with a given ephemeral key and nonce (for tests).
    pub fn with_randomness(key: &SecretKey, ephemeral: SecretKey, nonce: [u8; 32]) -> Self {
        Recipient {
            key: key.clone(),
            ephemeral,
            nonce,
        }
    }

    /// Consumes the initiator's auth packet (size prefix included): decrypts
    /// it and recovers the initiator's ephemeral key from the signature.
    pub fn read_auth(self, auth_packet: &[u8]) -> Result<AuthReceived> {
        let auth = decode_auth(auth_packet, &self.key)?;
        let token = self.key.ecdh(&auth.initiator_pubkey);
        let remote_ephemeral = PublicKey::recover(&xor32(&token, &auth.nonce), &auth.signature)?;
        Ok(AuthReceived {
            ephemeral: self.ephemeral,
            nonce: self.nonce,
            remote_ephemeral,
            auth,
            auth_packet: auth_packet.to_vec(),
        })
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recipient").finish_non_exhaustive()
    }
}

/// A recipient that has accepted an auth packet and still has to answer.
pub struct AuthReceived {
    ephemeral: SecretKey,
    nonce: [u8; 32],
    remote_ephemeral: PublicKey,
    auth: AuthMsg,
    auth_packet: Vec<u8>,
}

impl AuthReceived {
    /// The decoded auth body.
    pub fn auth(&self) -> &AuthMsg {
        &self.auth
    }

    /// The initiator's static public key.
    pub fn remote_pubkey(&self) -> &PublicKey {
        &self.auth.initiator_pubkey
    }

    /// The initiator's ephemeral public key, recovered from the signature.
    pub fn remote_ephemeral(&self) -> &PublicKey {
        &self.remote_ephemeral
    }

    /// Seals our ack packet and derives the secrets; returns the packet to send.
    pub fn respond(self) -> (Vec<u8>, Secrets) {
        let body = encode_body(&[&self.ephemeral.public_key().to_bytes(), &self.nonce]);
        let ack = seal_packet(&body, &self.auth.initiator_pubkey);
        let secrets = self.finish(&ack);
        (ack, secrets)
    }

    /// Derives the secrets for a given ack packet (the one that was or will be
    /// sent; [`respond`](AuthReceived::respond) does both steps).
    pub fn finish(&self, ack_packet: &[u8]) -> Secrets {
        Secrets::derive(&SessionParams {
            initiator: false,
            ephemeral: &self.ephemeral,
            remote_ephemeral: &self.remote_ephemeral,
            initiator_nonce: &self.auth.nonce,
            recipient_nonce: &self.nonce,
            auth_packet: &self.auth_packet,
            ack_packet,
            remote_pubkey: &self.auth.initiator_pubkey,
        })
    }
}

impl fmt::Debug for AuthReceived {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthReceived")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_round_trip() {
        let (a, b) = (SecretKey::random(), SecretKey::random());
        let init = Initiator::new(&a, &b.public_key());
        let auth = decode_auth(init.auth_packet(), &b).unwrap();
        assert_eq!(auth.version, 4);
        assert!(auth.rest.is_empty());
        let received = Recipient::new(&b).read_auth(init.auth_packet()).unwrap();
        let (ack, sb) = received.respond();
        let sa = init.read_ack(&ack).unwrap();
        assert_eq!(sa.aes, sb.aes);
        assert_eq!(sa.mac, sb.mac);
        assert_eq!(sa.egress_mac.digest(), sb.ingress_mac.digest());
        assert_eq!(sa.ingress_mac.digest(), sb.egress_mac.digest());
        assert_eq!(sa.remote_pubkey, b.public_key());
        assert_eq!(sb.remote_pubkey, a.public_key());
    }

    #[test]
    fn packet_sizes() {
        assert_eq!(packet_body_size([0x08, 0x00]).unwrap(), 2048);
        assert!(matches!(
            packet_body_size([0x08, 0x01]),
            Err(RlpxError::HandshakeTooBig)
        ));
        let k = SecretKey::random();
        assert!(matches!(
            decode_auth(&[1], &k),
            Err(RlpxError::HandshakeLength { .. })
        ));
        assert!(matches!(
            decode_auth(&[0, 200, 1, 2], &k),
            Err(RlpxError::HandshakeLength { .. })
        ));
        assert!(matches!(
            decode_auth(&[0xff, 0xff], &k),
            Err(RlpxError::HandshakeTooBig)
        ));
    }
}
