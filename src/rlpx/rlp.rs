//! The little RLP this layer needs: strict splitting of values and encoding
//! of byte strings, integers and list headers.
//!
//! The handshake bodies and the frame message code are simple enough that a
//! small strict reader is clearer than going through a general decoder, and it
//! lets the errors match go-ethereum's texts.

use super::error::RlpError;
use byteorder::{BigEndian, ByteOrder};

/// What kind of value an RLP item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A single byte below 0x80, encoded as itself.
    Byte,
    /// A byte string with a length prefix.
    String,
    /// A list.
    List,
}

/// Reads the header of the first value in `b`: its kind, the header length
/// and the content length. Sizes must be canonical and fit in `b`.
fn read_kind(b: &[u8]) -> Result<(Kind, usize, usize), RlpError> {
    let Some(&first) = b.first() else {
        return Err(RlpError::ValueTooLarge);
    };
    let (kind, tag, size) = match first {
        0x00..=0x7f => (Kind::Byte, 0, 1),
        0x80..=0xb7 => {
            let size = usize::from(first - 0x80);
            // A single byte below 0x80 must be encoded as itself.
            if size == 1 && b.get(1).is_some_and(|&x| x < 0x80) {
                return Err(RlpError::NonCanonicalSize);
            }
            (Kind::String, 1, size)
        }
        0xb8..=0xbf => {
            let n = usize::from(first - 0xb7);
            (Kind::String, 1 + n, read_long_size(&b[1..], n)?)
        }
        0xc0..=0xf7 => (Kind::List, 1, usize::from(first - 0xc0)),
        0xf8..=0xff => {
            let n = usize::from(first - 0xf7);
            (Kind::List, 1 + n, read_long_size(&b[1..], n)?)
        }
    };
    // `tag <= b.len()` holds here: long sizes were read from inside `b`.
    if size > b.len() - tag {
        return Err(RlpError::ValueTooLarge);
    }
    Ok((kind, tag, size))
}

/// Reads an `n`-byte big-endian size of a long string or list. It must have no
/// leading zeros and be above 55 (otherwise the short form was required).
fn read_long_size(b: &[u8], n: usize) -> Result<usize, RlpError> {
    if b.len() < n {
        return Err(RlpError::ValueTooLarge);
    }
    if b[0] == 0 {
        return Err(RlpError::NonCanonicalSize);
    }
    if n > std::mem::size_of::<usize>() {
        return Err(RlpError::ValueTooLarge);
    }
    let size = BigEndian::read_uint(&b[..n], n) as usize;
    if size < 56 {
        return Err(RlpError::NonCanonicalSize);
    }
    Ok(size)
}

/// Splits the first value off `b`: returns its kind, its content and the
/// bytes after it.
pub(crate) fn split(b: &[u8]) -> Result<(Kind, &[u8], &[u8]), RlpError> {
    let (kind, tag, size) = read_kind(b)?;
    Ok((kind, &b[tag..tag + size], &b[tag + size..]))
}

/// Splits the first value off `b` and returns it whole (header included)
/// together with the rest.
pub(crate) fn split_raw(b: &[u8]) -> Result<(&[u8], &[u8]), RlpError> {
    let (_, tag, size) = read_kind(b)?;
    Ok(b.split_at(tag + size))
}

/// Splits a byte string off `b`: returns its content and the rest.
pub(crate) fn split_string(b: &[u8]) -> Result<(&[u8], &[u8]), RlpError> {
    match split(b)? {
        (Kind::List, _, _) => Err(RlpError::ExpectedString),
        (_, content, rest) => Ok((content, rest)),
    }
}

/// Splits a list off `b`: returns its content and the rest.
pub(crate) fn split_list(b: &[u8]) -> Result<(&[u8], &[u8]), RlpError> {
    match split(b)? {
        (Kind::List, content, rest) => Ok((content, rest)),
        _ => Err(RlpError::ExpectedList),
    }
}

/// Splits a canonical unsigned integer of at most 64 bits off `b`.
pub(crate) fn split_uint64(b: &[u8]) -> Result<(u64, &[u8]), RlpError> {
    let (content, rest) = split_string(b)?;
    if content.len() > 8 {
        return Err(RlpError::UintOverflow);
    }
    if content.first() == Some(&0) {
        return Err(RlpError::NonCanonicalInt);
    }
    let x = if content.is_empty() {
        0
    } else {
        BigEndian::read_uint(content, content.len())
    };
    Ok((x, rest))
}

/// Number of bytes `x` takes when RLP-encoded.
pub(crate) fn uint_size(x: u64) -> usize {
    if x < 0x80 {
        1
    } else {
        1 + byte_len(x)
    }
}

/// Number of significant bytes of `x` (at least 1).
fn byte_len(x: u64) -> usize {
    (8 - (x.leading_zeros() / 8) as usize).max(1)
}

/// Appends the RLP encoding of the integer `x`.
pub(crate) fn append_uint(out: &mut Vec<u8>, x: u64) {
    if x == 0 {
        out.push(0x80);
    } else if x < 0x80 {
        out.push(x as u8);
    } else {
        let n = byte_len(x);
        out.push(0x80 + n as u8);
        out.extend_from_slice(&x.to_be_bytes()[8 - n..]);
    }
}

/// Appends a string or list header for `len` content bytes (`offset` is 0x80
/// for strings and 0xc0 for lists).
fn append_header(out: &mut Vec<u8>, len: usize, offset: u8) {
    if len < 56 {
        out.push(offset + len as u8);
    } else {
        let len = len as u64;
        let n = byte_len(len);
        out.push(offset + 55 + n as u8);
        out.extend_from_slice(&len.to_be_bytes()[8 - n..]);
    }
}

/// Appends the RLP encoding of a byte string.
pub(crate) fn append_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        append_header(out, b.len(), 0x80);
        out.extend_from_slice(b);
    }
}

/// Appends a list header for `len` bytes of already-encoded content.
pub(crate) fn append_list_header(out: &mut Vec<u8>, len: usize) {
    append_header(out, len, 0xc0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uints_round_trip() {
        for x in [0u64, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff_ffff, u64::MAX] {
            let mut out = Vec::new();
            append_uint(&mut out, x);
            assert_eq!(out.len(), uint_size(x));
            assert_eq!(split_uint64(&out), Ok((x, &[][..])));
        }
    }

    #[test]
    fn uint_rejects_non_canonical() {
        assert_eq!(split_uint64(&[0x00]), Err(RlpError::NonCanonicalInt));
        assert_eq!(
            split_uint64(&[0x82, 0x00, 0x01]),
            Err(RlpError::NonCanonicalInt)
        );
        assert_eq!(split_uint64(&[0x81, 0x05]), Err(RlpError::NonCanonicalSize));
        assert_eq!(
            split_uint64(&[0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Err(RlpError::UintOverflow)
        );
        assert_eq!(split_uint64(&[0xc0]), Err(RlpError::ExpectedString));
        assert_eq!(split_uint64(&[]), Err(RlpError::ValueTooLarge));
        assert_eq!(split_uint64(&[0x82, 0x01]), Err(RlpError::ValueTooLarge));
    }

    #[test]
    fn long_sizes() {
        let data = vec![7u8; 300];
        let mut out = Vec::new();
        append_bytes(&mut out, &data);
        assert_eq!(&out[..3], &[0xb9, 0x01, 0x2c]);
        assert_eq!(split_string(&out), Ok((&data[..], &[][..])));
        // A long form for a short size is rejected.
        assert_eq!(
            split(&[0xb8, 0x05, 1, 2, 3, 4, 5]),
            Err(RlpError::NonCanonicalSize)
        );
        assert_eq!(split(&[0xb9, 0x00, 0x40]), Err(RlpError::NonCanonicalSize));
        // Huge claimed sizes do not panic.
        assert_eq!(
            split(&[0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(RlpError::ValueTooLarge)
        );
        assert_eq!(split(&[0xff]), Err(RlpError::ValueTooLarge));
    }
}
