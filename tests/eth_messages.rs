//! eth messages against go-ethereum's encodings (eth/protocols/eth/protocol_test.go), Status
//! round trips, and strict decoding.

use devp2p_peer::eth::{
    self, BlockBodies, BlockHeaders, BlockRangeUpdate, Chain, ForkId, GetBlockBodies,
    GetBlockHeaders, GetPooledTransactions, GetReceipts, HashOrNumber, Message,
    NewPooledTransactionHashes, PooledTransactions, Receipts, Request, Status, Status68, Status69,
    Transactions, H256,
};
use devp2p_peer::Msg;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn h(tail: &str) -> H256 {
    format!("{tail:0>64}").parse().unwrap()
}

/// Checks `msg` encodes to `want`, and `want` decodes back to `msg`.
fn round_trip<T: Message + PartialEq + std::fmt::Debug>(msg: &T, want: &str) {
    assert_eq!(hex(&msg.encode()), want, "{}", T::NAME);
    assert_eq!(&T::decode(&unhex(want)).unwrap(), msg, "{}", T::NAME);
}

const TX1: &str = "f867088504a817c8088302e2489435353535353535353535353535353535353535358202008025a064b1702d9298fee62dfeccc57d322a463ad55ca201256d01f62b45b2e1c21c12a064b1702d9298fee62dfeccc57d322a463ad55ca201256d01f62b45b2e1c21c10";
const TX2: &str = "f867098504a817c809830334509435353535353535353535353535353535353535358202d98025a052f8f61201b2b11a78d6e866abc9c3db2ae8631fa656bfe5cb53668255367afba052f8f61201b2b11a78d6e866abc9c3db2ae8631fa656bfe5cb53668255367afb";
const HEADER: &str = "f901f9a00000000000000000000000000000000000000000000000000000000000000000a00000000000000000000000000000000000000000000000000000000000000000940000000000000000000000000000000000000000a00000000000000000000000000000000000000000000000000000000000000000a00000000000000000000000000000000000000000000000000000000000000000a00000000000000000000000000000000000000000000000000000000000000000b90100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000008208ae820d0582115c8215b3821a0a827788a00000000000000000000000000000000000000000000000000000000000000000880000000000000000";

#[test]
fn geth_request_vectors() {
    let hashes = vec![h("deadc0de"), h("feedbeef")];
    round_trip(
        &Request::new(
            1111,
            GetBlockHeaders {
                origin: HashOrNumber::Hash(h("deadc0de")),
                amount: 5,
                skip: 5,
                reverse: false,
            },
        ),
        "e8820457e4a000000000000000000000000000000000000000000000000000000000deadc0de050580",
    );
    round_trip(
        &Request::new(
            1111,
            GetBlockHeaders {
                origin: HashOrNumber::Number(9999),
                amount: 5,
                skip: 5,
                reverse: false,
            },
        ),
        "ca820457c682270f050580",
    );
    let hashes_hex = "f847820457f842a000000000000000000000000000000000000000000000000000000000deadc0dea000000000000000000000000000000000000000000000000000000000feedbeef";
    round_trip(
        &Request::new(1111, GetBlockBodies(hashes.clone())),
        hashes_hex,
    );
    round_trip(&Request::new(1111, GetReceipts(hashes.clone())), hashes_hex);
    round_trip(
        &Request::new(1111, GetPooledTransactions(hashes)),
        hashes_hex,
    );
}

#[test]
fn geth_response_vectors() {
    round_trip(
        &Request::new(1111, BlockHeaders(vec![unhex(HEADER)])),
        &format!("f90202820457f901fc{HEADER}"),
    );
    round_trip(
        &Request::new(1111, PooledTransactions(vec![unhex(TX1), unhex(TX2)])),
        &format!("f8d7820457f8d2{TX1}{TX2}"),
    );
    // A block body: [transactions, uncles].
    let body = format!("f902d3f8d2{TX1}{TX2}f901fc{HEADER}");
    round_trip(
        &Request::new(1111, BlockBodies(vec![unhex(&body)])),
        &format!("f902dc820457f902d6{body}"),
    );
    let receipts = "f8d3f866808082014df85ff85d940000000000000000000000000000000000000011f842a0000000000000000000000000000000000000000000000000000000000000deada0000000000000000000000000000000000000000000000000000000000000beef830100fff86901018201bcf862f860940000000000000000000000000000000000000022f842a00000000000000000000000000000000000000000000000000000000000005668a0000000000000000000000000000000000000000000000000000000000000977386020f0f0f0608";
    round_trip(
        &Request::new(1111, Receipts(vec![unhex(receipts)])),
        &format!("f8da820457f8d5{receipts}"),
    );
}

#[test]
fn geth_empty_messages() {
    // Every empty request or response encodes alike.
    let want = "c4820457c0";
    round_trip(&Request::new(1111, GetBlockBodies(vec![])), want);
    round_trip(&Request::new(1111, BlockBodies(vec![])), want);
    round_trip(&Request::new(1111, GetReceipts(vec![])), want);
    round_trip(&Request::new(1111, Receipts(vec![])), want);
    round_trip(&Request::new(1111, GetPooledTransactions(vec![])), want);
    round_trip(&Request::new(1111, PooledTransactions(vec![])), want);
    round_trip(&Request::new(1111, BlockHeaders(vec![])), want);
}

#[test]
fn announcements() {
    round_trip(
        &Transactions(vec![unhex(TX1), unhex(TX2)]),
        &format!("f8d2{TX1}{TX2}"),
    );
    // A typed transaction is an RLP string in a Transactions list.
    round_trip(
        &Transactions(vec![vec![0x83, 0x02, 0xc1, 0x80]]),
        "c48302c180",
    );
    round_trip(
        &NewPooledTransactionHashes {
            types: vec![0, 2],
            sizes: vec![106, 1000],
            hashes: vec![h("01"), h("02")],
        },
        "f84c820002c46a8203e8f842a00000000000000000000000000000000000000000000000000000000000000001a00000000000000000000000000000000000000000000000000000000000000002",
    );
    round_trip(
        &BlockRangeUpdate {
            earliest_block: 0,
            latest_block: 1000,
            latest_block_hash: h("ff"),
        },
        "e5808203e8a000000000000000000000000000000000000000000000000000000000000000ff",
    );
}

#[test]
fn status_round_trips() {
    let mainnet = Chain::mainnet();
    // eth/68 at mainnet genesis: [68, 1, 0, genesis, genesis, [fc64ec04, 1150000]].
    let g = "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3";
    let s68 = Status68::new(&mainnet, 0, 0);
    let want68 = format!("f84f440180a0{g}a0{g}c984fc64ec0483118c30");
    assert_eq!(hex(&s68.encode()), want68);
    assert_eq!(
        Status::decode(68, &unhex(&want68)).unwrap(),
        Status::Eth68(s68)
    );
    // With a total difficulty (mainnet's terminal one, 76 bits) and another head.
    let s68b = Status68 {
        td: 58_750_000_000_000_000_000_000,
        head: h("beef"),
        ..s68
    };
    assert_eq!(Status68::decode(&s68b.encode()).unwrap(), s68b);

    // eth/69 (go-ethereum's StatusPacket69 field order): [69, 1, genesis, forkid, earliest,
    // latest, latest hash].
    let s69 = Status69 {
        version: 69,
        network_id: 1,
        genesis: mainnet.genesis_hash,
        fork_id: ForkId::new(&mainnet, 30_000_000, 1_764_798_551),
        earliest_block: 0,
        latest_block: 23_000_000,
        latest_block_hash: h("1234"),
    };
    let s69 = Status69 {
        fork_id: ForkId {
            hash: [0x51, 0x67, 0xe2, 0xa6],
            next: 0,
        },
        ..s69
    };
    let want69 = format!("f8514501a0{g}c6845167e2a6808084015ef3c0a0{:0>64}", "1234");
    assert_eq!(hex(&s69.encode()), want69);
    assert_eq!(Status69::decode(&unhex(&want69)).unwrap(), s69);
    // Bytes after the Status are ignored, as go-ethereum's message decoding ignores them.
    let mut longer = unhex(&want69);
    longer.extend_from_slice(&[0xc0, 0x01]);
    assert_eq!(Status69::decode(&longer).unwrap(), s69);
}

#[test]
fn status_decoding_is_strict() {
    let good = Status69::new(&Chain::sepolia(), 0, 0).encode();
    assert!(Status69::decode(&good).is_ok());
    // An eth/68 Status is not an eth/69 one, and the other way round.
    let s68 = Status68::new(&Chain::sepolia(), 0, 0).encode();
    assert_eq!(
        Status69::decode(&s68).unwrap_err().to_string(),
        "too few elements for eth.StatusPacket69"
    );
    assert!(Status68::decode(&good).is_err());
    // Fields as go-ethereum would have them, with one changed.
    let s = Status69::new(&Chain::sepolia(), 0, 0);
    let build = |version: &[u8], network: &[u8], genesis: &[u8], extra: bool| {
        let mut st = rlp::RlpStream::new_list(if extra { 8 } else { 7 });
        st.append_raw(version, 1);
        st.append_raw(network, 1);
        st.append_raw(genesis, 1);
        st.append(&s.fork_id);
        st.append(&s.earliest_block);
        st.append(&s.latest_block);
        st.append(&s.latest_block_hash);
        if extra {
            st.append(&1u8);
        }
        st.out().to_vec()
    };
    let genesis = rlp::encode(&s.genesis).to_vec();
    let network = rlp::encode(&s.network_id).to_vec();
    assert_eq!(
        Status69::decode(&build(&[0x45], &network, &genesis, false)).unwrap(),
        s
    );
    assert_eq!(
        Status69::decode(&build(&[0x45], &network, &genesis, true))
            .unwrap_err()
            .to_string(),
        "input list has too many elements for eth.StatusPacket69"
    );
    assert_eq!(
        Status69::decode(&build(&[0x85, 1, 0, 0, 0, 0x45], &network, &genesis, false))
            .unwrap_err()
            .to_string(),
        "input string too long for uint32"
    );
    assert_eq!(
        Status69::decode(&build(
            &[0x84, 0x00, 0xaa, 0x36, 0xa7],
            &[0x45],
            &genesis,
            false
        ))
        .unwrap_err()
        .to_string(),
        "non-canonical integer (leading zero bytes) for uint32"
    );
    assert_eq!(
        Status69::decode(&build(
            &[0x45],
            &[0x84, 0x00, 0xaa, 0x36, 0xa7],
            &genesis,
            false
        ))
        .unwrap_err()
        .to_string(),
        "non-canonical integer (leading zero bytes) for uint64"
    );
    // A genesis hash one byte short of its header takes a byte of the next field.
    assert!(Status69::decode(&build(&[0x45], &network, &genesis[..32], false)).is_err());
    let mut short = vec![0x9f];
    short.extend_from_slice(&genesis[1..32]);
    assert_eq!(
        Status69::decode(&build(&[0x45], &network, &short, false))
            .unwrap_err()
            .to_string(),
        "input string too short for [32]uint8"
    );
    assert_eq!(
        Status69::decode(&build(&[0x45], &network, &[0xc0], false))
            .unwrap_err()
            .to_string(),
        "expected input string or byte for [32]uint8"
    );
    // A truncated payload, an empty one.
    assert!(Status69::decode(&good[..good.len() - 1]).is_err());
    assert!(Status69::decode(&[]).is_err());
    // A single byte below 0x80 encoded as a one-byte string.
    assert!(Transactions::decode(&[0xc2, 0x81, 0x05]).is_err());
    // A long-form list header for a short list.
    assert!(Transactions::decode(&[0xf8, 0x01, 0x80]).is_err());
}

#[test]
fn request_decoding_is_strict() {
    let query = |origin: &[u8]| {
        let mut st = rlp::RlpStream::new_list(2);
        st.append(&1111u64);
        st.begin_list(4);
        st.append_raw(origin, 1);
        st.append(&5u64).append(&5u64).append(&false);
        st.out().to_vec()
    };
    // A number with a leading zero; an origin of 9 bytes (neither a number nor a hash).
    assert!(Request::<GetBlockHeaders>::decode(&query(&[0x88, 0, 0, 0, 0, 0, 0, 0, 1])).is_err());
    let with_9 = query(&[0x89, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(
        Request::<GetBlockHeaders>::decode(&with_9)
            .unwrap_err()
            .to_string(),
        "invalid input size 9 for origin"
    );
    // Reverse must be 0x80 or 0x01.
    assert_eq!(
        Request::<GetBlockHeaders>::decode(&unhex("ca820457c682270f050502"))
            .unwrap_err()
            .to_string(),
        "invalid boolean value for bool"
    );
    // A request ID that is a list; a missing body.
    assert!(Request::<GetBlockBodies>::decode(&unhex("c3c0c0")).is_err());
    assert!(Request::<GetBlockBodies>::decode(&unhex("c3820457")).is_err());
    // Hashes of 31 bytes.
    assert!(Request::<GetBlockBodies>::decode(&unhex(
        "e3820457e09f0000000000000000000000000000000000000000000000000000000000"
    ))
    .is_err());
    // A raw list with a truncated item.
    assert!(Request::<PooledTransactions>::decode(&unhex("c5820457c183")).is_err());
    // NewPooledTransactionHashes with lists of different lengths.
    let uneven = NewPooledTransactionHashes {
        types: vec![0, 2],
        sizes: vec![106],
        hashes: vec![h("01"), h("02")],
    };
    assert_eq!(
        NewPooledTransactionHashes::decode(&uneven.encode())
            .unwrap_err()
            .to_string(),
        "NewPooledTransactionHashes: invalid len of fields in 2 2 1"
    );
}

#[test]
fn read_checks_code_size_and_payload() {
    let req = Request::new(3, GetReceipts(vec![h("aa")]));
    let mut msg = Msg::new(eth::GET_RECEIPTS_MSG, req.encode());
    assert_eq!(eth::read::<Request<GetReceipts>>(&mut msg).unwrap(), req);

    let mut wrong = Msg::new(eth::GET_BLOCK_BODIES_MSG, req.encode());
    let err = eth::read::<Request<GetReceipts>>(&mut wrong).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid message code: 5 is not eth.GetReceiptsPacket (f)"
    );

    let mut huge = Msg::new(eth::TRANSACTIONS_MSG, vec![]);
    huge.size = eth::MAX_MESSAGE_SIZE + 1;
    let err = eth::read::<Transactions>(&mut huge).unwrap_err();
    assert_eq!(err.to_string(), "message too long: 10485761 > 10485760");
    assert_eq!(
        devp2p_peer::disc_reason_for_error(&err),
        devp2p_peer::DiscReason::SUBPROTOCOL_ERROR
    );

    let mut garbage = Msg::new(eth::TRANSACTIONS_MSG, vec![0x83, 1, 2, 3]);
    let err = eth::read::<Transactions>(&mut garbage).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid message: (code 2) (size 4) rlp: expected input list for eth.TransactionsPacket"
    );
    assert_eq!(
        devp2p_peer::disc_reason_for_error(&err),
        devp2p_peer::DiscReason::PROTOCOL_ERROR
    );
}
