//! The server: connection setup and its checkpoints, limits, trusted and static nodes,
//! listening and dialing on 127.0.0.1.
#![cfg(feature = "rlpx")]

mod server_common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use crossbeam_channel::bounded;
use devp2p_peer::rlpx::{Enode, RlpxTransport, SecretKey};
use devp2p_peer::*;
use server_common::*;

const LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// The setup-connection table (setup_conn called directly, as geth's test does).

#[test]
fn setup_server_not_started() {
    let server = Server::new(test_config("srv", vec![discard()]));
    let (_client, conn) = tcp_pair();
    let err = server
        .setup_conn(conn, ConnFlags::INBOUND, None)
        .unwrap_err();
    assert_eq!(err.to_string(), "server stopped");
}

#[test]
fn setup_enc_handshake_error() {
    let server = started(test_config("srv", vec![discard()]));
    let (mut client, conn) = tcp_pair();
    // Garbage instead of an auth packet.
    client.write_all(&[0x01, 0x00, 0xde, 0xad]).unwrap();
    client.write_all(&[0xbe; 300]).unwrap();
    let err = server
        .setup_conn(conn, ConnFlags::INBOUND, None)
        .unwrap_err();
    assert!(err.to_string().starts_with("rlpx enc error: "), "got {err}");
    assert_eq!(server.peer_count(), 0);
}

#[test]
fn setup_unexpected_identity_when_dialing() {
    let server = started(test_config("srv", vec![discard()]));
    let remote_key = SecretKey::random();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let rk = remote_key.clone();
    let remote = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let t = RlpxTransport::handshake(stream, &rk, None).unwrap();
        // A Hello claiming another identity than the key of the handshake.
        let other = SecretKey::random().public_key().to_bytes();
        t.protocol_handshake(&Hello::new("liar", vec![Cap::new("discard", 1)], other))
            .unwrap();
        next_disc(&t)
    });
    let stream = TcpStream::connect(addr).unwrap();
    let dest = Enode::new(remote_key.public_key(), addr);
    let err = server
        .setup_conn(stream, ConnFlags::STATIC_DIALED, Some(&dest))
        .unwrap_err();
    assert_eq!(err.disc_reason(), Some(DiscReason::UNEXPECTED_IDENTITY));
    // The reason went out on the wire.
    assert_eq!(
        remote.join().unwrap(),
        Some(DiscReason::UNEXPECTED_IDENTITY)
    );
}

#[test]
fn setup_remote_rejects_with_too_many_peers() {
    let server = started(test_config("srv", vec![discard()]));
    let remote_key = SecretKey::random();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let rk = remote_key.clone();
    let remote = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let t = RlpxTransport::handshake(stream, &rk, None).unwrap();
        t.shutdown(&Error::Disconnected(DiscReason::TOO_MANY_PEERS));
    });
    let stream = TcpStream::connect(addr).unwrap();
    let dest = Enode::new(remote_key.public_key(), addr);
    let err = server
        .setup_conn(stream, ConnFlags::STATIC_DIALED, Some(&dest))
        .unwrap_err();
    assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
    assert_eq!(err.to_string(), "too many peers");
    remote.join().unwrap();
}

#[test]
fn setup_self_connection() {
    let config = test_config("srv", vec![discard()]);
    let key = config.private_key.clone();
    let server = started(config);
    // Through setup_conn: the error on our side.
    let (client, conn) = tcp_pair();
    let k = key.clone();
    let pubkey = server.public_key();
    let remote = thread::spawn(move || {
        let t = RlpxTransport::handshake(client, &k, Some(&pubkey)).unwrap();
        t.protocol_handshake(&Hello::new("me", vec![], k.public_key().to_bytes()))
    });
    let err = server
        .setup_conn(conn, ConnFlags::INBOUND, None)
        .unwrap_err();
    assert_eq!(err.disc_reason(), Some(DiscReason::SELF));
    // The remote got the reason instead of a Hello.
    let remote_err = remote.join().unwrap().unwrap_err();
    assert_eq!(remote_err.disc_reason(), Some(DiscReason::SELF));
    // And through the listener.
    assert_eq!(
        rejection(&server, &key, vec![Cap::new("discard", 1)]),
        Some(DiscReason::SELF)
    );
}

#[test]
fn setup_no_matching_caps_is_useless_peer() {
    let server = started(test_config("srv", vec![discard()]));
    let key = SecretKey::random();
    let (client, conn) = tcp_pair();
    let pubkey = server.public_key();
    let k = key.clone();
    let remote = thread::spawn(move || {
        let t = RlpxTransport::handshake(client, &k, Some(&pubkey)).unwrap();
        t.protocol_handshake(&Hello::new(
            "c",
            vec![Cap::new("other", 1)],
            k.public_key().to_bytes(),
        ))
        .unwrap();
        next_disc(&t)
    });
    let err = server
        .setup_conn(conn, ConnFlags::INBOUND, None)
        .unwrap_err();
    assert_eq!(err.disc_reason(), Some(DiscReason::USELESS_PEER));
    assert_eq!(remote.join().unwrap(), Some(DiscReason::USELESS_PEER));
}

#[test]
fn setup_already_connected() {
    let server = started(test_config("srv", vec![discard()]));
    let events = server.subscribe_events();
    let key = SecretKey::random();
    let (_t, hello) = client_connect(&server, &key, vec![Cap::new("discard", 1)]).unwrap();
    assert_eq!(hello.name, "srv");
    next_event(&events, PeerEventType::Add, LIMIT);
    assert_eq!(
        rejection(&server, &key, vec![Cap::new("discard", 1)]),
        Some(DiscReason::ALREADY_CONNECTED)
    );
    assert_eq!(server.peer_count(), 1);
}

// ---------------------------------------------------------------------------------------
// Limits and trusted nodes.

#[test]
fn at_cap_with_trusted_peers() {
    let mut config = test_config("srv", vec![discard()]);
    config.max_peers = 4;
    config.no_dial = true; // every slot may be inbound
    let server = started(config);
    let events = server.subscribe_events();
    let caps = || vec![Cap::new("discard", 1)];
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(client_connect(&server, &SecretKey::random(), caps()).unwrap());
        next_event(&events, PeerEventType::Add, LIMIT);
    }
    assert_eq!(server.peer_count(), 4);

    // An untrusted fifth is refused right after the encryption handshake.
    let extra = SecretKey::random();
    assert_eq!(
        rejection(&server, &extra, caps()),
        Some(DiscReason::TOO_MANY_PEERS)
    );

    // Trusted, it gets in, flagged trusted.
    server.add_trusted_peer(&enode_of(&extra));
    let (_t, _) = client_connect(&server, &extra, caps()).unwrap();
    let ev = next_event(&events, PeerEventType::Add, LIMIT);
    assert_eq!(ev.peer, extra.public_key().node_id());
    assert_eq!(server.peer_count(), 5);
    let p = server
        .peers()
        .into_iter()
        .find(|p| p.id() == ev.peer)
        .unwrap();
    assert!(p.trusted());
    assert!(p.inbound());

    // Trust is withdrawn and given at run time.
    server.remove_trusted_peer(&enode_of(&extra));
    assert!(!p.trusted());
    server.add_trusted_peer(&enode_of(&extra));
    assert!(p.trusted());

    // An untrusted one is still refused.
    let another = SecretKey::random();
    assert_eq!(
        rejection(&server, &another, caps()),
        Some(DiscReason::TOO_MANY_PEERS)
    );
}

#[test]
fn trusted_nodes_from_config() {
    let trusted = SecretKey::random();
    let mut config = test_config("srv", vec![discard()]);
    config.max_peers = 0;
    config.trusted_nodes = vec![enode_of(&trusted)];
    let server = started(config);
    let events = server.subscribe_events();
    let (_t, _) = client_connect(&server, &trusted, vec![Cap::new("discard", 1)]).unwrap();
    next_event(&events, PeerEventType::Add, LIMIT);
    assert!(server.peers()[0].trusted());
}

#[test]
fn zero_max_peers() {
    let mut config = test_config("srv", vec![discard()]);
    config.max_peers = 0;
    let server = started(config);
    let key = SecretKey::random();
    let no_caps = Vec::new;

    assert_eq!(
        rejection(&server, &key, no_caps()),
        Some(DiscReason::TOO_MANY_PEERS)
    );
    // Trusted: past the limit, but still useless without a shared protocol.
    server.add_trusted_peer(&enode_of(&key));
    assert_eq!(
        rejection(&server, &key, no_caps()),
        Some(DiscReason::USELESS_PEER)
    );
    server.remove_trusted_peer(&enode_of(&key));
    assert_eq!(
        rejection(&server, &key, no_caps()),
        Some(DiscReason::TOO_MANY_PEERS)
    );
    assert_eq!(server.peer_count(), 0);
}

#[test]
fn inbound_limit_keeps_slots_for_dialing() {
    // max_peers 3, dial ratio 3: one slot for a dialed peer, two inbound, kept because the
    // server has a static node to dial (one that is down: nothing listens on port 1).
    let mut config = test_config("srv", vec![discard()]);
    config.max_peers = 3;
    config.static_nodes = vec![Enode::new(
        SecretKey::random().public_key(),
        "127.0.0.1:1".parse().unwrap(),
    )];
    let srv = started(config);
    assert_eq!(srv.config().max_inbound_conns(), 2);
    let events = srv.subscribe_events();
    let caps = || vec![Cap::new("discard", 1)];
    let mut conns = Vec::new();
    for _ in 0..2 {
        conns.push(client_connect(&srv, &SecretKey::random(), caps()).unwrap());
        next_event(&events, PeerEventType::Add, LIMIT);
    }
    assert_eq!(
        rejection(&srv, &SecretKey::random(), caps()),
        Some(DiscReason::TOO_MANY_PEERS)
    );
    // The third slot is still there for a node we dial.
    let other = started(test_config("other", vec![discard()]));
    srv.add_peer(other.self_enode());
    let ev = next_event(&events, PeerEventType::Add, LIMIT);
    assert_eq!(ev.peer, other.self_id());
    assert_eq!(srv.peer_count(), 3);
    let dialed = srv
        .peers()
        .into_iter()
        .find(|p| p.id() == other.self_id())
        .unwrap();
    assert!(dialed.static_dialed() && !dialed.inbound());
}

#[test]
fn listen_only_server_admits_max_peers_inbound() {
    // Nothing to dial (no static nodes, no discovery): no slot is kept for dials.
    let mut config = test_config("srv", vec![discard()]);
    config.max_peers = 3;
    let srv = started(config);
    assert_eq!(srv.config().max_inbound_conns(), 3);
    let events = srv.subscribe_events();
    let caps = || vec![Cap::new("discard", 1)];
    let mut conns = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let key = SecretKey::random();
        ids.push(key.public_key().node_id());
        conns.push(client_connect(&srv, &key, caps()).unwrap());
        next_event(&events, PeerEventType::Add, LIMIT);
    }
    assert_eq!(srv.peer_count(), 3);
    assert_eq!(
        rejection(&srv, &SecretKey::random(), caps()),
        Some(DiscReason::TOO_MANY_PEERS)
    );
    // Server::peer finds each by ID, and nothing for an unknown ID.
    for id in &ids {
        let peer = srv.peer(id).expect("connected peer");
        assert_eq!(peer.id(), *id);
        assert!(peer.inbound());
    }
    assert!(srv
        .peer(&SecretKey::random().public_key().node_id())
        .is_none());
}

// ---------------------------------------------------------------------------------------
// Two servers talking.

/// Sends `n` numbered messages and checks the `n` the remote sends, then reports the sum of
/// what it read and keeps reading until the connection ends.
fn counting(n: u64, report: crossbeam_channel::Sender<u64>) -> Protocol {
    Protocol::new("count", 1, 2, move |_peer, rw| {
        for i in 0..n {
            send_items(&rw, 0, &[&i])?;
        }
        let mut sum = 0;
        for i in 0..n {
            let mut msg = rw.read_msg()?;
            let v: Vec<u64> = msg.decode_list()?;
            assert_eq!(v, vec![i]);
            sum += v[0];
        }
        let _ = report.send(sum);
        loop {
            rw.read_msg()?.discard()?;
        }
    })
    .with_node_info(|| "counting".to_string())
}

#[test]
fn listen_and_dial_between_two_servers() {
    let (tx, rx) = bounded(2);
    let a = started(test_config(
        "node-a",
        vec![counting(10, tx.clone()), discard()],
    ));
    let b = started(test_config("node-b", vec![counting(10, tx)]));
    let events_a = a.subscribe_events();
    let events_b = b.subscribe_events();
    b.add_peer(a.self_enode());

    let add_a = next_event(&events_a, PeerEventType::Add, LIMIT);
    let add_b = next_event(&events_b, PeerEventType::Add, LIMIT);
    assert_eq!(add_a.peer, b.self_id());
    assert_eq!(add_b.peer, a.self_id());
    assert_eq!(add_b.remote_address, a.local_addr());
    // Both protocols ran to the point of having read all ten messages.
    assert_eq!(rx.recv_timeout(LIMIT).unwrap(), 45);
    assert_eq!(rx.recv_timeout(LIMIT).unwrap(), 45);

    let pa = &a.peers()[0];
    assert_eq!(pa.full_name(), "node-b");
    assert!(pa.inbound());
    assert_eq!(pa.caps(), vec![Cap::new("count", 1)]);
    let stats = pa.protocol_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!(
        (stats[0].offset, stats[0].msgs_in, stats[0].msgs_out),
        (16, 10, 10)
    );

    let info = b.peers_info();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].name, "node-a");
    assert_eq!(
        info[0].enode.as_deref(),
        Some(a.self_enode().to_string().as_str())
    );
    assert!(info[0].network.static_dialed);

    let node = a.node_info();
    assert_eq!(node.name, "node-a");
    assert_eq!(node.enode, a.self_enode().to_string());
    assert_eq!(node.listen_addr, a.local_addr());
    assert_eq!(node.protocols["count"], "counting");
    assert_eq!(node.protocols["discard"], "unknown");
    assert!(
        node.enode.starts_with("enode://")
            && node
                .enode
                .ends_with(&format!("@127.0.0.1:{}", a.local_addr().unwrap().port()))
    );

    // Stopping b: a sees it quit.
    b.stop();
    let drop_a = next_event(&events_a, PeerEventType::Drop, LIMIT);
    assert_eq!(drop_a.error.as_deref(), Some("client quitting"));
    let drop_b = next_event(&events_b, PeerEventType::Drop, LIMIT);
    assert_eq!(drop_b.error.as_deref(), Some("client quitting"));
    wait_until("a to remove the peer", LIMIT, || a.peer_count() == 0);
    assert_eq!(b.peer_count(), 0);
}

#[test]
fn msg_events_when_enabled() {
    let mut ca = test_config("a", vec![echo()]);
    ca.enable_msg_events = true;
    let a = started(ca);
    let events = a.subscribe_events();
    let key = SecretKey::random();
    let (t, _) = client_connect(&a, &key, vec![Cap::new("echo", 1)]).unwrap();
    next_event(&events, PeerEventType::Add, LIMIT);
    t.write_msg(Msg::new(16 + 3, vec![0xc1, 0x05])).unwrap();
    let recv = next_event(&events, PeerEventType::MsgRecv, LIMIT);
    assert_eq!(
        (recv.protocol.as_deref(), recv.msg_code, recv.msg_size),
        (Some("echo"), Some(3), Some(2))
    );
    let sent = next_event(&events, PeerEventType::MsgSend, LIMIT);
    assert_eq!(sent.msg_code, Some(3));
    let mut back = t.read_msg().unwrap();
    while back.code < 16 {
        back = t.read_msg().unwrap();
    }
    assert_eq!((back.code, back.payload.consume()), (19, &[0xc1, 0x05][..]));
    drop(t);
    let ev = next_event(&events, PeerEventType::Drop, LIMIT);
    assert!(ev.error.is_some());
}

/// With message events on, as without: a subscriber that gets a peer's `drop` event no
/// longer finds the peer in `Server::peers` (geth removes the peer before publishing), and
/// each peer's `add` and `drop` come once. Many idle subscribers make the feed's send
/// slow, which holds open the window in which a drop published too early is seen.
#[test]
fn drop_event_after_the_peer_left_the_server() {
    const PEERS: usize = 10;
    let mut config = test_config("a", vec![echo()]);
    config.enable_msg_events = true;
    let server = std::sync::Arc::new(started(config));
    let events = server.subscribe_events();
    let idle: Vec<_> = (0..2000).map(|_| server.subscribe_events()).collect();
    let (verdict_tx, verdict_rx) = bounded(PEERS);
    let checker = {
        let server = server.clone();
        thread::spawn(move || {
            let mut seen = Vec::new();
            let mut drops = 0;
            while drops < PEERS {
                let Ok(ev) = events.recv_timeout(LIMIT) else {
                    break;
                };
                seen.push((ev.kind, ev.peer));
                if ev.kind == PeerEventType::Drop {
                    let listed = server.peers().iter().any(|p| p.id() == ev.peer);
                    drops += 1;
                    if verdict_tx.send((ev.peer, listed)).is_err() {
                        break;
                    }
                }
            }
            seen
        })
    };
    let mut ids = Vec::new();
    for _ in 0..PEERS {
        let key = SecretKey::random();
        let (t, _) = client_connect(&server, &key, vec![Cap::new("echo", 1)]).unwrap();
        let id = key.public_key().node_id();
        wait_until("peer added", LIMIT, || server.peer_count() == 1);
        t.write_msg(Msg::new(16, vec![0xc0])).unwrap();
        drop(t);
        let (dropped, listed) = verdict_rx.recv_timeout(LIMIT).expect("no drop event");
        assert_eq!(dropped, id);
        assert!(
            !listed,
            "peer still listed by Server::peers when its drop event came"
        );
        ids.push(id);
    }
    let seen = checker.join().unwrap();
    drop(idle);
    for id in ids {
        for kind in [PeerEventType::Add, PeerEventType::Drop] {
            let n = seen.iter().filter(|&&(k, p)| k == kind && p == id).count();
            assert_eq!(n, 1, "{kind} events for one peer");
        }
    }
}

#[test]
fn remove_peer_disconnects_with_requested() {
    let a = started(test_config("a", vec![discard()]));
    let b = started(test_config("b", vec![discard()]));
    let events_a = a.subscribe_events();
    let events_b = b.subscribe_events();
    b.add_peer(a.self_enode());
    next_event(&events_a, PeerEventType::Add, LIMIT);
    next_event(&events_b, PeerEventType::Add, LIMIT);

    b.remove_peer(&a.self_enode());
    // remove_peer returns once the peer is gone.
    assert_eq!(b.peer_count(), 0);
    let ev = next_event(&events_b, PeerEventType::Drop, LIMIT);
    assert_eq!(ev.error.as_deref(), Some("disconnect requested"));
    let ev = next_event(&events_a, PeerEventType::Drop, LIMIT);
    assert_eq!(ev.error.as_deref(), Some("disconnect requested"));
    // No longer a static node: not redialed (several back-off periods pass).
    assert!(events_a.recv_timeout(Duration::from_millis(500)).is_err());
}

#[test]
fn static_node_is_redialed() {
    let a = started(test_config("a", vec![discard()]));
    let events_a = a.subscribe_events();
    let mut cb = test_config("b", vec![discard()]);
    cb.static_nodes = vec![a.self_enode()];
    let b = Server::new(cb);
    let events_b = b.subscribe_events();
    b.start().unwrap();
    next_event(&events_b, PeerEventType::Add, LIMIT);
    // Both sides have added the peer (each does so on its own after the Hellos).
    next_event(&events_a, PeerEventType::Add, LIMIT);

    // a drops b; b dials a again.
    a.remove_peer(&b.self_enode());
    let ev = next_event(&events_b, PeerEventType::Drop, LIMIT);
    assert_eq!(ev.error.as_deref(), Some("disconnect requested"));
    let ev = next_event(&events_b, PeerEventType::Add, LIMIT);
    assert_eq!(ev.peer, a.self_id());
}

#[test]
fn static_node_dialed_when_it_comes_up() {
    // A port that nothing listens on yet.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut ca = test_config("a", vec![discard()]);
    ca.listen_addr = Some(format!("127.0.0.1:{port}").parse().unwrap());
    let a = Server::new(ca);
    let b = started(test_config("b", vec![discard()]));
    let events_b = b.subscribe_events();
    b.add_peer(Enode::new(a.public_key(), a.config().listen_addr.unwrap()));
    // Refused a few times meanwhile, then a comes up.
    thread::sleep(Duration::from_millis(100));
    a.start().unwrap();
    let ev = next_event(&events_b, PeerEventType::Add, LIMIT);
    assert_eq!(ev.peer, a.self_id());
}

// ---------------------------------------------------------------------------------------
// Bad input and pending slots.

#[test]
fn bad_connections_free_their_pending_slot() {
    let mut config = test_config("srv", vec![discard()]);
    config.max_pending_peers = 1;
    config.handshake_timeout = Duration::from_millis(300);
    let server = started(config);
    let addr = server.local_addr().unwrap();

    // Silent: ends at the handshake deadline.
    let _silent = TcpStream::connect(addr).unwrap();
    // Garbage.
    let mut garbage = TcpStream::connect(addr).unwrap();
    garbage.write_all(&[0xff; 600]).unwrap();
    // Half an auth packet, then gone.
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(&[0x01, 0x80, 1, 2, 3]).unwrap();
    drop(half);
    // Closed at once.
    drop(TcpStream::connect(addr).unwrap());

    // With one slot, this one is handled only after all of the above ended.
    let events = server.subscribe_events();
    let (_t, hello) =
        client_connect(&server, &SecretKey::random(), vec![Cap::new("discard", 1)]).unwrap();
    assert_eq!(hello.name, "srv");
    next_event(&events, PeerEventType::Add, LIMIT);
    assert_eq!(server.peer_count(), 1);
}

#[test]
fn start_errors() {
    let a = started(test_config("a", vec![]));
    assert_eq!(a.start().unwrap_err().to_string(), "server already running");
    // Port in use.
    let mut cb = test_config("b", vec![]);
    cb.listen_addr = a.local_addr();
    let b = Server::new(cb);
    assert!(matches!(b.start().unwrap_err(), Error::Io(_)));
    a.stop();
    assert_eq!(a.start().unwrap_err().to_string(), "server stopped");
}
