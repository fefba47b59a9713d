//! AES-256 encryption for the frame path: the CTR streams that encrypt every frame and the
//! block cipher of the frame MAC. Both only ever run the forward cipher.
//!
//! Where the CPU has AES-NI (checked at run time) a key is expanded with
//! `aeskeygenassist` into 15 round keys (240 bytes) and blocks are encrypted by this
//! module's AES-NI code: eight blocks in flight for CTR, or sixteen on 256-bit VAES
//! registers where the CPU also has VAES and AVX2. Elsewhere, and for 128- and 192-bit keys
//! (tests and tools only: RLPx's secrets are 32 bytes), the `aes` crate runs the blocks,
//! boxed so that a key stays small in the common case.

use std::sync::Arc;

use ::aes::cipher::consts::U16;
use ::aes::cipher::{
    BlockCipher, BlockClosure, BlockEncrypt, BlockSizeUser, InnerIvInit, KeyInit, StreamCipher,
};

use super::error::{Result, RlpxError};

/// AES in one of its three key sizes on the `aes` crate, chosen by the length of the key.
enum CrateAes {
    A128(::aes::Aes128),
    A192(::aes::Aes192),
    A256(::aes::Aes256),
}

impl CrateAes {
    fn new(key: &[u8]) -> Option<Self> {
        Some(match key.len() {
            16 => CrateAes::A128(::aes::Aes128::new_from_slice(key).ok()?),
            24 => CrateAes::A192(::aes::Aes192::new_from_slice(key).ok()?),
            32 => CrateAes::A256(::aes::Aes256::new_from_slice(key).ok()?),
            _ => return None,
        })
    }

    fn encrypt_blocks(&self, blocks: &mut [::aes::Block]) {
        match self {
            CrateAes::A128(c) => c.encrypt_blocks(blocks),
            CrateAes::A192(c) => c.encrypt_blocks(blocks),
            CrateAes::A256(c) => c.encrypt_blocks(blocks),
        }
    }
}

/// Which code runs an AES key.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::wire::{AesCtr, AesImpl};
///
/// assert!(AesImpl::Crate.available());
/// let c = AesCtr::new(&[1; 32], [0; 16]).unwrap();
/// println!("frame AES: {:?}", c.implementation());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AesImpl {
    /// This crate's AES-NI code, eight blocks in flight (AES-256 only).
    AesNi,
    /// This crate's VAES code on 256-bit registers, sixteen blocks in flight; single
    /// blocks on AES-NI (AES-256 only).
    Vaes,
    /// The `aes` crate (any key size, any CPU).
    Crate,
}

impl AesImpl {
    /// Whether this CPU runs this implementation.
    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            AesImpl::AesNi => ni::available(),
            #[cfg(target_arch = "x86_64")]
            AesImpl::Vaes => ni::vaes_available(),
            #[cfg(not(target_arch = "x86_64"))]
            AesImpl::AesNi | AesImpl::Vaes => false,
            AesImpl::Crate => true,
        }
    }

    /// The fastest implementation this CPU runs for a key of `key_len` bytes.
    fn best(key_len: usize) -> Self {
        if key_len == 32 {
            // VAES measured faster than AES-NI alone for CTR (benches/rlpx.rs, aes256ctr_impl).
            for imp in [AesImpl::Vaes, AesImpl::AesNi] {
                if imp.available() {
                    return imp;
                }
            }
        }
        AesImpl::Crate
    }
}

/// An expanded AES key.
// The large variant is the common one and holds the round keys inline (one allocation per
// key, with the `Arc`); the rare one is the boxed variant.
#[allow(clippy::large_enum_variant)]
enum Key {
    /// AES-256 on AES-NI; `vaes` says whether CTR runs on VAES.
    #[cfg(target_arch = "x86_64")]
    Ni { keys: ni::RoundKeys, vaes: bool },
    /// The `aes` crate, boxed: its key schedule has room for its software fallback
    /// (~1 KiB), which a key on AES-NI should not pay for.
    Crate(Box<CrateAes>),
}

/// One expanded AES key, shared by the two directions of a session.
///
/// Both directions of an RLPx session use the same aes-secret for their CTR streams and the
/// same mac-secret for their MACs, and an expanded key is only read, so a session expands
/// each secret once and both halves hold a reference to it (a reader and a writer thread
/// may use it at once). On AES-NI the key is 240 bytes of round keys.
#[derive(Clone)]
pub(crate) struct SharedAes(Arc<Key>);

impl SharedAes {
    /// Expands `key` (16, 24 or 32 bytes) for the fastest implementation this CPU runs;
    /// `what` is the error text for another length.
    pub(crate) fn new(key: &[u8], what: &'static str) -> Result<Self> {
        SharedAes::with_impl(key, AesImpl::best(key.len())).ok_or(RlpxError::InvalidSecretKey(what))
    }

    /// Expands `key` for `imp`; `None` if this CPU lacks `imp` or `imp` does not take keys
    /// of this length.
    pub(crate) fn with_impl(key: &[u8], imp: AesImpl) -> Option<Self> {
        if !imp.available() {
            return None;
        }
        let key = match imp {
            #[cfg(target_arch = "x86_64")]
            AesImpl::AesNi | AesImpl::Vaes => Key::Ni {
                keys: ni::RoundKeys::new(key.try_into().ok()?)?,
                vaes: imp == AesImpl::Vaes,
            },
            #[cfg(not(target_arch = "x86_64"))]
            AesImpl::AesNi | AesImpl::Vaes => return None,
            AesImpl::Crate => Key::Crate(Box::new(CrateAes::new(key)?)),
        };
        Some(SharedAes(Arc::new(key)))
    }

    /// The implementation this key runs on.
    pub(crate) fn implementation(&self) -> AesImpl {
        match &*self.0 {
            #[cfg(target_arch = "x86_64")]
            Key::Ni { vaes: true, .. } => AesImpl::Vaes,
            #[cfg(target_arch = "x86_64")]
            Key::Ni { vaes: false, .. } => AesImpl::AesNi,
            Key::Crate(_) => AesImpl::Crate,
        }
    }

    /// Encrypts one block in place.
    pub(crate) fn encrypt(&self, block: &mut [u8; 16]) {
        match &*self.0 {
            #[cfg(target_arch = "x86_64")]
            Key::Ni { keys, .. } => keys.encrypt(block),
            Key::Crate(c) => c.encrypt_blocks(std::slice::from_mut(block.into())),
        }
    }

    /// XORs `buf` (whole blocks) with the keystream of the counter blocks `*ctr`,
    /// `*ctr + 1`, ... (128-bit big-endian, wrapping), and advances `*ctr` past them.
    fn xor_keystream_blocks(&self, ctr: &mut u128, buf: &mut [u8]) {
        debug_assert_eq!(buf.len() % 16, 0);
        match &*self.0 {
            #[cfg(target_arch = "x86_64")]
            Key::Ni { keys, vaes } => keys.ctr(*vaes, ctr, buf),
            Key::Crate(c) => crate_ctr(c, ctr, buf),
        }
    }
}

/// CTR over whole blocks on the `aes` crate, by the `ctr` crate (as many blocks in flight
/// as the `aes` backend runs). In a frame of its own, off the stack of the other paths.
#[inline(never)]
fn crate_ctr(c: &CrateAes, ctr: &mut u128, buf: &mut [u8]) {
    let core = ctr::CtrCore::inner_iv_init(CrateRef(c), &ctr.to_be_bytes().into());
    ctr::Ctr128BE::from_core(core).apply_keystream(buf);
    *ctr = ctr.wrapping_add((buf.len() / 16) as u128);
}

/// A borrowed `aes` crate key as a block cipher, for `ctr`.
struct CrateRef<'a>(&'a CrateAes);

impl BlockSizeUser for CrateRef<'_> {
    type BlockSize = U16;
}

impl BlockCipher for CrateRef<'_> {}

impl BlockEncrypt for CrateRef<'_> {
    fn encrypt_with_backend(&self, f: impl BlockClosure<BlockSize = U16>) {
        match self.0 {
            CrateAes::A128(c) => c.encrypt_with_backend(f),
            CrateAes::A192(c) => c.encrypt_with_backend(f),
            CrateAes::A256(c) => c.encrypt_with_backend(f),
        }
    }
}

/// AES-CTR with a 128-bit big-endian counter that wraps at 2^128, as RLPx runs it for
/// its frames (there with a zero IV and an AES-256 key): the same keystream as
/// `ctr::Ctr128BE`, continued across calls of any length.
///
/// The expanded key is not part of the stream: the two directions of a session share one
/// key schedule, so a stream is its counter, one keystream block and a reference.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::wire::AesCtr;
///
/// let mut enc = AesCtr::new(&[7; 32], [0; 16]).unwrap();
/// let mut data = *b"a header of 16 B and then a body";
/// enc.apply_keystream(&mut data[..16]);
/// enc.apply_keystream(&mut data[16..]);
/// let mut dec = AesCtr::new(&[7; 32], [0; 16]).unwrap();
/// dec.apply_keystream(&mut data);
/// assert_eq!(&data, b"a header of 16 B and then a body");
/// ```
#[derive(Clone)]
pub struct AesCtr {
    key: SharedAes,
    /// The counter block whose keystream comes after `block`'s.
    ctr: u128,
    /// The keystream block in use; its bytes before `used` are spent.
    block: [u8; 16],
    used: usize,
}

impl AesCtr {
    /// A stream on `key` (16, 24 or 32 bytes) whose first counter block is `iv`, on the
    /// fastest implementation this CPU runs.
    pub fn new(key: &[u8], iv: [u8; 16]) -> Result<Self> {
        let key = SharedAes::new(key, "AES key must have 16, 24 or 32 bytes")?;
        Ok(AesCtr::with_key(key, iv))
    }

    /// As [`new`](AesCtr::new) on the implementation `imp`; `None` if this CPU lacks it or
    /// it does not take keys of this length. For tests and comparisons.
    pub fn with_impl(key: &[u8], iv: [u8; 16], imp: AesImpl) -> Option<Self> {
        Some(AesCtr::with_key(SharedAes::with_impl(key, imp)?, iv))
    }

    /// A stream on an already expanded key.
    pub(crate) fn with_key(key: SharedAes, iv: [u8; 16]) -> Self {
        AesCtr {
            key,
            ctr: u128::from_be_bytes(iv),
            block: [0; 16],
            used: 16,
        }
    }

    /// The implementation this stream runs on.
    pub fn implementation(&self) -> AesImpl {
        self.key.implementation()
    }

    /// XORs `buf` with the next `buf.len()` bytes of the keystream.
    pub fn apply_keystream(&mut self, mut buf: &mut [u8]) {
        if self.used < 16 {
            let take = (16 - self.used).min(buf.len());
            let (head, rest) = buf.split_at_mut(take);
            for (d, k) in head.iter_mut().zip(&self.block[self.used..]) {
                *d ^= k;
            }
            self.used += take;
            buf = rest;
        }
        let whole = buf.len() / 16 * 16;
        let (blocks, tail) = buf.split_at_mut(whole);
        if !blocks.is_empty() {
            self.key.xor_keystream_blocks(&mut self.ctr, blocks);
        }
        if !tail.is_empty() {
            self.block = self.ctr.to_be_bytes();
            self.ctr = self.ctr.wrapping_add(1);
            self.key.encrypt(&mut self.block);
            for (d, k) in tail.iter_mut().zip(&self.block) {
                *d ^= k;
            }
            self.used = tail.len();
        }
    }
}

impl std::fmt::Debug for AesCtr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No key material, no stream position.
        write!(f, "AesCtr({:?})", self.implementation())
    }
}

#[cfg(target_arch = "x86_64")]
mod ni {
    //! AES-256 encryption on AES-NI, and CTR on VAES.
    //!
    //! The `#[target_feature]` functions run only on keys built by [`RoundKeys::new`],
    //! which checks the CPU first; a key records whether VAES was checked too.

    use std::arch::x86_64::{
        __m128i, __m256i, _mm256_aesenc_epi128, _mm256_aesenclast_epi128,
        _mm256_broadcastsi128_si256, _mm256_loadu_si256, _mm256_set_m128i, _mm256_storeu_si256,
        _mm256_xor_si256, _mm_add_epi64, _mm_aesenc_si128, _mm_aesenclast_si128,
        _mm_aeskeygenassist_si128, _mm_loadu_si128, _mm_set_epi64x, _mm_set_epi8,
        _mm_shuffle_epi32, _mm_shuffle_epi8, _mm_slli_si128, _mm_storeu_si128, _mm_xor_si128,
    };

    /// Whether this CPU has AES-NI (and SSSE3, which every CPU with AES-NI has).
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("ssse3")
    }

    /// Whether this CPU has AES-NI, VAES and AVX2.
    pub(super) fn vaes_available() -> bool {
        available()
            && std::arch::is_x86_feature_detected!("vaes")
            && std::arch::is_x86_feature_detected!("avx2")
    }

    /// The 15 round keys of an AES-256 encryption key schedule.
    pub(super) struct RoundKeys([__m128i; 15]);

    impl RoundKeys {
        /// Expands `key`, if this CPU has AES-NI.
        pub(super) fn new(key: &[u8; 32]) -> Option<Self> {
            // SAFETY: `expand` needs AES-NI, which `available` just checked.
            available().then(|| RoundKeys(unsafe { expand(key) }))
        }

        pub(super) fn encrypt(&self, block: &mut [u8; 16]) {
            // SAFETY: a `RoundKeys` exists only where `available()` said yes (`new`).
            unsafe { encrypt_block(&self.0, block) }
        }

        /// CTR over whole blocks (see `SharedAes::xor_keystream_blocks`); on VAES if
        /// `vaes` (set only where `vaes_available()` said yes).
        pub(super) fn ctr(&self, vaes: bool, ctr: &mut u128, buf: &mut [u8]) {
            let mut rest = buf;
            if vaes && rest.len() >= 16 * VAES_PAR {
                let bulk = rest.len() / (16 * VAES_PAR) * (16 * VAES_PAR);
                let (head, tail) = rest.split_at_mut(bulk);
                // SAFETY: `vaes` is true only for keys built after `vaes_available()` said
                // yes (`SharedAes::with_impl`).
                unsafe { ctr_vaes(&self.0, ctr, head) };
                rest = tail;
            }
            if rest.len() >= 16 * NI_PAR {
                let bulk = rest.len() / (16 * NI_PAR) * (16 * NI_PAR);
                let (head, tail) = rest.split_at_mut(bulk);
                // SAFETY: a `RoundKeys` exists only where `available()` said yes (`new`).
                unsafe { ctr_ni(&self.0, ctr, head) };
                rest = tail;
            }
            if !rest.is_empty() {
                // SAFETY: as for `ctr_ni`.
                unsafe { ctr_tail(&self.0, ctr, rest) }
            }
        }
    }

    /// Blocks in flight on AES-NI.
    const NI_PAR: usize = 8;
    /// Blocks in flight on VAES (two per register).
    const VAES_PAR: usize = 16;

    /// One step of the schedule for the even round keys: `prev` with its words chained,
    /// XORed with the substituted, rotated last word of `last` and the round constant.
    #[inline]
    #[target_feature(enable = "aes")]
    fn even<const RCON: i32>(prev: __m128i, last: __m128i) -> __m128i {
        let t = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<RCON>(last));
        _mm_xor_si128(chain(prev), t)
    }

    /// One step for the odd round keys: as [`even`], with the substituted (not rotated)
    /// last word and no round constant.
    #[inline]
    #[target_feature(enable = "aes")]
    fn odd(prev: __m128i, last: __m128i) -> __m128i {
        let t = _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>(last));
        _mm_xor_si128(chain(prev), t)
    }

    /// `w0, w0^w1, w0^w1^w2, w0^w1^w2^w3` for the words `w0..w3` of `x`.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn chain(x: __m128i) -> __m128i {
        let x = _mm_xor_si128(x, _mm_slli_si128::<4>(x));
        let x = _mm_xor_si128(x, _mm_slli_si128::<4>(x));
        _mm_xor_si128(x, _mm_slli_si128::<4>(x))
    }

    #[target_feature(enable = "aes")]
    fn expand(key: &[u8; 32]) -> [__m128i; 15] {
        let mut rk = [k0(); 15];
        rk[0] = load(&key[..16]);
        rk[1] = load(&key[16..]);
        rk[2] = even::<0x01>(rk[0], rk[1]);
        rk[3] = odd(rk[1], rk[2]);
        rk[4] = even::<0x02>(rk[2], rk[3]);
        rk[5] = odd(rk[3], rk[4]);
        rk[6] = even::<0x04>(rk[4], rk[5]);
        rk[7] = odd(rk[5], rk[6]);
        rk[8] = even::<0x08>(rk[6], rk[7]);
        rk[9] = odd(rk[7], rk[8]);
        rk[10] = even::<0x10>(rk[8], rk[9]);
        rk[11] = odd(rk[9], rk[10]);
        rk[12] = even::<0x20>(rk[10], rk[11]);
        rk[13] = odd(rk[11], rk[12]);
        rk[14] = even::<0x40>(rk[12], rk[13]);
        rk
    }

    /// A zero register.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn k0() -> __m128i {
        _mm_set_epi64x(0, 0)
    }

    /// The 16 bytes of `b` (exactly 16 long) as a register.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn load(b: &[u8]) -> __m128i {
        assert_eq!(b.len(), 16);
        // SAFETY: `b` has 16 readable bytes (checked above); the load is unaligned.
        unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
    }

    /// Stores `x` into `b` (exactly 16 long).
    #[inline]
    #[target_feature(enable = "sse2")]
    fn store(b: &mut [u8], x: __m128i) {
        assert_eq!(b.len(), 16);
        // SAFETY: `b` has 16 writable bytes (checked above); the store is unaligned.
        unsafe { _mm_storeu_si128(b.as_mut_ptr().cast(), x) }
    }

    /// The counter block for `c`: its 16 big-endian bytes.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn counter_block(c: u128) -> __m128i {
        let hi = ((c >> 64) as u64).swap_bytes() as i64;
        let lo = (c as u64).swap_bytes() as i64;
        _mm_set_epi64x(lo, hi)
    }

    /// The counter blocks `ctr`, `ctr + 1`, ..., `ctr + N - 1`. Where the low 64 bits do not
    /// carry, each is one 64-bit add and one byte shuffle of `ctr` in a register.
    #[inline]
    #[target_feature(enable = "ssse3")]
    fn counter_blocks<const N: usize>(ctr: u128) -> [__m128i; N] {
        let mut out = [k0(); N];
        let lo = ctr as u64;
        if lo.checked_add(N as u64 - 1).is_some() {
            // Lanes: low 64 bits first, as little-endian numbers; the shuffle reverses all
            // 16 bytes into the big-endian block.
            let base = _mm_set_epi64x((ctr >> 64) as i64, lo as i64);
            let reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            for (i, o) in out.iter_mut().enumerate() {
                let c = _mm_add_epi64(base, _mm_set_epi64x(0, i as i64));
                *o = _mm_shuffle_epi8(c, reverse);
            }
        } else {
            for (i, o) in out.iter_mut().enumerate() {
                *o = counter_block(ctr.wrapping_add(i as u128));
            }
        }
        out
    }

    #[inline]
    #[target_feature(enable = "aes")]
    fn encrypt_one(rk: &[__m128i; 15], x: __m128i) -> __m128i {
        let mut x = _mm_xor_si128(x, rk[0]);
        for k in &rk[1..14] {
            x = _mm_aesenc_si128(x, *k);
        }
        _mm_aesenclast_si128(x, rk[14])
    }

    #[target_feature(enable = "aes")]
    fn encrypt_block(rk: &[__m128i; 15], block: &mut [u8; 16]) {
        let x = encrypt_one(rk, load(block));
        store(block, x);
    }

    /// CTR over `N` blocks, `chunk` (exactly `16 * N` bytes), `N` in flight.
    #[inline]
    #[target_feature(enable = "aes,ssse3")]
    fn ctr_par<const N: usize>(rk: &[__m128i; 15], ctr: &mut u128, chunk: &mut [u8]) {
        let mut x = counter_blocks::<N>(*ctr);
        *ctr = ctr.wrapping_add(N as u128);
        for x in &mut x {
            *x = _mm_xor_si128(*x, rk[0]);
        }
        for k in &rk[1..14] {
            for x in &mut x {
                *x = _mm_aesenc_si128(*x, *k);
            }
        }
        for (x, d) in x.iter().zip(chunk.chunks_exact_mut(16)) {
            let ks = _mm_aesenclast_si128(*x, rk[14]);
            store(d, _mm_xor_si128(load(d), ks));
        }
    }

    /// `rk`, as a reference the optimiser cannot see through. The bulk loops take their
    /// round keys through it on every iteration, so that they read the round keys from the
    /// key schedule as they go (memory operands cost no extra instruction) instead of
    /// hoisting all 15 out of the loop into registers, where they do not fit next to the
    /// blocks in flight and would be copied onto the stack.
    #[inline(always)]
    fn opaque(rk: &[__m128i; 15]) -> &[__m128i; 15] {
        std::hint::black_box(rk)
    }

    /// CTR over `buf`, whose length is a multiple of `16 * NI_PAR`.
    #[target_feature(enable = "aes,ssse3")]
    fn ctr_ni(rk: &[__m128i; 15], ctr: &mut u128, buf: &mut [u8]) {
        for chunk in buf.chunks_exact_mut(16 * NI_PAR) {
            ctr_par::<NI_PAR>(opaque(rk), ctr, chunk);
        }
    }

    /// CTR over fewer than `NI_PAR` blocks (`buf`, whole blocks): four, two and one in
    /// flight. Apart from [`ctr_ni`], so that a frame header or a short body runs in a
    /// small stack frame.
    #[target_feature(enable = "aes,ssse3")]
    fn ctr_tail(rk: &[__m128i; 15], ctr: &mut u128, mut buf: &mut [u8]) {
        if buf.len() >= 64 {
            let (head, tail) = buf.split_at_mut(64);
            ctr_par::<4>(rk, ctr, head);
            buf = tail;
        }
        if buf.len() >= 32 {
            let (head, tail) = buf.split_at_mut(32);
            ctr_par::<2>(rk, ctr, head);
            buf = tail;
        }
        if buf.len() >= 16 {
            ctr_par::<1>(rk, ctr, buf);
        }
    }

    /// CTR over `buf`, whose length is a multiple of `16 * VAES_PAR`.
    #[target_feature(enable = "aes,ssse3,vaes,avx2")]
    fn ctr_vaes(rk: &[__m128i; 15], ctr: &mut u128, buf: &mut [u8]) {
        const REGS: usize = VAES_PAR / 2;
        for chunk in buf.chunks_exact_mut(16 * VAES_PAR) {
            let rk = opaque(rk);
            let k = _mm256_broadcastsi128_si256(rk[0]);
            let mut x = [_mm256_xor_si256(k, k); REGS];
            for (i, x) in x.iter_mut().enumerate() {
                let [a, b] = counter_blocks::<2>(ctr.wrapping_add(2 * i as u128));
                *x = _mm256_xor_si256(_mm256_set_m128i(b, a), k);
            }
            *ctr = ctr.wrapping_add(VAES_PAR as u128);
            for k in &rk[1..14] {
                let k = _mm256_broadcastsi128_si256(*k);
                for x in &mut x {
                    *x = _mm256_aesenc_epi128(*x, k);
                }
            }
            let k = _mm256_broadcastsi128_si256(rk[14]);
            for (x, d) in x.iter().zip(chunk.chunks_exact_mut(32)) {
                let ks = _mm256_aesenclast_epi128(*x, k);
                // SAFETY: `d` is a chunk of exactly 32 bytes; the accesses are unaligned.
                unsafe {
                    let v = _mm256_loadu_si256(d.as_ptr().cast::<__m256i>());
                    _mm256_storeu_si256(d.as_mut_ptr().cast(), _mm256_xor_si256(v, ks));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::aes::cipher::generic_array::GenericArray;
    use ::aes::cipher::KeyIvInit;
    use rand::rngs::StdRng;
    use rand::{Rng, RngCore, SeedableRng};

    /// Every implementation this CPU runs, for a 32-byte key.
    fn impls() -> Vec<AesImpl> {
        [AesImpl::AesNi, AesImpl::Vaes, AesImpl::Crate]
            .into_iter()
            .filter(|i| i.available())
            .collect()
    }

    /// A seeded generator, so failures reproduce.
    fn seeded(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn this_cpu_runs_the_fast_paths() {
        // The development and CI machines have AES-NI; where they also have VAES, the
        // default is VAES.
        if AesImpl::Vaes.available() {
            assert_eq!(AesImpl::best(32), AesImpl::Vaes);
        } else if AesImpl::AesNi.available() {
            assert_eq!(AesImpl::best(32), AesImpl::AesNi);
        }
        assert_eq!(AesImpl::best(16), AesImpl::Crate);
        assert_eq!(AesImpl::best(24), AesImpl::Crate);
        eprintln!("implementations on this CPU: {:?}", impls());
    }

    /// FIPS-197, appendix C.3 (AES-256).
    #[test]
    fn fips197_c3() {
        let key = unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        let pt = unhex("00112233445566778899aabbccddeeff");
        let ct = unhex("8ea2b7ca516745bfeafc49904b496089");
        for imp in impls() {
            let k = SharedAes::with_impl(&key, imp).unwrap();
            assert_eq!(k.implementation(), imp);
            let mut b: [u8; 16] = pt.clone().try_into().unwrap();
            k.encrypt(&mut b);
            assert_eq!(&b[..], &ct[..], "{imp:?}");
        }
    }

    #[test]
    fn key_lengths() {
        for imp in [AesImpl::AesNi, AesImpl::Vaes] {
            assert!(SharedAes::with_impl(&[0; 16], imp).is_none());
            assert!(SharedAes::with_impl(&[0; 24], imp).is_none());
        }
        for len in [16, 24, 32] {
            assert!(SharedAes::new(&[0; 32][..len], "x").is_ok());
        }
        for len in [0, 15, 17, 31, 33] {
            assert!(SharedAes::new(&vec![0; len], "x").is_err());
        }
    }

    /// Single blocks agree with the `aes` crate for many random keys and blocks.
    #[test]
    fn blocks_agree_with_aes_crate() {
        let mut rng = seeded(0x9e37_79b9_7f4a_7c15);
        for _ in 0..500 {
            let key: [u8; 32] = rng.random();
            let want_key = ::aes::Aes256::new(&key.into());
            for imp in impls() {
                let k = SharedAes::with_impl(&key, imp).unwrap();
                for _ in 0..4 {
                    let pt: [u8; 16] = rng.random();
                    let mut want = GenericArray::from(pt);
                    want_key.encrypt_block(&mut want);
                    let mut got = pt;
                    k.encrypt(&mut got);
                    assert_eq!(got[..], want[..], "{imp:?}");
                }
            }
        }
    }

    /// The `ctr` crate's keystream over `len` bytes from `iv`.
    fn reference(key: &[u8; 32], iv: [u8; 16], data: &[u8]) -> Vec<u8> {
        let mut c = ctr::Ctr128BE::<::aes::Aes256>::new(key.into(), &iv.into());
        let mut out = data.to_vec();
        c.apply_keystream(&mut out);
        out
    }

    /// Counters that exercise the carry out of the low 64 bits and the wrap at 2^128.
    fn ivs(rng: &mut StdRng) -> Vec<[u8; 16]> {
        let mut v = vec![[0; 16], rng.random(), rng.random()];
        for back in [1u128, 3, 17, 40] {
            v.push(((1u128 << 64) - back).to_be_bytes());
            v.push(0u128.wrapping_sub(back).to_be_bytes());
        }
        v
    }

    #[test]
    fn ctr_agrees_with_ctr_crate() {
        let mut rng = seeded(0x0123_4567_89ab_cdef);
        let mut data = vec![0u8; 600];
        rng.fill_bytes(&mut data);
        for round in 0..4 {
            let key: [u8; 32] = rng.random();
            for iv in ivs(&mut rng) {
                let want = reference(&key, iv, &data);
                for imp in impls() {
                    for len in 0..=600 {
                        if round > 0 && len % 7 != 0 && len < 590 {
                            continue;
                        }
                        let mut c = AesCtr::with_impl(&key, iv, imp).unwrap();
                        let mut got = data[..len].to_vec();
                        c.apply_keystream(&mut got);
                        assert_eq!(got, want[..len], "{imp:?} iv {iv:02x?} len {len}");
                    }
                }
            }
        }
    }

    /// One stream applied in pieces of any length gives the keystream of one call.
    #[test]
    fn ctr_split_anywhere() {
        let mut rng = seeded(0xfeed_f00d_dead_beef);
        let mut data = vec![0u8; 2000];
        rng.fill_bytes(&mut data);
        let key: [u8; 32] = rng.random();
        for iv in ivs(&mut rng) {
            let want = reference(&key, iv, &data);
            for imp in impls() {
                for _ in 0..30 {
                    let mut c = AesCtr::with_impl(&key, iv, imp).unwrap();
                    let mut got = data.clone();
                    let mut at = 0;
                    while at < got.len() {
                        let n = match rng.next_u64() % 4 {
                            0 => (rng.next_u64() % 17) as usize,
                            1 => 16,
                            2 => (rng.next_u64() % 300) as usize,
                            _ => (rng.next_u64() % 700) as usize,
                        };
                        let end = (at + n).min(got.len());
                        c.apply_keystream(&mut got[at..end]);
                        at = end;
                    }
                    assert_eq!(got, want, "{imp:?} iv {iv:02x?}");
                }
            }
        }
    }

    #[test]
    fn ctr_one_mib() {
        let mut rng = seeded(42);
        let mut data = vec![0u8; 1 << 20];
        rng.fill_bytes(&mut data);
        let key: [u8; 32] = rng.random();
        for iv in [[0; 16], (u128::MAX - 1000).to_be_bytes()] {
            let want = reference(&key, iv, &data);
            for imp in impls() {
                let mut c = AesCtr::with_impl(&key, iv, imp).unwrap();
                let mut got = data.clone();
                // A header, then a body, as RLPx applies the stream.
                c.apply_keystream(&mut got[..16]);
                c.apply_keystream(&mut got[16..]);
                assert!(got == want, "{imp:?} iv {iv:02x?}");
            }
        }
    }

    /// 128- and 192-bit keys run on the `aes` crate, with the same stream as `ctr`'s.
    #[test]
    fn short_keys() {
        let mut data = [0x5a; 77];
        let mut c = AesCtr::new(&[3; 16], [0; 16]).unwrap();
        assert_eq!(c.implementation(), AesImpl::Crate);
        c.apply_keystream(&mut data[..16]);
        c.apply_keystream(&mut data[16..]);
        let mut want = [0x5a; 77];
        ctr::Ctr128BE::<::aes::Aes128>::new(&[3; 16].into(), &[0; 16].into())
            .apply_keystream(&mut want);
        assert_eq!(data, want);
        let mut data = [0x5a; 77];
        AesCtr::new(&[3; 24], [0; 16])
            .unwrap()
            .apply_keystream(&mut data);
        let mut want = [0x5a; 77];
        ctr::Ctr128BE::<::aes::Aes192>::new(&[3; 24].into(), &[0; 16].into())
            .apply_keystream(&mut want);
        assert_eq!(data, want);
    }

    /// A key on AES-NI is its 240 bytes of round keys (and a tag) behind one pointer.
    #[test]
    fn sizes() {
        eprintln!(
            "bytes: Key {} (aes's Aes256 {}, CrateAes {}), AesCtr {} (ctr's Ctr128BE {})",
            std::mem::size_of::<Key>(),
            std::mem::size_of::<::aes::Aes256>(),
            std::mem::size_of::<CrateAes>(),
            std::mem::size_of::<AesCtr>(),
            std::mem::size_of::<ctr::Ctr128BE<CrateRef<'static>>>(),
        );
        assert_eq!(std::mem::size_of::<SharedAes>(), 8);
        assert!(
            std::mem::size_of::<Key>() <= 256,
            "{}",
            std::mem::size_of::<Key>()
        );
        assert!(std::mem::size_of::<AesCtr>() <= 64);
    }
}
