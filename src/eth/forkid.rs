//! EIP-2124 fork identifiers and the filter that accepts or rejects a remote's.

use std::fmt;
use std::sync::Arc;

use rlp::{Encodable, RlpStream};

use super::rlp_util::{self, DecodeError, Item};
use super::{crc32, Chain};

/// The Ethereum mainnet genesis timestamp (2015-07-30): a `next` above it is a timestamp,
/// not a block number. go-ethereum draws the line between block and time forks here.
const TIMESTAMP_THRESHOLD: u64 = 1_438_269_973;

/// A fork identifier (EIP-2124): a CRC32 checksum of the genesis hash and every fork
/// already passed, and the next fork (a block number or a timestamp; 0 when none is known).
///
/// Encodes as the RLP list `[hash: 4 bytes, next]`.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{Chain, ForkId};
///
/// // Mainnet at genesis: the checksum of the genesis hash, Homestead next.
/// let id = ForkId::new(&Chain::mainnet(), 0, 0);
/// assert_eq!(id, ForkId { hash: [0xfc, 0x64, 0xec, 0x04], next: 1_150_000 });
/// assert_eq!(id.to_string(), "0xfc64ec04 (next 1150000)");
/// assert_eq!(rlp::encode(&id).to_vec(), [0xc9, 0x84, 0xfc, 0x64, 0xec, 0x04, 0x83, 0x11, 0x8c, 0x30]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct ForkId {
    /// CRC32 (IEEE) of the genesis hash and the passed forks, big-endian.
    pub hash: [u8; 4],
    /// The next fork's block number or timestamp, or 0 when no further fork is known.
    pub next: u64,
}

impl ForkId {
    /// The fork identifier of `chain` with its head at block `head` and time `time`.
    ///
    /// The checksum starts from the genesis hash and takes in each passed fork as an
    /// 8-byte big-endian number: block forks up to `head` first, then time forks up to
    /// `time`; `next` is the first fork not passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::eth::{Chain, ForkId};
    /// let sepolia = Chain::sepolia();
    /// assert_eq!(ForkId::new(&sepolia, 1_735_371, 0).hash, [0xb9, 0x6c, 0xbd, 0x13]);
    /// assert_eq!(ForkId::new(&sepolia, 1_735_371, 0).next, 1_677_557_088);
    /// ```
    pub fn new(chain: &Chain, head: u64, time: u64) -> ForkId {
        let mut sum = crc32::checksum(chain.genesis_hash.as_bytes());
        let (blocks, times) = chain.gathered_forks();
        for fork in blocks {
            if fork <= head {
                sum = checksum_update(sum, fork);
                continue;
            }
            return ForkId {
                hash: sum.to_be_bytes(),
                next: fork,
            };
        }
        for fork in times {
            if fork <= time {
                sum = checksum_update(sum, fork);
                continue;
            }
            return ForkId {
                hash: sum.to_be_bytes(),
                next: fork,
            };
        }
        ForkId {
            hash: sum.to_be_bytes(),
            next: 0,
        }
    }

    /// Decodes the RLP list `[hash, next]` strictly.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::eth::ForkId;
    /// let id = ForkId::decode(&[0xc6, 0x84, 0, 0, 0, 0, 0x80]).unwrap();
    /// assert_eq!(id, ForkId { hash: [0; 4], next: 0 });
    /// assert!(ForkId::decode(&[0xc6, 0x84, 0, 0, 0, 0, 0x00]).is_err()); // non-canonical 0
    /// ```
    pub fn decode(bytes: &[u8]) -> Result<ForkId, DecodeError> {
        let (item, rest) = rlp_util::split(bytes)?;
        rlp_util::check_one(item.raw)?;
        if !rest.is_empty() {
            return Err(DecodeError::new("input contains more than one value"));
        }
        ForkId::from_item(item)
    }

    pub(crate) fn from_item(item: Item<'_>) -> Result<ForkId, DecodeError> {
        let f = rlp_util::fields(item, 2, "forkid.ID")?;
        Ok(ForkId {
            hash: rlp_util::array::<4>(f[0])?,
            next: rlp_util::u64(f[1])?,
        })
    }
}

impl fmt::Display for ForkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.hash;
        write!(
            f,
            "0x{:02x}{:02x}{:02x}{:02x} (next {})",
            h[0], h[1], h[2], h[3], self.next
        )
    }
}

impl Encodable for ForkId {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2);
        s.append(&&self.hash[..]);
        s.append(&self.next);
    }
}

/// The checksum of the previous input followed by `fork` as 8 big-endian bytes.
fn checksum_update(sum: u32, fork: u64) -> u32 {
    crc32::update(sum, &fork.to_be_bytes())
}

/// Why a remote's fork identifier was rejected; the texts are go-ethereum's.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::ForkIdError;
/// assert_eq!(ForkIdError::RemoteStale.to_string(), "remote needs update");
/// assert_eq!(ForkIdError::LocalIncompatibleOrStale.to_string(), "local incompatible or needs update");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForkIdError {
    /// The remote's checksum is one of our past states, but the fork it announces next is
    /// not the one that followed on our chain: `remote needs update`.
    RemoteStale,
    /// The remote's checksum matches none of ours (the chains diverged, possibly at
    /// genesis), or it announces a fork we passed without knowing it:
    /// `local incompatible or needs update`.
    LocalIncompatibleOrStale,
}

impl fmt::Display for ForkIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ForkIdError::RemoteStale => "remote needs update",
            ForkIdError::LocalIncompatibleOrStale => "local incompatible or needs update",
        })
    }
}

impl std::error::Error for ForkIdError {}

type HeadFn = dyn Fn() -> (u64, u64) + Send + Sync;

/// Validates remote fork identifiers against the local chain and head (EIP-2124's rules).
///
/// 1. Same checksum as ours now: accept, unless the remote announces a next fork that our
///    head already passed (`local incompatible or needs update`).
/// 2. The checksum of one of our past states: accept if the remote's `next` is the fork
///    that followed it on our chain, else `remote needs update`.
/// 3. The checksum of one of our future states (we are syncing): accept.
/// 4. Anything else: `local incompatible or needs update`.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{Chain, ForkFilter, ForkId, ForkIdError};
///
/// let mainnet = Chain::mainnet();
/// // We are at Cancun; a remote still in Shanghai that knows nothing of Cancun is stale.
/// let filter = ForkFilter::new(&mainnet, 21_000_000, 1_710_338_135);
/// let shanghai = ForkId { hash: [0xdc, 0xe9, 0x6c, 0x2d], next: 0 };
/// assert_eq!(filter.validate(&shanghai), Err(ForkIdError::RemoteStale));
/// // One that knows Cancun is just behind.
/// assert_eq!(filter.validate(&ForkId { next: 1_710_338_135, ..shanghai }), Ok(()));
/// // Sepolia is another chain.
/// let sepolia = ForkId::new(&Chain::sepolia(), 0, 0);
/// assert_eq!(filter.validate(&sepolia), Err(ForkIdError::LocalIncompatibleOrStale));
/// ```
#[derive(Clone)]
pub struct ForkFilter {
    /// Every fork, block forks first, then a sentinel that is never passed.
    forks: Vec<u64>,
    /// How many of `forks` are block numbers (the sentinel counts as one when there are
    /// no time forks).
    block_forks: usize,
    /// The checksum at genesis and after each fork.
    sums: Vec<[u8; 4]>,
    head: Arc<HeadFn>,
}

impl ForkFilter {
    /// A filter for `chain` with the local head fixed at block `head` and time `time`.
    pub fn new(chain: &Chain, head: u64, time: u64) -> ForkFilter {
        ForkFilter::with_head(chain, move || (head, time))
    }

    /// A filter for `chain` that asks `head` for the local head's block number and time
    /// at each validation (for a node whose head moves).
    pub fn with_head(
        chain: &Chain,
        head: impl Fn() -> (u64, u64) + Send + Sync + 'static,
    ) -> ForkFilter {
        let (blocks, times) = chain.gathered_forks();
        let mut forks: Vec<u64> = blocks.iter().chain(times.iter()).copied().collect();
        let mut sum = crc32::checksum(chain.genesis_hash.as_bytes());
        let mut sums = Vec::with_capacity(forks.len() + 1);
        sums.push(sum.to_be_bytes());
        for &fork in &forks {
            sum = checksum_update(sum, fork);
            sums.push(sum.to_be_bytes());
        }
        // A last fork that is never passed ends every walk below.
        forks.push(u64::MAX);
        let block_forks = if times.is_empty() {
            blocks.len() + 1
        } else {
            blocks.len()
        };
        ForkFilter {
            forks,
            block_forks,
            sums,
            head: Arc::new(head),
        }
    }

    /// Accepts or rejects a remote's fork identifier.
    pub fn validate(&self, id: &ForkId) -> Result<(), ForkIdError> {
        let (block, time) = (self.head)();
        for (i, &fork) in self.forks.iter().enumerate() {
            let head = if i < self.block_forks { block } else { time };
            if head >= fork {
                continue;
            }
            // The first fork we have not passed: `sums[i]` is our state now.
            if self.sums[i] == id.hash {
                // Rule 1: a fork the remote announces but we passed without knowing it.
                if id.next > 0
                    && (head >= id.next || (id.next > TIMESTAMP_THRESHOLD && time >= id.next))
                {
                    return Err(ForkIdError::LocalIncompatibleOrStale);
                }
                return Ok(());
            }
            // Rule 2: the remote is in one of our past states.
            if let Some(j) = self.sums[..i].iter().position(|s| *s == id.hash) {
                if self.forks[j] != id.next {
                    return Err(ForkIdError::RemoteStale);
                }
                return Ok(());
            }
            // Rule 3: the remote is in one of our future states.
            if self.sums[i + 1..].contains(&id.hash) {
                return Ok(());
            }
            // Rule 4.
            return Err(ForkIdError::LocalIncompatibleOrStale);
        }
        // Unreachable: the sentinel fork is never passed. Accept rather than reject.
        log::error!("impossible fork ID validation: {id}");
        Ok(())
    }
}

impl fmt::Debug for ForkFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForkFilter")
            .field("forks", &self.forks)
            .field("head", &(self.head)())
            .finish()
    }
}
