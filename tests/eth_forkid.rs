//! EIP-2124 fork identifiers: go-ethereum's `forkid_test.go` tables (creation on mainnet,
//! Sepolia, Holešky and Hoodi; the validation rules; the encoding), EIP-2124's own vectors.

use devp2p_peer::eth::{Chain, ForkFilter, ForkId, ForkIdError, H256};

fn id(hash: u32, next: u64) -> ForkId {
    ForkId {
        hash: hash.to_be_bytes(),
        next,
    }
}

fn check(chain: &Chain, cases: &[(u64, u64, u32, u64)]) {
    for (i, &(head, time, hash, next)) in cases.iter().enumerate() {
        assert_eq!(
            ForkId::new(chain, head, time),
            id(hash, next),
            "{} case {i}: head {head}, time {time}",
            chain.name
        );
    }
}

#[test]
fn creation_mainnet() {
    check(
        &Chain::mainnet(),
        &[
            (0, 0, 0xfc64ec04, 1150000),
            (1149999, 0, 0xfc64ec04, 1150000),
            (1150000, 0, 0x97c2c34c, 1920000),
            (1919999, 0, 0x97c2c34c, 1920000),
            (1920000, 0, 0x91d1f948, 2463000),
            (2462999, 0, 0x91d1f948, 2463000),
            (2463000, 0, 0x7a64da13, 2675000),
            (2674999, 0, 0x7a64da13, 2675000),
            (2675000, 0, 0x3edd5b10, 4370000),
            (4369999, 0, 0x3edd5b10, 4370000),
            (4370000, 0, 0xa00bc324, 7280000),
            (7279999, 0, 0xa00bc324, 7280000),
            (7280000, 0, 0x668db0af, 9069000),
            (9068999, 0, 0x668db0af, 9069000),
            (9069000, 0, 0x879d6e30, 9200000),
            (9199999, 0, 0x879d6e30, 9200000),
            (9200000, 0, 0xe029e991, 12244000),
            (12243999, 0, 0xe029e991, 12244000),
            (12244000, 0, 0x0eb440f6, 12965000),
            (12964999, 0, 0x0eb440f6, 12965000),
            (12965000, 0, 0xb715077d, 13773000),
            (13772999, 0, 0xb715077d, 13773000),
            (13773000, 0, 0x20c327fc, 15050000),
            (15049999, 0, 0x20c327fc, 15050000),
            (15050000, 0, 0xf0afd0e3, 1681338455),
            (20000000, 1681338454, 0xf0afd0e3, 1681338455),
            (20000000, 1681338455, 0xdce96c2d, 1710338135),
            (30000000, 1710338134, 0xdce96c2d, 1710338135),
            (30000000, 1710338135, 0x9f3d2254, 1746612311),
            (30000000, 1746022486, 0x9f3d2254, 1746612311),
            (30000000, 1746612311, 0xc376cf8b, 1764798551),
            (30000000, 1764798550, 0xc376cf8b, 1764798551),
            (30000000, 1764798551, 0x5167e2a6, 1765290071),
            (30000000, 1765290070, 0x5167e2a6, 1765290071),
            (30000000, 1765290071, 0xcba2a1c0, 1767747671),
            (30000000, 1767747670, 0xcba2a1c0, 1767747671),
            (30000000, 1767747671, 0x07c9462e, 0),
            (50000000, 2000000000, 0x07c9462e, 0),
        ],
    );
}

#[test]
fn creation_sepolia() {
    check(
        &Chain::sepolia(),
        &[
            (0, 0, 0xfe3366e7, 1735371),
            (1735370, 0, 0xfe3366e7, 1735371),
            (1735371, 0, 0xb96cbd13, 1677557088),
            (1735372, 1677557087, 0xb96cbd13, 1677557088),
            (1735372, 1677557088, 0xf7f9bc08, 1706655072),
            (1735372, 1706655071, 0xf7f9bc08, 1706655072),
            (1735372, 1706655072, 0x88cf81d9, 1741159776),
            (1735372, 1741159775, 0x88cf81d9, 1741159776),
            (1735372, 1741159776, 0xed88b5fd, 1760427360),
            (1735372, 1760427359, 0xed88b5fd, 1760427360),
            (1735372, 1760427360, 0xe2ae4999, 1761017184),
            (1735372, 1761017183, 0xe2ae4999, 1761017184),
            (1735372, 1761017184, 0x56078a1e, 1761607008),
            (1735372, 1761607007, 0x56078a1e, 1761607008),
            (1735372, 1761607008, 0x268956b6, 0),
            (1735372, 2000000000, 0x268956b6, 0),
        ],
    );
}

#[test]
fn creation_holesky() {
    check(
        &Chain::holesky(),
        &[
            (0, 0, 0xc61a6098, 1696000704),
            (123, 0, 0xc61a6098, 1696000704),
            (123, 1696000704, 0xfd4f016b, 1707305664),
            (123, 1707305663, 0xfd4f016b, 1707305664),
            (123, 1707305664, 0x9b192ad0, 1740434112),
            (123, 1740434111, 0x9b192ad0, 1740434112),
            (123, 1740434112, 0xdfbd9bed, 1759308480),
            (123, 1759308479, 0xdfbd9bed, 1759308480),
            (123, 1759308480, 0x783def52, 1759800000),
            (123, 1759799999, 0x783def52, 1759800000),
            (123, 1759800000, 0xa280a45c, 1760389824),
            (123, 1760389823, 0xa280a45c, 1760389824),
            (123, 1760389824, 0x9bc6cb31, 0),
            (123, 2000000000, 0x9bc6cb31, 0),
        ],
    );
}

#[test]
fn creation_hoodi() {
    check(
        &Chain::hoodi(),
        &[
            (0, 0, 0xbef71d30, 1742999832),
            (123, 1742999831, 0xbef71d30, 1742999832),
            (123, 1742999832, 0x0929e24e, 1761677592),
            (123, 1761677591, 0x0929e24e, 1761677592),
            (123, 1761677592, 0xe7e0e7ff, 1762365720),
            (123, 1762365719, 0xe7e0e7ff, 1762365720),
            (123, 1762365720, 0x3893353e, 1762955544),
            (123, 1762955543, 0x3893353e, 1762955544),
            (123, 1762955544, 0x23aa1351, 0),
            (123, 2000000000, 0x23aa1351, 0),
        ],
    );
}

/// EIP-2124's own vectors: mainnet with the forks known when it was written (up to
/// Petersburg, Istanbul announced later); the values agree with the full schedule up to
/// Petersburg.
#[test]
fn eip2124_vectors() {
    let mainnet = Chain::mainnet();
    assert_eq!(ForkId::new(&mainnet, 0, 0), id(0xfc64ec04, 1150000));
    assert_eq!(ForkId::new(&mainnet, 1150000, 0), id(0x97c2c34c, 1920000));
    assert_eq!(ForkId::new(&mainnet, 7280000, 0), id(0x668db0af, 9069000));
    // The checksum at genesis is the CRC32 of the genesis hash.
    assert_eq!(
        Chain::mainnet().genesis_hash,
        "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"
            .parse::<H256>()
            .unwrap()
    );
}

/// Mainnet without its time forks, as go-ethereum's validation test builds it.
fn legacy_mainnet() -> Chain {
    Chain {
        time_forks: vec![],
        ..Chain::mainnet()
    }
}

/// go-ethereum's checksumUpdate, for the "unknown future fork" cases.
fn extend(hash: u32, fork: u64) -> u32 {
    // CRC32 of (previous input || fork) from the previous checksum: recompute by hand.
    let mut crc = !hash;
    for b in fork.to_be_bytes() {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Local chain, head block, head time, remote fork ID, expected verdict.
type Case<'a> = (&'a Chain, u64, u64, ForkId, Result<(), ForkIdError>);

#[test]
fn validation() {
    use ForkIdError::{LocalIncompatibleOrStale as Incompat, RemoteStale as Stale};
    let legacy = legacy_mainnet();
    let mainnet = Chain::mainnet();
    let max = u64::MAX;
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        // Block based.
        (&legacy, 15050000, 0, id(0xf0afd0e3, 0), Ok(())),
        (&legacy, 15050000, 0, id(0xf0afd0e3, max), Ok(())),
        (&legacy, 7279999, 0, id(0xa00bc324, 0), Ok(())),
        (&legacy, 7279999, 0, id(0xa00bc324, 7280000), Ok(())),
        (&legacy, 7279999, 0, id(0xa00bc324, max), Ok(())),
        (&legacy, 7280000, 0, id(0xa00bc324, 7280000), Ok(())),
        (&legacy, 7987396, 0, id(0xa00bc324, 7280000), Ok(())),
        (&legacy, 7987396, 0, id(0x3edd5b10, 4370000), Ok(())),
        (&legacy, 7279999, 0, id(0x668db0af, 0), Ok(())),
        (&legacy, 4369999, 0, id(0xa00bc324, 0), Ok(())),
        (&legacy, 7987396, 0, id(0xa00bc324, 0), Err(Stale)),
        (&legacy, 7987396, 0, id(0x5cddc0e1, 0), Err(Incompat)),
        (&legacy, 7279999, 0, id(0x5cddc0e1, 0), Err(Incompat)),
        (&legacy, 7987396, 0, id(0xafec6b27, 0), Err(Incompat)),
        (&legacy, 88888888, 0, id(0xf0afd0e3, 88888888), Err(Incompat)),
        (&legacy, 7279999, 0, id(0xa00bc324, 7279999), Err(Incompat)),
        // Block to timestamp transition.
        (&mainnet, 15050000, 0, id(0xf0afd0e3, 0), Ok(())),
        (&mainnet, 15050000, 0, id(0xf0afd0e3, 1681338455), Ok(())),
        (&mainnet, 15050000, 0, id(0xf0afd0e3, max), Ok(())),
        (&mainnet, 20000000, 1681338455, id(0xf0afd0e3, 1681338455), Ok(())),
        (&mainnet, 20123456, 1681338456, id(0xf0afd0e3, 1681338455), Ok(())),
        (&mainnet, 20000000, 1681338455, id(0x20c327fc, 15050000), Ok(())),
        (&mainnet, 15050000, 0, id(0xdce96c2d, 0), Ok(())),
        (&mainnet, 13773000, 0, id(0xf0afd0e3, 0), Ok(())),
        (&mainnet, 20000000, 1681338455, id(0xf0afd0e3, 0), Err(Stale)),
        (&mainnet, 15050000, 0, id(extend(0xf0afd0e3, max), 0), Err(Incompat)),
        (&mainnet, 15050000, 0, id(extend(0xdce96c2d, max), 0), Err(Incompat)),
        (&mainnet, 888888888, 1660000000, id(0xf0afd0e3, 1660000000), Err(Incompat)),
        (&mainnet, 19999999, 1667999999, id(0xf0afd0e3, 1667999999), Err(Incompat)),
        // Timestamp based.
        (&mainnet, 20000000, 1681338455, id(0xdce96c2d, 0), Ok(())),
        (&mainnet, 20000000, 1681338455, id(0xdce96c2d, max), Ok(())),
        (&mainnet, 20000000, 1668000000, id(0xdce96c2d, 0), Ok(())),
        (&mainnet, 20000000, 1668000000, id(0xdce96c2d, 1710338135), Ok(())),
        (&mainnet, 20000000, 1668000000, id(0xdce96c2d, max), Ok(())),
        (&mainnet, 21000000, 1710338135, id(0xdce96c2d, 1710338135), Ok(())),
        (&mainnet, 21123456, 1710338136, id(0xdce96c2d, 1710338135), Ok(())),
        (&mainnet, 0, 0, id(0x3edd5b10, 1710338135), Ok(())),
        (&mainnet, 21000000, 1700000000, id(0x9f3d2254, 0), Ok(())),
        (&mainnet, 21000000, 1678000000, id(0xc376cf8b, 0), Ok(())),
        (&mainnet, 21000000, 1710338135, id(0xdce96c2d, 0), Err(Stale)),
        (&mainnet, 20000000, 1681338455, id(extend(0xdce96c2d, max), 0), Err(Incompat)),
        (&mainnet, 20000000, 1668000000, id(extend(0x9f3d2254, max), 0), Err(Incompat)),
        (&mainnet, 20000000, 1681338455, id(0x12345678, 0), Err(Incompat)),
        (&mainnet, 88888888, 8888888888, id(0x07c9462e, 8888888888), Err(Incompat)),
        (&mainnet, 20999999, 1699999999, id(0x71147644, 1700000000), Err(Incompat)),
    ];
    for (i, (chain, head, time, fid, want)) in cases.into_iter().enumerate() {
        let filter = ForkFilter::new(chain, head, time);
        assert_eq!(
            filter.validate(&fid),
            want,
            "case {i}: {fid} at {head}/{time}"
        );
    }
}

#[test]
fn filter_follows_a_moving_head() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let block = Arc::new(AtomicU64::new(7279999));
    let b = block.clone();
    let filter = ForkFilter::with_head(&legacy_mainnet(), move || (b.load(Ordering::SeqCst), 0));
    let byzantium_unaware = id(0xa00bc324, 0);
    assert_eq!(filter.validate(&byzantium_unaware), Ok(()));
    block.store(7987396, Ordering::SeqCst);
    assert_eq!(
        filter.validate(&byzantium_unaware),
        Err(ForkIdError::RemoteStale)
    );
}

#[test]
fn encoding() {
    let cases: [(ForkId, &str); 3] = [
        (id(0, 0), "c6840000000080"),
        (id(0xdeadbeef, 0xBADDCAFE), "ca84deadbeef84baddcafe"),
        (id(u32::MAX, u64::MAX), "ce84ffffffff88ffffffffffffffff"),
    ];
    for (fid, want) in cases {
        let have = rlp::encode(&fid);
        let hex: String = have.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want);
        assert_eq!(ForkId::decode(&have).unwrap(), fid);
    }
}

#[test]
fn decoding_is_strict() {
    // A 3-byte hash, a 5-byte hash, a non-canonical next, a third field, not a list.
    for bad in [
        &[0xc5, 0x83, 1, 2, 3, 0x80][..],
        &[0xc7, 0x85, 1, 2, 3, 4, 5, 0x80],
        &[0xc7, 0x84, 1, 2, 3, 4, 0x81, 0x05],
        &[0xc7, 0x84, 1, 2, 3, 4, 0x80, 0x80],
        &[0x84, 1, 2, 3, 4],
        &[0xc7, 0x84, 1, 2, 3, 4, 0x82, 0x00, 0x01],
    ] {
        assert!(ForkId::decode(bad).is_err(), "{bad:02x?}");
    }
}

/// go-ethereum's TestTimeBasedForkInGenesis: time forks at or before the genesis time are
/// part of the genesis rules.
#[test]
fn time_fork_in_genesis() {
    let time = 1690475657u64;
    let genesis = H256([0x42; 32]);
    let chain = |shanghai: u64, cancun: u64| Chain {
        name: "test".into(),
        network_id: 1337,
        genesis_hash: genesis,
        genesis_time: time,
        block_forks: vec![0; 12],
        time_forks: vec![shanghai, cancun],
    };
    let at_genesis = ForkId::new(&chain(u64::MAX, u64::MAX), 0, 0).hash;
    for (shanghai, cancun, next) in [
        (time - 1, time + 1, time + 1),
        (time, time + 1, time + 1),
        (time + 1, time + 2, time + 1),
    ] {
        assert_eq!(
            ForkId::new(&chain(shanghai, cancun), 0, time),
            ForkId {
                hash: at_genesis,
                next
            }
        );
    }
}
