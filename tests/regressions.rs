//! Reproductions of bugs found, one test each.

mod common;

use std::thread;

use common::*;
use devp2p_peer::*;

// Found while benchmarking: a write on a pipe whose payload is empty waited for a
// "consumed" signal that could never come. A zero-size message is never "read to the end": its write returns on hand-over.
#[test]
fn msg_pipe_zero_size_write_returns() {
    let (rw1, rw2) = msg_pipe();
    let t = thread::spawn(move || rw1.write_msg(Msg::new(3, Vec::new())));
    let msg = within(secs(5), move || rw2.read_msg().unwrap());
    assert_eq!((msg.code, msg.size), (3, 0));
    within(secs(5), move || t.join().unwrap()).unwrap();
}
