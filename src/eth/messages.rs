//! eth messages other than Status: the request-id envelope, requests and responses, and
//! announcements. Blocks, headers, receipts and transactions travel as raw RLP items.

use rlp::RlpStream;

use super::rlp_util::{self, DecodeError, Item};
use super::H256;
use super::{
    BLOCK_BODIES_MSG, BLOCK_HEADERS_MSG, BLOCK_RANGE_UPDATE_MSG, GET_BLOCK_BODIES_MSG,
    GET_BLOCK_HEADERS_MSG, GET_POOLED_TRANSACTIONS_MSG, GET_RECEIPTS_MSG,
    NEW_POOLED_TRANSACTION_HASHES_MSG, POOLED_TRANSACTIONS_MSG, RECEIPTS_MSG, TRANSACTIONS_MSG,
};

/// An eth message with a fixed code: how to encode it and decode it strictly.
///
/// Requests and responses are sent inside a [`Request`] (the request-id envelope); the
/// others (Transactions, NewPooledTransactionHashes, BlockRangeUpdate) as they are. Use
/// [`write`](fn@super::write) and [`read`](fn@super::read) to send and receive them over a
/// protocol's reader/writer.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{Message, Transactions};
/// let txs = Transactions(vec![vec![0xc1, 0x01]]);
/// assert_eq!(Transactions::CODE, 0x02);
/// assert_eq!(txs.encode(), vec![0xc2, 0xc1, 0x01]);
/// assert_eq!(Transactions::decode(&txs.encode()).unwrap(), txs);
/// ```
pub trait Message: Sized {
    /// The message code, relative to the protocol.
    const CODE: u64;
    /// The message's name, as go-ethereum names its packet type.
    const NAME: &'static str;

    /// Appends the message's RLP value.
    fn rlp_append(&self, s: &mut RlpStream);

    /// Reads the message from exactly its RLP value (used by [`Message::decode`]).
    #[doc(hidden)]
    fn decode_raw(raw: &[u8]) -> Result<Self, DecodeError>;

    /// The message payload.
    fn encode(&self) -> Vec<u8> {
        let mut s = RlpStream::new();
        self.rlp_append(&mut s);
        s.out().to_vec()
    }

    /// Decodes a payload strictly; bytes after the first value are ignored, as go-ethereum
    /// reading a message does.
    fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_raw(rlp_util::first(payload)?.raw)
    }
}

/// The body of a request or response: it travels in a [`Request`] envelope.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{GetBlockBodies, RequestBody, H256};
/// assert_eq!(GetBlockBodies::CODE, 0x05);
/// let body = GetBlockBodies(vec![H256([1; 32])]);
/// assert_eq!(body.encode().len(), 1 + 33);
/// ```
pub trait RequestBody: Sized {
    /// The message code, relative to the protocol.
    const CODE: u64;
    /// The packet's name.
    const NAME: &'static str;

    /// Appends the body's RLP value.
    fn rlp_append(&self, s: &mut RlpStream);

    /// Reads the body from exactly its RLP value.
    #[doc(hidden)]
    fn decode_raw(raw: &[u8]) -> Result<Self, DecodeError>;

    /// The body's RLP encoding (without the envelope).
    fn encode(&self) -> Vec<u8> {
        let mut s = RlpStream::new();
        self.rlp_append(&mut s);
        s.out().to_vec()
    }
}

/// The request-id envelope of eth/66 and later: `[request-id, body]`. A response carries
/// the ID of the request it answers.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{GetBlockHeaders, HashOrNumber, Message, Request};
/// let req = Request::new(1111, GetBlockHeaders {
///     origin: HashOrNumber::Number(9999),
///     amount: 5,
///     skip: 5,
///     reverse: false,
/// });
/// // The vector of the eth/66 specification (EIP-2481).
/// assert_eq!(req.encode(), [0xca, 0x82, 0x04, 0x57, 0xc6, 0x82, 0x27, 0x0f, 0x05, 0x05, 0x80]);
/// assert_eq!(Request::<GetBlockHeaders>::decode(&req.encode()).unwrap(), req);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<T> {
    /// The request ID, chosen by the requester and echoed in the response.
    pub id: u64,
    /// The request or response.
    pub body: T,
}

impl<T> Request<T> {
    /// An envelope.
    pub fn new(id: u64, body: T) -> Request<T> {
        Request { id, body }
    }
}

impl<T: RequestBody> Message for Request<T> {
    const CODE: u64 = T::CODE;
    const NAME: &'static str = T::NAME;

    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2);
        s.append(&self.id);
        self.body.rlp_append(s);
    }

    fn decode_raw(raw: &[u8]) -> Result<Self, DecodeError> {
        let item = rlp_util::first(raw)?;
        let f = rlp_util::fields(item, 2, T::NAME)?;
        Ok(Request {
            id: rlp_util::u64(f[0])?,
            body: T::decode_raw(f[1].raw)?,
        })
    }
}

/// Where a header query starts: a block hash or a block number.
///
/// A hash encodes as a 32-byte string, a number as an integer; a decoder tells them
/// apart by size (32 bytes: a hash; up to 8: a number; anything else is invalid).
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{GetBlockHeaders, HashOrNumber, H256, Request, Message};
/// let by_hash = GetBlockHeaders {
///     origin: HashOrNumber::Hash(H256([0xab; 32])),
///     amount: 1, skip: 0, reverse: true,
/// };
/// let back = Request::<GetBlockHeaders>::decode(&Request::new(1, by_hash).encode()).unwrap();
/// assert_eq!(back.body.origin, HashOrNumber::Hash(H256([0xab; 32])));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashOrNumber {
    /// From the block with this hash.
    Hash(H256),
    /// From the block with this number.
    Number(u64),
}

impl HashOrNumber {
    fn rlp_append(&self, s: &mut RlpStream) {
        match self {
            HashOrNumber::Hash(h) => s.append(h),
            HashOrNumber::Number(n) => s.append(n),
        };
    }

    fn from_item(item: Item<'_>) -> Result<Self, DecodeError> {
        let size = rlp_util::string(item, "eth.HashOrNumber")?.len();
        match size {
            32 => rlp_util::hash(item).map(HashOrNumber::Hash),
            0..=8 => rlp_util::u64(item).map(HashOrNumber::Number),
            n => Err(DecodeError::new(format!(
                "invalid input size {n} for origin"
            ))),
        }
    }
}

/// GetBlockHeaders (`0x03`): up to `amount` headers from `origin`, every `skip + 1`-th,
/// towards genesis when `reverse`.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{GetBlockHeaders, HashOrNumber, RequestBody};
/// // The ten headers below block 1000, every other one.
/// let q = GetBlockHeaders { origin: HashOrNumber::Number(1000), amount: 10, skip: 1, reverse: true };
/// assert_eq!(q.encode(), [0xc6, 0x82, 0x03, 0xe8, 0x0a, 0x01, 0x01]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetBlockHeaders {
    /// The first block.
    pub origin: HashOrNumber,
    /// How many headers at most.
    pub amount: u64,
    /// How many blocks to skip between two headers.
    pub skip: u64,
    /// Towards genesis (true) or towards the head (false).
    pub reverse: bool,
}

impl RequestBody for GetBlockHeaders {
    const CODE: u64 = GET_BLOCK_HEADERS_MSG;
    const NAME: &'static str = "eth.GetBlockHeadersPacket";

    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(4);
        self.origin.rlp_append(s);
        s.append(&self.amount);
        s.append(&self.skip);
        s.append(&self.reverse);
    }

    fn decode_raw(raw: &[u8]) -> Result<Self, DecodeError> {
        let item = rlp_util::first(raw)?;
        let f = rlp_util::fields(item, 4, "eth.GetBlockHeadersRequest")?;
        Ok(GetBlockHeaders {
            origin: HashOrNumber::from_item(f[0])?,
            amount: rlp_util::u64(f[1])?,
            skip: rlp_util::u64(f[2])?,
            reverse: rlp_util::boolean(f[3])?,
        })
    }
}

/// Bodies that are a list of hashes.
macro_rules! hash_list_body {
    ($(#[$doc:meta])* $name:ident, $code:expr, $go:literal) => {
        $(#[$doc])*
        ///
        /// # Examples
        ///
        /// ```
        #[doc = concat!("use devp2p_peer::eth::{", stringify!($name), ", H256, Message, Request};")]
        #[doc = concat!("let req = Request::new(1, ", stringify!($name), "(vec![H256([7; 32])]));")]
        #[doc = concat!("assert_eq!(Request::<", stringify!($name), ">::decode(&req.encode()).unwrap(), req);")]
        /// ```
        #[derive(Clone, Debug, PartialEq, Eq, Default)]
        pub struct $name(pub Vec<H256>);

        impl RequestBody for $name {
            const CODE: u64 = $code;
            const NAME: &'static str = $go;

            fn rlp_append(&self, s: &mut RlpStream) {
                rlp_util::append_hashes(s, &self.0);
            }

            fn decode_raw(raw: &[u8]) -> Result<Self, DecodeError> {
        let item = rlp_util::first(raw)?;
                rlp_util::hashes(item, $go).map($name)
            }
        }
    };
}

/// Bodies that are a list of raw RLP items.
macro_rules! raw_list_body {
    ($(#[$doc:meta])* $name:ident, $code:expr, $go:literal) => {
        $(#[$doc])*
        ///
        /// # Examples
        ///
        /// ```
        #[doc = concat!("use devp2p_peer::eth::{", stringify!($name), ", Message, Request};")]
        /// // Items are whole RLP values, kept as they came.
        #[doc = concat!("let resp = Request::new(9, ", stringify!($name), "(vec![vec![0xc1, 0x80]]));")]
        #[doc = concat!("let back = Request::<", stringify!($name), ">::decode(&resp.encode()).unwrap();")]
        /// assert_eq!(back.body.0, vec![vec![0xc1, 0x80]]);
        /// ```
        #[derive(Clone, Debug, PartialEq, Eq, Default)]
        pub struct $name(pub Vec<Vec<u8>>);

        impl RequestBody for $name {
            const CODE: u64 = $code;
            const NAME: &'static str = $go;

            fn rlp_append(&self, s: &mut RlpStream) {
                rlp_util::append_raw_list(s, &self.0);
            }

            fn decode_raw(raw: &[u8]) -> Result<Self, DecodeError> {
        let item = rlp_util::first(raw)?;
                rlp_util::raw_items(item, $go).map($name)
            }
        }
    };
}

raw_list_body!(
    /// BlockHeaders (`0x04`): headers, each a complete RLP item (a header list).
    BlockHeaders,
    BLOCK_HEADERS_MSG,
    "eth.BlockHeadersPacket"
);
hash_list_body!(
    /// GetBlockBodies (`0x05`): the hashes of the blocks whose bodies are wanted.
    GetBlockBodies,
    GET_BLOCK_BODIES_MSG,
    "eth.GetBlockBodiesPacket"
);
raw_list_body!(
    /// BlockBodies (`0x06`): bodies (`[transactions, uncles, withdrawals]`), each a
    /// complete RLP item.
    BlockBodies,
    BLOCK_BODIES_MSG,
    "eth.BlockBodiesPacket"
);
hash_list_body!(
    /// GetReceipts (`0x0f`): the hashes of the blocks whose receipts are wanted.
    GetReceipts,
    GET_RECEIPTS_MSG,
    "eth.GetReceiptsPacket"
);
raw_list_body!(
    /// Receipts (`0x10`): one receipt list per block, each a complete RLP item (eth/69
    /// receipts carry no bloom).
    Receipts,
    RECEIPTS_MSG,
    "eth.ReceiptsPacket"
);
hash_list_body!(
    /// GetPooledTransactions (`0x09`): the hashes of the transactions wanted.
    GetPooledTransactions,
    GET_POOLED_TRANSACTIONS_MSG,
    "eth.GetPooledTransactionsPacket"
);
raw_list_body!(
    /// PooledTransactions (`0x0a`): transactions in their network encoding, each a
    /// complete RLP item.
    PooledTransactions,
    POOLED_TRANSACTIONS_MSG,
    "eth.PooledTransactionsPacket"
);

/// Transactions (`0x02`): transactions broadcast without a request, each a complete RLP
/// item (a list for a legacy transaction, a string for a typed one). Not in an envelope.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{Message, Transactions};
/// // A typed transaction travels as an RLP string holding its bytes.
/// let typed = vec![0x83, 0x02, 0xaa, 0xbb];
/// let txs = Transactions(vec![typed.clone()]);
/// assert_eq!(Transactions::decode(&txs.encode()).unwrap().0, vec![typed]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Transactions(pub Vec<Vec<u8>>);

impl Message for Transactions {
    const CODE: u64 = TRANSACTIONS_MSG;
    const NAME: &'static str = "eth.TransactionsPacket";

    fn rlp_append(&self, s: &mut RlpStream) {
        rlp_util::append_raw_list(s, &self.0);
    }

    fn decode_raw(raw: &[u8]) -> Result<Self, DecodeError> {
        let item = rlp_util::first(raw)?;
        rlp_util::raw_items(item, Self::NAME).map(Transactions)
    }
}

/// NewPooledTransactionHashes (`0x08`, the eth/68 form): announced transactions as three
/// lists of equal length: their types, their sizes and their hashes.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{H256, Message, NewPooledTransactionHashes};
/// let ann = NewPooledTransactionHashes {
///     types: vec![2],
///     sizes: vec![120],
///     hashes: vec![H256([0xaa; 32])],
/// };
/// assert_eq!(NewPooledTransactionHashes::decode(&ann.encode()).unwrap(), ann);
/// // Lists of unequal length are refused, as go-ethereum refuses them.
/// let bad = NewPooledTransactionHashes { types: vec![], ..ann };
/// assert!(NewPooledTransactionHashes::decode(&bad.encode()).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NewPooledTransactionHashes {
    /// Each transaction's type byte.
    pub types: Vec<u8>,
    /// Each transaction's size in bytes.
    pub sizes: Vec<u32>,
    /// Each transaction's hash.
    pub hashes: Vec<H256>,
}

impl Message for NewPooledTransactionHashes {
    const CODE: u64 = NEW_POOLED_TRANSACTION_HASHES_MSG;
    const NAME: &'static str = "eth.NewPooledTransactionHashesPacket";

    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(3);
        s.append(&&self.types[..]);
        s.begin_list(self.sizes.len());
        for size in &self.sizes {
            s.append(size);
        }
        rlp_util::append_hashes(s, &self.hashes);
    }

    fn decode_raw(raw: &[u8]) -> Result<Self, DecodeError> {
        let item = rlp_util::first(raw)?;
        let f = rlp_util::fields(item, 3, Self::NAME)?;
        let types = rlp_util::string(f[0], "[]uint8")?.to_vec();
        let sizes = rlp_util::list(f[1], "[]uint32")?
            .into_iter()
            .map(rlp_util::u32)
            .collect::<Result<Vec<u32>, _>>()?;
        let hashes = rlp_util::hashes(f[2], "[]common.Hash")?;
        if hashes.len() != types.len() || hashes.len() != sizes.len() {
            return Err(DecodeError::new(format!(
                "NewPooledTransactionHashes: invalid len of fields in {} {} {}",
                hashes.len(),
                types.len(),
                sizes.len()
            )));
        }
        Ok(NewPooledTransactionHashes {
            types,
            sizes,
            hashes,
        })
    }
}

/// BlockRangeUpdate (`0x11`, eth/69): the range of blocks the node now serves.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{BlockRangeUpdate, H256, Message};
/// let u = BlockRangeUpdate { earliest_block: 0, latest_block: 5, latest_block_hash: H256([5; 32]) };
/// assert_eq!(BlockRangeUpdate::CODE, 0x11);
/// assert_eq!(BlockRangeUpdate::decode(&u.encode()).unwrap(), u);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRangeUpdate {
    /// The oldest block served.
    pub earliest_block: u64,
    /// The newest block.
    pub latest_block: u64,
    /// The newest block's hash.
    pub latest_block_hash: H256,
}

impl Message for BlockRangeUpdate {
    const CODE: u64 = BLOCK_RANGE_UPDATE_MSG;
    const NAME: &'static str = "eth.BlockRangeUpdatePacket";

    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(3);
        s.append(&self.earliest_block);
        s.append(&self.latest_block);
        s.append(&self.latest_block_hash);
    }

    fn decode_raw(raw: &[u8]) -> Result<Self, DecodeError> {
        let item = rlp_util::first(raw)?;
        let f = rlp_util::fields(item, 3, Self::NAME)?;
        Ok(BlockRangeUpdate {
            earliest_block: rlp_util::u64(f[0])?,
            latest_block: rlp_util::u64(f[1])?,
            latest_block_hash: rlp_util::hash(f[2])?,
        })
    }
}
