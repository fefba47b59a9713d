//! Node identities.

use std::fmt;

/// A node's identity: the keccak-256 hash of its 64-byte secp256k1 public key.
///
/// The peer layer computes no hashes itself; the transport (or the caller) supplies the ID.
///
/// # Examples
///
/// ```
/// use devp2p_peer::NodeId;
/// let id = NodeId([0xab; 32]);
/// assert_eq!(id.to_string().len(), 64);
/// assert_eq!(id.terminal_string(), "abababababababab");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// The first 8 bytes as hex: the short form used in logs and in a peer's `Display`.
    pub fn terminal_string(&self) -> String {
        crate::util::hex(&self.0[..8])
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::util::hex(&self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self)
    }
}
