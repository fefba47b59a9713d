//! The `relay` example, run as a program with no arguments: a relay and three clients on
//! 127.0.0.1; every client gets every other client's messages, nothing is dropped, and the
//! relay sees each client leave with "client quitting".
//!
//! The example is built with `cargo build --example relay` (a no-op when `cargo test` has
//! already built it) into the same target directory and profile as this test.
#![cfg(feature = "rlpx")]

mod example_bin;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use example_bin::example_bin;

fn bin() -> PathBuf {
    example_bin("relay")
}

#[test]
fn relay_forwards_every_message_to_every_other_client() {
    let mut child = Command::new(bin())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the relay example");
    // The example bounds itself (60 s); this is a guard against a hang.
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("relay example did not exit: {:?}", child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.starts_with("relay listening: enode://"), "{stdout}");
    for to in 1..=3 {
        for from in (1..=3).filter(|f| *f != to) {
            for i in 0..3 {
                let line = format!("client-{to} <- client-{from}: hello #{i}\n");
                assert!(stdout.contains(&line), "missing {line:?} in:\n{stdout}");
            }
        }
    }
    assert!(
        stdout.contains("relayed 18 messages to 3 clients, 0 dropped"),
        "{stdout}"
    );
    let quits = stdout
        .lines()
        .filter(|l| l.ends_with("dropped: client quitting (remote requested: true)"))
        .count();
    assert_eq!(quits, 3, "{stdout}");
}
