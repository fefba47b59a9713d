//! Node keys: secp256k1 secret and public keys, and node IDs.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::Message;

use super::error::{Result, RlpxError};
use super::mac::keccak256;

/// A secp256k1 secret key (a node key or an ephemeral handshake key).
///
/// `Debug` does not print the key.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::SecretKey;
///
/// let key: SecretKey = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"
///     .parse()
///     .unwrap();
/// assert_eq!(
///     key.to_hex(),
///     "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"
/// );
/// let pubkey = key.public_key();
/// assert_eq!(pubkey.node_id().0.len(), 32);
///
/// assert!(SecretKey::from_hex("00").is_err());
/// let fresh = SecretKey::random();
/// assert_ne!(fresh.public_key(), pubkey);
/// ```
#[derive(Clone)]
pub struct SecretKey {
    key: secp256k1::SecretKey,
    /// The public key, derived on first use (a scalar multiplication worth
    /// caching for long-lived node keys).
    public: OnceLock<PublicKey>,
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for SecretKey {}

impl SecretKey {
    /// Generates a new key from the operating system's random source.
    pub fn random() -> Self {
        Self::wrap(secp256k1::SecretKey::new(&mut rand::rng()))
    }

    fn wrap(key: secp256k1::SecretKey) -> Self {
        SecretKey {
            key,
            public: OnceLock::new(),
        }
    }

    /// Builds a key from its 32 big-endian bytes. Zero and values at or above
    /// the curve order are rejected.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        secp256k1::SecretKey::from_secret_bytes(*bytes)
            .map(Self::wrap)
            .map_err(|_| RlpxError::InvalidSecretKey("zero or not below the curve order"))
    }

    /// Builds a key from a slice that must hold exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| RlpxError::InvalidSecretKey("want 32 bytes"))?;
        Self::from_bytes(arr)
    }

    /// Parses 64 hex digits (an optional `0x` prefix and surrounding
    /// whitespace, such as a trailing newline in a key file, are allowed).
    pub fn from_hex(s: &str) -> Result<Self> {
        let s = s.trim();
        let s = s.strip_prefix("0x").unwrap_or(s);
        if s.len() != 64 {
            return Err(RlpxError::InvalidSecretKey("want 64 hex digits"));
        }
        let mut bytes = [0u8; 32];
        decode_hex(s, &mut bytes).map_err(|_| RlpxError::InvalidSecretKey("not valid hex"))?;
        Self::from_bytes(&bytes)
    }

    /// The 32 big-endian bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_secret_bytes()
    }

    /// The key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        *self
            .public
            .get_or_init(|| PublicKey(secp256k1::PublicKey::from_secret_key(&self.key)))
    }

    /// Elliptic-curve Diffie-Hellman: the X coordinate of `self * remote`.
    pub(crate) fn ecdh(&self, remote: &PublicKey) -> [u8; 32] {
        let xy = secp256k1::ecdh::shared_secret_point(&remote.0, &self.key);
        let mut x = [0u8; 32];
        x.copy_from_slice(&xy[..32]);
        x
    }

    /// Signs a 32-byte digest directly (no further hashing) and returns the
    /// 65-byte `R ‖ S ‖ V` form with `V` in {0, 1}.
    pub(crate) fn sign_recoverable(&self, digest: &[u8; 32]) -> [u8; 65] {
        let sig =
            RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(*digest), &self.key);
        let (recid, rs) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&rs);
        out[64] = recid.to_u8();
        out
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl FromStr for SecretKey {
    type Err = RlpxError;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_hex(s)
    }
}

/// A secp256k1 public key. On the wire it is the 64-byte `X ‖ Y` form.
///
/// `Display` and `Debug` print the 128 hex digits of that form.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::PublicKey;
///
/// let hex = "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138\
///            7574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f";
/// let key: PublicKey = hex.parse().unwrap();
/// assert_eq!(key.to_string(), hex);
/// // The 65-byte form with the 0x04 prefix is accepted too.
/// let mut long = vec![4u8];
/// long.extend_from_slice(&key.to_bytes());
/// assert_eq!(PublicKey::from_slice(&long).unwrap(), key);
/// // A point that is not on the curve is rejected.
/// assert!(PublicKey::from_bytes(&[1u8; 64]).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub(crate) secp256k1::PublicKey);

impl PublicKey {
    /// Parses the 64-byte `X ‖ Y` form. The point must be on the curve.
    pub fn from_bytes(bytes: &[u8; 64]) -> Result<Self> {
        let mut full = [4u8; 65];
        full[1..].copy_from_slice(bytes);
        Self::from_uncompressed(&full)
    }

    /// Parses either the 64-byte `X ‖ Y` form or the 65-byte `04 ‖ X ‖ Y` form.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        match bytes.len() {
            64 => {
                let mut arr = [0u8; 64];
                arr.copy_from_slice(bytes);
                Self::from_bytes(&arr)
            }
            65 => {
                let mut arr = [0u8; 65];
                arr.copy_from_slice(bytes);
                Self::from_uncompressed(&arr)
            }
            _ => Err(RlpxError::InvalidPublicKey("want 64 or 65 bytes")),
        }
    }

    /// Parses the 65-byte `04 ‖ X ‖ Y` form.
    pub(crate) fn from_uncompressed(bytes: &[u8; 65]) -> Result<Self> {
        // libsecp256k1 would also take the "hybrid" 06/07 prefixes; RLPx does not.
        if bytes[0] != 4 {
            return Err(RlpxError::InvalidPublicKey(
                "65-byte form must start with 0x04",
            ));
        }
        secp256k1::PublicKey::from_byte_array_uncompressed(*bytes)
            .map(PublicKey)
            .map_err(|_| RlpxError::InvalidPublicKey("not a point on the secp256k1 curve"))
    }

    /// Parses 128 hex digits of the 64-byte form (optional `0x` prefix).
    pub fn from_hex(s: &str) -> Result<Self> {
        let s = s.trim();
        let s = s.strip_prefix("0x").unwrap_or(s);
        if s.len() != 128 {
            return Err(RlpxError::InvalidPublicKey("want 128 hex digits"));
        }
        let mut bytes = [0u8; 64];
        decode_hex(s, &mut bytes).map_err(|_| RlpxError::InvalidPublicKey("not valid hex"))?;
        Self::from_bytes(&bytes)
    }

    /// The 64-byte `X ‖ Y` form used on the wire and in enode URLs.
    pub fn to_bytes(&self) -> [u8; 64] {
        let full = self.0.serialize_uncompressed();
        let mut out = [0u8; 64];
        out.copy_from_slice(&full[1..]);
        out
    }

    /// The 65-byte `04 ‖ X ‖ Y` form (used as the ECIES ephemeral key prefix).
    pub fn to_uncompressed(&self) -> [u8; 65] {
        self.0.serialize_uncompressed()
    }

    /// The node ID: keccak256 of the 64-byte form.
    pub fn node_id(&self) -> crate::NodeId {
        crate::NodeId(node_id(self))
    }

    /// The 33-byte compressed form (`02`/`03` ‖ X), used in node records.
    #[cfg(feature = "discovery")]
    pub(crate) fn compressed(&self) -> [u8; 33] {
        self.0.serialize()
    }

    /// Parses the 33-byte compressed form.
    #[cfg(feature = "discovery")]
    pub(crate) fn from_compressed(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 33] = bytes
            .try_into()
            .map_err(|_| RlpxError::InvalidPublicKey("want 33 bytes"))?;
        secp256k1::PublicKey::from_byte_array_compressed(arr)
            .map(PublicKey)
            .map_err(|_| RlpxError::InvalidPublicKey("not a point on the secp256k1 curve"))
    }

    /// Checks a 64-byte `R ‖ S` signature over the 32-byte `digest` (no
    /// recovery id). High-S signatures are rejected, as libsecp256k1 does.
    #[cfg(feature = "discovery")]
    pub(crate) fn verify_compact(&self, digest: &[u8; 32], sig: &[u8]) -> bool {
        secp256k1::ecdsa::Signature::from_compact(sig)
            .is_ok_and(|s| s.verify(Message::from_digest(*digest), &self.0).is_ok())
    }

    /// Recovers the public key that produced the 65-byte `R ‖ S ‖ V` signature
    /// over the 32-byte `digest`.
    pub(crate) fn recover(digest: &[u8; 32], sig: &[u8; 65]) -> Result<Self> {
        let recid =
            RecoveryId::try_from(i32::from(sig[64])).map_err(|_| RlpxError::InvalidSignature)?;
        let sig = RecoverableSignature::from_compact(&sig[..64], recid)
            .map_err(|_| RlpxError::InvalidSignature)?;
        sig.recover_ecdsa(Message::from_digest(*digest))
            .map(PublicKey)
            .map_err(|_| RlpxError::InvalidSignature)
    }
}

/// The node ID of a public key: keccak256 of its 64-byte `X ‖ Y` form.
pub fn node_id(key: &PublicKey) -> [u8; 32] {
    keccak256(&[&key.to_bytes()])
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_hex(&self.to_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = RlpxError;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_hex(s)
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Decodes hex (either case) into `out`, which must be exactly half as long as `s`.
pub(crate) fn decode_hex(s: &str, out: &mut [u8]) -> std::result::Result<(), ()> {
    let s = s.as_bytes();
    if s.len() != out.len() * 2 {
        return Err(());
    }
    fn nibble(c: u8) -> std::result::Result<u8, ()> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(()),
        }
    }
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_errors() {
        assert!(matches!(
            SecretKey::from_hex("zz"),
            Err(RlpxError::InvalidSecretKey(_))
        ));
        assert!(SecretKey::from_hex(&"0".repeat(64)).is_err());
        assert!(SecretKey::from_hex(&"f".repeat(64)).is_err());
        assert!(SecretKey::from_hex(&"g".repeat(64)).is_err());
        assert!(SecretKey::from_slice(&[1u8; 31]).is_err());
        let k = SecretKey::from_hex(&format!("0x{}\n", "1".repeat(64))).unwrap();
        assert_eq!(k.to_hex(), "1".repeat(64));
        assert_eq!(format!("{k:?}"), "SecretKey(..)");
    }

    #[test]
    fn sign_and_recover() {
        let k = SecretKey::random();
        let digest = [7u8; 32];
        let sig = k.sign_recoverable(&digest);
        assert!(sig[64] <= 1);
        assert_eq!(PublicKey::recover(&digest, &sig).unwrap(), k.public_key());
        let mut bad = sig;
        bad[64] = 9;
        assert!(matches!(
            PublicKey::recover(&digest, &bad),
            Err(RlpxError::InvalidSignature)
        ));
    }

    #[test]
    fn ecdh_agrees() {
        let a = SecretKey::random();
        let b = SecretKey::random();
        assert_eq!(a.ecdh(&b.public_key()), b.ecdh(&a.public_key()));
    }
}
