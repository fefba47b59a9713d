//! Exchanges eth Status messages with a node and prints the remote's.
//!
//! ```text
//! cargo run --example eth_status                      # a local eth node on 127.0.0.1, queried
//! cargo run --example eth_status -- <enode>           # a remote node, mainnet
//! cargo run --example eth_status -- <enode> --network sepolia --version 68
//! cargo run --example eth_status -- --listen --port 30303 --seconds 60
//! ```
//!
//! Dialing: connects, runs the RLPx handshake and the Hello exchange offering eth/68 and
//! eth/69 (or the `--version` given), runs the eth Status handshake of the version both
//! speak (with go-ethereum's checks: network, genesis, fork ID, version, size, 5 s), prints
//! the remote's Status and leaves with "client quitting".
//!
//! `--listen` serves the Status handshake to whoever connects and prints each remote's
//! Status; a peer stays connected until it leaves (or `--seconds` pass).
//!
//! The local Status is a node at genesis whose fork ID is that of now (`--head-time` sets
//! another time), which is what a synced node announces: nodes accept it.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::exit;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, Sender};
use devp2p_peer::eth::{self, Chain, ForkFilter, HandshakeError, Status};
use devp2p_peer::rlpx::{Enode, RlpxTransport, SecretKey, Timeouts};
use devp2p_peer::{
    disc_reason_for_error, match_protocols, Cap, ConnFlags, DiscReason, Error, Hello, MsgReader,
    Peer, PeerConfig, Protocol, Transport,
};
use parking_lot::Mutex;

const USAGE: &str = "\
usage:
  eth_status [options]              start an eth node on 127.0.0.1 and query it
  eth_status <enode> [options]      query a node: print its eth Status
  eth_status --listen [options]     serve eth Status to whoever connects
options:
  --network NAME     mainnet (default), sepolia, holesky or hoodi
  --version V        68 or 69 (default: both offered, the highest shared wins)
  --head-time T      the Unix time whose fork ID we announce (default: now)
  --port N           with --listen: the TCP port (default 30303; 0 picks one)
  --addr IP          with --listen: the address (default 127.0.0.1)
  --seconds S        with --listen: stop after S seconds (default: run until killed)
";

/// Time allowed to connect and to finish the RLPx handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const CLIENT_NAME: &str = concat!("devp2p-peer-eth-status/v", env!("CARGO_PKG_VERSION"));

struct Opts {
    node: Option<Enode>,
    listen: bool,
    chain: Chain,
    versions: Vec<u32>,
    head_time: u64,
    addr: IpAddr,
    port: u16,
    seconds: Option<u64>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("eth_status: {e}\n{USAGE}");
            exit(2);
        }
    };
    let result = if opts.listen {
        listen(&opts)
    } else if let Some(node) = &opts.node {
        query(node, &opts)
    } else {
        demo(&opts)
    };
    if let Err(e) = result {
        eprintln!("eth_status: {e}");
        exit(1);
    }
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut opts = Opts {
        node: None,
        listen: false,
        chain: Chain::mainnet(),
        versions: vec![eth::ETH69, eth::ETH68],
        head_time: now,
        addr: IpAddr::from([127, 0, 0, 1]),
        port: 30303,
        seconds: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                exit(0);
            }
            "--listen" => opts.listen = true,
            "--network" => {
                let name = value(a)?;
                opts.chain = Chain::by_name(&name).ok_or_else(|| {
                    format!("unknown network {name:?} (mainnet, sepolia, holesky, hoodi)")
                })?;
            }
            "--version" => {
                let v = value(a)?;
                match v.parse::<u32>() {
                    Ok(v) if eth::protocol_length(v).is_some() => opts.versions = vec![v],
                    _ => return Err(format!("--version {v}: eth/68 and eth/69 are supported")),
                }
            }
            "--head-time" => opts.head_time = number(a, &value(a)?)?,
            "--port" => opts.port = number(a, &value(a)?)?,
            "--seconds" => opts.seconds = Some(number(a, &value(a)?)?),
            "--addr" => {
                let v = value(a)?;
                opts.addr = v.parse().map_err(|_| format!("--addr {v}: not an IP"))?;
            }
            url if !url.starts_with('-') && opts.node.is_none() => {
                opts.node = Some(url.parse().map_err(|e| format!("bad enode URL: {e}"))?);
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if opts.listen && opts.node.is_some() {
        return Err("--listen takes no enode URL".into());
    }
    Ok(opts)
}

fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{name} {v}: not a number"))
}

/// Our Status for `version` and the filter for remote fork IDs: a node at genesis that
/// announces the fork ID of `head_time` (every block fork passed).
fn local(chain: &Chain, version: u32, head_time: u64) -> (Status, ForkFilter) {
    let head = chain.gathered_forks().0.last().copied().unwrap_or(0);
    let status = Status::new(version, chain, head, head_time).expect("a supported version");
    (status, ForkFilter::new(chain, head, head_time))
}

fn hello(key: &SecretKey, versions: &[u32]) -> Hello {
    let caps = versions.iter().map(|&v| Cap::new("eth", v)).collect();
    Hello::new(CLIENT_NAME, caps, key.public_key().to_bytes())
}

fn caps_text(caps: &[Cap]) -> String {
    let v: Vec<String> = caps.iter().map(Cap::to_string).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// Prints a Status in one go (two threads print in the demo).
fn print_status(who: &str, status: &Status) {
    let mut text = format!("{who}'s Status:\n");
    for line in status.to_string().lines() {
        text.push_str(&format!("  {line}\n"));
    }
    print!("{text}");
}

// ---------------------------------------------------------------------------------------
// query

/// eth protocols that run the handshake, report it, and return: the peer then leaves with
/// "client quitting".
fn probe_protocols(opts: &Opts, tx: Sender<Result<Status, HandshakeError>>) -> Vec<Protocol> {
    opts.versions
        .iter()
        .map(|&version| {
            let (ours, filter) = local(&opts.chain, version, opts.head_time);
            let tx = tx.clone();
            eth::protocol(version, move |peer, rw| {
                let result = eth::handshake(&peer, &rw, &ours, &filter);
                let _ = tx.send(result.clone());
                result?;
                Ok(())
            })
        })
        .collect()
}

fn query(node: &Enode, opts: &Opts) -> Result<(), String> {
    let addr = node.tcp_addr();
    let key = SecretKey::random();
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let timeouts = Timeouts {
        handshake: CONNECT_TIMEOUT,
        ..Timeouts::default()
    };
    let t = RlpxTransport::handshake_with(stream, &key, Some(&node.pubkey), timeouts)
        .map_err(|e| format!("RLPx handshake with {addr} failed: {e}"))?;
    let theirs = t
        .protocol_handshake(&hello(&key, &opts.versions))
        .map_err(|e| match e.disc_reason() {
            Some(r) => format!("{addr} disconnected during the Hello exchange: {r}"),
            None => format!("Hello exchange with {addr} failed: {e}"),
        })?;
    println!("connected to {} ({addr})", theirs.name);
    println!("  caps: {}", caps_text(&theirs.caps));

    let (tx, rx) = bounded(opts.versions.len());
    let protocols = probe_protocols(opts, tx);
    let Some(m) = match_protocols(&protocols, &theirs.caps).into_iter().next() else {
        t.shutdown(&Error::Disconnected(DiscReason::USELESS_PEER));
        return Err(format!(
            "{addr} speaks none of {}",
            caps_text(&hello(&key, &opts.versions).caps)
        ));
    };
    println!(
        "  speaking {} on {} (our fork ID: {})",
        m.protocol.cap(),
        opts.chain.name,
        local(&opts.chain, m.protocol.version, opts.head_time)
            .0
            .fork_id()
    );
    let peer = t
        .into_peer(
            &theirs,
            &protocols,
            ConnFlags::DYN_DIALED,
            PeerConfig::default(),
        )
        .map_err(|e| format!("{addr}: {e}"))?;
    let (remote_requested, err) = peer.run();
    let result = match rx.try_recv() {
        Ok(Ok(status)) => {
            print_status(&theirs.name, &status);
            Ok(())
        }
        Ok(Err(e)) => Err(format!("eth handshake with {addr} failed: {e}")),
        Err(_) => Err(format!(
            "{addr}: connection ended before the eth handshake: {err}"
        )),
    };
    if remote_requested {
        println!("the remote left: {err}");
    } else {
        println!("left with: {}", disc_reason_for_error(&err));
    }
    result
}

// ---------------------------------------------------------------------------------------
// serving

/// eth protocols that run the handshake, print the remote's Status, then stay until the
/// remote leaves (discarding what it sends).
fn serve_protocols(opts: &Opts, who: &str) -> Vec<Protocol> {
    opts.versions
        .iter()
        .map(|&version| {
            let (ours, filter) = local(&opts.chain, version, opts.head_time);
            let who = who.to_string();
            eth::protocol(version, move |peer, rw| {
                let theirs = match eth::handshake(&peer, &rw, &ours, &filter) {
                    Ok(s) => s,
                    Err(e) => {
                        println!("{who}: eth handshake with {} failed: {e}", peer.full_name());
                        return Err(e.into());
                    }
                };
                print_status(&format!("{who}: {}", peer.full_name()), &theirs);
                loop {
                    rw.read_msg()?.discard()?;
                }
            })
        })
        .collect()
}

/// Serves one inbound connection until it ends; returns why it ended. The peer is put in
/// `live` while it runs, for a stop to disconnect it.
fn serve_conn(
    stream: TcpStream,
    key: &SecretKey,
    opts: &Opts,
    who: &str,
    live: &Mutex<Vec<Peer>>,
) -> Result<String, Error> {
    let t = RlpxTransport::handshake(stream, key, None)?;
    let theirs = t.protocol_handshake(&hello(key, &opts.versions))?;
    println!(
        "{who}: {} connected (caps: {})",
        theirs.name,
        caps_text(&theirs.caps)
    );
    let protocols = serve_protocols(opts, who);
    let peer = t.into_peer(
        &theirs,
        &protocols,
        ConnFlags::INBOUND,
        PeerConfig::default(),
    )?;
    live.lock().push(peer.clone());
    let (remote_requested, err) = peer.run();
    live.lock().retain(|p| p.id() != peer.id());
    Ok(if remote_requested {
        format!("{} left: {err}", theirs.name)
    } else {
        format!("{} dropped: {err}", theirs.name)
    })
}

fn listen(opts: &Opts) -> Result<(), String> {
    let key = SecretKey::random();
    let listener = TcpListener::bind(SocketAddr::new(opts.addr, opts.port))
        .map_err(|e| format!("cannot listen on {}:{}: {e}", opts.addr, opts.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("{}", Enode::new(key.public_key(), addr));
    println!(
        "serving eth Status on {} ({})",
        opts.chain.name,
        caps_text(&hello(&key, &opts.versions).caps)
    );
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = opts
        .seconds
        .and_then(|s| Instant::now().checked_add(Duration::from_secs(s)));
    let live = Mutex::new(Vec::new());
    thread::scope(|s| {
        let mut served = 0u64;
        while deadline.is_none_or(|d| Instant::now() < d) {
            match listener.accept() {
                Ok((stream, from)) => {
                    served += 1;
                    let who = format!("#{served} {from}");
                    let (key, live) = (&key, &live);
                    let _ = stream.set_nonblocking(false);
                    s.spawn(move || match serve_conn(stream, key, opts, &who, live) {
                        Ok(end) => println!("{who}: {end}"),
                        Err(e) => println!("{who}: {e}"),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(50));
                }
                Err(e) => println!("accept failed: {e}"),
            }
        }
        println!("stopping after {served} connection(s)");
        for peer in live.lock().iter() {
            peer.disconnect(DiscReason::QUITTING);
        }
    });
    Ok(())
}

/// No arguments: an eth node on 127.0.0.1 serves one connection, and we query it.
fn demo(opts: &Opts) -> Result<(), String> {
    let key = SecretKey::random();
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let node = Enode::new(key.public_key(), addr);
    println!("local eth node ({}): {node}", opts.chain.name);
    thread::scope(|s| {
        let live = Mutex::new(Vec::new());
        let server = s.spawn(move || {
            let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
            serve_conn(stream, &key, opts, "local node", &live).map_err(|e| e.to_string())
        });
        let result = query(&node, opts);
        match server.join() {
            Ok(Ok(end)) => println!("local node: {end}"),
            Ok(Err(e)) => println!("local node: {e}"),
            Err(_) => println!("local node: panicked"),
        }
        result
    })
}
