//! The Status message of eth/68 and eth/69.

use std::fmt;

use rlp::RlpStream;

use super::rlp_util::{self, DecodeError, Item};
use super::{Chain, ForkId, ETH68, ETH69, H256};

/// The eth/68 Status: `[version, networkid, td, head, genesis, forkid]`.
///
/// Since the merge the total difficulty means nothing; go-ethereum sends 0. A total
/// difficulty over 128 bits does not decode.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{Chain, Status68};
/// let s = Status68::new(&Chain::mainnet(), 0, 0);
/// assert_eq!(s.version, 68);
/// assert_eq!(s.head, s.genesis);
/// assert_eq!(Status68::decode(&s.encode()).unwrap(), s);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status68 {
    /// The protocol version, 68.
    pub version: u32,
    /// The network ID.
    pub network_id: u64,
    /// The total difficulty of the head (0 after the merge).
    pub td: u128,
    /// The head block's hash.
    pub head: H256,
    /// The genesis block's hash.
    pub genesis: H256,
    /// The fork identifier.
    pub fork_id: ForkId,
}

impl Status68 {
    /// The Status of a node of `chain` at its genesis block (head = genesis, total
    /// difficulty 0) with the fork identifier of block `head` and time `time`.
    pub fn new(chain: &Chain, head: u64, time: u64) -> Status68 {
        Status68 {
            version: ETH68,
            network_id: chain.network_id,
            td: 0,
            head: chain.genesis_hash,
            genesis: chain.genesis_hash,
            fork_id: ForkId::new(chain, head, time),
        }
    }

    /// The message payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(6);
        s.append(&self.version);
        s.append(&self.network_id);
        s.append(&self.td);
        s.append(&self.head);
        s.append(&self.genesis);
        s.append(&self.fork_id);
        s.out().to_vec()
    }

    /// Decodes a message payload strictly (bytes after the first value are ignored).
    pub fn decode(payload: &[u8]) -> Result<Status68, DecodeError> {
        Status68::from_item(rlp_util::first(payload)?)
    }

    fn from_item(item: Item<'_>) -> Result<Status68, DecodeError> {
        let f = rlp_util::fields(item, 6, "eth.StatusPacket68")?;
        Ok(Status68 {
            version: rlp_util::u32(f[0])?,
            network_id: rlp_util::u64(f[1])?,
            td: rlp_util::u128(f[2], "*big.Int")?,
            head: rlp_util::hash(f[3])?,
            genesis: rlp_util::hash(f[4])?,
            fork_id: ForkId::from_item(f[5])?,
        })
    }
}

/// The eth/69 Status: `[version, networkid, genesis, forkid, earliest, latest,
/// latest-hash]`, announcing the range of blocks the node serves.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{Chain, Status69};
/// let s = Status69::new(&Chain::hoodi(), 0, 0);
/// assert_eq!((s.version, s.network_id, s.earliest_block, s.latest_block), (69, 560048, 0, 0));
/// assert_eq!(s.latest_block_hash, s.genesis);
/// assert_eq!(Status69::decode(&s.encode()).unwrap(), s);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status69 {
    /// The protocol version, 69.
    pub version: u32,
    /// The network ID.
    pub network_id: u64,
    /// The genesis block's hash.
    pub genesis: H256,
    /// The fork identifier.
    pub fork_id: ForkId,
    /// The oldest block the node serves bodies and receipts of.
    pub earliest_block: u64,
    /// The newest block the node has.
    pub latest_block: u64,
    /// The hash of `latest_block`.
    pub latest_block_hash: H256,
}

impl Status69 {
    /// The Status of a node of `chain` at its genesis block (earliest = latest = 0, the
    /// genesis hash as latest hash) with the fork identifier of block `head` and time
    /// `time`.
    pub fn new(chain: &Chain, head: u64, time: u64) -> Status69 {
        Status69 {
            version: ETH69,
            network_id: chain.network_id,
            genesis: chain.genesis_hash,
            fork_id: ForkId::new(chain, head, time),
            earliest_block: 0,
            latest_block: 0,
            latest_block_hash: chain.genesis_hash,
        }
    }

    /// The message payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(7);
        s.append(&self.version);
        s.append(&self.network_id);
        s.append(&self.genesis);
        s.append(&self.fork_id);
        s.append(&self.earliest_block);
        s.append(&self.latest_block);
        s.append(&self.latest_block_hash);
        s.out().to_vec()
    }

    /// Decodes a message payload strictly (bytes after the first value are ignored).
    pub fn decode(payload: &[u8]) -> Result<Status69, DecodeError> {
        Status69::from_item(rlp_util::first(payload)?)
    }

    fn from_item(item: Item<'_>) -> Result<Status69, DecodeError> {
        let f = rlp_util::fields(item, 7, "eth.StatusPacket69")?;
        Ok(Status69 {
            version: rlp_util::u32(f[0])?,
            network_id: rlp_util::u64(f[1])?,
            genesis: rlp_util::hash(f[2])?,
            fork_id: ForkId::from_item(f[3])?,
            earliest_block: rlp_util::u64(f[4])?,
            latest_block: rlp_util::u64(f[5])?,
            latest_block_hash: rlp_util::hash(f[6])?,
        })
    }

    /// Checks the announced block range as go-ethereum does: `earliest > latest` and
    /// `zero latest hash` are invalid.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::eth::{Chain, Status69};
    /// let mut s = Status69::new(&Chain::mainnet(), 0, 0);
    /// assert_eq!(s.validate_range(), Ok(()));
    /// s.earliest_block = 1;
    /// assert_eq!(s.validate_range(), Err("earliest > latest"));
    /// ```
    pub fn validate_range(&self) -> Result<(), &'static str> {
        if self.earliest_block > self.latest_block {
            return Err("earliest > latest");
        }
        if self.latest_block_hash.is_zero() {
            return Err("zero latest hash");
        }
        Ok(())
    }
}

/// A Status message of either version.
///
/// The payload's shape depends on the protocol version the connection negotiated, so
/// decoding takes it: [`Status::decode`].
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{Chain, Status};
/// let s = Status::new(69, &Chain::sepolia(), 0, 0).unwrap();
/// assert_eq!((s.version(), s.network_id()), (69, 11155111));
/// let back = Status::decode(69, &s.encode()).unwrap();
/// assert_eq!(back, s);
/// // The same bytes are not an eth/68 Status.
/// assert!(Status::decode(68, &s.encode()).is_err());
/// assert!(Status::new(70, &Chain::sepolia(), 0, 0).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// eth/68.
    Eth68(Status68),
    /// eth/69.
    Eth69(Status69),
}

impl Status {
    /// The Status of a node of `chain` at genesis for protocol `version` (68 or 69) with the
    /// fork identifier of block `head` and time `time`; `None` for other versions.
    pub fn new(version: u32, chain: &Chain, head: u64, time: u64) -> Option<Status> {
        match version {
            ETH68 => Some(Status::Eth68(Status68::new(chain, head, time))),
            ETH69 => Some(Status::Eth69(Status69::new(chain, head, time))),
            _ => None,
        }
    }

    /// Decodes a payload in the shape of protocol `version`'s Status: eth/68's for 68,
    /// eth/69's for anything else.
    pub fn decode(version: u32, payload: &[u8]) -> Result<Status, DecodeError> {
        if version == ETH68 {
            Status68::decode(payload).map(Status::Eth68)
        } else {
            Status69::decode(payload).map(Status::Eth69)
        }
    }

    /// The message payload.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Status::Eth68(s) => s.encode(),
            Status::Eth69(s) => s.encode(),
        }
    }

    /// The protocol version field.
    pub fn version(&self) -> u32 {
        match self {
            Status::Eth68(s) => s.version,
            Status::Eth69(s) => s.version,
        }
    }

    /// The network ID.
    pub fn network_id(&self) -> u64 {
        match self {
            Status::Eth68(s) => s.network_id,
            Status::Eth69(s) => s.network_id,
        }
    }

    /// The genesis hash.
    pub fn genesis(&self) -> H256 {
        match self {
            Status::Eth68(s) => s.genesis,
            Status::Eth69(s) => s.genesis,
        }
    }

    /// The fork identifier.
    pub fn fork_id(&self) -> ForkId {
        match self {
            Status::Eth68(s) => s.fork_id,
            Status::Eth69(s) => s.fork_id,
        }
    }

    /// The hash of the newest block: eth/68's head, eth/69's latest block hash.
    pub fn head_hash(&self) -> H256 {
        match self {
            Status::Eth68(s) => s.head,
            Status::Eth69(s) => s.latest_block_hash,
        }
    }
}

impl fmt::Display for Status {
    /// One field per line, for people.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "version:      eth/{}", self.version())?;
        writeln!(f, "network id:   {}", self.network_id())?;
        writeln!(f, "genesis:      {}", self.genesis())?;
        write!(f, "fork id:      {}", self.fork_id())?;
        match self {
            Status::Eth68(s) => {
                write!(f, "\ntotal diff.:  {}", s.td)?;
                write!(f, "\nhead:         {}", s.head)
            }
            Status::Eth69(s) => {
                write!(
                    f,
                    "\nblock range:  {}..={}",
                    s.earliest_block, s.latest_block
                )?;
                write!(f, "\nlatest hash:  {}", s.latest_block_hash)
            }
        }
    }
}
