//! The `eth` wire protocol, versions 68 and 69: messages, fork identifiers and the Status
//! handshake.
//!
//! This module speaks eth on top of the peer layer, in RLP only: it does not keep a chain.
//! It gives the message codes and types of eth/68 and eth/69, EIP-2124 fork identifiers with
//! their validation filter, the fork schedules of mainnet, Sepolia, Holešky and Hoodi, and
//! the Status handshake with go-ethereum's checks, limits, timeout and error texts. Blocks,
//! headers, receipts and transactions travel as raw RLP items, for the caller to decode.
//!
//! # 1. Which chain, which fork
//!
//! A [`Chain`] is a network ID, a genesis and a fork schedule. Its [`ForkId`] at a given
//! head says which forks the node has passed; a [`ForkFilter`] decides whether a remote's
//! fork identifier is compatible with ours:
//!
//! ```
//! use devp2p_peer::eth::{Chain, ForkFilter, ForkId};
//!
//! let mainnet = Chain::mainnet();
//! // After Prague (by time), before Osaka.
//! let id = ForkId::new(&mainnet, 22_000_000, 1_750_000_000);
//! assert_eq!(id.hash, [0xc3, 0x76, 0xcf, 0x8b]);
//! assert_eq!(id.next, 1_764_798_551); // Osaka
//!
//! let filter = ForkFilter::new(&mainnet, 22_000_000, 1_750_000_000);
//! assert!(filter.validate(&id).is_ok());
//! assert!(filter.validate(&ForkId::new(&Chain::sepolia(), 0, 0)).is_err());
//! ```
//!
//! # 2. The Status handshake
//!
//! An eth connection starts with both sides sending a [`Status`]. [`protocol`] makes the
//! [`Protocol`] to register (name `eth`, the version's number of codes);
//! in its `run`, [`handshake`] sends ours, reads theirs and checks it. Its errors turn into
//! the crate's [`Error`] with `?`, and the peer disconnects with the reason
//! go-ethereum would use:
//!
//! ```
//! use std::sync::Arc;
//! use devp2p_peer::eth::{self, Chain, ForkFilter, Status};
//! use devp2p_peer::*;
//!
//! fn eth_protocol(chain: Chain) -> Protocol {
//!     eth::protocol(eth::ETH68, move |peer, rw| {
//!         let ours = Status::new(eth::ETH68, &chain, 0, 0).unwrap();
//!         let filter = ForkFilter::new(&chain, 0, 0);
//!         let theirs = eth::handshake(&peer, &rw, &ours, &filter)?;
//!         println!("{} is on network {}", peer.name(), theirs.network_id());
//!         Err(DiscReason::QUITTING.into())
//!     })
//! }
//!
//! // Two peers in memory, one on mainnet and one on Sepolia.
//! let (a, b) = MemoryTransport::pair();
//! let conn = |id| ConnInfo { id: NodeId([id; 32]), caps: vec![Cap::new("eth", 68)], ..ConnInfo::default() };
//! let pa = Peer::new(conn(2), Arc::new(a), &[eth_protocol(Chain::mainnet())], PeerConfig::default());
//! let pb = Peer::new(conn(1), Arc::new(b), &[eth_protocol(Chain::sepolia())], PeerConfig::default());
//! let t = std::thread::spawn(move || pb.run());
//! let (_, err) = pa.run();
//! // Each side finds a network ID mismatch, or hears of the other's first: either way the
//! // connection ends with "subprotocol error", as go-ethereum ends it.
//! let (_, err_b) = t.join().unwrap();
//! for err in [err, err_b] {
//!     assert_eq!(disc_reason_for_error(&err), DiscReason::SUBPROTOCOL_ERROR);
//!     let text = err.to_string();
//!     assert!(text == "subprotocol error" || text.starts_with("network ID mismatch: "), "{text}");
//! }
//! ```
//!
//! # 3. Requests and responses
//!
//! Since eth/66, requests and their responses travel in a [`Request`] envelope that pairs
//! them by ID. [`write`](fn@write) sends any [`Message`]; [`read`](fn@read) decodes a received one strictly,
//! rejecting what go-ethereum rejects:
//!
//! ```
//! use devp2p_peer::eth::{self, BlockHeaders, GetBlockHeaders, HashOrNumber, Request};
//! use devp2p_peer::{msg_pipe, MsgReader};
//!
//! let (ours, theirs) = msg_pipe();
//! let t = std::thread::spawn(move || {
//!     let query = GetBlockHeaders { origin: HashOrNumber::Number(0), amount: 1, skip: 0, reverse: false };
//!     eth::write(&ours, &Request::new(7, query))?;
//!     let mut msg = ours.read_msg()?;
//!     let answer: Request<BlockHeaders> = eth::read(&mut msg)?;
//!     Ok::<_, devp2p_peer::Error>(answer)
//! });
//!
//! let mut msg = theirs.read_msg().unwrap();
//! assert_eq!(msg.code, eth::GET_BLOCK_HEADERS_MSG);
//! let req: Request<GetBlockHeaders> = eth::read(&mut msg).unwrap();
//! let header = vec![0xc3, 0x01, 0x02, 0x03]; // a (much abridged) header, as raw RLP
//! eth::write(&theirs, &Request::new(req.id, BlockHeaders(vec![header.clone()]))).unwrap();
//!
//! let answer = t.join().unwrap().unwrap();
//! assert_eq!((answer.id, answer.body.0), (7, vec![header]));
//! ```
//!
//! # What is not here
//!
//! NewBlockHashes and NewBlock (eth/68 only, refused by go-ethereum since the merge) have
//! their codes but no types; serving requests is the caller's business.

mod chains;
mod crc32;
mod forkid;
mod handshake;
mod hash;
mod messages;
mod rlp_util;
mod status;

use std::time::Duration;

pub use chains::Chain;
pub use forkid::{ForkFilter, ForkId, ForkIdError};
pub use handshake::{handshake, handshake_timeout, HandshakeError};
pub use hash::{ParseHashError, H256};
pub use messages::{
    BlockBodies, BlockHeaders, BlockRangeUpdate, GetBlockBodies, GetBlockHeaders,
    GetPooledTransactions, GetReceipts, HashOrNumber, Message, NewPooledTransactionHashes,
    PooledTransactions, Receipts, Request, RequestBody, Transactions,
};
pub use rlp_util::DecodeError;
pub use status::{Status, Status68, Status69};

use crate::{Error, Msg, MsgWriter, Peer, ProtoRw, Protocol};

/// The protocol's name in capabilities.
pub const PROTOCOL_NAME: &str = "eth";
/// eth/68.
pub const ETH68: u32 = 68;
/// eth/69: Status announces a block range instead of a total difficulty and head;
/// BlockRangeUpdate; receipts without bloom; no NewBlock or NewBlockHashes.
pub const ETH69: u32 = 69;
/// How many message codes eth/68 uses.
pub const ETH68_LENGTH: u64 = 17;
/// How many message codes eth/69 uses.
pub const ETH69_LENGTH: u64 = 18;

/// The largest eth message go-ethereum accepts: 10 MiB.
pub const MAX_MESSAGE_SIZE: u32 = 10 * 1024 * 1024;
/// How long the Status handshake may take: 5 s.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Status (`0x00`).
pub const STATUS_MSG: u64 = 0x00;
/// NewBlockHashes (`0x01`, eth/68 only).
pub const NEW_BLOCK_HASHES_MSG: u64 = 0x01;
/// Transactions (`0x02`).
pub const TRANSACTIONS_MSG: u64 = 0x02;
/// GetBlockHeaders (`0x03`).
pub const GET_BLOCK_HEADERS_MSG: u64 = 0x03;
/// BlockHeaders (`0x04`).
pub const BLOCK_HEADERS_MSG: u64 = 0x04;
/// GetBlockBodies (`0x05`).
pub const GET_BLOCK_BODIES_MSG: u64 = 0x05;
/// BlockBodies (`0x06`).
pub const BLOCK_BODIES_MSG: u64 = 0x06;
/// NewBlock (`0x07`, eth/68 only).
pub const NEW_BLOCK_MSG: u64 = 0x07;
/// NewPooledTransactionHashes (`0x08`).
pub const NEW_POOLED_TRANSACTION_HASHES_MSG: u64 = 0x08;
/// GetPooledTransactions (`0x09`).
pub const GET_POOLED_TRANSACTIONS_MSG: u64 = 0x09;
/// PooledTransactions (`0x0a`).
pub const POOLED_TRANSACTIONS_MSG: u64 = 0x0a;
/// GetReceipts (`0x0f`).
pub const GET_RECEIPTS_MSG: u64 = 0x0f;
/// Receipts (`0x10`).
pub const RECEIPTS_MSG: u64 = 0x10;
/// BlockRangeUpdate (`0x11`, eth/69).
pub const BLOCK_RANGE_UPDATE_MSG: u64 = 0x11;

/// The number of message codes of an eth version: 17 for eth/68, 18 for eth/69, `None`
/// for others.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth;
/// assert_eq!(eth::protocol_length(68), Some(17));
/// assert_eq!(eth::protocol_length(66), None);
/// ```
pub fn protocol_length(version: u32) -> Option<u64> {
    match version {
        ETH68 => Some(ETH68_LENGTH),
        ETH69 => Some(ETH69_LENGTH),
        _ => None,
    }
}

/// The eth [`Protocol`] of `version` (68 or 69) with the given `run` function.
///
/// # Panics
///
/// For a version other than 68 or 69.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth;
/// let p = eth::protocol(69, |_peer, _rw| Ok(()));
/// assert_eq!((p.cap().to_string(), p.length), ("eth/69".to_string(), 18));
/// ```
pub fn protocol<F>(version: u32, run: F) -> Protocol
where
    F: Fn(Peer, ProtoRw) -> Result<(), Error> + Send + Sync + 'static,
{
    let length = protocol_length(version)
        .unwrap_or_else(|| panic!("eth/{version} is not supported (68 and 69 are)"));
    Protocol::new(PROTOCOL_NAME, version, length, run)
}

/// Sends an eth message with its code.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{self, Transactions};
/// use devp2p_peer::{msg_pipe, MsgReader};
/// let (a, b) = msg_pipe();
/// let t = std::thread::spawn(move || eth::write(&a, &Transactions(vec![vec![0x80]])));
/// let mut msg = b.read_msg().unwrap();
/// assert_eq!(msg.code, eth::TRANSACTIONS_MSG);
/// assert_eq!(eth::read::<Transactions>(&mut msg).unwrap().0, vec![vec![0x80]]);
/// t.join().unwrap().unwrap();
/// ```
pub fn write<W, T>(w: &W, msg: &T) -> Result<(), Error>
where
    W: MsgWriter + ?Sized,
    T: Message,
{
    w.write_msg(Msg::new(T::CODE, msg.encode()))
}

/// Decodes a received message as `T`, consuming its payload.
///
/// # Errors
///
/// - a message over [`MAX_MESSAGE_SIZE`]: `message too long: S > 10485760` (the peer then
///   disconnects with "subprotocol error", as go-ethereum does);
/// - a message of another code: `invalid message code: C is not <name> (C')`;
/// - a payload that does not decode: `invalid message: (code C) (size S) rlp: <why>`
///   ("breach of protocol").
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{self, GetReceipts, Request};
/// use devp2p_peer::Msg;
/// let mut msg = Msg::new(eth::GET_RECEIPTS_MSG, vec![0xc2, 0x01, 0xc0]);
/// let req: Request<GetReceipts> = eth::read(&mut msg).unwrap();
/// assert_eq!((req.id, req.body.0.len()), (1, 0));
///
/// let mut bad = Msg::new(eth::GET_RECEIPTS_MSG, vec![0xc3, 0x01, 0xc0, 0x02]);
/// let err = eth::read::<Request<GetReceipts>>(&mut bad).unwrap_err();
/// assert_eq!(err.to_string(),
///     "invalid message: (code f) (size 4) rlp: input list has too many elements for eth.GetReceiptsPacket");
/// ```
pub fn read<T: Message>(msg: &mut Msg) -> Result<T, Error> {
    if msg.size > MAX_MESSAGE_SIZE {
        return Err(Error::other(format!(
            "message too long: {} > {}",
            msg.size, MAX_MESSAGE_SIZE
        )));
    }
    if msg.code != T::CODE {
        return Err(Error::invalid_msg_code(format!(
            "{:x} is not {} ({:x})",
            msg.code,
            T::NAME,
            T::CODE
        )));
    }
    let (code, size) = (msg.code, msg.size);
    T::decode(msg.payload.consume())
        .map_err(|e| Error::invalid_msg(format!("(code {code:x}) (size {size}) rlp: {e}")))
}
