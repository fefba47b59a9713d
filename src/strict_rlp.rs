//! The crate's one strict RLP reader, with go-ethereum's rules and error texts.
//!
//! Everything the crate itself decodes off the wire goes through here: the base protocol's
//! Hello and Disconnect, and in the `rlpx` transport the handshake bodies and the frame
//! message code. (Protocols decode their own payloads with the `rlp` crate's
//! `Decodable`, through [`Msg::decode`](crate::Msg::decode).)
//!
//! Two readers, as in go-ethereum's `rlp` package:
//!
//! - the *split* functions ([`split`], [`split_uint64`], ...) follow its `Split*`
//!   functions (used for the RLPx handshake and frame code): every value must lie within
//!   the input, and a one-byte string holding a byte below 0x80 is rejected at once;
//! - the *stream* functions ([`header`], [`split_item`], [`Items`], [`uint`], [`bytes`])
//!   follow its `Stream` decoder (used for typed values such as the Hello): the size in a
//!   header is checked against a limit, not against the bytes present, and the one-byte
//!   rule applies only where a string or integer is read, not to raw values.
//!
//! [`DecodeError`] renders a failure of a typed decode exactly as go-ethereum does,
//! Go type names and field path included (`rlp: expected input string or byte for string,
//! decoding into (p2p.protoHandshake).Name`), so logs read alike across clients.

use std::fmt;

use byteorder::{BigEndian, ByteOrder};

/// A strict RLP decoding failure (texts as in go-ethereum's `rlp` package).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RlpError {
    /// A list was found where a string was expected.
    ExpectedString,
    /// A string was found where a list was expected.
    ExpectedList,
    /// An integer has leading zero bytes (or is a bare `00`).
    NonCanonicalInt,
    /// A size was not encoded in its shortest form.
    NonCanonicalSize,
    /// An integer does not fit in 64 bits.
    UintOverflow,
    /// A value claims more bytes than the input holds.
    ValueTooLarge,
    /// An element claims more bytes than its containing list holds.
    ElemTooLarge,
    /// A list ended before all required elements were read.
    TooFewElements,
}

impl RlpError {
    /// The error's text.
    fn text(self) -> &'static str {
        match self {
            RlpError::ExpectedString => "rlp: expected String or Byte",
            RlpError::ExpectedList => "rlp: expected List",
            RlpError::NonCanonicalInt => "rlp: non-canonical integer format",
            RlpError::NonCanonicalSize => "rlp: non-canonical size information",
            RlpError::UintOverflow => "rlp: uint overflow",
            RlpError::ValueTooLarge => "rlp: value size exceeds available input length",
            RlpError::ElemTooLarge => "rlp: element is larger than containing list",
            RlpError::TooFewElements => "rlp: too few elements",
        }
    }
}

impl fmt::Display for RlpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for RlpError {}

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

/// Reads the header of the first value in `b` as go-ethereum's stream decoder does: its
/// kind, the header's length and the content size it declares.
///
/// Only the header itself is checked: a long size must be present, have no leading zero
/// and be above 55. Whether the content is there, and the one-byte-string rule, are left
/// to the caller. Empty input or a cut-off long size gives [`RlpError::ValueTooLarge`].
pub(crate) fn header(b: &[u8]) -> Result<(Kind, usize, u64), RlpError> {
    let Some(&first) = b.first() else {
        return Err(RlpError::ValueTooLarge);
    };
    Ok(match first {
        0x00..=0x7f => (Kind::Byte, 0, 0),
        0x80..=0xb7 => (Kind::String, 1, u64::from(first - 0x80)),
        0xb8..=0xbf => {
            let n = usize::from(first - 0xb7);
            (Kind::String, 1 + n, read_long_size(&b[1..], n)?)
        }
        0xc0..=0xf7 => (Kind::List, 1, u64::from(first - 0xc0)),
        0xf8..=0xff => {
            let n = usize::from(first - 0xf7);
            (Kind::List, 1 + n, read_long_size(&b[1..], n)?)
        }
    })
}

/// Reads an `n`-byte (1 to 8) big-endian size of a long string or list. It must have no
/// leading zeros and be above 55 (otherwise the short form was required).
fn read_long_size(b: &[u8], n: usize) -> Result<u64, RlpError> {
    let Some(bytes) = b.get(..n) else {
        return Err(RlpError::ValueTooLarge);
    };
    if bytes[0] == 0 {
        return Err(RlpError::NonCanonicalSize);
    }
    let size = BigEndian::read_uint(bytes, n);
    if size < 56 {
        return Err(RlpError::NonCanonicalSize);
    }
    Ok(size)
}

/// The content length a header declares, when `avail` bytes follow the header and hold
/// it all.
fn content_len(size: u64, avail: usize) -> Option<usize> {
    usize::try_from(size).ok().filter(|&n| n <= avail)
}

/// Reads the header of the first value in `b` as go-ethereum's `Split` functions do: its
/// kind, the header length and the content length. Sizes must be canonical, a one-byte
/// string must not hold a byte below 0x80, and the content must fit in `b`.
fn read_kind(b: &[u8]) -> Result<(Kind, usize, usize), RlpError> {
    let (kind, tag, size) = header(b)?;
    // A single byte below 0x80 must be encoded as itself.
    if kind == Kind::String && size == 1 && b.get(1).is_some_and(|&x| x < 0x80) {
        return Err(RlpError::NonCanonicalSize);
    }
    let size = match kind {
        Kind::Byte => return Ok((Kind::Byte, 0, 1)),
        _ => content_len(size, b.len() - tag).ok_or(RlpError::ValueTooLarge)?,
    };
    Ok((kind, tag, size))
}

/// One value read with the stream rules: its kind, its content (for a [`Kind::Byte`], the
/// byte itself) and its whole encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item<'a> {
    pub(crate) kind: Kind,
    pub(crate) content: &'a [u8],
    pub(crate) raw: &'a [u8],
}

/// Splits the first value off `b` with the stream rules and returns it with the bytes
/// after it. Its content must lie within `b`: when it does not, or the header is cut off,
/// the error is [`RlpError::ElemTooLarge`] for an element of a list (`in_list`) and
/// [`RlpError::ValueTooLarge`] otherwise, as in go-ethereum.
pub(crate) fn split_item(b: &[u8], in_list: bool) -> Result<(Item<'_>, &[u8]), RlpError> {
    let too_large = if in_list {
        RlpError::ElemTooLarge
    } else {
        RlpError::ValueTooLarge
    };
    let (kind, tag, size) = header(b).map_err(|e| match e {
        RlpError::ValueTooLarge => too_large,
        e => e,
    })?;
    let (content, end) = match kind {
        Kind::Byte => (&b[..1], 1),
        _ => {
            let len = content_len(size, b.len() - tag).ok_or(too_large)?;
            (&b[tag..tag + len], tag + len)
        }
    };
    let item = Item {
        kind,
        content,
        raw: &b[..end],
    };
    Ok((item, &b[end..]))
}

/// The elements of a list, read one by one with the stream rules.
#[derive(Debug, Clone)]
pub(crate) struct Items<'a> {
    rest: &'a [u8],
}

impl<'a> Items<'a> {
    /// The elements of a list whose content is `content`.
    pub(crate) fn new(content: &'a [u8]) -> Items<'a> {
        Items { rest: content }
    }

    /// The next element, or `None` at the end of the list.
    pub(crate) fn next_item(&mut self) -> Result<Option<Item<'a>>, RlpError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (item, rest) = split_item(self.rest, true)?;
        self.rest = rest;
        Ok(Some(item))
    }

    /// True when every element has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Splits the first value off `b` after checking its whole structure: every header is
/// well-formed and every value nested in a list lies within that list. Returns the value's
/// encoding and the bytes after it.
///
/// A general decoder (the `rlp` crate's) can then walk the value without meeting a size
/// that overruns its input. The walk keeps one list end per open list, not a call frame.
pub(crate) fn split_checked(b: &[u8]) -> Result<(&[u8], &[u8]), RlpError> {
    let (first, rest) = split_item(b, false)?;
    let raw = first.raw;
    // Ends (offsets into `raw`) of the lists still open, innermost last.
    let mut ends: Vec<usize> = Vec::new();
    let mut pos = raw.len() - first.content.len();
    if first.kind == Kind::List {
        ends.push(raw.len());
    }
    while let Some(&end) = ends.last() {
        if pos == end {
            ends.pop();
            continue;
        }
        let (item, _) = split_item(&raw[pos..end], true)?;
        let item_end = pos + item.raw.len();
        pos = item_end - item.content.len();
        match item.kind {
            // A list ending where its parent ends needs no entry of its own.
            Kind::List if item_end < end => ends.push(item_end),
            Kind::List => {}
            _ => pos = item_end,
        }
    }
    Ok((raw, rest))
}

/// The next field of a struct `owner` being decoded: the field `name` (as go-ethereum's
/// path shows it, e.g. `.Caps`) of Go type `typ`. The end of the list is `too few
/// elements` for `owner`; a malformed element is an error for `typ` at `name`.
pub(crate) fn field<'a>(
    fields: &mut Items<'a>,
    owner: &'static str,
    typ: &'static str,
    name: &'static str,
) -> Result<Item<'a>, DecodeError> {
    match fields.next_item() {
        Ok(Some(item)) => Ok(item),
        Ok(None) => Err(DecodeError::typed("too few elements", owner)),
        Err(e) => Err(DecodeError::wrap(e, typ).context(name)),
    }
}

/// Reads `item` as an unsigned integer of at most `bits` bits, with go-ethereum's stream
/// rules: no leading zero bytes, no bare `00`, no one-byte string for a value below 0x80.
pub(crate) fn uint(item: &Item<'_>, bits: u32) -> Result<u64, RlpError> {
    let c = item.content;
    match item.kind {
        Kind::List => Err(RlpError::ExpectedString),
        Kind::Byte if c[0] == 0 => Err(RlpError::NonCanonicalInt),
        Kind::Byte => Ok(u64::from(c[0])),
        Kind::String if c.len() > (bits / 8) as usize => Err(RlpError::UintOverflow),
        Kind::String => match c.len() {
            0 => Ok(0),
            1 if c[0] < 0x80 => Err(RlpError::NonCanonicalSize),
            _ if c[0] == 0 => Err(RlpError::NonCanonicalInt),
            n => Ok(BigEndian::read_uint(c, n)),
        },
    }
}

/// Reads `item` as a byte string, with go-ethereum's stream rules (a one-byte string must
/// not hold a byte below 0x80).
pub(crate) fn bytes<'a>(item: &Item<'a>) -> Result<&'a [u8], RlpError> {
    match item.kind {
        Kind::List => Err(RlpError::ExpectedString),
        Kind::String if item.content.len() == 1 && item.content[0] < 0x80 => {
            Err(RlpError::NonCanonicalSize)
        }
        _ => Ok(item.content),
    }
}

/// A failed decode of a typed value, displayed as go-ethereum's `rlp` package displays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The input held no value at all: `EOF`.
    Eof,
    /// A reader error go-ethereum shows without a type, e.g. `rlp: element is larger than
    /// containing list`.
    Plain(RlpError),
    /// An error met while decoding into the Go type `typ`; `ctx` is the path to the field,
    /// innermost part first.
    Typed {
        /// What went wrong, e.g. `expected input list`.
        msg: &'static str,
        /// The Go type, e.g. `[]p2p.Cap`.
        typ: &'static str,
        /// Path parts (`.Caps`, `[0]`, `(p2p.protoHandshake)`), innermost first.
        ctx: Vec<String>,
    },
}

impl DecodeError {
    /// `err` met while decoding into the Go type `typ` (go-ethereum's `wrapStreamError`:
    /// some errors get the type attached, the others are shown as they are).
    pub(crate) fn wrap(err: RlpError, typ: &'static str) -> DecodeError {
        let msg = match err {
            RlpError::NonCanonicalInt => "non-canonical integer (leading zero bytes)",
            RlpError::NonCanonicalSize => "non-canonical size information",
            RlpError::ExpectedList => "expected input list",
            RlpError::ExpectedString => "expected input string or byte",
            RlpError::UintOverflow => "input string too long",
            other => return DecodeError::Plain(other),
        };
        DecodeError::typed(msg, typ)
    }

    /// An error `msg` for the Go type `typ`, e.g. `too few elements`.
    pub(crate) fn typed(msg: &'static str, typ: &'static str) -> DecodeError {
        DecodeError::Typed {
            msg,
            typ,
            ctx: Vec::new(),
        }
    }

    /// Adds an outer part of the field path (only typed errors carry one).
    pub(crate) fn context(mut self, part: impl Into<String>) -> DecodeError {
        if let DecodeError::Typed { ctx, .. } = &mut self {
            ctx.push(part.into());
        }
        self
    }

    /// Adds the top-level type to the path, as go-ethereum's `Stream.Decode` does when
    /// there is a path.
    pub(crate) fn top(self, typ: &'static str) -> DecodeError {
        match &self {
            DecodeError::Typed { ctx, .. } if !ctx.is_empty() => self.context(format!("({typ})")),
            _ => self,
        }
    }

    /// The message alone, without type or path.
    pub(crate) fn message(&self) -> &'static str {
        match self {
            DecodeError::Eof => "EOF",
            DecodeError::Plain(e) => e.text(),
            DecodeError::Typed { msg, .. } => msg,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Eof => f.write_str("EOF"),
            DecodeError::Plain(e) => fmt::Display::fmt(e, f),
            DecodeError::Typed { msg, typ, ctx } => {
                write!(f, "rlp: {msg} for {typ}")?;
                if !ctx.is_empty() {
                    f.write_str(", decoding into ")?;
                    for part in ctx.iter().rev() {
                        f.write_str(part)?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Splits the first value off `b`: returns its kind, its content and the
/// bytes after it.
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
pub(crate) fn split(b: &[u8]) -> Result<(Kind, &[u8], &[u8]), RlpError> {
    let (kind, tag, size) = read_kind(b)?;
    Ok((kind, &b[tag..tag + size], &b[tag + size..]))
}

/// Splits the first value off `b` and returns it whole (header included)
/// together with the rest.
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
pub(crate) fn split_raw(b: &[u8]) -> Result<(&[u8], &[u8]), RlpError> {
    let (_, tag, size) = read_kind(b)?;
    Ok(b.split_at(tag + size))
}

/// Splits a byte string off `b`: returns its content and the rest.
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
pub(crate) fn split_string(b: &[u8]) -> Result<(&[u8], &[u8]), RlpError> {
    match split(b)? {
        (Kind::List, _, _) => Err(RlpError::ExpectedString),
        (_, content, rest) => Ok((content, rest)),
    }
}

/// Splits a list off `b`: returns its content and the rest.
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
pub(crate) fn split_list(b: &[u8]) -> Result<(&[u8], &[u8]), RlpError> {
    match split(b)? {
        (Kind::List, content, rest) => Ok((content, rest)),
        _ => Err(RlpError::ExpectedList),
    }
}

/// Splits a canonical unsigned integer of at most 64 bits off `b`.
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
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
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
pub(crate) fn uint_size(x: u64) -> usize {
    if x < 0x80 {
        1
    } else {
        1 + byte_len(x)
    }
}

/// Number of significant bytes of `x` (at least 1).
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
fn byte_len(x: u64) -> usize {
    (8 - (x.leading_zeros() / 8) as usize).max(1)
}

/// The RLP encoding of the integer `x`, in an array (at most 9 bytes), and its length: for
/// callers that must not allocate.
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
pub(crate) fn encode_uint(x: u64) -> ([u8; 9], usize) {
    let mut out = [0u8; 9];
    if x == 0 {
        out[0] = 0x80;
        (out, 1)
    } else if x < 0x80 {
        out[0] = x as u8;
        (out, 1)
    } else {
        let n = byte_len(x);
        out[0] = 0x80 + n as u8;
        out[1..=n].copy_from_slice(&x.to_be_bytes()[8 - n..]);
        (out, 1 + n)
    }
}

/// Appends the RLP encoding of the integer `x`.
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
pub(crate) fn append_uint(out: &mut Vec<u8>, x: u64) {
    let (bytes, n) = encode_uint(x);
    out.extend_from_slice(&bytes[..n]);
}

/// Appends a string or list header for `len` content bytes (`offset` is 0x80
/// for strings and 0xc0 for lists).
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
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
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
pub(crate) fn append_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        append_header(out, b.len(), 0x80);
        out.extend_from_slice(b);
    }
}

/// Appends a list header for `len` bytes of already-encoded content.
#[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
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

    #[test]
    fn stream_header_checks_only_the_header() {
        // A declared size is returned whether or not the content is there.
        assert_eq!(header(&[0xc5, 0x08]), Ok((Kind::List, 1, 5)));
        assert_eq!(header(&[0x81, 0x05]), Ok((Kind::String, 1, 1)));
        assert_eq!(header(&[0x05]), Ok((Kind::Byte, 0, 0)));
        assert_eq!(header(&[0xf8, 0x38]), Ok((Kind::List, 2, 56)));
        assert_eq!(header(&[0xf8, 0x37]), Err(RlpError::NonCanonicalSize));
        assert_eq!(header(&[0xb9, 0x00, 0x40]), Err(RlpError::NonCanonicalSize));
        assert_eq!(header(&[0xb9, 0x01]), Err(RlpError::ValueTooLarge));
        assert_eq!(header(&[]), Err(RlpError::ValueTooLarge));
    }

    #[test]
    fn items_are_bounded_by_their_list() {
        assert_eq!(split_item(&[0x83, 1], false), Err(RlpError::ValueTooLarge));
        assert_eq!(split_item(&[0x83, 1], true), Err(RlpError::ElemTooLarge));
        assert_eq!(split_item(&[0xb8], true), Err(RlpError::ElemTooLarge));
        let mut items = Items::new(&[0x01, 0x81, 0x05, 0xc1, 0x80]);
        let mut raws = Vec::new();
        while let Some(item) = items.next_item().unwrap() {
            raws.push(item.raw);
        }
        assert_eq!(raws, [&[0x01][..], &[0x81, 0x05], &[0xc1, 0x80]]);
        assert!(items.at_end());
    }

    #[test]
    fn stream_uints_and_bytes() {
        let item = |b: &'static [u8]| split_item(b, false).unwrap().0;
        assert_eq!(uint(&item(&[0x80]), 8), Ok(0));
        assert_eq!(uint(&item(&[0x7f]), 8), Ok(0x7f));
        assert_eq!(uint(&item(&[0x81, 0xff]), 8), Ok(0xff));
        assert_eq!(
            uint(&item(&[0x82, 0x01, 0x00]), 8),
            Err(RlpError::UintOverflow)
        );
        assert_eq!(uint(&item(&[0x82, 0x01, 0x00]), 16), Ok(0x100));
        assert_eq!(uint(&item(&[0x00]), 64), Err(RlpError::NonCanonicalInt));
        assert_eq!(
            uint(&item(&[0x81, 0x00]), 64),
            Err(RlpError::NonCanonicalSize)
        );
        assert_eq!(
            uint(&item(&[0x82, 0x00, 0x80]), 64),
            Err(RlpError::NonCanonicalInt)
        );
        assert_eq!(uint(&item(&[0xc0]), 64), Err(RlpError::ExpectedString));
        assert_eq!(bytes(&item(&[0x05])), Ok(&[0x05][..]));
        assert_eq!(bytes(&item(&[0x81, 0x05])), Err(RlpError::NonCanonicalSize));
        assert_eq!(bytes(&item(&[0x81, 0x80])), Ok(&[0x80][..]));
        assert_eq!(bytes(&item(&[0xc1, 0x05])), Err(RlpError::ExpectedString));
    }

    #[test]
    fn decode_error_texts() {
        let e = DecodeError::wrap(RlpError::ExpectedString, "string")
            .context(".Name")
            .context("[0]")
            .context(".Caps")
            .top("p2p.protoHandshake");
        assert_eq!(
            e.to_string(),
            "rlp: expected input string or byte for string, decoding into \
             (p2p.protoHandshake).Caps[0].Name"
        );
        assert_eq!(e.message(), "expected input string or byte");
        let e =
            DecodeError::typed("too few elements", "p2p.protoHandshake").top("p2p.protoHandshake");
        assert_eq!(
            e.to_string(),
            "rlp: too few elements for p2p.protoHandshake"
        );
        let e = DecodeError::wrap(RlpError::ElemTooLarge, "uint64").context(".Version");
        assert_eq!(e.to_string(), "rlp: element is larger than containing list");
        assert_eq!(DecodeError::Eof.to_string(), "EOF");
    }

    #[test]
    fn checked_split_walks_nested_lists() {
        let ok: &[u8] = &[0xc6, 0xc4, 0xc0, 0x81, 0x80, 0x05, 0x01, 0xff];
        assert_eq!(split_checked(ok), Ok((&ok[..7], &[0xff][..])));
        // An element overrunning its (nested) list, a bad header inside.
        assert_eq!(
            split_checked(&[0xc3, 0xc1, 0x82, 0x01]),
            Err(RlpError::ElemTooLarge)
        );
        assert_eq!(
            split_checked(&[0xc9, 0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(RlpError::ElemTooLarge)
        );
        assert_eq!(
            split_checked(&[0xc3, 0xb8, 0x00, 0x01]),
            Err(RlpError::NonCanonicalSize)
        );
        // Deep nesting needs no recursion.
        let mut deep = vec![0x80];
        for _ in 0..100_000 {
            let len = deep.len();
            let mut next = Vec::new();
            append_list_header(&mut next, len);
            next.extend_from_slice(&deep);
            deep = next;
        }
        assert_eq!(split_checked(&deep), Ok((&deep[..], &[][..])));
    }
}
