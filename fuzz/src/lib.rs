//! Shared set-up for the fuzz targets: one real RLPx handshake between two fixed keys, done
//! once, whose secrets every input starts from.

use std::io::{self, Read};
use std::sync::OnceLock;

use devp2p_peer::rlpx::wire::{session, FrameEgress, FrameIngress, Initiator, Recipient, Secrets};
use devp2p_peer::rlpx::SecretKey;

/// The initiator's static key.
pub fn initiator_key() -> SecretKey {
    SecretKey::from_bytes(&[0x11; 32]).expect("valid key")
}

/// The recipient's static key.
pub fn recipient_key() -> SecretKey {
    SecretKey::from_bytes(&[0x22; 32]).expect("valid key")
}

fn secrets() -> &'static (Secrets, Secrets) {
    static S: OnceLock<(Secrets, Secrets)> = OnceLock::new();
    S.get_or_init(|| {
        let (ik, rk) = (initiator_key(), recipient_key());
        let eph_i = SecretKey::from_bytes(&[0x33; 32]).expect("valid key");
        let eph_r = SecretKey::from_bytes(&[0x44; 32]).expect("valid key");
        let init = Initiator::with_randomness(&ik, &rk.public_key(), eph_i, [0x55; 32]);
        let auth = init.auth_packet().to_vec();
        let received = Recipient::with_randomness(&rk, eph_r, [0x66; 32])
            .read_auth(&auth)
            .expect("valid auth");
        let (ack, r_secrets) = received.respond();
        let i_secrets = init.read_ack(&ack).expect("valid ack");
        (i_secrets, r_secrets)
    })
}

/// A fresh frame session: the initiator's egress and the recipient's ingress, which match.
pub fn link(snappy: bool) -> (FrameEgress, FrameIngress) {
    let (i, r) = secrets();
    let (mut tx, _) = session(i.clone());
    let (_, mut rx) = session(r.clone());
    tx.set_snappy(snappy);
    rx.set_snappy(snappy);
    (tx, rx)
}

/// A reader that hands out its bytes in chunks whose sizes come from a list (cycled), as a
/// socket would: `sizes[i] * 37 + 1` bytes (1 to 9,436); an empty list reads all at once.
pub struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    next: usize,
}

impl<'a> Chunked<'a> {
    /// Reads `data` in chunks sized by `sizes`.
    pub fn new(data: &'a [u8], sizes: &'a [u8]) -> Self {
        Chunked {
            data,
            sizes,
            next: 0,
        }
    }
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = if self.sizes.is_empty() {
            buf.len()
        } else {
            let s = usize::from(self.sizes[self.next % self.sizes.len()]) * 37 + 1;
            self.next += 1;
            s
        };
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
