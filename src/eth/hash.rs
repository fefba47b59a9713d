//! 32-byte hashes (block and transaction hashes).

use std::fmt;
use std::str::FromStr;

/// A 32-byte hash: a block hash, a transaction hash, a genesis hash.
///
/// Displays as `0x`-prefixed lowercase hex; parses from hex with or without the prefix.
/// Encodes as a 32-byte RLP string.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::H256;
/// let h: H256 = "0xd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3".parse().unwrap();
/// assert_eq!(h, devp2p_peer::eth::Chain::mainnet().genesis_hash);
/// assert_eq!(h.to_string(), "0xd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3");
/// assert!("0x1234".parse::<H256>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct H256(pub [u8; 32]);

impl H256 {
    /// The all-zero hash.
    pub const ZERO: H256 = H256([0; 32]);

    /// Parses 64 hex digits (with or without `0x`) at compile time; panics on bad input.
    /// For the constants of this crate.
    pub(crate) const fn from_hex_const(s: &str) -> H256 {
        let b = s.as_bytes();
        let start = if b.len() >= 2 && b[0] == b'0' && b[1] == b'x' {
            2
        } else {
            0
        };
        assert!(b.len() - start == 64, "a hash has 64 hex digits");
        let mut out = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            out[i] = (nibble(b[start + 2 * i]) << 4) | nibble(b[start + 2 * i + 1]);
            i += 1;
        }
        H256(out)
    }

    /// The hash as a byte slice.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// True for the all-zero hash.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not a hex digit"),
    }
}

/// Lowercase hex without a prefix, as go-ethereum's `%x` prints hashes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl fmt::Display for H256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex(&self.0))
    }
}

impl fmt::Debug for H256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "H256(0x{})", hex(&self.0))
    }
}

impl fmt::LowerHex for H256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.write_str("0x")?;
        }
        f.write_str(&hex(&self.0))
    }
}

/// A string that is not 64 hex digits (optionally `0x`-prefixed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseHashError;

impl fmt::Display for ParseHashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hash is 64 hex digits, optionally prefixed with 0x")
    }
}

impl std::error::Error for ParseHashError {}

impl FromStr for H256 {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<H256, ParseHashError> {
        let digits = s.strip_prefix("0x").unwrap_or(s).as_bytes();
        if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(ParseHashError);
        }
        let mut out = [0u8; 32];
        for (i, pair) in digits.chunks(2).enumerate() {
            out[i] = (nibble(pair[0]) << 4) | nibble(pair[1]);
        }
        Ok(H256(out))
    }
}

impl From<[u8; 32]> for H256 {
    fn from(b: [u8; 32]) -> H256 {
        H256(b)
    }
}

impl rlp::Encodable for H256 {
    fn rlp_append(&self, s: &mut rlp::RlpStream) {
        s.encoder().encode_value(&self.0);
    }
}
