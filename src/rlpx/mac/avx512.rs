//! Keccak-256 on AVX-512: the frame MAC's hash on CPUs that have AVX-512F and
//! AVX-512VL, chosen at run time (see [`KeccakMac`](super::KeccakMac)).
//!
//! Each of the 25 state lanes lives in its own 128-bit register (32 of them
//! with AVX-512VL), so the permutation is the plain lane-by-lane algorithm with
//! AVX-512's rotate (`vprolq`) and three-input logic (`vpternlogq`): a column
//! parity is two instructions, a χ step one. Crates that ship this code select
//! it when the crate is compiled for AVX-512 only; this module lets one
//! portable build use it where the CPU has it.

use std::arch::x86_64::{
    __m128i, _mm_cvtsi128_si64, _mm_cvtsi64_si128, _mm_rol_epi64, _mm_setzero_si128,
    _mm_ternarylogic_epi64, _mm_xor_si128,
};

/// Keccak-256's rate: bytes absorbed per permutation.
const RATE: usize = 136;

/// Round constants of Keccak-f\[1600\].
const RC: [u64; 24] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808a,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808b,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008a,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000a,
    0x0000_0000_8000_808b,
    0x8000_0000_0000_008b,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800a,
    0x8000_0000_8000_000a,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// Whether this CPU runs the AVX-512 code.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
}

/// A running Keccak-256 (Ethereum's, not NIST SHA3-256) on AVX-512. Only built
/// by [`Keccak256::new`], which returns `None` where the CPU lacks AVX-512.
#[derive(Clone)]
pub(super) struct Keccak256 {
    state: [u64; 25],
    /// Bytes of an incomplete block, `block[..len]`.
    block: [u8; RATE],
    len: usize,
}

impl Keccak256 {
    /// An empty state, if this CPU has AVX-512F and AVX-512VL.
    pub(super) fn new() -> Option<Self> {
        available().then_some(Keccak256 {
            state: [0; 25],
            block: [0; RATE],
            len: 0,
        })
    }

    /// Absorbs `data`.
    pub(super) fn update(&mut self, mut data: &[u8]) {
        if self.len > 0 {
            let take = (RATE - self.len).min(data.len());
            self.block[self.len..self.len + take].copy_from_slice(&data[..take]);
            self.len += take;
            data = &data[take..];
            if self.len < RATE {
                return;
            }
            // SAFETY: a `Keccak256` exists only where `available()` said yes.
            unsafe { absorb_blocks(&mut self.state, &self.block) };
            self.len = 0;
        }
        let whole = data.len() - data.len() % RATE;
        if whole > 0 {
            self.absorb(&data[..whole]);
        }
        let rest = &data[whole..];
        self.block[..rest.len()].copy_from_slice(rest);
        self.len = rest.len();
    }

    /// The hash of everything absorbed so far; the state stays usable.
    ///
    /// Never inlined: its copy of the state would then sit in the frames of its callers
    /// (the frame encoder and the MAC's `compute`, which calls it again), one above the
    /// other on the deepest path of an idle peer's threads.
    #[inline(never)]
    pub(super) fn digest(&self) -> [u8; 32] {
        // The padded last block is XORed into a copy of the state here, and the
        // permutation absorbs a block of zeros: no copy of the block on the stack (this
        // digest is on the deepest path of an idle peer's threads).
        static ZEROS: [u8; RATE] = [0; RATE];
        let mut state = self.state;
        let xor_byte = |state: &mut [u64; 25], i: usize, b: u8| {
            state[i / 8] ^= u64::from(b) << (8 * (i % 8));
        };
        for (i, &b) in self.block[..self.len].iter().enumerate() {
            xor_byte(&mut state, i, b);
        }
        // Keccak's original padding (0x01 ... 0x80), not SHA-3's 0x06.
        xor_byte(&mut state, self.len, 0x01);
        xor_byte(&mut state, RATE - 1, 0x80);
        // SAFETY: a `Keccak256` exists only where `available()` said yes.
        unsafe { absorb_blocks(&mut state, &ZEROS) };
        let mut out = [0u8; 32];
        for (o, lane) in out.chunks_exact_mut(8).zip(&state) {
            o.copy_from_slice(&lane.to_le_bytes());
        }
        out
    }

    fn absorb(&mut self, blocks: &[u8]) {
        // SAFETY: a `Keccak256` exists only where `available()` said yes.
        unsafe { absorb_blocks(&mut self.state, blocks) }
    }
}

/// XOR of five lanes: two three-input instructions.
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
fn xor5(a: __m128i, b: __m128i, c: __m128i, d: __m128i, e: __m128i) -> __m128i {
    _mm_ternarylogic_epi64::<0x96>(_mm_ternarylogic_epi64::<0x96>(a, b, c), d, e)
}

/// θ for one lane: `a ^ c ^ r`, the lane XORed with its column's two
/// neighbour parities (one of them rotated), in one instruction.
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
fn theta(a: __m128i, c: __m128i, r: __m128i) -> __m128i {
    _mm_ternarylogic_epi64::<0x96>(a, c, r)
}

/// χ for one lane: `a ^ (!b & c)` in one instruction.
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
fn chi(a: __m128i, b: __m128i, c: __m128i) -> __m128i {
    _mm_ternarylogic_epi64::<0xD2>(a, b, c)
}

/// Absorbs `blocks` (a whole number of [`RATE`]-byte blocks) into `state`,
/// one Keccak-f\[1600\] per block.
///
/// # Safety
///
/// The CPU must support AVX-512F and AVX-512VL.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn absorb_blocks(state: &mut [u64; 25], blocks: &[u8]) {
    debug_assert_eq!(blocks.len() % RATE, 0);
    let mut a = [_mm_setzero_si128(); 25];
    for (lane, v) in a.iter_mut().zip(state.iter()) {
        *lane = _mm_cvtsi64_si128(*v as i64);
    }
    for block in blocks.chunks_exact(RATE) {
        for (lane, bytes) in a.iter_mut().zip(block.chunks_exact(8)) {
            let v = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
            *lane = _mm_xor_si128(*lane, _mm_cvtsi64_si128(v as i64));
        }
        keccak_f1600(&mut a);
    }
    for (v, lane) in state.iter_mut().zip(a.iter()) {
        *v = _mm_cvtsi128_si64(*lane) as u64;
    }
}

/// Keccak-f\[1600\] over lanes `a[x + 5 * y]`, each in the low half of a register.
#[inline]
#[target_feature(enable = "avx512f,avx512vl")]
fn keccak_f1600(a: &mut [__m128i; 25]) {
    for rc in RC {
        // θ: column parities and the value each column is XORed with.
        let c0 = xor5(a[0], a[5], a[10], a[15], a[20]);
        let c1 = xor5(a[1], a[6], a[11], a[16], a[21]);
        let c2 = xor5(a[2], a[7], a[12], a[17], a[22]);
        let c3 = xor5(a[3], a[8], a[13], a[18], a[23]);
        let c4 = xor5(a[4], a[9], a[14], a[19], a[24]);
        let r0 = _mm_rol_epi64::<1>(c1);
        let r1 = _mm_rol_epi64::<1>(c2);
        let r2 = _mm_rol_epi64::<1>(c3);
        let r3 = _mm_rol_epi64::<1>(c4);
        let r4 = _mm_rol_epi64::<1>(c0);
        // θ's XOR, ρ and π: b[y + 5 * ((2x + 3y) % 5)] = rot(a[x + 5y]).
        let b0 = theta(a[0], c4, r0);
        let b16 = _mm_rol_epi64::<36>(theta(a[5], c4, r0));
        let b7 = _mm_rol_epi64::<3>(theta(a[10], c4, r0));
        let b23 = _mm_rol_epi64::<41>(theta(a[15], c4, r0));
        let b14 = _mm_rol_epi64::<18>(theta(a[20], c4, r0));
        let b10 = _mm_rol_epi64::<1>(theta(a[1], c0, r1));
        let b1 = _mm_rol_epi64::<44>(theta(a[6], c0, r1));
        let b17 = _mm_rol_epi64::<10>(theta(a[11], c0, r1));
        let b8 = _mm_rol_epi64::<45>(theta(a[16], c0, r1));
        let b24 = _mm_rol_epi64::<2>(theta(a[21], c0, r1));
        let b20 = _mm_rol_epi64::<62>(theta(a[2], c1, r2));
        let b11 = _mm_rol_epi64::<6>(theta(a[7], c1, r2));
        let b2 = _mm_rol_epi64::<43>(theta(a[12], c1, r2));
        let b18 = _mm_rol_epi64::<15>(theta(a[17], c1, r2));
        let b9 = _mm_rol_epi64::<61>(theta(a[22], c1, r2));
        let b5 = _mm_rol_epi64::<28>(theta(a[3], c2, r3));
        let b21 = _mm_rol_epi64::<55>(theta(a[8], c2, r3));
        let b12 = _mm_rol_epi64::<25>(theta(a[13], c2, r3));
        let b3 = _mm_rol_epi64::<21>(theta(a[18], c2, r3));
        let b19 = _mm_rol_epi64::<56>(theta(a[23], c2, r3));
        let b15 = _mm_rol_epi64::<27>(theta(a[4], c3, r4));
        let b6 = _mm_rol_epi64::<20>(theta(a[9], c3, r4));
        let b22 = _mm_rol_epi64::<39>(theta(a[14], c3, r4));
        let b13 = _mm_rol_epi64::<8>(theta(a[19], c3, r4));
        let b4 = _mm_rol_epi64::<14>(theta(a[24], c3, r4));
        // χ, row by row.
        a[0] = chi(b0, b1, b2);
        a[1] = chi(b1, b2, b3);
        a[2] = chi(b2, b3, b4);
        a[3] = chi(b3, b4, b0);
        a[4] = chi(b4, b0, b1);
        a[5] = chi(b5, b6, b7);
        a[6] = chi(b6, b7, b8);
        a[7] = chi(b7, b8, b9);
        a[8] = chi(b8, b9, b5);
        a[9] = chi(b9, b5, b6);
        a[10] = chi(b10, b11, b12);
        a[11] = chi(b11, b12, b13);
        a[12] = chi(b12, b13, b14);
        a[13] = chi(b13, b14, b10);
        a[14] = chi(b14, b10, b11);
        a[15] = chi(b15, b16, b17);
        a[16] = chi(b16, b17, b18);
        a[17] = chi(b17, b18, b19);
        a[18] = chi(b18, b19, b15);
        a[19] = chi(b19, b15, b16);
        a[20] = chi(b20, b21, b22);
        a[21] = chi(b21, b22, b23);
        a[22] = chi(b22, b23, b24);
        a[23] = chi(b23, b24, b20);
        a[24] = chi(b24, b20, b21);
        // ι.
        a[0] = _mm_xor_si128(a[0], _mm_cvtsi64_si128(rc as i64));
    }
}
