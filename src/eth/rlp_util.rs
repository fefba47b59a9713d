//! Strict RLP reading for eth messages: canonical sizes and integers, exact list lengths,
//! exact hash sizes, as go-ethereum's decoder demands. Texts follow go-ethereum's `rlp`
//! package where it has one.

use std::fmt;

/// An eth message payload that is not what its type requires.
///
/// The text says what was wrong and where, in the words of go-ethereum's `rlp` package
/// where it has them (`too few elements for eth.StatusPacket69`, `non-canonical integer
/// (leading zero bytes) for uint64`, ...).
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{ForkId, Message, Transactions};
/// let err = Transactions::decode(&[0x83, 1, 2, 3]).unwrap_err();
/// assert_eq!(err.to_string(), "expected input list for eth.TransactionsPacket");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub(crate) String);

impl DecodeError {
    pub(crate) fn new(text: impl Into<String>) -> DecodeError {
        DecodeError(text.into())
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

pub(crate) type Result<T> = std::result::Result<T, DecodeError>;

/// One RLP item at the start of some bytes: its header and payload lengths.
#[derive(Clone, Copy)]
pub(crate) struct Item<'a> {
    /// The whole item, header included.
    pub raw: &'a [u8],
    /// Its payload (a string's bytes or a list's encoded items).
    pub payload: &'a [u8],
    pub is_list: bool,
}

/// Splits the first item off `bytes`, checking its header is canonical and its payload is
/// all there. Returns the item and the bytes after it.
pub(crate) fn split(bytes: &[u8]) -> Result<(Item<'_>, &[u8])> {
    let Some(&b0) = bytes.first() else {
        return Err(DecodeError::new("unexpected EOF"));
    };
    let (is_list, header, len) = match b0 {
        0x00..=0x7f => {
            let raw = &bytes[..1];
            let item = Item {
                raw,
                payload: raw,
                is_list: false,
            };
            return Ok((item, &bytes[1..]));
        }
        0x80..=0xb7 => (false, 1, usize::from(b0 - 0x80)),
        0xb8..=0xbf => {
            let n = usize::from(b0 - 0xb7);
            (false, 1 + n, long_size(bytes, n)?)
        }
        0xc0..=0xf7 => (true, 1, usize::from(b0 - 0xc0)),
        0xf8..=0xff => {
            let n = usize::from(b0 - 0xf7);
            (true, 1 + n, long_size(bytes, n)?)
        }
    };
    let end = header
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| DecodeError::new("value size exceeds available input length"))?;
    let payload = &bytes[header..end];
    if !is_list && len == 1 && payload[0] < 0x80 {
        return Err(DecodeError::new(
            "non-canonical size information (single byte below 128 must be encoded as itself)",
        ));
    }
    let item = Item {
        raw: &bytes[..end],
        payload,
        is_list,
    };
    Ok((item, &bytes[end..]))
}

/// The size in a long-form header with `n` size bytes.
fn long_size(bytes: &[u8], n: usize) -> Result<usize> {
    let size_bytes = bytes
        .get(1..1 + n)
        .ok_or_else(|| DecodeError::new("unexpected EOF"))?;
    if size_bytes[0] == 0 {
        return Err(DecodeError::new(
            "non-canonical size information (leading zero bytes)",
        ));
    }
    let mut size: u64 = 0;
    for &b in size_bytes {
        size = (size << 8) | u64::from(b);
    }
    if size < 56 {
        return Err(DecodeError::new(
            "non-canonical size information (size below 56 in long form)",
        ));
    }
    usize::try_from(size).map_err(|_| DecodeError::new("value size exceeds available input length"))
}

/// The first item of a message payload; bytes after it are ignored, as a message decoder
/// reading one value from a stream does.
pub(crate) fn first(bytes: &[u8]) -> Result<Item<'_>> {
    split(bytes).map(|(item, _)| item)
}

/// The items of a list, which must be exactly covered by them.
pub(crate) fn list<'a>(item: Item<'a>, what: &str) -> Result<Vec<Item<'a>>> {
    if !item.is_list {
        return Err(DecodeError::new(format!("expected input list for {what}")));
    }
    let mut rest = item.payload;
    let mut items = Vec::new();
    while !rest.is_empty() {
        let (it, r) = split(rest)?;
        items.push(it);
        rest = r;
    }
    Ok(items)
}

/// The items of a list that must have exactly `n` of them (a struct of `n` fields).
pub(crate) fn fields<'a>(item: Item<'a>, n: usize, what: &str) -> Result<Vec<Item<'a>>> {
    let items = list(item, what)?;
    if items.len() < n {
        return Err(DecodeError::new(format!("too few elements for {what}")));
    }
    if items.len() > n {
        return Err(DecodeError::new(format!(
            "input list has too many elements for {what}"
        )));
    }
    Ok(items)
}

/// A string's bytes.
pub(crate) fn string<'a>(item: Item<'a>, what: &str) -> Result<&'a [u8]> {
    if item.is_list {
        return Err(DecodeError::new(format!(
            "expected input string or byte for {what}"
        )));
    }
    Ok(item.payload)
}

/// A canonical unsigned integer of at most `max_bytes` bytes.
fn uint(item: Item<'_>, max_bytes: usize, what: &str) -> Result<u128> {
    let b = string(item, what)?;
    if b.len() > max_bytes {
        return Err(DecodeError::new(format!(
            "input string too long for {what}"
        )));
    }
    if b.first() == Some(&0) {
        return Err(DecodeError::new(format!(
            "non-canonical integer (leading zero bytes) for {what}"
        )));
    }
    Ok(b.iter().fold(0u128, |acc, &x| (acc << 8) | u128::from(x)))
}

pub(crate) fn u64(item: Item<'_>) -> Result<u64> {
    uint(item, 8, "uint64").map(|v| v as u64)
}

pub(crate) fn u32(item: Item<'_>) -> Result<u32> {
    uint(item, 4, "uint32").map(|v| v as u32)
}

pub(crate) fn u128(item: Item<'_>, what: &str) -> Result<u128> {
    uint(item, 16, what)
}

/// A boolean: `0x80` is false, `0x01` true.
pub(crate) fn boolean(item: Item<'_>) -> Result<bool> {
    match string(item, "bool")? {
        [] => Ok(false),
        [1] => Ok(true),
        _ => Err(DecodeError::new("invalid boolean value for bool")),
    }
}

/// A byte array of exactly `N` bytes.
pub(crate) fn array<const N: usize>(item: Item<'_>) -> Result<[u8; N]> {
    let what = format!("[{N}]uint8");
    let b = string(item, &what)?;
    if b.len() < N {
        return Err(DecodeError::new(format!(
            "input string too short for {what}"
        )));
    }
    if b.len() > N {
        return Err(DecodeError::new(format!(
            "input string too long for {what}"
        )));
    }
    let mut out = [0u8; N];
    out.copy_from_slice(b);
    Ok(out)
}

pub(crate) fn hash(item: Item<'_>) -> Result<super::H256> {
    array::<32>(item).map(super::H256)
}

/// A list of hashes.
pub(crate) fn hashes(item: Item<'_>, what: &str) -> Result<Vec<super::H256>> {
    list(item, what)?.into_iter().map(hash).collect()
}

/// The raw items of a list, each a whole RLP value.
pub(crate) fn raw_items(item: Item<'_>, what: &str) -> Result<Vec<Vec<u8>>> {
    Ok(list(item, what)?
        .into_iter()
        .map(|i| i.raw.to_vec())
        .collect())
}

/// Appends a list of already-encoded items.
pub(crate) fn append_raw_list(s: &mut rlp::RlpStream, items: &[Vec<u8>]) {
    s.begin_list(items.len());
    for it in items {
        s.append_raw(it, 1);
    }
}

/// Appends a list of hashes.
pub(crate) fn append_hashes(s: &mut rlp::RlpStream, hashes: &[super::H256]) {
    s.begin_list(hashes.len());
    for h in hashes {
        s.append(h);
    }
}

/// Checks that `bytes` is exactly one well-formed RLP item (its header, not its insides).
pub(crate) fn check_one(bytes: &[u8]) -> Result<()> {
    let (_, rest) = split(bytes)?;
    if !rest.is_empty() {
        return Err(DecodeError::new("input contains more than one value"));
    }
    Ok(())
}
