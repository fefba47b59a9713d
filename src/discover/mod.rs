//! Node discovery, protocol version 4.
/// The packet codec.
pub mod v4wire;
