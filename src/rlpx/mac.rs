//! The RLPx frame MAC: a running keccak state combined with an AES block
//! cipher, plus the small hash abstraction that lets tests swap the keccak
//! state for a fake one.

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use sha3::{Digest, Keccak256};

use super::error::{Result, RlpxError};

/// Legacy Keccak-256 (Ethereum's hash, not NIST SHA3-256) of the
/// concatenation of `parts`.
pub(crate) fn keccak256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A running hash as used by the frame MAC: data is absorbed with
/// [`update`](MacHash::update), and [`digest`](MacHash::digest) returns the
/// 32-byte hash of everything absorbed so far *without* ending the stream.
///
/// Production uses [`KeccakMac`]. Tests can plug in other implementations,
/// e.g. a constant one to reproduce go-ethereum's frame golden vector.
pub trait MacHash: Send + 'static {
    /// Absorbs `data` into the running state.
    fn update(&mut self, data: &[u8]);
    /// The hash of everything absorbed so far; the state stays usable.
    fn digest(&self) -> [u8; 32];
}

/// The production [`MacHash`]: a running Keccak-256 state.
///
/// The MAC absorbs every byte of every frame, so this hash sets the
/// transport's bulk throughput. It runs on `keccak-asm` (OpenSSL's keccak
/// assembly; with AVX-512 enabled at build time, e.g. `-C target-cpu=native`
/// on a CPU that has it, its AVX-512 code), which measured faster than the
/// `sha3` crate used for one-shot hashes (`benches/rlpx.rs`).
#[derive(Clone, Default)]
pub struct KeccakMac(keccak_asm::Keccak256);

impl KeccakMac {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for KeccakMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeccakMac(..)")
    }
}

impl MacHash for KeccakMac {
    fn update(&mut self, data: &[u8]) {
        keccak_asm::Digest::update(&mut self.0, data);
    }

    fn digest(&self) -> [u8; 32] {
        // Finalizing consumes the sponge, so finalize a copy.
        keccak_asm::Digest::finalize(self.0.clone()).into()
    }
}

/// AES in one of its three key sizes, chosen by the length of the key.
pub(crate) enum AesBlock {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl AesBlock {
    pub(crate) fn new(key: &[u8], what: &'static str) -> Result<Self> {
        let bad = |_| RlpxError::InvalidSecretKey(what);
        Ok(match key.len() {
            16 => AesBlock::A128(aes::Aes128::new_from_slice(key).map_err(bad)?),
            24 => AesBlock::A192(aes::Aes192::new_from_slice(key).map_err(bad)?),
            32 => AesBlock::A256(aes::Aes256::new_from_slice(key).map_err(bad)?),
            _ => return Err(RlpxError::InvalidSecretKey(what)),
        })
    }

    fn encrypt(&self, block: &mut [u8; 16]) {
        match self {
            AesBlock::A128(c) => c.encrypt_block(block.into()),
            AesBlock::A192(c) => c.encrypt_block(block.into()),
            AesBlock::A256(c) => c.encrypt_block(block.into()),
        }
    }
}

/// One direction's frame MAC state.
///
/// Every MAC is built the same way: take a 32-byte digest of the running
/// hash, encrypt its first 16 bytes with AES keyed by the mac-secret, XOR the
/// result with a 16-byte seed, absorb that into the hash, and output the first
/// 16 bytes of the new digest. For a header the seed is the header
/// ciphertext; for a frame body the body ciphertext is absorbed first and the
/// seed is the first half of the resulting digest. The AES key schedule is
/// expanded once, when the state is created.
pub(crate) struct HashMac<H> {
    cipher: AesBlock,
    hash: H,
    /// Digest of `hash` as it is now, if already computed. A frame's last
    /// digest is the next header's first one (nothing is absorbed in
    /// between), so caching saves one keccak permutation per frame.
    current: Option<[u8; 32]>,
}

impl<H: MacHash> HashMac<H> {
    pub(crate) fn new(mac_secret: &[u8], hash: H) -> Result<Self> {
        Ok(HashMac {
            cipher: AesBlock::new(mac_secret, "MAC secret must have 16, 24 or 32 bytes")?,
            hash,
            current: None,
        })
    }

    /// MAC of a 16-byte header ciphertext.
    pub(crate) fn header(&mut self, header_ct: &[u8; 16]) -> [u8; 16] {
        let sum = self.digest();
        self.compute(&sum, header_ct)
    }

    /// MAC of a (padded) frame body ciphertext.
    pub(crate) fn frame(&mut self, frame_ct: &[u8]) -> [u8; 16] {
        self.update(frame_ct);
        let seed = self.digest();
        let mut half = [0u8; 16];
        half.copy_from_slice(&seed[..16]);
        self.compute(&seed, &half)
    }

    fn update(&mut self, data: &[u8]) {
        self.hash.update(data);
        self.current = None;
    }

    fn digest(&mut self) -> [u8; 32] {
        match self.current {
            Some(d) => d,
            None => {
                let d = self.hash.digest();
                self.current = Some(d);
                d
            }
        }
    }

    fn compute(&mut self, sum: &[u8; 32], seed: &[u8; 16]) -> [u8; 16] {
        let mut block = [0u8; 16];
        block.copy_from_slice(&sum[..16]);
        self.cipher.encrypt(&mut block);
        for (b, s) in block.iter_mut().zip(seed) {
            *b ^= s;
        }
        self.update(&block);
        let out = self.digest();
        let mut mac = [0u8; 16];
        mac.copy_from_slice(&out[..16]);
        mac
    }
}

/// Constant-time equality of two 16-byte MACs.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keep the optimizer from turning the fold into an early-exit compare.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_empty() {
        assert_eq!(
            super::super::keys::encode_hex(&keccak256(&[])),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn digest_does_not_finalize() {
        let mut m = KeccakMac::new();
        m.update(b"fo");
        let _ = m.digest();
        m.update(b"o");
        assert_eq!(m.digest(), keccak256(&[b"foo"]));
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(&[1, 2], &[1, 2]));
        assert!(!ct_eq(&[1, 2], &[1, 3]));
        assert!(!ct_eq(&[1, 2], &[1]));
    }
}
