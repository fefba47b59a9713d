//! `node`: try devp2p-peer from the command line.
//!
//! ```text
//! cargo run --release --example node                  # two local nodes talk for a few seconds
//! cargo run --release --example node -- ping <enode>  # print a node's Hello
//! cargo run --release --example node -- status <enode> --network sepolia   # its eth Status
//! cargo run --release --example node -- listen --port 30303 --seconds 60
//! cargo run --release --example node -- dial <enode> --count 10000 --size 1024
//! cargo run --release --example node -- swarm <enode> --peers 1000 --seconds 30
//! cargo run --release --example node -- discover --bootnodes <enode,...> --seconds 30
//! cargo run --release --example node -- listen --discovery --bootnodes <enode,...>
//! ```
//!
//! `listen` runs until `--seconds` have passed or until Ctrl-C, then stops cleanly,
//! disconnecting its peers with "client quitting" (a second Ctrl-C ends it at once).
//!
//! Exit status: 0 on success, 1 when the remote or the connection fails, 2 for an error in
//! the arguments (bad enode URL, bad key, port in use...).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver};
use devp2p_peer::eth;
use devp2p_peer::rlpx::{Enode, RlpxTransport, SecretKey, Timeouts};
use devp2p_peer::{
    match_protocols, Cap, ConnFlags, DiscReason, Error, Hello, Msg, MsgReader, MsgWriter, Peer,
    PeerConfig, PeerEvent, PeerEventType, Protocol, ProtocolStats, Server, ServerConfig, Transport,
    DISC_MSG, PING_MSG, PONG_MSG,
};

const USAGE: &str = "\
usage:
  node                          run two nodes on 127.0.0.1 and show them talking
  node demo [--seconds S]       the same, for S seconds (default 3)
  node ping <enode>             handshake with a node and print its Hello
  node status <enode> [--network mainnet|sepolia|holesky|hoodi] [--version 68|69]
                                run the eth Status handshake with a node and print its
                                Status (default: mainnet, eth/68 and eth/69 offered)
  node listen [--port N] [--addr IP] [--key HEX] [--protocol NAME/VERSION] [--seconds S]
              [--max-peers N] [--discovery] [--bootnodes ENODE,...]
                                run an echo node; prints its enode URL first. With
                                --discovery (implied by --bootnodes) it also serves discovery
                                v4 on UDP, same port; with bootnodes it dials nodes it finds
  node discover --bootnodes ENODE,... [--addr IP] [--port N] [--key HEX] [--seconds S] [--json]
                                find nodes with discovery v4 from the bootnodes and print
                                each as found (one enode URL a line; --json: with its record)
  node dial <enode> [--key HEX] [--protocol NAME/VERSION] [--count N] [--size BYTES] [--json]
              [--payload random|pattern]
                                send N messages over the echo protocol and check the echoes;
                                payloads are random (incompressible) unless `pattern`
  node swarm <enode> [--protocol NAME/VERSION] [--peers N] [--seconds S]
                                hold N idle connections (each its own key) for S seconds
";

/// Message codes of the echo protocol.
const ECHO_LENGTH: u64 = 8;
/// Time allowed to connect and to finish each handshake in `ping` and `dial`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None => demo(&[]),
        Some("demo") => demo(&args[1..]),
        Some("ping") => ping(&args[1..]),
        Some("status") => status(&args[1..]),
        Some("listen") => listen(&args[1..]),
        Some("dial") => dial(&args[1..]),
        Some("swarm") => swarm(&args[1..]),
        #[cfg(feature = "discovery")]
        Some("discover") => discover(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(Fail::Usage(format!("unknown command {other:?}"))),
    };
    match result {
        Ok(()) => {}
        Err(Fail::Usage(msg)) => {
            eprintln!("node: {msg} (see node --help)");
            exit(2);
        }
        Err(Fail::Run(msg)) => {
            eprintln!("node: {msg}");
            exit(1);
        }
    }
}

/// How a command fails: a bad argument (exit 2) or a failure at run time (exit 1).
enum Fail {
    Usage(String),
    Run(String),
}

fn run_err(msg: impl Into<String>) -> Fail {
    Fail::Run(msg.into())
}

// ---------------------------------------------------------------------------------------
// Arguments

/// Flags after the command: `--name value` pairs, boolean flags and positionals.
struct Args {
    positional: Vec<String>,
    values: HashMap<String, String>,
    switches: Vec<String>,
}

impl Args {
    fn parse(args: &[String], with_value: &[&str], switches: &[&str]) -> Result<Args, Fail> {
        let mut out = Args {
            positional: Vec::new(),
            values: HashMap::new(),
            switches: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                let (name, inline) = match name.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (name, None),
                };
                if with_value.contains(&name) {
                    let v = match inline {
                        Some(v) => v,
                        None => it
                            .next()
                            .cloned()
                            .ok_or_else(|| Fail::Usage(format!("--{name} needs a value")))?,
                    };
                    out.values.insert(name.to_string(), v);
                } else if switches.contains(&name) && inline.is_none() {
                    out.switches.push(name.to_string());
                } else {
                    return Err(Fail::Usage(format!("unknown flag --{name}")));
                }
            } else {
                out.positional.push(a.clone());
            }
        }
        Ok(out)
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, Fail> {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Fail::Usage(format!("bad value for --{name}: {v:?}"))),
        }
    }

    fn key(&self) -> Result<SecretKey, Fail> {
        match self.values.get("key") {
            None => Ok(SecretKey::random()),
            Some(hex) => SecretKey::from_hex(hex).map_err(|e| Fail::Usage(format!("bad key: {e}"))),
        }
    }

    fn protocol_cap(&self) -> Result<Cap, Fail> {
        let Some(spec) = self.values.get("protocol") else {
            return Ok(Cap::new("echo", 1));
        };
        let bad = || {
            Fail::Usage(format!(
                "bad protocol {spec:?}: want NAME/VERSION, e.g. echo/1"
            ))
        };
        let (name, version) = spec.split_once('/').ok_or_else(bad)?;
        if name.is_empty() || name.len() > 8 || !name.is_ascii() {
            return Err(bad());
        }
        Ok(Cap::new(name, version.parse().map_err(|_| bad())?))
    }

    fn enode(&self) -> Result<Enode, Fail> {
        match self.positional.as_slice() {
            [] => Err(Fail::Usage("missing node as command-line argument".into())),
            [url] => url
                .parse()
                .map_err(|e| Fail::Usage(format!("bad enode URL: {e}"))),
            [_, extra, ..] => Err(Fail::Usage(format!("unexpected argument {extra:?}"))),
        }
    }

    /// `--bootnodes`: comma-separated `enode://` URLs or `enr:` records.
    #[cfg(feature = "discovery")]
    fn bootnodes(&self) -> Result<Vec<Enode>, Fail> {
        let Some(list) = self.values.get("bootnodes") else {
            return Ok(Vec::new());
        };
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let parsed = if s.starts_with("enr:") {
                    s.parse::<devp2p_peer::enr::Record>()
                        .and_then(|r| r.to_enode())
                        .map_err(|e| e.to_string())
                } else {
                    s.parse::<Enode>().map_err(|e| e.to_string())
                };
                parsed.map_err(|e| Fail::Usage(format!("bad bootnode {s:?}: {e}")))
            })
            .collect()
    }

    fn no_positional(&self) -> Result<(), Fail> {
        match self.positional.first() {
            Some(a) => Err(Fail::Usage(format!("unexpected argument {a:?}"))),
            None => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// discover

/// Finds nodes from the bootnodes and prints each once, as found, until `--seconds`
/// (default 30) have passed or Ctrl-C.
#[cfg(feature = "discovery")]
fn discover(args: &[String]) -> Result<(), Fail> {
    use devp2p_peer::discover::{Config, Discovery, Node};

    let args = Args::parse(
        args,
        &["bootnodes", "addr", "port", "key", "seconds"],
        &["json"],
    )?;
    args.no_positional()?;
    let bootnodes = args.bootnodes()?;
    if bootnodes.is_empty() {
        return Err(Fail::Usage("discover needs --bootnodes".into()));
    }
    let json = args.switches.iter().any(|s| s == "json");
    let seconds: f64 = args.number("seconds", 30.0)?;
    let ip: std::net::IpAddr = args.number("addr", "0.0.0.0".parse().unwrap())?;
    let listen = SocketAddr::new(ip, args.number("port", 0)?);
    let cfg = Config {
        listen,
        bootnodes: bootnodes.into_iter().map(Node::new).collect(),
        ..Config::default()
    };
    let disc = Discovery::start(args.key()?, cfg)
        .map_err(|e| Fail::Usage(format!("cannot listen on udp {listen}: {e}")))?;
    // What we advertise: no TCP listener, so TCP port 0 and the UDP port as `discport`.
    eprintln!("{}", disc.local_node());

    let (interrupt_tx, interrupted) = bounded::<()>(1);
    let _ = ctrlc::set_handler(move || {
        if interrupt_tx.try_send(()).is_err() {
            std::process::exit(130);
        }
    });
    // The random walk blocks during lookups: it runs on a thread of its own and ends when
    // discovery stops.
    let (found_tx, found) = crossbeam_channel::unbounded();
    let mut nodes = disc.random_nodes();
    let walker = thread::Builder::new()
        .name("walk".into())
        .spawn(move || {
            for n in nodes.by_ref() {
                if found_tx.send(n).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| run_err(format!("cannot start a thread: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
    let mut seen = std::collections::HashSet::new();
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            break;
        }
        select! {
            recv(found) -> n => {
                let Ok(n) = n else { break };
                if !seen.insert(n.id) {
                    continue;
                }
                if json {
                    let record = match disc.request_enr(&n) {
                        Ok(r) => format!("\"{r}\""),
                        Err(_) => "null".to_string(),
                    };
                    println!("{{\"enode\":\"{n}\",\"id\":\"{}\",\"record\":{record}}}", hex(&n.id));
                } else {
                    println!("{n}");
                }
                flush();
            }
            recv(interrupted) -> _ => break,
            default(wait) => {}
        }
    }
    drop(found);
    disc.stop();
    let _ = walker.join();
    eprintln!("found {} node(s)", seen.len());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Helpers

fn echo_protocol(cap: &Cap) -> Protocol {
    Protocol::new(cap.name.clone(), cap.version, ECHO_LENGTH, |_peer, rw| {
        loop {
            // The message goes back as it came: its payload vector is sent without a copy.
            let msg = rw.read_msg()?;
            rw.write_msg(msg)?;
        }
    })
}

fn caps_text(caps: &[Cap]) -> String {
    if caps.is_empty() {
        return "(none)".into();
    }
    caps.iter()
        .map(Cap::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn bytes_text(n: u64) -> String {
    match n {
        n if n >= 10 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 10 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn micros(d: Duration) -> String {
    if d >= Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{} µs", d.as_micros())
    }
}

/// Describes why connecting to `node` failed, in words a user can act on.
fn connect_error(node: &Enode, e: &Error) -> Fail {
    let addr = node.tcp_addr();
    let text = match e {
        Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                format!("{addr} is unreachable: connection refused (is the node running?)")
            }
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                format!("timeout: no answer from {addr} within {CONNECT_TIMEOUT:?}")
            }
            _ => format!("{addr} is unreachable: {io}"),
        },
        Error::Rlpx(r) if r.is_timeout() => {
            format!("timeout: the RLPx handshake with {addr} did not finish")
        }
        Error::Rlpx(r) if r.is_eof() => format!(
            "RLPx handshake with {addr} failed: the remote closed the connection \
             (is the node key in the enode URL right?)"
        ),
        other => format!("RLPx handshake with {addr} failed: {other}"),
    };
    run_err(text)
}

/// Dials `node` and runs the encryption handshake, every step bounded.
fn connect(node: &Enode, key: &SecretKey) -> Result<RlpxTransport, Fail> {
    let stream = TcpStream::connect_timeout(&node.tcp_addr(), CONNECT_TIMEOUT)
        .map_err(|e| connect_error(node, &e.into()))?;
    let timeouts = Timeouts {
        handshake: CONNECT_TIMEOUT,
        ..Timeouts::default()
    };
    RlpxTransport::handshake_with(stream, key, Some(&node.pubkey), timeouts)
        .map_err(|e| connect_error(node, &e))
}

/// Exchanges Hellos; a Disconnect from the remote instead becomes the failure.
fn hello_exchange(t: &RlpxTransport, ours: &Hello) -> Result<Hello, Fail> {
    t.protocol_handshake(ours)
        .map_err(|e| match e.disc_reason() {
            Some(r) => run_err(format!("received disconnect message: {r}")),
            None => run_err(format!("protocol handshake failed: {e}")),
        })
}

/// User plus system CPU time of this process, from `/proc/self/stat` (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Clock ticks per second: 100 on Linux.
    Some((utime + stime) / 100.0)
}

// ---------------------------------------------------------------------------------------
// ping

fn ping(args: &[String]) -> Result<(), Fail> {
    let args = Args::parse(args, &[], &[])?;
    let node = args.enode()?;
    let key = SecretKey::random();
    let t = connect(&node, &key)?;
    let ours = Hello::new(
        concat!("devp2p-peer-node/v", env!("CARGO_PKG_VERSION")),
        vec![],
        key.public_key().to_bytes(),
    );
    let theirs = hello_exchange(&t, &ours)?;
    println!("{}", node);
    println!("  client:   {}", theirs.name);
    println!("  version:  {}", theirs.version);
    println!("  caps:     {}", caps_text(&theirs.caps));
    println!("  id:       {}", hex(&theirs.id));
    if !theirs.rest.is_empty() {
        println!("  extra:    {} more field(s)", theirs.rest.len());
    }
    t.shutdown(&Error::Disconnected(DiscReason::QUITTING));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// status

/// Dials a node, exchanges Hellos offering eth, runs the eth Status handshake of the
/// highest version both speak, prints the remote's Status and leaves with "client quitting".
fn status(args: &[String]) -> Result<(), Fail> {
    let args = Args::parse(args, &["network", "version"], &[])?;
    let node = args.enode()?;
    let name = args.values.get("network").map_or("mainnet", String::as_str);
    let chain = eth::Chain::by_name(name).ok_or_else(|| {
        Fail::Usage(format!(
            "unknown network {name:?} (mainnet, sepolia, holesky, hoodi)"
        ))
    })?;
    let versions = match args.values.get("version") {
        None => vec![eth::ETH69, eth::ETH68],
        Some(v) => match v.parse::<u32>() {
            Ok(v) if eth::protocol_length(v).is_some() => vec![v],
            _ => {
                return Err(Fail::Usage(format!(
                    "bad value for --version: {v:?} (68 or 69)"
                )))
            }
        },
    };
    // A node at genesis announcing the fork ID of now: what a synced node announces.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let head = chain.gathered_forks().0.last().copied().unwrap_or(0);

    let key = SecretKey::random();
    let t = connect(&node, &key)?;
    let caps = versions.iter().map(|&v| Cap::new("eth", v)).collect();
    let ours = Hello::new(
        concat!("devp2p-peer-node/v", env!("CARGO_PKG_VERSION")),
        caps,
        key.public_key().to_bytes(),
    );
    let theirs = hello_exchange(&t, &ours)?;
    println!("connected to {} ({})", theirs.name, node.tcp_addr());
    println!("  caps: {}", caps_text(&theirs.caps));

    let (tx, rx) = bounded(versions.len());
    let mut protocols = Vec::new();
    for &version in &versions {
        let status = eth::Status::new(version, &chain, head, now)
            .ok_or_else(|| run_err(format!("eth/{version} is not supported")))?;
        let filter = eth::ForkFilter::new(&chain, head, now);
        let tx = tx.clone();
        protocols.push(eth::protocol(version, move |peer, rw| {
            let result = eth::handshake(&peer, &rw, &status, &filter);
            let _ = tx.send(result.clone());
            result?;
            Ok(())
        }));
    }
    let Some(m) = match_protocols(&protocols, &theirs.caps).into_iter().next() else {
        t.shutdown(&Error::Disconnected(DiscReason::USELESS_PEER));
        return Err(run_err(format!(
            "{} speaks none of {}",
            node.tcp_addr(),
            caps_text(&ours.caps)
        )));
    };
    println!("  speaking {} on {}", m.protocol.cap(), chain.name);
    let peer = t
        .into_peer(
            &theirs,
            &protocols,
            ConnFlags::DYN_DIALED,
            PeerConfig::default(),
        )
        .map_err(|e| run_err(format!("{}: {e}", node.tcp_addr())))?;
    let (remote_requested, err) = peer.run();
    let result = match rx.try_recv() {
        Ok(Ok(status)) => {
            println!("{}'s Status:", theirs.name);
            for line in status.to_string().lines() {
                println!("  {line}");
            }
            Ok(())
        }
        Ok(Err(e)) => Err(run_err(format!("eth handshake failed: {e}"))),
        Err(_) => Err(run_err(format!(
            "connection ended before the eth handshake: {err}"
        ))),
    };
    if remote_requested {
        println!("the remote left: {err}");
    } else {
        println!("left with: {}", devp2p_peer::disc_reason_for_error(&err));
    }
    result
}

// ---------------------------------------------------------------------------------------
// listen

fn listen(args: &[String]) -> Result<(), Fail> {
    let args = Args::parse(
        args,
        &[
            "port",
            "addr",
            "key",
            "protocol",
            "seconds",
            "max-peers",
            "bootnodes",
        ],
        &["discovery"],
    )?;
    args.no_positional()?;
    let port: u16 = args.number("port", 30303)?;
    let ip: std::net::IpAddr = args.number("addr", "127.0.0.1".parse().unwrap())?;
    let seconds: Option<f64> = match args.values.get("seconds") {
        None => None,
        Some(_) => Some(args.number("seconds", 0.0)?),
    };
    let cap = args.protocol_cap()?;
    let mut config = ServerConfig::new(args.key()?);
    config.listen_addr = Some(SocketAddr::new(ip, port));
    config.protocols = vec![echo_protocol(&cap)];
    config.no_dial = true;
    if args.values.contains_key("max-peers") {
        config.max_peers = args.number("max-peers", 50)?;
    }
    #[cfg(feature = "discovery")]
    {
        config.bootnodes = args.bootnodes()?;
        if args.switches.iter().any(|s| s == "discovery") || !config.bootnodes.is_empty() {
            config.discovery = Some(true);
            // With bootnodes, dial what discovery finds; without, only answer.
            config.no_dial = config.bootnodes.is_empty();
        }
    }
    let server = Server::new(config);
    let events = server.subscribe_events();
    server.start().map_err(|e| {
        Fail::Usage(format!(
            "cannot listen on {}: {e}",
            SocketAddr::new(ip, port)
        ))
    })?;
    println!("{}", server.self_enode());
    if let (Some(udp), Some(enr)) = (server.discovery_addr(), server.enr()) {
        println!("discovery v4 on udp {udp}, record {enr}");
    }
    println!(
        "listening on {}, serving {cap} (every message is echoed back); {}",
        server.local_addr().unwrap(),
        match seconds {
            Some(s) => format!("stopping after {s} s"),
            None => "Ctrl-C stops it".to_string(),
        }
    );
    flush();

    // Ctrl-C asks for a clean stop; a second one ends the process.
    let (interrupt_tx, interrupted) = crossbeam_channel::bounded::<()>(1);
    let handler = ctrlc::set_handler(move || {
        if interrupt_tx.try_send(()).is_err() {
            std::process::exit(130);
        }
    });
    if let Err(e) = handler {
        eprintln!("node: cannot handle Ctrl-C ({e}); it will end the process at once");
    }

    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut names: HashMap<devp2p_peer::NodeId, String> = HashMap::new();
    loop {
        let wait = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        if wait.is_zero() {
            break;
        }
        crossbeam_channel::select! {
            recv(events) -> ev => match ev {
                Ok(ev) => log_event(&server, &ev, &mut names),
                Err(_) => break,
            },
            recv(interrupted) -> _ => {
                println!("interrupted");
                break;
            }
            default(wait) => {}
        }
    }
    println!("stopping: disconnecting {} peer(s)", server.peer_count());
    server.stop();
    while let Ok(ev) = events.try_recv() {
        log_event(&server, &ev, &mut names);
    }
    println!("stopped");
    Ok(())
}

fn log_event(server: &Server, ev: &PeerEvent, names: &mut HashMap<devp2p_peer::NodeId, String>) {
    let addr = ev
        .remote_address
        .map_or_else(|| "?".to_string(), |a| a.to_string());
    match ev.kind {
        PeerEventType::Add => {
            let peer = server.peers().into_iter().find(|p| p.id() == ev.peer);
            let (name, caps, protos) = match &peer {
                Some(p) => (
                    p.full_name().to_string(),
                    caps_text(&p.caps()),
                    p.protocol_stats()
                        .iter()
                        .map(|s| s.cap.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                None => ("?".into(), "?".into(), "?".into()),
            };
            println!(
                "peer joined: {name:?} from {addr}, id {}, caps [{caps}], running [{protos}]",
                ev.peer.terminal_string()
            );
            names.insert(ev.peer, name);
        }
        PeerEventType::Drop => {
            let name = names
                .remove(&ev.peer)
                .unwrap_or_else(|| ev.peer.terminal_string());
            println!(
                "peer left:   {name:?} from {addr}: {}",
                ev.error.as_deref().unwrap_or("?")
            );
        }
        _ => {}
    }
    flush();
}

fn flush() {
    let _ = std::io::stdout().flush();
}

// ---------------------------------------------------------------------------------------
// dial

/// Where the payloads of `dial` come from.
enum Payloads {
    /// Message `i` is `pool[off(i)..off(i) + size]` of a random pool, with
    /// `off(i) = i * 7919 mod 4099`: consecutive messages differ, and snappy cannot shrink
    /// them (the same scheme as go-ethereum's anchor dialer).
    Random { pool: Vec<u8>, size: usize },
    /// Message `i`: its index, then a periodic pattern (snappy shrinks it ~100×).
    Pattern { size: usize },
}

impl Payloads {
    fn new(kind: &str, size: usize) -> Result<Payloads, Fail> {
        match kind {
            "random" => {
                // xorshift64*, seeded from the clock: test data, not keys.
                let mut x = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
                    | 1;
                let pool = (0..size + 4099)
                    .map(|_| {
                        x ^= x >> 12;
                        x ^= x << 25;
                        x ^= x >> 27;
                        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
                    })
                    .collect();
                Ok(Payloads::Random { pool, size })
            }
            "pattern" => Ok(Payloads::Pattern { size }),
            other => Err(Fail::Usage(format!(
                "bad value for --payload: {other:?} (random or pattern)"
            ))),
        }
    }

    fn get(&self, i: u64) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Payloads::Random { pool, size } => {
                let off = (i.wrapping_mul(7919) % 4099) as usize;
                std::borrow::Cow::Borrowed(&pool[off..off + size])
            }
            Payloads::Pattern { size } => std::borrow::Cow::Owned(payload(i, *size)),
        }
    }
}

/// The payload of message `i`: its index, then a pattern that depends on it.
fn payload(i: u64, size: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..size)
        .map(|j| {
            (i as usize)
                .wrapping_mul(31)
                .wrapping_add(j.wrapping_mul(7)) as u8
        })
        .collect();
    let idx = i.to_be_bytes();
    let n = size.min(8);
    v[..n].copy_from_slice(&idx[..n]);
    v
}

fn dial(args: &[String]) -> Result<(), Fail> {
    let args = Args::parse(
        args,
        &["key", "protocol", "count", "size", "payload"],
        &["json"],
    )?;
    let node = args.enode()?;
    let key = args.key()?;
    let cap = args.protocol_cap()?;
    let count: u64 = args.number("count", 1000)?;
    let size: usize = args.number("size", 1024)?;
    if size > 10 << 20 {
        return Err(Fail::Usage(format!("--size {size} is above 10 MiB")));
    }
    let json = args.switches.iter().any(|s| s == "json");
    let payloads = Arc::new(Payloads::new(
        args.values.get("payload").map_or("random", String::as_str),
        size,
    )?);

    let t = Arc::new(connect(&node, &key)?);
    let ours = Hello::new(
        concat!("devp2p-peer-node/v", env!("CARGO_PKG_VERSION")),
        vec![cap.clone()],
        key.public_key().to_bytes(),
    );
    let theirs = hello_exchange(&t, &ours)?;
    println!("connected to {:?} ({})", theirs.name, node);
    println!("  remote caps: {}", caps_text(&theirs.caps));
    let ours_proto = [echo_protocol(&cap)];
    let matched = match_protocols(&ours_proto, &theirs.caps);
    let Some(m) = matched.first() else {
        t.shutdown(&Error::Disconnected(DiscReason::USELESS_PEER));
        return Err(run_err(format!(
            "the remote does not speak {cap} (its caps: {})",
            caps_text(&theirs.caps)
        )));
    };
    let offset = m.offset;
    println!(
        "  negotiated:  {cap} at offset {offset} (codes {offset}..{})",
        offset + ECHO_LENGTH - 1
    );
    println!("sending {count} message(s) of {size} bytes, pipelined");
    flush();

    let start = Instant::now();
    let writer_err = Arc::new(parking_lot::Mutex::new(None::<Error>));
    let writer = {
        let (t, err, payloads) = (t.clone(), writer_err.clone(), payloads.clone());
        thread::spawn(move || {
            for i in 0..count {
                let msg = Msg::new(offset + i % ECHO_LENGTH, payloads.get(i).into_owned());
                if let Err(e) = t.write_msg(msg) {
                    *err.lock() = Some(e);
                    return;
                }
            }
        })
    };
    let mut echoed = 0u64;
    let mut mismatches = 0u64;
    let mut failure = None;
    while echoed < count {
        let mut msg = match t.read_msg() {
            Ok(m) => m,
            Err(e) => {
                failure = Some(format!("reading echoes: {e}"));
                break;
            }
        };
        match msg.code {
            PING_MSG => {
                let _ = t.write_msg(Msg::new(PONG_MSG, vec![0xc0]));
                continue;
            }
            DISC_MSG => {
                let r = DiscReason::decode(msg.payload.consume());
                failure = Some(format!("received disconnect message: {r}"));
                break;
            }
            c if c < offset => continue,
            _ => {}
        }
        let want_code = offset + echoed % ECHO_LENGTH;
        if msg.code != want_code || msg.payload.consume() != &*payloads.get(echoed) {
            mismatches += 1;
        }
        echoed += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    if failure.is_some() {
        // Unblocks the writer if it is stuck.
        t.shutdown(&Error::Disconnected(DiscReason::NETWORK_ERROR));
    }
    let _ = writer.join();
    if let (None, Some(e)) = (&failure, writer_err.lock().take()) {
        failure = Some(format!("sending: {e}"));
    }

    let msgs_per_s = echoed as f64 / seconds.max(1e-9);
    let mb_per_s = (echoed as f64 * size as f64) / 1e6 / seconds.max(1e-9);
    println!(
        "echoed {echoed}/{count} in {seconds:.3} s: {msgs_per_s:.0} msgs/s, {mb_per_s:.2} MB/s each way, {mismatches} mismatch(es)"
    );

    if failure.is_none() {
        // Say goodbye and read the reason the remote gives back.
        let _ = t.write_msg(Msg::new(DISC_MSG, DiscReason::QUITTING.encode()));
        let reply = loop {
            match t.read_msg() {
                Ok(mut m) if m.code == DISC_MSG => {
                    break Some(DiscReason::decode(m.payload.consume()).to_string())
                }
                Ok(_) => continue,
                Err(e) => break Some(format!("(no reason: {e})")),
            }
        };
        println!(
            "disconnected with \"{}\"; the remote replied: {}",
            DiscReason::QUITTING,
            reply.unwrap_or_default()
        );
    }
    t.shutdown(&Error::Disconnected(DiscReason::QUITTING));
    if json {
        println!(
            "{{\"sent\":{count},\"echoed\":{echoed},\"mismatches\":{mismatches},\"seconds\":{seconds:.6},\"msgs_per_s\":{msgs_per_s:.1},\"mb_per_s\":{mb_per_s:.3},\"cpu_seconds\":{:.2}}}",
            cpu_seconds().unwrap_or(-1.0)
        );
    }
    if let Some(f) = failure {
        return Err(run_err(f));
    }
    if mismatches > 0 {
        return Err(run_err(format!("{mismatches} echo(es) did not match")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// swarm

/// Connections set up at once by `swarm`.
const SWARM_PARALLEL: usize = 32;

/// Holds `--peers` idle connections to one node, each with its own key and running the echo
/// protocol (so Pings are answered), for `--seconds`: for measuring memory per peer.
fn swarm(args: &[String]) -> Result<(), Fail> {
    let args = Args::parse(args, &["protocol", "peers", "seconds"], &[])?;
    let node = args.enode()?;
    let cap = args.protocol_cap()?;
    let peers: usize = args.number("peers", 100)?;
    let seconds: f64 = args.number("seconds", 30.0)?;
    let protocols = [echo_protocol(&cap)];
    let config = PeerConfig {
        stack_size: Some(256 << 10),
        ..PeerConfig::default()
    };
    let next = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let running = parking_lot::Mutex::new(Vec::new());
    let start = Instant::now();
    thread::scope(|scope| {
        for _ in 0..SWARM_PARALLEL.min(peers) {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < peers as u64 {
                    let mut attempts = 0;
                    let peer = loop {
                        attempts += 1;
                        let key = SecretKey::random();
                        let ours = Hello::new(
                            concat!("devp2p-peer-swarm/v", env!("CARGO_PKG_VERSION")),
                            vec![cap.clone()],
                            key.public_key().to_bytes(),
                        );
                        let connected = connect(&node, &key).ok().and_then(|t| {
                            let theirs = hello_exchange(&t, &ours).ok()?;
                            t.into_peer(
                                &theirs,
                                &protocols,
                                ConnFlags::STATIC_DIALED,
                                config.clone(),
                            )
                            .ok()
                        });
                        match connected {
                            Some(p) => break Some(p),
                            None if attempts < 3 => failed.fetch_add(1, Ordering::Relaxed),
                            None => break None,
                        };
                    };
                    let Some(peer) = peer else { continue };
                    let p = peer.clone();
                    let handle = thread::Builder::new()
                        .name("swarm-peer".into())
                        .stack_size(256 << 10)
                        .spawn(move || p.run());
                    if let Ok(h) = handle {
                        running.lock().push((peer, h));
                    }
                }
            });
        }
    });
    let running = running.into_inner();
    println!(
        "connected {} in {:.2} s ({} failed attempt(s)); holding for {seconds} s",
        running.len(),
        start.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed)
    );
    flush();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
    let mut dropped = 0;
    while Instant::now() < deadline {
        thread::sleep(
            deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1)),
        );
    }
    for (peer, _) in &running {
        peer.disconnect(DiscReason::QUITTING);
    }
    for (_, h) in running {
        if let Ok((true, _)) | Err(_) = h.join() {
            dropped += 1;
        }
    }
    println!("done ({dropped} peer(s) had been disconnected by the remote or failed)");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// demo

/// Round-trip times measured by the echo prober.
#[derive(Default)]
struct Rtt {
    count: AtomicU64,
    total_ns: AtomicU64,
    min_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Rtt {
    fn record(&self, d: Duration) {
        let ns = d.as_nanos() as u64;
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
        let _ = self
            .min_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                (m == 0 || ns < m).then_some(ns)
            });
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn avg(&self) -> Duration {
        let n = self.count().max(1);
        Duration::from_nanos(self.total_ns.load(Ordering::Relaxed) / n)
    }
}

/// The demo's echo protocol: the side that was dialed echoes; the dialing side sends a
/// message, waits for its echo, and measures the round trip, until told to stop.
fn demo_echo(rtt: Arc<Rtt>, stop: Arc<AtomicBool>) -> Protocol {
    Protocol::new("echo", 1, ECHO_LENGTH, move |peer: Peer, rw| {
        if peer.inbound() {
            loop {
                let mut msg = rw.read_msg()?;
                let data = msg.payload.consume().to_vec();
                rw.write_msg(Msg::new(msg.code, data))?;
            }
        }
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let data = payload(i, 64);
            let sent = Instant::now();
            rw.write_msg(Msg::new(i % ECHO_LENGTH, data.clone()))?;
            let mut back = rw.read_msg()?;
            rtt.record(sent.elapsed());
            if back.code != i % ECHO_LENGTH || back.payload.consume() != data.as_slice() {
                return Err(DiscReason::PROTOCOL_ERROR.into());
            }
            i += 1;
        }
        // Done measuring: wait for the connection to end.
        loop {
            rw.read_msg()?.discard()?;
        }
    })
}

/// The demo's second protocol: each side sends a short note every 200 ms and reads the
/// other's.
fn demo_note(me: &'static str) -> Protocol {
    Protocol::new("note", 1, 2, move |_peer, rw| {
        let (stop_tx, stop_rx): (_, Receiver<()>) = bounded(0);
        let writer = {
            let rw = rw.clone();
            thread::spawn(move || {
                let mut n = 0u64;
                loop {
                    select! {
                        recv(stop_rx) -> _ => return,
                        default(Duration::from_millis(200)) => {
                            n += 1;
                            let text = format!("note #{n} from {me}");
                            if devp2p_peer::send_items(&rw, 0, &[&text]).is_err() {
                                return;
                            }
                        }
                    }
                }
            })
        };
        let result = loop {
            match rw.read_msg() {
                Ok(mut m) => {
                    if let Err(e) = m.discard() {
                        break Err(e);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        drop(stop_tx);
        let _ = writer.join();
        result
    })
}

fn demo(args: &[String]) -> Result<(), Fail> {
    let args = Args::parse(args, &["seconds"], &[])?;
    args.no_positional()?;
    let seconds: f64 = args.number("seconds", 3.0)?;
    let rtt = Arc::new(Rtt::default());
    let stop = Arc::new(AtomicBool::new(false));
    let node = |name: &'static str| {
        let mut c = ServerConfig::new(SecretKey::random());
        c.name = format!("{name} (devp2p-peer demo)");
        c.listen_addr = Some("127.0.0.1:0".parse().unwrap());
        c.protocols = vec![demo_echo(rtt.clone(), stop.clone()), demo_note(name)];
        c.max_redial_backoff = Duration::from_secs(1);
        Server::new(c)
    };
    let alice = node("alice");
    let bob = node("bob");
    let ev_alice = alice.subscribe_events();
    let ev_bob = bob.subscribe_events();
    let start_err = |e: Error| run_err(format!("cannot start a node: {e}"));
    alice.start().map_err(start_err)?;
    bob.start().map_err(start_err)?;

    println!("two devp2p nodes on 127.0.0.1, talking RLPx:");
    println!("  alice  {}", alice.self_enode());
    println!("  bob    {}", bob.self_enode());
    println!("bob dials alice...");
    flush();
    let t0 = Instant::now();
    bob.add_peer(alice.self_enode());
    let wait_add = |events: &Receiver<PeerEvent>| loop {
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(ev) if ev.kind == PeerEventType::Add => return Ok(()),
            Ok(_) => continue,
            Err(_) => return Err(run_err("the nodes did not connect within 10 s")),
        }
    };
    wait_add(&ev_bob)?;
    wait_add(&ev_alice)?;
    println!(
        "connected in {} (TCP, encryption handshake, Hello)",
        micros(t0.elapsed())
    );
    println!("running echo/1 (bob measures round trips) and note/1 (both ways) for {seconds} s");
    flush();

    let run_start = Instant::now();
    let run_for = Duration::from_secs_f64(seconds.max(0.0));
    // On a terminal the progress line is redrawn in place; elsewhere one line per second.
    let tty = std::io::stdout().is_terminal();
    let mut last_line = None::<Instant>;
    loop {
        let elapsed = run_start.elapsed();
        let echo_msgs: u64 = bob
            .peers()
            .first()
            .and_then(|p| {
                p.protocol_stats()
                    .into_iter()
                    .find(|s| s.cap.name == "echo")
            })
            .map_or(0, |s| s.msgs_in);
        let line = format!(
            "  [{:>4.1} s] {} round trips, average {}",
            elapsed.as_secs_f64().min(seconds),
            echo_msgs,
            micros(rtt.avg())
        );
        if tty {
            print!("\r{line}   ");
        } else if elapsed >= run_for
            || last_line.is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            println!("{line}");
            last_line = Some(Instant::now());
        }
        flush();
        if elapsed >= run_for {
            break;
        }
        thread::sleep(Duration::from_millis(100).min(run_for - elapsed));
    }
    if tty {
        println!();
    }
    stop.store(true, Ordering::Relaxed);

    // Each side's view, taken while still connected.
    let view_alice = alice.peers().first().cloned();
    let view_bob = bob.peers().first().cloned();
    // Let the prober finish its last round trip so the counters settle.
    thread::sleep(Duration::from_millis(50));
    for (who, view) in [("alice", &view_alice), ("bob", &view_bob)] {
        match view {
            Some(p) => print_view(who, p, (who == "bob").then_some(&*rtt)),
            None => println!("{who} has no peer any more"),
        }
    }

    println!("bob disconnects (remove_peer):");
    bob.remove_peer(&alice.self_enode());
    let reason = |events: &Receiver<PeerEvent>| loop {
        match events.recv_timeout(Duration::from_secs(5)) {
            Ok(ev) if ev.kind == PeerEventType::Drop => {
                return ev.error.unwrap_or_else(|| "?".into())
            }
            Ok(_) => continue,
            Err(_) => return "(no drop event)".into(),
        }
    };
    println!("  bob   saw: {}", reason(&ev_bob));
    println!("  alice saw: {}", reason(&ev_alice));
    bob.stop();
    alice.stop();
    println!("both nodes stopped");
    Ok(())
}

fn print_view(who: &str, p: &Peer, rtt: Option<&Rtt>) {
    let direction = if p.inbound() {
        "inbound from"
    } else {
        "dialed to"
    };
    println!("{who}'s view of its peer:");
    println!("  remote name:  {}", p.full_name());
    println!("  remote caps:  {}", caps_text(&p.caps()));
    println!(
        "  connection:   {direction} {}",
        p.remote_addr()
            .map_or_else(|| "?".into(), |a| a.to_string())
    );
    for s in p.protocol_stats() {
        print_stats(&s);
    }
    if let Some(rtt) = rtt {
        println!(
            "  round trip:   {} samples, min {}, average {}, max {}",
            rtt.count(),
            micros(Duration::from_nanos(rtt.min_ns.load(Ordering::Relaxed))),
            micros(rtt.avg()),
            micros(Duration::from_nanos(rtt.max_ns.load(Ordering::Relaxed)))
        );
    }
}

fn print_stats(s: &ProtocolStats) {
    println!(
        "  protocol {:<7} codes {}..{}: in {} msgs / {}, out {} msgs / {}",
        s.cap.to_string(),
        s.offset,
        s.offset + s.length - 1,
        s.msgs_in,
        bytes_text(s.bytes_in),
        s.msgs_out,
        bytes_text(s.bytes_out)
    );
}
