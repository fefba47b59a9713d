//! The RLPx frame MAC: a running keccak state combined with an AES block
//! cipher, plus the small hash abstraction that lets tests swap the keccak
//! state for a fake one.

use sha3::{Digest, Keccak256};

use super::aes::SharedAes;
use super::error::Result;

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

#[cfg(target_arch = "x86_64")]
mod avx512;

/// The production [`MacHash`]: a running Keccak-256 state.
///
/// The MAC absorbs every byte of every frame, so this hash sets the
/// transport's bulk throughput. Where the CPU has AVX-512F and AVX-512VL
/// (checked at run time) it runs this crate's AVX-512 permutation; elsewhere
/// it runs `keccak-asm` (OpenSSL's keccak assembly). Both measured faster than
/// the `sha3` crate used for one-shot hashes (`benches/rlpx.rs`; README,
/// Performance).
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::wire::{KeccakMac, MacHash};
///
/// let mut h = KeccakMac::new();
/// h.update(b"");
/// assert_eq!(h.digest()[..4], [0xc5, 0xd2, 0x46, 0x01]); // keccak256("")
/// println!("frame MAC keccak: {}", h.implementation());
/// ```
#[derive(Clone)]
pub struct KeccakMac(KeccakImpl);

#[derive(Clone)]
enum KeccakImpl {
    Asm(keccak_asm::Keccak256),
    #[cfg(target_arch = "x86_64")]
    Avx512(avx512::Keccak256),
}

impl KeccakMac {
    /// An empty state, on the fastest implementation this CPU runs.
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(h) = avx512::Keccak256::new() {
            return KeccakMac(KeccakImpl::Avx512(h));
        }
        Self::portable()
    }

    /// An empty state on the portable implementation (`keccak-asm`), whatever
    /// the CPU; for comparisons.
    pub fn portable() -> Self {
        KeccakMac(KeccakImpl::Asm(keccak_asm::Digest::new()))
    }

    /// Which implementation this state runs on: `"avx512"` or
    /// `"keccak-asm (<its backend>)"`.
    pub fn implementation(&self) -> String {
        match &self.0 {
            KeccakImpl::Asm(_) => format!("keccak-asm ({})", keccak_asm::IMPL),
            #[cfg(target_arch = "x86_64")]
            KeccakImpl::Avx512(_) => "avx512".to_string(),
        }
    }
}

impl Default for KeccakMac {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for KeccakMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeccakMac(..)")
    }
}

impl MacHash for KeccakMac {
    fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            KeccakImpl::Asm(h) => keccak_asm::Digest::update(h, data),
            #[cfg(target_arch = "x86_64")]
            KeccakImpl::Avx512(h) => h.update(data),
        }
    }

    fn digest(&self) -> [u8; 32] {
        match &self.0 {
            KeccakImpl::Asm(h) => asm_digest(h),
            #[cfg(target_arch = "x86_64")]
            KeccakImpl::Avx512(h) => h.digest(),
        }
    }
}

/// The digest on `keccak-asm`, in a frame of its own: its copy of the sponge would
/// otherwise deepen the stack of the AVX-512 path too (each frame's digest is on the
/// deepest path of an idle peer's threads).
#[inline(never)]
fn asm_digest(h: &keccak_asm::Keccak256) -> [u8; 32] {
    // Finalizing consumes the sponge, so finalize a copy.
    keccak_asm::Digest::finalize(h.clone()).into()
}

/// One direction's frame MAC state.
///
/// Every MAC is built the same way: take a 32-byte digest of the running
/// hash, encrypt its first 16 bytes with AES keyed by the mac-secret, XOR the
/// result with a 16-byte seed, absorb that into the hash, and output the first
/// 16 bytes of the new digest. For a header the seed is the header
/// ciphertext; for a frame body the body ciphertext is absorbed first and the
/// seed is the first half of the resulting digest. The AES key schedule is
/// expanded once per session and shared by its two directions ([`SharedAes`]).
pub(crate) struct HashMac<H> {
    cipher: SharedAes,
    hash: H,
    /// Digest of `hash` as it is now, if already computed. A frame's last
    /// digest is the next header's first one (nothing is absorbed in
    /// between), so caching saves one keccak permutation per frame.
    current: Option<[u8; 32]>,
}

impl<H: MacHash> HashMac<H> {
    #[cfg(test)]
    pub(crate) fn new(mac_secret: &[u8], hash: H) -> Result<Self> {
        Ok(HashMac::with_cipher(HashMac::<H>::key(mac_secret)?, hash))
    }

    /// The MAC's block cipher for `mac_secret`, to share between the two directions.
    pub(crate) fn key(mac_secret: &[u8]) -> Result<SharedAes> {
        SharedAes::new(mac_secret, "MAC secret must have 16, 24 or 32 bytes")
    }

    /// A MAC state on an already expanded mac-secret.
    pub(crate) fn with_cipher(cipher: SharedAes, hash: H) -> Self {
        HashMac {
            cipher,
            hash,
            current: None,
        }
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

    /// Every implementation agrees with `sha3` on messages fed in pieces of any
    /// size, across block boundaries, and `digest` leaves the state usable.
    #[test]
    fn implementations_agree_with_sha3() {
        #[cfg(target_arch = "x86_64")]
        if avx512::available() {
            assert_eq!(KeccakMac::new().implementation(), "avx512");
        }
        let data: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        for make in [KeccakMac::new, KeccakMac::portable] {
            for len in (0..400).chain([1087, 1088, 1089, 2999]) {
                let want = keccak256(&[&data[..len]]);
                for step in [1, 7, 64, 135, 136, 137, 1000] {
                    let mut h = make();
                    for piece in data[..len].chunks(step) {
                        h.update(piece);
                        let _ = h.digest();
                    }
                    assert_eq!(
                        h.digest(),
                        want,
                        "{} len {len} step {step}",
                        h.implementation()
                    );
                }
            }
        }
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(&[1, 2], &[1, 2]));
        assert!(!ct_eq(&[1, 2], &[1, 3]));
        assert!(!ct_eq(&[1, 2], &[1]));
    }
}
