//! A chat relay on a `Server`: every message a client sends on `chat/1` is forwarded to
//! every other client, through a `Broadcaster` (a bounded queue per client, so one slow
//! client cannot hold back the rest).
//!
//! ```sh
//! cargo run --example relay                 # a relay and 3 clients on 127.0.0.1
//! cargo run --example relay -- --clients 5 --messages 10
//! ```
//!
//! It starts the relay, then the clients (each a `Server` of its own that dials the relay),
//! waits until every client has joined, lets each send its messages, waits until every
//! client has received every other client's messages, prints the relay's drop events (typed:
//! reason and who asked) and exits.
#![cfg(feature = "rlpx")]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use devp2p_peer::crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use devp2p_peer::prelude::*;

/// Code 0 of `chat/1`: `[sender name, text]`.
const CHAT_MSG: u64 = 0;
const LIMIT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let mut clients = 3usize;
    let mut messages = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--clients", Some(n)) if n >= 2 => clients = n,
            ("--messages", Some(n)) if n >= 1 => messages = n,
            _ => {
                eprintln!("usage: relay [--clients N (2 or more)] [--messages N]");
                return ExitCode::from(2);
            }
        }
    }
    match run(clients, messages) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relay: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The relay's protocol: registers the client with the broadcaster, then forwards everything
/// it reads to everyone else. Its sender thread ends with the peer.
fn relay_protocol(bc: Broadcaster, joined: Sender<String>) -> Protocol {
    Protocol::new("chat", 1, 1, move |peer, rw| {
        bc.add(ProtoWriter::new(&peer, rw.clone()));
        let _ = joined.send(peer.name());
        loop {
            let msg = rw.read_msg()?;
            if msg.code != CHAT_MSG {
                return Err(Error::invalid_msg_code(format!("{}", msg.code)));
            }
            // Never blocks: a client whose queue is full misses this one (counted).
            bc.send_except(&peer.id(), CHAT_MSG, msg.payload.into_vec());
        }
    })
}

/// A client's protocol: waits for `go`, sends its messages, then reads what the relay
/// forwards and reports each message on `got`.
fn client_protocol(
    name: String,
    messages: usize,
    go: Receiver<()>,
    got: Sender<(String, String, String)>,
) -> Protocol {
    Protocol::new("chat", 1, 1, move |_peer, rw| {
        let _ = go.recv(); // disconnected: everyone has joined
        for i in 0..messages {
            send_items(&rw, CHAT_MSG, &[&name.as_str(), &format!("hello #{i}")])?;
        }
        loop {
            let mut msg = rw.read_msg()?;
            let [from, text]: [String; 2] = msg
                .decode_list::<String>()?
                .try_into()
                .map_err(|_| Error::invalid_msg("want [from, text]"))?;
            let _ = got.send((name.clone(), from, text));
        }
    })
}

fn server(name: &str, protocol: Protocol, listen: bool) -> Result<Server, Error> {
    let mut config = ServerConfig::new(SecretKey::random());
    config.name = name.to_string();
    config.protocols = vec![protocol];
    if listen {
        config.listen_addr = Some("127.0.0.1:0".parse().expect("an address"));
        config.no_dial = true; // a relay only accepts
    }
    let server = Server::new(config);
    server.start()?;
    Ok(server)
}

fn run(clients: usize, messages: usize) -> Result<(), Error> {
    let deadline = Instant::now() + LIMIT;
    let left = || deadline.saturating_duration_since(Instant::now());
    let timeout = |what: &str| Error::other(format!("timed out waiting for {what}"));

    let bc = Broadcaster::new(64);
    let (joined_tx, joined) = unbounded();
    let relay = server("relay", relay_protocol(bc.clone(), joined_tx), true)?;
    let relay_events = relay.subscribe_events();
    println!("relay listening: {}", relay.self_enode());

    let (go_tx, go) = bounded::<()>(0);
    let (got_tx, got) = unbounded();
    let mut nodes = Vec::new();
    for i in 1..=clients {
        let name = format!("client-{i}");
        let proto = client_protocol(name.clone(), messages, go.clone(), got_tx.clone());
        let node = server(&name, proto, false)?;
        node.add_peer(relay.self_enode());
        nodes.push(node);
    }
    for _ in 0..clients {
        let name = joined
            .recv_timeout(left())
            .map_err(|_| timeout("clients"))?;
        println!("relay: {name} joined");
    }
    drop(go_tx); // every client may send now

    let expected = clients * (clients - 1) * messages;
    for _ in 0..expected {
        let (to, from, text) = got.recv_timeout(left()).map_err(|_| timeout("messages"))?;
        println!("{to} <- {from}: {text}");
    }
    println!(
        "relayed {expected} messages to {} clients, {} dropped",
        bc.len(),
        bc.dropped()
    );

    for node in &nodes {
        node.stop(); // each client leaves with "client quitting"
    }
    for _ in 0..clients {
        loop {
            let ev = relay_events
                .recv_timeout(left())
                .map_err(|_| timeout("drops"))?;
            if ev.kind == PeerEventType::Drop {
                println!(
                    "relay: peer {} dropped: {} (remote requested: {})",
                    ev.peer.terminal_string(),
                    ev.disc_reason()
                        .map_or_else(|| ev.error.unwrap_or_default(), |r| r.to_string()),
                    ev.remote_requested
                );
                break;
            }
        }
    }
    relay.stop();
    Ok(())
}
