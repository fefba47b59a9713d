//! Auth and ack packets. First byte selects the mode: raw bytes as the whole packet, or the
//! fuzzer's bytes as the *plaintext* body sealed with ECIES to the fixed keys under a correct
//! EIP-8 size prefix (so the RLP decoding behind the encryption is reached). Each packet goes
//! to a `Recipient` (as an auth) and to an `Initiator` (as an ack) and to `decode_auth` /
//! `decode_ack`; all must return, never panic. A recipient that accepts an auth must be able
//! to answer it.
#![no_main]

use devp2p_peer::rlpx::wire::{decode_ack, decode_auth, ecies, Initiator, Recipient};
use devp2p_peer::rlpx::SecretKey;
use devp2p_peer_fuzz::{initiator_key, recipient_key};
use libfuzzer_sys::fuzz_target;

fn seal(body: &[u8], to: &devp2p_peer::rlpx::PublicKey) -> Vec<u8> {
    let size = (body.len() + ecies::OVERHEAD) as u16;
    let prefix = size.to_be_bytes();
    let eph = SecretKey::from_bytes(&[0x77; 32]).expect("valid key");
    let mut packet = prefix.to_vec();
    packet.extend_from_slice(&ecies::encrypt_with(to, body, &prefix, &eph, &[0x88; 16]));
    packet
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if rest.len() > 4096 {
        return;
    }
    let (ik, rk) = (initiator_key(), recipient_key());
    let (auth, ack) = match mode % 3 {
        0 => (rest.to_vec(), rest.to_vec()),
        1 => (seal(rest, &rk.public_key()), seal(rest, &ik.public_key())),
        _ => {
            // A sealed body with a wrong size prefix.
            let mut a = seal(rest, &rk.public_key());
            let mut b = seal(rest, &ik.public_key());
            a[0] ^= mode;
            b[1] ^= mode;
            (a, b)
        }
    };

    let _ = decode_auth(&auth, &rk);
    let _ = decode_ack(&ack, &ik);
    let eph = SecretKey::from_bytes(&[0x99; 32]).expect("valid key");
    if let Ok(received) = Recipient::with_randomness(&rk, eph, [1; 32]).read_auth(&auth) {
        let _ = received.remote_pubkey();
        let (ack_packet, _secrets) = received.respond();
        assert!(!ack_packet.is_empty());
    }
    let eph = SecretKey::from_bytes(&[0xaa; 32]).expect("valid key");
    let init = Initiator::with_randomness(&ik, &rk.public_key(), eph, [2; 32]);
    let _ = init.read_ack(&ack);
});
