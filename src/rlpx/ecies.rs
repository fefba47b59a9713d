//! ECIES over secp256k1 as RLPx uses it to seal the handshake packets.
//!
//! Layout of a ciphertext: `R (65 bytes, 04 ‖ X ‖ Y) ‖ IV (16) ‖ c ‖ tag (32)`.
//!
//! * `R` is a fresh ephemeral public key; `z` = X coordinate of the ECDH of
//!   the ephemeral key with the recipient's key.
//! * `K = SHA-256(00000001 ‖ z)` (one round of the NIST concat KDF, no shared
//!   info); the encryption key is `K[0..16]` and the MAC key is
//!   `SHA-256(K[16..32])`.
//! * `c` = AES-128-CTR of the plaintext under the encryption key and `IV`.
//! * `tag` = HMAC-SHA256 under the MAC key of `IV ‖ c ‖ shared_mac_data`. RLPx
//!   passes the 2-byte size prefix of the packet as `shared_mac_data`, so the
//!   prefix is authenticated too.

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::error::{Result, RlpxError};
use super::keys::{PublicKey, SecretKey};
use super::mac::ct_eq;

/// Bytes ECIES adds to a plaintext: ephemeral key (65), IV (16) and tag (32).
pub const OVERHEAD: usize = 65 + 16 + 32;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;
type HmacSha256 = Hmac<Sha256>;

/// Encrypts `plaintext` for `remote` with a fresh ephemeral key and IV.
/// `shared_mac_data` is authenticated but not encrypted.
pub fn encrypt(remote: &PublicKey, plaintext: &[u8], shared_mac_data: &[u8]) -> Vec<u8> {
    let ephemeral = SecretKey::random();
    let iv: [u8; 16] = rand::random();
    encrypt_with(remote, plaintext, shared_mac_data, &ephemeral, &iv)
}

/// Like [`encrypt`], with the ephemeral key and IV given (for reproducible tests).
pub fn encrypt_with(
    remote: &PublicKey,
    plaintext: &[u8],
    shared_mac_data: &[u8],
    ephemeral: &SecretKey,
    iv: &[u8; 16],
) -> Vec<u8> {
    let (enc_key, mac_key) = derive_keys(&ephemeral.ecdh(remote));

    let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
    out.extend_from_slice(&ephemeral.public_key().to_uncompressed());
    out.extend_from_slice(iv);
    let body_start = out.len();
    out.extend_from_slice(plaintext);
    Aes128Ctr::new(&enc_key.into(), &(*iv).into()).apply_keystream(&mut out[body_start..]);

    let tag = message_tag(&mac_key, &out[65..], shared_mac_data);
    out.extend_from_slice(&tag);
    out
}

/// Decrypts a ciphertext made by [`encrypt`] for `key`.
///
/// Errors: [`RlpxError::EciesInvalidMessage`] for empty or too-short input
/// and for a tag mismatch; [`RlpxError::EciesInvalidPublicKey`] when the
/// ephemeral key is malformed or not on the curve (rejecting off-curve points
/// before any ECDH closes the invalid-curve attack).
pub fn decrypt(key: &SecretKey, ciphertext: &[u8], shared_mac_data: &[u8]) -> Result<Vec<u8>> {
    let Some(&first) = ciphertext.first() else {
        return Err(RlpxError::EciesInvalidMessage);
    };
    if !matches!(first, 2..=4) {
        return Err(RlpxError::EciesInvalidPublicKey);
    }
    if ciphertext.len() < OVERHEAD {
        return Err(RlpxError::EciesInvalidMessage);
    }
    let (r, rest) = ciphertext.split_at(65);
    let r: &[u8; 65] = r.try_into().map_err(|_| RlpxError::EciesInvalidMessage)?;
    let ephemeral =
        PublicKey::from_uncompressed(r).map_err(|_| RlpxError::EciesInvalidPublicKey)?;

    let (enc_key, mac_key) = derive_keys(&key.ecdh(&ephemeral));
    let (iv_and_body, tag) = rest.split_at(rest.len() - 32);
    if !ct_eq(&message_tag(&mac_key, iv_and_body, shared_mac_data), tag) {
        return Err(RlpxError::EciesInvalidMessage);
    }

    let (iv, body) = iv_and_body.split_at(16);
    let iv: [u8; 16] = iv.try_into().map_err(|_| RlpxError::EciesInvalidMessage)?;
    let mut plain = body.to_vec();
    Aes128Ctr::new(&enc_key.into(), &iv.into()).apply_keystream(&mut plain);
    Ok(plain)
}

/// Concat-KDF (SHA-256, counter 1, no shared info) of the ECDH secret `z`,
/// split into the AES key and the hashed MAC key.
fn derive_keys(z: &[u8; 32]) -> ([u8; 16], [u8; 32]) {
    let mut h = Sha256::new();
    h.update(1u32.to_be_bytes());
    h.update(z);
    let k: [u8; 32] = h.finalize().into();
    let mut enc_key = [0u8; 16];
    enc_key.copy_from_slice(&k[..16]);
    let mac_key: [u8; 32] = Sha256::digest(&k[16..]).into();
    (enc_key, mac_key)
}

/// HMAC-SHA256 of `iv_and_body ‖ shared`.
fn message_tag(mac_key: &[u8; 32], iv_and_body: &[u8], shared: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(mac_key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(iv_and_body);
    mac.update(shared);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let k = SecretKey::random();
        for len in [0, 1, 15, 16, 17, 300] {
            let msg = vec![0xab; len];
            let ct = encrypt(&k.public_key(), &msg, b"xy");
            assert_eq!(ct.len(), len + OVERHEAD);
            assert_eq!(decrypt(&k, &ct, b"xy").unwrap(), msg);
            assert!(matches!(
                decrypt(&k, &ct, b"xz"),
                Err(RlpxError::EciesInvalidMessage)
            ));
        }
    }

    #[test]
    fn rejects_bad_input() {
        let k = SecretKey::random();
        let ct = encrypt(&k.public_key(), b"hello", &[]);
        assert!(matches!(
            decrypt(&k, &[], &[]),
            Err(RlpxError::EciesInvalidMessage)
        ));
        assert!(matches!(
            decrypt(&k, &ct[..100], &[]),
            Err(RlpxError::EciesInvalidMessage)
        ));
        let mut bad = ct.clone();
        bad[0] = 5;
        assert!(matches!(
            decrypt(&k, &bad, &[]),
            Err(RlpxError::EciesInvalidPublicKey)
        ));
        let mut bad = ct.clone();
        bad[0] = 2;
        assert!(matches!(
            decrypt(&k, &bad, &[]),
            Err(RlpxError::EciesInvalidPublicKey)
        ));
        let mut bad = ct.clone();
        bad[1..65].fill(0);
        let e = decrypt(&k, &bad, &[]).unwrap_err();
        assert_eq!(e.to_string(), "ecies: invalid public key");
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let e = decrypt(&k, &bad, &[]).unwrap_err();
        assert_eq!(e.to_string(), "ecies: invalid message");
    }
}
