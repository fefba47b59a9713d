//! `discover`: find nodes with discovery v4, or serve discovery for others.
//!
//! ```text
//! cargo run --release --example discover -- --bootnodes <enode,...> [--seconds S] [--json]
//! cargo run --release --example discover -- --listen 127.0.0.1:30303 --seconds 600
//! ```
//!
//! It prints its own `enode://` URL to stderr, then one line per node it finds, as it
//! finds it, with the node's `enode://` URL (`--json`: a JSON object with the URL, the
//! ID and, when the node answers an ENR request, its record). Without bootnodes it only
//! serves (answers pings, FindNode and ENR requests) until `--seconds` pass.
//!
//! Exit status: 0 on success, 2 for an error in the arguments.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::exit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use devp2p_peer::discover::{Config, Discovery, Node};
use devp2p_peer::enr::Record;
use devp2p_peer::rlpx::{Enode, SecretKey};

const USAGE: &str = "\
usage: discover [--bootnodes ENODE,...] [--listen IP:PORT] [--key HEX] [--seconds S] [--json]
";

fn fail(msg: &str) -> ! {
    eprintln!("discover: {msg}\n{USAGE}");
    exit(2)
}

fn parse_node(s: &str) -> Node {
    if s.starts_with("enr:") {
        let r: Record = s
            .parse()
            .unwrap_or_else(|e| fail(&format!("bad record {s}: {e}")));
        let mut n = Node::new(r.to_enode().unwrap_or_else(|e| fail(&format!("{s}: {e}"))));
        n.seq = r.seq();
        n
    } else {
        let e: Enode = s
            .parse()
            .unwrap_or_else(|e| fail(&format!("bad enode {s}: {e}")));
        Node::new(e)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cfg = Config {
        listen: "0.0.0.0:0".parse().expect("address"),
        ..Config::default()
    };
    let mut key = None;
    let mut seconds = 30u64;
    let mut json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| fail(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--bootnodes" => {
                cfg.bootnodes = value()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(parse_node)
                    .collect()
            }
            "--listen" => {
                cfg.listen = value()
                    .parse::<SocketAddr>()
                    .unwrap_or_else(|e| fail(&format!("bad --listen: {e}")))
            }
            "--key" => {
                key = Some(SecretKey::from_hex(&value()).unwrap_or_else(|e| fail(&format!("{e}"))))
            }
            "--seconds" => {
                seconds = value()
                    .parse()
                    .unwrap_or_else(|e| fail(&format!("bad --seconds: {e}")))
            }
            "--json" => json = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other}")),
        }
    }
    let key = key.unwrap_or_else(SecretKey::random);
    let disc = Discovery::start(key, cfg.clone())
        .unwrap_or_else(|e| fail(&format!("cannot listen on {}: {e}", cfg.listen)));
    eprintln!("{}", disc.local_node());
    eprintln!("{}", disc.local_record());

    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let _ = ctrlc::set_handler(move || s.store(true, Ordering::SeqCst));
    let end = Instant::now() + Duration::from_secs(seconds);

    if cfg.bootnodes.is_empty() {
        while Instant::now() < end && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
    } else {
        // The iterator blocks while a lookup runs; run it on its own thread and stop it
        // by stopping the service.
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut nodes = disc.random_nodes();
        let walker = std::thread::spawn(move || {
            for n in nodes.by_ref() {
                if tx.send(n).is_err() {
                    break;
                }
            }
        });
        let mut seen = HashSet::new();
        while Instant::now() < end && !stop.load(Ordering::SeqCst) {
            let Ok(n) = rx.recv_timeout(Duration::from_millis(100)) else {
                continue;
            };
            if !seen.insert(n.id) {
                continue;
            }
            if json {
                let record = disc
                    .request_enr(&n)
                    .map(|r| format!("\"{r}\""))
                    .unwrap_or_else(|_| "null".into());
                let id: String = n.id.iter().map(|b| format!("{b:02x}")).collect();
                println!("{{\"enode\":\"{n}\",\"id\":\"{id}\",\"record\":{record}}}");
            } else {
                println!("{n}");
            }
        }
        drop(rx);
        disc.stop();
        let _ = walker.join();
        eprintln!("found {} nodes", seen.len());
        return;
    }
    let s = disc.stats();
    eprintln!("{s:?}");
    disc.stop();
}
