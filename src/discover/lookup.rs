//! Iterative lookups and the random-walk iterator.
//!
//! A lookup keeps the 16 nodes closest to the target seen so far. Each round it asks the
//! closest [`ALPHA`](super::table::ALPHA) nodes not yet asked (in parallel, on scoped
//! threads that end with the round), merges what they answer, and stops when every node
//! in the result set has been asked.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::table::{dist_cmp, ALPHA, BUCKET_SIZE};
use super::udp::Shared;
use super::Node;
use crate::rlpx::keccak256;

/// A random 64-byte lookup target (it need not be a valid public key).
pub(crate) fn random_target() -> [u8; 64] {
    let mut t = [0u8; 64];
    rand::rng().fill(&mut t[..]);
    t
}

/// Runs one lookup for `target`; returns up to 16 nodes, closest first.
pub(crate) fn run(shared: &Arc<Shared>, target: &[u8; 64]) -> Vec<Node> {
    let target_id = keccak256(&[target]);
    let mut result: Vec<Node> = shared.table.lock().closest(&target_id, BUCKET_SIZE, false);
    if result.is_empty() {
        // Nothing in the table (yet): start from the bootnodes.
        result = shared.bootnodes.clone();
        result.sort_by(|a, b| dist_cmp(&target_id, &a.id, &b.id));
        result.truncate(BUCKET_SIZE);
    }
    let mut seen: HashSet<[u8; 32]> = result.iter().map(|n| n.id).collect();
    seen.insert(shared.self_id);
    let mut asked: HashSet<[u8; 32]> = HashSet::new();
    asked.insert(shared.self_id);
    loop {
        if shared.closed.load(Ordering::SeqCst) {
            break;
        }
        let batch: Vec<Node> = result
            .iter()
            .filter(|n| !asked.contains(&n.id))
            .take(ALPHA)
            .cloned()
            .collect();
        if batch.is_empty() {
            break;
        }
        for n in &batch {
            asked.insert(n.id);
        }
        let answers: Vec<Vec<Node>> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|n| s.spawn(move || shared.find_node(n, target).unwrap_or_default()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let mut table = shared.table.lock();
        for found in answers.into_iter().flatten() {
            if seen.insert(found.id) {
                table.add_found(found.clone());
                result.push(found);
            }
        }
        drop(table);
        result.sort_by(|a, b| dist_cmp(&target_id, &a.id, &b.id));
        result.truncate(BUCKET_SIZE);
    }
    result
}

/// An endless iterator of nodes found by random lookups (for a dialer), from
/// [`Discovery::random_nodes`](super::Discovery::random_nodes).
///
/// Each lookup's results are handed out one by one; the next lookup starts when they are
/// used up. [`next`](Iterator::next) blocks while a lookup runs and returns `None` once
/// the service stops.
///
/// # Examples
///
/// ```
/// use devp2p_peer::discover::{Config, Discovery};
/// use devp2p_peer::rlpx::SecretKey;
///
/// let boot = Discovery::start(SecretKey::random(), Config::loopback()).unwrap();
/// let cfg = Config { bootnodes: vec![boot.local_node()], ..Config::loopback() };
/// let node = Discovery::start(SecretKey::random(), cfg).unwrap();
/// let first = node.random_nodes().next().unwrap();
/// assert_eq!(first.id, boot.local_node().id);
/// node.stop();
/// boot.stop();
/// ```
pub struct RandomNodes {
    shared: Arc<Shared>,
    buffer: VecDeque<Node>,
}

impl RandomNodes {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        RandomNodes {
            shared,
            buffer: VecDeque::new(),
        }
    }
}

impl Iterator for RandomNodes {
    type Item = Node;

    fn next(&mut self) -> Option<Node> {
        loop {
            if self.shared.closed.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(n) = self.buffer.pop_front() {
                return Some(n);
            }
            let found = run(&self.shared, &random_target());
            if found.is_empty() {
                // Nothing known yet: wait a little (or until the service stops).
                let _ = self.shared.closing.recv_timeout(Duration::from_secs(1));
            }
            self.buffer.extend(found);
        }
    }
}
