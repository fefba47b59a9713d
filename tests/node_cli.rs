//! The `node` example, run as a program: `listen`, then `ping` and `dial` against the enode
//! URL it prints; the demo; argument errors and an unreachable node.
//!
//! The example is built with `cargo build --example node` (a no-op when `cargo test` has
//! already built it) into the same target directory and profile as this test.
#![cfg(feature = "rlpx")]

mod example_bin;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver};
use example_bin::example_bin;

/// The example's binary, built once per test process.
fn node_bin() -> PathBuf {
    example_bin("node")
}

/// Runs the example to completion, failing the test after `limit`.
fn run(args: &[&str], limit: Duration) -> Output {
    let child = Command::new(node_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_output(child, limit)
}

fn wait_output(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "node did not exit within {limit:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Starts `listen`; returns the process and its stdout lines as they come.
fn listen(seconds: &str) -> (Child, Receiver<String>) {
    listen_with(&["--seconds", seconds])
}

fn listen_with(args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = Command::new(node_bin())
        .args(["listen", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = unbounded();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

#[test]
fn listen_ping_dial() {
    let (child, lines) = listen("4");
    let enode = lines
        .recv_timeout(Duration::from_secs(30))
        .expect("listen printed no enode URL");
    assert!(enode.starts_with("enode://"), "first line: {enode}");
    assert!(enode.contains("@127.0.0.1:"), "first line: {enode}");

    let ping = run(&["ping", &enode], Duration::from_secs(20));
    let out = text(&ping.stdout);
    assert!(ping.status.success(), "ping failed: {}", text(&ping.stderr));
    assert!(out.contains("client:   devp2p-peer/v"), "{out}");
    assert!(out.contains("caps:     echo/1"), "{out}");
    assert!(out.contains("version:  5"), "{out}");

    let dial = run(
        &["dial", &enode, "--count", "300", "--size", "200", "--json"],
        Duration::from_secs(20),
    );
    let out = text(&dial.stdout);
    assert!(dial.status.success(), "dial failed: {}", text(&dial.stderr));
    assert!(out.contains("negotiated:  echo/1 at offset 16"), "{out}");
    assert!(out.contains("the remote replied: client quitting"), "{out}");
    let json = out.lines().last().unwrap();
    assert!(
        json.starts_with("{\"sent\":300,\"echoed\":300,\"mismatches\":0,"),
        "{json}"
    );
    for key in [
        "\"seconds\":",
        "\"msgs_per_s\":",
        "\"mb_per_s\":",
        "\"cpu_seconds\":",
    ] {
        assert!(json.contains(key), "{json}");
    }

    // The listener logs the dialer coming and going, then stops cleanly on its own.
    let out = wait_output(child, Duration::from_secs(20));
    assert!(out.status.success(), "listen failed: {}", text(&out.stderr));
    let log: Vec<String> = lines.iter().collect();
    let log = log.join("\n");
    assert!(log.contains("peer joined: \"devp2p-peer-node/v"), "{log}");
    assert!(log.contains("caps [echo/1]"), "{log}");
    assert!(log.contains(": client quitting"), "{log}");
    assert!(log.ends_with("stopped"), "{log}");
}

#[test]
fn demo_shows_two_nodes_talking() {
    let out = run(&["demo", "--seconds", "0.5"], Duration::from_secs(30));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "demo failed: {}", text(&out.stderr));
    for want in [
        "alice's view of its peer:",
        "bob's view of its peer:",
        "remote name:  bob (devp2p-peer demo)",
        "protocol echo/1  codes 16..23",
        "protocol note/1  codes 24..25",
        "round trip:",
        "bob   saw: disconnect requested",
        "alice saw: disconnect requested",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
}

#[test]
fn argument_errors_exit_2() {
    for (args, want) in [
        (
            &["ping", "enode://abc@127.0.0.1:1"][..],
            "node: bad enode URL: ",
        ),
        (&["ping"][..], "node: missing node as command-line argument"),
        (&["listen", "--key", "xyz"][..], "node: bad key: "),
        (&["dial", "--count"][..], "node: --count needs a value"),
        (&["frobnicate"][..], "node: unknown command"),
    ] {
        let out = run(args, Duration::from_secs(20));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with(want), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn port_in_use_exits_2() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let out = run(
        &["listen", "--port", &port, "--seconds", "1"],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("node: cannot listen on 127.0.0.1:"));
}

#[test]
fn unreachable_node_fails_clearly() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let key = devp2p_peer::rlpx::SecretKey::random().public_key();
    let enode = format!("enode://{key}@127.0.0.1:{port}");
    let out = run(&["ping", &enode], Duration::from_secs(20));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is unreachable: connection refused"),
        "{stderr}"
    );
}

#[test]
fn swarm_and_payload_kinds() {
    let (child, lines) = listen_with(&["--seconds", "6", "--max-peers", "10"]);
    let enode = lines
        .recv_timeout(Duration::from_secs(30))
        .expect("listen printed no enode URL");
    for payload in [None, Some("pattern"), Some("random")] {
        let mut args = vec!["dial", &enode, "--count", "50", "--size", "3000", "--json"];
        if let Some(p) = payload {
            args.extend(["--payload", p]);
        }
        let dial = run(&args, Duration::from_secs(20));
        let out = text(&dial.stdout);
        assert!(
            dial.status.success(),
            "dial {payload:?} failed: {}",
            text(&dial.stderr)
        );
        assert!(out.contains("\"echoed\":50,\"mismatches\":0"), "{out}");
    }
    let bad = run(
        &["dial", &enode, "--payload", "zeros"],
        Duration::from_secs(20),
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));

    let swarm = run(
        &["swarm", &enode, "--peers", "3", "--seconds", "0"],
        Duration::from_secs(30),
    );
    let out = text(&swarm.stdout);
    assert!(
        swarm.status.success(),
        "swarm failed: {}",
        text(&swarm.stderr)
    );
    assert!(out.contains("connected 3 in"), "{out}");
    assert!(out.contains("done"), "{out}");
    let out = wait_output(child, Duration::from_secs(20));
    assert!(out.status.success(), "listen failed: {}", text(&out.stderr));
}

/// The node ID (hex) of an `enode://` URL.
#[cfg(feature = "discovery")]
fn enode_id(url: &str) -> &str {
    url.trim_start_matches("enode://")
        .split('@')
        .next()
        .unwrap()
}

#[cfg(feature = "discovery")]
#[test]
fn listen_with_discovery_and_discover() {
    // A serves discovery only; B starts from A and dials what it finds.
    let (a, a_lines) = listen_with(&["--discovery", "--seconds", "25"]);
    let a_enode = a_lines
        .recv_timeout(Duration::from_secs(30))
        .expect("listen printed no enode URL");
    let disc_line = a_lines.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        disc_line.starts_with("discovery v4 on udp 127.0.0.1:") && disc_line.contains(" enr:"),
        "{disc_line}"
    );
    let (b, b_lines) = listen_with(&["--bootnodes", &a_enode, "--seconds", "25"]);
    let b_enode = b_lines.recv_timeout(Duration::from_secs(30)).unwrap();
    // B dials A, found by its random walk (A's echo protocol is B's too).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut joined = false;
    while !joined && Instant::now() < deadline {
        match b_lines.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => joined = line.starts_with("peer joined:"),
            Err(_) => continue,
        }
    }
    assert!(joined, "B never dialed A");

    // `discover` from A finds A and, through A, B; each printed once, with its record.
    let out = run(
        &[
            "discover",
            "--bootnodes",
            &a_enode,
            "--seconds",
            "6",
            "--json",
        ],
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "discover failed: {}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    for want in [&a_enode, &b_enode] {
        let id = enode_id(want);
        let hits: Vec<&&str> = lines.iter().filter(|l| l.contains(id)).collect();
        assert_eq!(hits.len(), 1, "{id} in:\n{stdout}");
        assert!(hits[0].starts_with("{\"enode\":\"enode://"), "{}", hits[0]);
        assert!(hits[0].contains("\"record\":\"enr:"), "{}", hits[0]);
    }
    wait_output(a, Duration::from_secs(60));
    wait_output(b, Duration::from_secs(60));
}

#[cfg(feature = "discovery")]
#[test]
fn discover_plain_lines_and_argument_errors() {
    let (a, a_lines) = listen_with(&["--discovery", "--seconds", "20"]);
    let a_enode = a_lines.recv_timeout(Duration::from_secs(30)).unwrap();
    let out = run(
        &["discover", "--bootnodes", &a_enode, "--seconds", "3"],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.lines().any(|l| l == a_enode),
        "the bootnode itself is found:\n{stdout}"
    );
    assert!(
        stdout.lines().all(|l| l.starts_with("enode://")),
        "{stdout}"
    );
    wait_output(a, Duration::from_secs(60));

    let missing = run(&["discover", "--seconds", "1"], Duration::from_secs(20));
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("discover needs --bootnodes"));
    let bad = run(
        &["discover", "--bootnodes", "enode://nope"],
        Duration::from_secs(20),
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("bad bootnode"),
        "{}",
        text(&bad.stderr)
    );
}

/// The `eth_status` example's binary.
fn eth_status_bin() -> PathBuf {
    example_bin("eth_status")
}

/// `node status` against `eth_status --listen`: the remote's Status printed with the
/// example's labels, then "client quitting"; a wrong network fails with exit 1; bad
/// arguments exit 2.
#[test]
fn status_against_eth_status() {
    let mut child = Command::new(eth_status_bin())
        .args(["--listen", "--port", "0", "--network", "sepolia"])
        .args(["--seconds", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = unbounded();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let enode = loop {
        let line = lines
            .recv_deadline(deadline)
            .expect("eth_status printed no enode URL");
        if line.starts_with("enode://") {
            break line;
        }
    };

    let out = run(
        &["status", &enode, "--network", "sepolia", "--version", "68"],
        Duration::from_secs(60),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("speaking eth/68 on sepolia"), "{stdout}");
    assert!(stdout.contains("version:      eth/68"), "{stdout}");
    assert!(stdout.contains("network id:   11155111"), "{stdout}");
    assert!(
        stdout.contains(
            "genesis:      0x25a5cc106eea7138acab33231d7160d69cb777ee0c2c553fcddf5138993e6dd9"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("left with: client quitting"), "{stdout}");

    // A node on another network: the handshake fails, exit 1.
    let out = run(&["status", &enode], Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));

    // Argument errors: exit 2.
    for args in [
        &["status"][..],
        &["status", &enode, "--network", "nowhere"],
        &["status", &enode, "--version", "67"],
        &["status", "enode://nope"],
    ] {
        let out = run(args, Duration::from_secs(20));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }

    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap();
}
