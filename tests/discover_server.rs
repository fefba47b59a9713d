//! Servers with discovery: a network on 127.0.0.1 grown from one bootnode, and what a
//! server reports and joins when discovery runs.
#![cfg(feature = "discovery")]

mod server_common;

use std::time::Duration;

use devp2p_peer::enr::Record;
use devp2p_peer::*;
use server_common::*;

/// Generous: lookups time out after 500 ms per silent node, and the machine is loaded.
const NETWORK_LIMIT: Duration = Duration::from_secs(120);

fn with_discovery(name: &str, bootnodes: Vec<devp2p_peer::rlpx::Enode>) -> ServerConfig {
    let mut c = test_config(name, vec![discard()]);
    c.bootnodes = bootnodes;
    c.discovery = Some(true);
    c
}

#[test]
fn network_from_one_bootnode_dials_itself_together() {
    // The bootnode answers discovery but dials nothing itself, so that each node's
    // connection to it is the node's own dial of a node discovery gave it. (Were the
    // bootnode dialing too, a node could end with only inbound connections: each of its
    // dials then finds the node already connected, dialed by the other side first, and a
    // full mesh leaves it nothing to dial.)
    let mut cb = with_discovery("boot", Vec::new());
    cb.no_dial = true;
    let boot = started(cb);
    let boot_enode = boot.self_enode();
    assert_eq!(
        boot_enode.udp_port,
        boot.discovery_addr().unwrap().port(),
        "the enode carries the discovery port"
    );
    let nodes: Vec<Server> = (0..4)
        .map(|i| started(with_discovery(&format!("n{i}"), vec![boot_enode])))
        .collect();
    let ids: Vec<NodeId> = nodes.iter().map(Server::self_id).collect();
    wait_until(
        "every node has a dynamically dialed peer and a peer other than the bootnode",
        NETWORK_LIMIT,
        || {
            nodes.iter().all(|n| {
                let peers = n.peers();
                peers.iter().any(|p| p.dyn_dialed()) && peers.iter().any(|p| ids.contains(&p.id()))
            })
        },
    );
    // Nobody was given another node's enode: every connection between the nodes came from
    // a dial of a node found by discovery.
    for n in &nodes {
        for p in n.peers() {
            assert!(
                !p.static_dialed(),
                "{} static-dialed {}",
                n.self_id(),
                p.id()
            );
        }
    }
    for n in nodes {
        n.stop();
    }
    boot.stop();
}

#[test]
fn node_info_shows_the_record_and_stop_joins_discovery() {
    let srv = started(with_discovery("srv", Vec::new()));
    let info = srv.node_info();
    let port = srv.discovery_addr().expect("discovery runs").port();
    // Default: the same port as TCP.
    assert_eq!(Some(port), srv.local_addr().map(|a| a.port()));
    assert_eq!(info.discovery_port, Some(port));
    let record: Record = info.enr.as_deref().expect("a record").parse().unwrap();
    assert_eq!(record.udp().unwrap(), port);
    assert_eq!(record.tcp().unwrap(), srv.local_addr().unwrap().port());
    assert_eq!(record.node_id().unwrap(), srv.self_id().0);
    srv.stop();
    assert_eq!(srv.discovery_addr(), None);
    // The port is free again: the socket was closed with its threads.
    std::net::UdpSocket::bind(("127.0.0.1", port)).expect("port released");
}

#[test]
fn a_server_without_a_listener_advertises_no_tcp_port() {
    let mut c = with_discovery("udp-only", Vec::new());
    c.listen_addr = None;
    c.discovery_addr = Some("127.0.0.1:0".parse().unwrap());
    let srv = started(c);
    let port = srv.discovery_addr().expect("discovery runs").port();
    let record: Record = srv.node_info().enr.expect("a record").parse().unwrap();
    assert_eq!(record.udp().unwrap(), port);
    assert!(record.tcp().is_err(), "{record:?}");
    let enode = srv.self_enode();
    assert_eq!((enode.tcp_port, enode.udp_port), (0, port));
    srv.stop();
}

#[test]
fn discovery_is_off_without_bootnodes_and_can_be_forced_off() {
    let srv = started(test_config("plain", vec![discard()]));
    assert_eq!(srv.discovery_addr(), None);
    assert_eq!(srv.node_info().enr, None);
    srv.stop();
    let mut c = test_config("off", vec![discard()]);
    c.bootnodes = vec![srv.self_enode()];
    assert!(c.discovery_enabled());
    c.discovery = Some(false);
    let off = started(c);
    assert_eq!(off.discovery_addr(), None);
    off.stop();
}

#[test]
fn a_dynamically_dialed_node_is_not_redialed_within_the_dial_history() {
    // The bootnode answers discovery but dials nothing itself.
    let mut cb = with_discovery("boot", Vec::new());
    cb.no_dial = true;
    let boot = started(cb);
    let node = started(with_discovery("node", vec![boot.self_enode()]));
    let events = node.subscribe_events();
    let ev = next_event(&events, PeerEventType::Add, NETWORK_LIMIT);
    assert_eq!(ev.peer, boot.self_id());
    assert!(node.peer(&boot.self_id()).unwrap().dyn_dialed());
    // The bootnode drops it; the random walk keeps offering the bootnode (the only node
    // there is), but it was dialed less than 35 s ago.
    wait_until("the bootnode has the peer", NETWORK_LIMIT, || {
        boot.peer(&node.self_id()).is_some()
    });
    boot.peer(&node.self_id())
        .unwrap()
        .disconnect(DiscReason::REQUESTED);
    next_event(&events, PeerEventType::Drop, NETWORK_LIMIT);
    // Without the history, a redial follows within a lookup (about a second).
    if let Ok(ev) = events.recv_timeout(Duration::from_secs(8)) {
        assert_ne!(ev.kind, PeerEventType::Add, "redialed: {ev:?}");
    }
    assert!(node.peer(&boot.self_id()).is_none());
    node.stop();
    boot.stop();
}
