//! The `eth_status` example, run as a program: on its own (a local eth node queried), and
//! two of them against each other (`--listen`, then a query of the enode URL it prints), on
//! the same network and on different ones.
//!
//! The example is built with `cargo build --example eth_status` (a no-op when `cargo test`
//! has already built it) into the same target directory and profile as this test.
#![cfg(feature = "rlpx")]

mod example_bin;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver};
use example_bin::example_bin;

fn bin() -> PathBuf {
    example_bin("eth_status")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits for `child` to exit, killing it and failing the test after `limit`.
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
                "eth_status did not exit within {limit:?}; stdout:\n{}\nstderr:\n{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn run(args: &[&str]) -> Output {
    let child = Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_output(child, Duration::from_secs(60))
}

/// Starts `eth_status --listen` with `args`; returns the process and its stdout lines.
fn listen(args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = Command::new(bin())
        .args(["--listen", "--port", "0"])
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

/// Reads lines until one contains `what` (failing the test after 30 s); returns them all.
fn lines_until(lines: &Receiver<String>, what: &str) -> String {
    lines_until_any(lines, &[what])
}

/// Reads lines until one contains any of `what`; returns them all.
fn lines_until_any(lines: &Receiver<String>, what: &[&str]) -> String {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match lines.recv_deadline(deadline) {
            Ok(l) => {
                let done = what.iter().any(|w| l.contains(w));
                seen.push(l);
                if done {
                    return seen.join("\n");
                }
            }
            Err(_) => panic!("no line with {what:?} in:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn on_its_own() {
    let out = run(&[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.starts_with("local eth node (mainnet): enode://"),
        "{stdout}"
    );
    assert!(stdout.contains("speaking eth/69 on mainnet"), "{stdout}");
    assert!(stdout.contains("network id:   1\n"), "{stdout}");
    assert!(
        stdout.contains(
            "genesis:      0xd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("left with: client quitting"), "{stdout}");
    assert!(
        stdout.contains("local node: devp2p-peer-eth-status/v"),
        "{stdout}"
    );
    assert!(
        stdout.trim_end().ends_with("left: client quitting"),
        "{stdout}"
    );
}

#[test]
fn two_of_them_same_network() {
    let (child, lines) = listen(&["--network", "sepolia", "--seconds", "30"]);
    let enode = lines_until(&lines, "enode://");
    let enode = enode.lines().last().unwrap().to_string();

    let out = run(&[&enode, "--network", "sepolia", "--version", "68"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("speaking eth/68 on sepolia"), "{stdout}");
    assert!(stdout.contains("version:      eth/68"), "{stdout}");
    assert!(stdout.contains("network id:   11155111"), "{stdout}");
    assert!(stdout.contains("left with: client quitting"), "{stdout}");

    // The listener printed our Status and saw us leave with "client quitting".
    let log = lines_until(&lines, "left: client quitting");
    assert!(log.contains("network id:   11155111"), "{log}");
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn two_of_them_different_networks() {
    let (child, lines) = listen(&["--network", "hoodi", "--seconds", "30"]);
    let enode = lines_until(&lines, "enode://");
    let enode = enode.lines().last().unwrap().to_string();

    let out = run(&[&enode]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    // Either our check finds the mismatch, or the listener's does first and tells us.
    assert!(
        stderr.contains("network ID mismatch: 560048 (!= 1)")
            || stdout.contains("the remote left: subprotocol error"),
        "{stdout}\n{stderr}"
    );
    // The listener's end: its own check failed, or it heard ours.
    let log = lines_until_any(&lines, &[" dropped: ", " left: "]);
    assert!(
        log.contains("dropped: network ID mismatch: 1 (!= 560048)")
            || log.contains("left: subprotocol error"),
        "{log}"
    );
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
}
