//! Chain descriptions: network ID, genesis and fork schedule of the public networks.

use super::H256;

/// What the eth protocol needs to know of a chain: its network ID, its genesis block's hash
/// and timestamp, and its fork schedule (the blocks and timestamps at which forks activate).
///
/// The fork lists may hold duplicates, zeros and forks at or before genesis, as a chain
/// configuration lists them; fork identifiers skip what EIP-2124 skips (see
/// [`ForkId::new`](super::ForkId::new)). [`Chain::mainnet`], [`Chain::sepolia`],
/// [`Chain::holesky`] and [`Chain::hoodi`] are go-ethereum's configurations.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::{Chain, ForkId, H256};
///
/// let mainnet = Chain::mainnet();
/// assert_eq!(mainnet.network_id, 1);
/// assert_eq!(Chain::by_name("hoodi").unwrap().network_id, 560048);
///
/// // A private chain: every block fork at genesis, Shanghai and Cancun by time.
/// let chain = Chain {
///     name: "devnet".into(),
///     network_id: 1337,
///     genesis_hash: H256([7; 32]),
///     genesis_time: 1_700_000_000,
///     block_forks: vec![0, 0, 0],
///     time_forks: vec![1_700_000_000, 1_800_000_000],
/// };
/// // Shanghai at genesis is part of the genesis rules; Cancun is next.
/// assert_eq!(ForkId::new(&chain, 0, 1_700_000_000).next, 1_800_000_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// A name for people (`mainnet`, `sepolia`, ...).
    pub name: String,
    /// The network ID sent in Status (for the public networks, the chain ID).
    pub network_id: u64,
    /// The genesis block's hash.
    pub genesis_hash: H256,
    /// The genesis block's timestamp: time forks at or before it are not forks.
    pub genesis_time: u64,
    /// Block numbers at which forks activate.
    pub block_forks: Vec<u64>,
    /// Timestamps at which forks activate.
    pub time_forks: Vec<u64>,
}

impl Chain {
    /// Ethereum mainnet: Homestead to Gray Glacier by block, Shanghai to BPO2 by time.
    pub fn mainnet() -> Chain {
        Chain {
            name: "mainnet".into(),
            network_id: 1,
            genesis_hash: H256::from_hex_const(
                "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3",
            ),
            genesis_time: 0,
            block_forks: vec![
                1_150_000,  // Homestead
                1_920_000,  // DAO
                2_463_000,  // Tangerine Whistle (EIP-150)
                2_675_000,  // Spurious Dragon (EIP-155)
                2_675_000,  // Spurious Dragon (EIP-158)
                4_370_000,  // Byzantium
                7_280_000,  // Constantinople
                7_280_000,  // Petersburg
                9_069_000,  // Istanbul
                9_200_000,  // Muir Glacier
                12_244_000, // Berlin
                12_965_000, // London
                13_773_000, // Arrow Glacier
                15_050_000, // Gray Glacier
            ],
            time_forks: vec![
                1_681_338_455, // Shanghai
                1_710_338_135, // Cancun
                1_746_612_311, // Prague
                1_764_798_551, // Osaka
                1_765_290_071, // BPO1
                1_767_747_671, // BPO2
            ],
        }
    }

    /// The Sepolia test network.
    pub fn sepolia() -> Chain {
        Chain {
            name: "sepolia".into(),
            network_id: 11_155_111,
            genesis_hash: H256::from_hex_const(
                "25a5cc106eea7138acab33231d7160d69cb777ee0c2c553fcddf5138993e6dd9",
            ),
            genesis_time: 1_633_267_481,
            // Homestead to London at genesis, then the merge netsplit block.
            block_forks: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1_735_371],
            time_forks: vec![
                1_677_557_088, // Shanghai
                1_706_655_072, // Cancun
                1_741_159_776, // Prague
                1_760_427_360, // Osaka
                1_761_017_184, // BPO1
                1_761_607_008, // BPO2
            ],
        }
    }

    /// The Holešky test network.
    pub fn holesky() -> Chain {
        Chain {
            name: "holesky".into(),
            network_id: 17_000,
            genesis_hash: H256::from_hex_const(
                "b5f7f912443c940f21fd611f12828d75b534364ed9e95ca4e307729a4661bde4",
            ),
            genesis_time: 1_695_902_100,
            block_forks: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            time_forks: vec![
                1_696_000_704, // Shanghai
                1_707_305_664, // Cancun
                1_740_434_112, // Prague
                1_759_308_480, // Osaka
                1_759_800_000, // BPO1
                1_760_389_824, // BPO2
            ],
        }
    }

    /// The Hoodi test network.
    pub fn hoodi() -> Chain {
        Chain {
            name: "hoodi".into(),
            network_id: 560_048,
            genesis_hash: H256::from_hex_const(
                "bbe312868b376a3001692a646dd2d7d1e4406380dfd86b98aa8a34d1557c971b",
            ),
            genesis_time: 1_742_212_800,
            block_forks: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            time_forks: vec![
                0,             // Shanghai (at genesis)
                0,             // Cancun (at genesis)
                1_742_999_832, // Prague
                1_761_677_592, // Osaka
                1_762_365_720, // BPO1
                1_762_955_544, // BPO2
            ],
        }
    }

    /// One of the public networks by name: `mainnet`, `sepolia`, `holesky` (or `holešky`),
    /// `hoodi`.
    pub fn by_name(name: &str) -> Option<Chain> {
        match name.to_ascii_lowercase().as_str() {
            "mainnet" => Some(Chain::mainnet()),
            "sepolia" => Some(Chain::sepolia()),
            "holesky" | "holešky" => Some(Chain::holesky()),
            "hoodi" => Some(Chain::hoodi()),
            _ => None,
        }
    }

    /// The forks that count for fork identifiers, as EIP-2124 and go-ethereum gather them:
    /// each list sorted and deduplicated, block 0 dropped (it is the genesis rule set), and
    /// time forks at or before the genesis timestamp dropped.
    pub fn gathered_forks(&self) -> (Vec<u64>, Vec<u64>) {
        let mut blocks = self.block_forks.clone();
        blocks.sort_unstable();
        blocks.dedup();
        blocks.retain(|&b| b != 0);
        let mut times = self.time_forks.clone();
        times.sort_unstable();
        times.dedup();
        times.retain(|&t| t > self.genesis_time);
        (blocks, times)
    }
}
