//! devp2p-peer (skeleton, filled in by the following commits).
#![deny(missing_docs)]

#[cfg(feature = "rlpx")]
pub mod rlpx;
