//! The eth Status handshake over in-memory peers: success on eth/68 and eth/69, and every
//! failure of go-ethereum's handshake with its error text and disconnect reason.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{secs, test_peer, uint_id, within};
use crossbeam_channel::{bounded, Sender};
use devp2p_peer::eth::{self, Chain, ForkFilter, ForkId, HandshakeError, Status, Status69, H256};
use devp2p_peer::{
    disc_reason_for_error, Cap, ConnInfo, DiscReason, MemoryTransport, Msg, MsgReader, MsgWriter,
    Peer, PeerConfig, Protocol, DISC_MSG,
};

/// The first code of the only protocol on a test connection.
const OFFSET: u64 = 16;

type Outcome = Result<Status, HandshakeError>;

/// An eth protocol on `chain` at genesis that runs the handshake, reports its result and
/// then ends the connection with "disconnect requested".
fn eth_proto(version: u32, chain: Chain, timeout: Duration, tx: Sender<Outcome>) -> Protocol {
    eth::protocol(version, move |peer, rw| {
        let ours = Status::new(version, &chain, 0, 0).unwrap();
        let filter = ForkFilter::new(&chain, 0, 0);
        let res = eth::handshake_timeout(&peer, &rw, &ours, &filter, timeout);
        let _ = tx.send(res.clone());
        res?;
        Err(DiscReason::REQUESTED.into())
    })
}

fn conn(id: u16, version: u32) -> ConnInfo {
    ConnInfo {
        id: uint_id(id),
        name: format!("peer-{id}"),
        caps: vec![Cap::new("eth", version)],
        ..ConnInfo::default()
    }
}

/// Two peers, each with its own chain, run the handshake against each other.
fn pair(version: u32, a: Chain, b: Chain) -> (Outcome, Outcome, devp2p_peer::Error) {
    let (ta, tb) = MemoryTransport::pair();
    let (txa, rxa) = bounded(1);
    let (txb, rxb) = bounded(1);
    let pa = Peer::new(
        conn(2, version),
        Arc::new(ta),
        &[eth_proto(version, a, secs(20), txa)],
        PeerConfig::default(),
    );
    let pb = Peer::new(
        conn(1, version),
        Arc::new(tb),
        &[eth_proto(version, b, secs(20), txb)],
        PeerConfig::default(),
    );
    within(secs(30), move || {
        let t = thread::spawn(move || pb.run());
        let (_, err) = pa.run();
        t.join().unwrap();
        let ra = rxa.recv_timeout(secs(1)).expect("a reported");
        let rb = rxb.recv_timeout(secs(1));
        (ra, rb.unwrap_or(Err(HandshakeError::Timeout)), err)
    })
}

#[test]
fn success_eth68_and_eth69() {
    for version in [68, 69] {
        let (a, b, err) = pair(version, Chain::mainnet(), Chain::mainnet());
        let want = Status::new(version, &Chain::mainnet(), 0, 0).unwrap();
        assert_eq!(a.unwrap(), want);
        assert_eq!(b.unwrap(), want);
        assert_eq!(err.disc_reason(), Some(DiscReason::REQUESTED));
    }
}

#[test]
fn different_networks_fail_on_both_sides() {
    let (a, _b, err) = pair(69, Chain::mainnet(), Chain::hoodi());
    // Side a is checked by its own handshake: hoodi's network ID is not ours.
    match a {
        Err(e @ HandshakeError::NetworkIdMismatch { .. }) => {
            assert_eq!(e.to_string(), "network ID mismatch: 560048 (!= 1)")
        }
        // Or b ended the connection first and a's read failed.
        Err(HandshakeError::Peer(e)) => {
            assert_eq!(e.disc_reason(), Some(DiscReason::SUBPROTOCOL_ERROR))
        }
        other => panic!("unexpected: {other:?}"),
    }
    assert_eq!(disc_reason_for_error(&err), DiscReason::SUBPROTOCOL_ERROR);
}

/// The reason the test peer closed its transport with (what it would send the remote).
fn closed_with(tp: &common::TestPeer) -> DiscReason {
    let err = tp
        .local
        .closed_with
        .lock()
        .clone()
        .expect("transport closed");
    err.disc_reason().expect("closed with a reason")
}

/// Runs our eth/69 handshake (mainnet, genesis) against a raw remote that first sends
/// `code`/`payload`, then reads our Status; returns the handshake's result, the error
/// `Peer::run` returned and the reason the peer closed its connection with.
fn against_raw(code: u64, payload: Vec<u8>) -> (Outcome, String, DiscReason) {
    let (tx, rx) = bounded(1);
    let tp = test_peer(vec![eth_proto(69, Chain::mainnet(), secs(20), tx)]);
    within(secs(30), move || {
        tp.remote
            .write_msg(Msg::new(OFFSET + code, payload))
            .unwrap();
        let mut ours = tp.remote.read_msg().unwrap();
        assert_eq!(ours.code, OFFSET + eth::STATUS_MSG);
        let sent = Status69::decode(ours.payload.consume()).unwrap();
        assert_eq!(sent, Status69::new(&Chain::mainnet(), 0, 0));
        let outcome = rx.recv_timeout(secs(10)).unwrap();
        let (_, err) = tp.result(secs(10));
        (outcome, err.to_string(), closed_with(&tp))
    })
}

fn good() -> Status69 {
    Status69::new(&Chain::mainnet(), 0, 0)
}

#[test]
fn mismatches_have_geths_texts_and_reasons() {
    let g = "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3";
    let cases: Vec<(u64, Vec<u8>, String)> = vec![
        (
            eth::TRANSACTIONS_MSG,
            vec![0xc0],
            "no status message: first msg has code 2 (!= 0)".into(),
        ),
        (
            eth::STATUS_MSG,
            Status69 {
                version: 10,
                ..good()
            }
            .encode(),
            "protocol version mismatch: 10 (!= 69)".into(),
        ),
        (
            eth::STATUS_MSG,
            Status69 {
                network_id: 999,
                ..good()
            }
            .encode(),
            "network ID mismatch: 999 (!= 1)".into(),
        ),
        (
            eth::STATUS_MSG,
            Status69 {
                genesis: H256({
                    let mut h = [0; 32];
                    h[0] = 3;
                    h
                }),
                ..good()
            }
            .encode(),
            format!("genesis mismatch: 03{} (!= {g})", "00".repeat(31)),
        ),
        (
            eth::STATUS_MSG,
            Status69 {
                fork_id: ForkId {
                    hash: [0, 1, 2, 3],
                    next: 0,
                },
                ..good()
            }
            .encode(),
            "fork ID rejected: local incompatible or needs update".into(),
        ),
        (
            eth::STATUS_MSG,
            Status69 {
                // Sepolia's genesis checksum on mainnet: a remote on another chain.
                fork_id: ForkId::new(&Chain::sepolia(), 0, 0),
                ..good()
            }
            .encode(),
            "fork ID rejected: local incompatible or needs update".into(),
        ),
        (
            eth::STATUS_MSG,
            Status69 {
                earliest_block: 1,
                ..good()
            }
            .encode(),
            "invalid block range in status: earliest > latest".into(),
        ),
        (
            eth::STATUS_MSG,
            Status69 {
                latest_block_hash: H256::ZERO,
                ..good()
            }
            .encode(),
            "invalid block range in status: zero latest hash".into(),
        ),
    ];
    for (code, payload, want) in cases {
        let (outcome, run_err, reason) = against_raw(code, payload);
        let e = outcome.expect_err(&want);
        assert_eq!(e.to_string(), want);
        assert_eq!(e.disc_reason(), DiscReason::SUBPROTOCOL_ERROR, "{want}");
        // The protocol returned the error: the peer ends with it and go-ethereum's reason.
        assert_eq!(run_err, want);
        assert_eq!(reason, DiscReason::SUBPROTOCOL_ERROR, "{want}");
    }
}

#[test]
fn undecodable_status_is_a_breach_of_protocol() {
    // An eth/68 Status on an eth/69 connection.
    let s68 = eth::Status68::new(&Chain::mainnet(), 0, 0).encode();
    let size = s68.len();
    let (outcome, run_err, reason) = against_raw(eth::STATUS_MSG, s68);
    let want = format!(
        "invalid message: (code 0) (size {size}) rlp: too few elements for eth.StatusPacket69"
    );
    assert_eq!(outcome.unwrap_err().to_string(), want);
    assert_eq!(run_err, want);
    assert_eq!(reason, DiscReason::PROTOCOL_ERROR);
}

#[test]
fn status_over_10_mib_is_refused() {
    // A valid Status padded to just over the limit (bytes after the value are ignored by
    // decoding, so only the size check can refuse it).
    let mut payload = good().encode();
    payload.resize(eth::MAX_MESSAGE_SIZE as usize + 1, 0);
    let (outcome, run_err, reason) = against_raw(eth::STATUS_MSG, payload);
    let want = "message too long: 10485761 > 10485760";
    assert_eq!(outcome.unwrap_err().to_string(), want);
    assert_eq!(run_err, want);
    assert_eq!(reason, DiscReason::SUBPROTOCOL_ERROR);

    // Exactly at the limit it is accepted.
    let mut payload = good().encode();
    payload.resize(eth::MAX_MESSAGE_SIZE as usize, 0);
    let (outcome, run_err, reason) = against_raw(eth::STATUS_MSG, payload);
    assert_eq!(outcome.unwrap(), Status::Eth69(good()));
    assert_eq!(run_err, "disconnect requested");
    assert_eq!(reason, DiscReason::REQUESTED);
}

#[test]
fn silent_remote_times_out_with_read_timeout() {
    // The remote reads our Status but never sends its own.
    let (tx, rx) = bounded(1);
    let tp = test_peer(vec![eth_proto(
        68,
        Chain::mainnet(),
        Duration::from_millis(300),
        tx,
    )]);
    within(secs(30), move || {
        let ours = tp.remote.read_msg().unwrap();
        assert_eq!(ours.code, OFFSET);
        let outcome = rx.recv_timeout(secs(10)).unwrap();
        assert!(matches!(outcome, Err(HandshakeError::Timeout)));
        assert_eq!(outcome.unwrap_err().to_string(), "read timeout");
        let (_, err) = tp.result(secs(10));
        assert_eq!(err.disc_reason(), Some(DiscReason::READ_TIMEOUT));
        assert_eq!(closed_with(&tp), DiscReason::READ_TIMEOUT);
    });
}

#[test]
fn remote_that_neither_reads_nor_sends_times_out() {
    // Our Status cannot even be delivered: the send blocks too. The handshake still ends at
    // its deadline, and both of its threads are joined (the peer's run returns).
    let (tx, rx) = bounded(1);
    let tp = test_peer(vec![eth_proto(
        69,
        Chain::mainnet(),
        Duration::from_millis(300),
        tx,
    )]);
    within(secs(30), move || {
        let outcome = rx.recv_timeout(secs(10)).unwrap();
        assert!(
            matches!(outcome, Err(HandshakeError::Timeout)),
            "{outcome:?}"
        );
        let (_, err) = tp.result(secs(10));
        assert_eq!(err.disc_reason(), Some(DiscReason::READ_TIMEOUT));
    });
}

#[test]
fn remote_disconnect_during_handshake() {
    let (tx, rx) = bounded(1);
    let tp = test_peer(vec![eth_proto(69, Chain::mainnet(), secs(20), tx)]);
    within(secs(30), move || {
        let _ours = tp.remote.read_msg().unwrap();
        tp.remote
            .write_msg(Msg::new(DISC_MSG, DiscReason::TOO_MANY_PEERS.encode()))
            .unwrap();
        let outcome = rx.recv_timeout(secs(10)).unwrap();
        match outcome {
            Err(HandshakeError::Peer(e)) => assert_eq!(e.to_string(), "EOF"),
            other => panic!("unexpected: {other:?}"),
        }
        let (remote_requested, err) = tp.result(secs(10));
        assert!(remote_requested);
        assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
    });
}

#[test]
fn handshake_error_into_error() {
    use devp2p_peer::Error;
    let e: Error = HandshakeError::GenesisMismatch {
        remote: H256([1; 32]),
        local: H256([2; 32]),
    }
    .into();
    assert_eq!(disc_reason_for_error(&e), DiscReason::SUBPROTOCOL_ERROR);
    assert!(e.to_string().starts_with("genesis mismatch: 0101"));
    let e: Error = HandshakeError::Timeout.into();
    assert_eq!(e.disc_reason(), Some(DiscReason::READ_TIMEOUT));
    let e: Error = HandshakeError::Decode(Error::invalid_msg("x")).into();
    assert_eq!(disc_reason_for_error(&e), DiscReason::PROTOCOL_ERROR);
}
