//! Property tests: every codec round-trips, and a frame with any one byte changed is rejected
//! with an error (never a panic, never a different message). Case counts are kept moderate so
//! that the file stays quick in a debug build.

use devp2p_peer::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failures are reported with their seed; no files are written next to the tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn cap() -> impl Strategy<Value = Cap> {
    (".{0,12}", any::<u32>()).prop_map(|(name, version)| Cap::new(name, version))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn disc_reason_round_trips(code in any::<u8>()) {
        let reason = DiscReason(code);
        prop_assert_eq!(DiscReason::decode(&reason.encode()), reason);
    }

    #[test]
    fn disc_reason_decode_never_panics(payload in vec(any::<u8>(), 0..120)) {
        let reason = DiscReason::decode(&payload);
        prop_assert_eq!(DiscReason::decode(&reason.encode()), reason);
    }

    #[test]
    fn hello_round_trips(
        name in ".{0,40}",
        caps in vec(cap(), 0..6),
        id in vec(any::<u8>(), 64),
        extra in vec(any::<u64>(), 0..3),
    ) {
        let mut hello = Hello::new(name, caps, id.clone().try_into().unwrap());
        hello.rest = extra.iter().map(|v| rlp::encode(v).to_vec()).collect();
        let bytes = rlp::encode(&hello).to_vec();
        let back: Hello = rlp::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &hello);

        // The same through the handshake reader (an all-zero key is an invalid identity).
        let (a, b) = MemoryTransport::buffered_pair(1);
        a.write_msg(Msg::new(HANDSHAKE_MSG, bytes.clone())).unwrap();
        match read_protocol_handshake(&b) {
            Ok(read) => prop_assert_eq!(read, hello),
            Err(e) if bytes.len() > BASE_PROTOCOL_MAX_MSG_SIZE as usize => {
                prop_assert!(matches!(e, Error::MessageTooBig), "{:?}", e)
            }
            Err(e) => {
                prop_assert!(id.iter().all(|b| *b == 0), "{:?}", e);
                prop_assert_eq!(e.disc_reason(), Some(DiscReason::INVALID_IDENTITY));
            }
        }
    }

    #[test]
    fn msg_payloads_round_trip(
        code in 0u64..64,
        numbers in vec(any::<u64>(), 0..20),
        blobs in vec(vec(any::<u8>(), 0..80), 0..6),
        text in ".{0,30}",
    ) {
        let (a, b) = MemoryTransport::buffered_pair(4);
        let list = rlp::encode_list::<u64, u64>(&numbers).to_vec();
        a.write_msg(Msg::new(code, list)).unwrap();
        let list = rlp::encode_list::<Vec<u8>, Vec<u8>>(&blobs).to_vec();
        a.write_msg(Msg::new(code + 1, list)).unwrap();
        send_items(&a, code + 2, &[&text, &numbers.len()]).unwrap();

        let mut msg = b.read_msg().unwrap();
        prop_assert_eq!(msg.code, code);
        prop_assert_eq!(msg.decode_list::<u64>().unwrap(), numbers.clone());
        let mut msg = b.read_msg().unwrap();
        prop_assert_eq!(msg.code, code + 1);
        prop_assert_eq!(msg.decode_list::<Vec<u8>>().unwrap(), blobs);
        let msg = b.read_msg().unwrap();
        let raw = msg.payload.into_vec();
        prop_assert_eq!(msg.size as usize, raw.len());
        let items = rlp::Rlp::new(&raw);
        prop_assert_eq!(items.val_at::<String>(0).unwrap(), text);
        prop_assert_eq!(items.val_at::<usize>(1).unwrap(), numbers.len());
    }

    #[test]
    fn msg_decode_of_arbitrary_bytes_is_an_error_or_a_value(bytes in vec(any::<u8>(), 0..64)) {
        let mut msg = Msg::new(16, bytes.clone());
        let _ = msg.decode::<Vec<u8>>();
        let mut msg = Msg::new(16, bytes.clone());
        let _ = msg.decode_list::<u64>();
        let (a, b) = MemoryTransport::buffered_pair(1);
        a.write_msg(Msg::new(HANDSHAKE_MSG, bytes)).unwrap();
        let _ = read_protocol_handshake(&b);
    }
}

#[cfg(feature = "rlpx")]
mod rlpx_props {
    use super::*;
    use devp2p_peer::rlpx::wire::{
        decode_ack, decode_auth, AesCtr, AesImpl, FrameEgress, FrameIngress, Initiator, KeccakMac,
        Recipient,
    };
    use devp2p_peer::rlpx::{Enode, SecretKey};
    use std::io::{self, Read};
    use std::net::IpAddr;

    /// A reader that returns at most `sizes[i]` bytes per call (cycled), as a socket might.
    struct Chunked<'a> {
        data: &'a [u8],
        sizes: Vec<usize>,
        next: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let size = self.sizes[self.next % self.sizes.len()];
            self.next += 1;
            let n = size.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn link(snappy: bool) -> (FrameEgress, FrameIngress) {
        let mut tx = FrameEgress::new(&[3; 32], &[4; 32], KeccakMac::new()).unwrap();
        let mut rx = FrameIngress::new(&[3; 32], &[4; 32], KeccakMac::new()).unwrap();
        tx.set_snappy(snappy);
        rx.set_snappy(snappy);
        (tx, rx)
    }

    /// Message bodies: random bytes or compressible runs (so snappy's copies are used too).
    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            vec(any::<u8>(), 0..400),
            (any::<u8>(), 0usize..3000).prop_map(|(b, n)| vec![b; n]),
            (vec(any::<u8>(), 1..8), 1usize..200).prop_map(|(p, n)| p.repeat(n)),
        ]
    }

    fn secret_key() -> impl Strategy<Value = SecretKey> {
        any::<[u8; 32]>().prop_filter_map("valid secp256k1 key", |b| SecretKey::from_bytes(&b).ok())
    }

    /// CTR counters: any, or within 64 blocks below a carry out of the low 64 bits or
    /// below the wrap at 2^128.
    fn counter() -> impl Strategy<Value = u128> {
        prop_oneof![
            any::<u128>(),
            (1u128..64).prop_map(|b| (1u128 << 64) - b),
            (1u128..64).prop_map(|b| 0u128.wrapping_sub(b)),
        ]
    }

    fn encode_all(tx: &mut FrameEgress, msgs: &[(u64, Vec<u8>)]) -> (Vec<u8>, Vec<usize>) {
        let mut wire = Vec::new();
        let mut ends = Vec::new();
        for (code, data) in msgs {
            tx.encode(*code, data).unwrap();
            wire.extend_from_slice(tx.frame());
            ends.push(wire.len());
        }
        (wire, ends)
    }

    proptest! {
        #![proptest_config(config(128))]

        /// The frame cipher, on every implementation this CPU runs, gives `ctr`'s
        /// Ctr128BE keystream on `aes`'s AES-256 for any key and counter, applied in pieces.
        #[test]
        fn aes_ctr_matches_the_ctr_crate(
            key in any::<[u8; 32]>(),
            iv in counter(),
            data in vec(any::<u8>(), 0..1200),
            cuts in vec(0usize..1200, 0..6),
        ) {
            use aes::cipher::{KeyIvInit, StreamCipher};
            let iv = iv.to_be_bytes();
            let mut want = data.clone();
            ctr::Ctr128BE::<aes::Aes256>::new(&key.into(), &iv.into()).apply_keystream(&mut want);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.push(data.len());
            cuts.sort_unstable();
            for imp in [AesImpl::AesNi, AesImpl::Vaes, AesImpl::Crate] {
                let Some(mut c) = AesCtr::with_impl(&key, iv, imp) else {
                    prop_assert!(!imp.available());
                    continue;
                };
                let mut got = data.clone();
                let mut at = 0;
                for &cut in &cuts {
                    c.apply_keystream(&mut got[at..cut]);
                    at = cut;
                }
                prop_assert_eq!(&got, &want, "{:?}", imp);
            }
        }

        #[test]
        fn frames_round_trip(
            snappy in any::<bool>(),
            msgs in vec((any::<u64>(), body()), 1..6),
            chunks in vec(1usize..700, 1..5),
        ) {
            let (mut tx, mut rx) = link(snappy);
            let (wire, _) = encode_all(&mut tx, &msgs);
            let mut r = Chunked { data: &wire, sizes: chunks, next: 0 };
            for (code, data) in &msgs {
                let msg = rx.read_msg(&mut r).unwrap();
                prop_assert_eq!(msg.code, *code);
                prop_assert_eq!(msg.data, &data[..]);
            }
            prop_assert!(rx.read_msg(&mut r).is_err());
        }

        /// Every byte of a frame is authenticated: header, header MAC, body, padding and body
        /// MAC. Changing any one of them makes that frame fail, and the frames before it
        /// still arrive intact.
        #[test]
        fn any_flipped_byte_is_rejected(
            snappy in any::<bool>(),
            msgs in vec((0u64..300, body()), 1..4),
            at in any::<prop::sample::Index>(),
            xor in 1u8..=255,
            chunks in vec(1usize..700, 1..5),
        ) {
            let (mut tx, mut rx) = link(snappy);
            let (mut wire, ends) = encode_all(&mut tx, &msgs);
            let at = at.index(wire.len());
            wire[at] ^= xor;
            let bad = ends.iter().position(|&end| at < end).unwrap();
            let mut r = Chunked { data: &wire, sizes: chunks, next: 0 };
            for (i, (code, data)) in msgs.iter().enumerate() {
                let got = rx.read_msg(&mut r);
                if i == bad {
                    prop_assert!(got.is_err(), "frame {} with byte {} changed: {:?}", i, at, got);
                    break;
                }
                let msg = got.unwrap();
                prop_assert_eq!((msg.code, msg.data), (*code, &data[..]));
            }
        }

        #[test]
        fn enode_urls_round_trip(
            key in secret_key(),
            ip in any::<IpAddr>(),
            tcp_port in any::<u16>(),
            udp_port in any::<u16>(),
        ) {
            let node = Enode { pubkey: key.public_key(), ip, tcp_port, udp_port };
            let url = node.to_string();
            let back: Enode = url.parse().unwrap();
            prop_assert_eq!(back, node, "{}", url);
        }
    }

    proptest! {
        // Each case does about ten elliptic-curve operations.
        #![proptest_config(config(32))]

        #[test]
        fn auth_and_ack_round_trip(
            initiator in secret_key(),
            recipient in secret_key(),
            eph_i in secret_key(),
            eph_r in secret_key(),
            nonce_i in any::<[u8; 32]>(),
            nonce_r in any::<[u8; 32]>(),
        ) {
            let init = Initiator::with_randomness(&initiator, &recipient.public_key(), eph_i, nonce_i);
            let auth = init.auth_packet().to_vec();
            let decoded = decode_auth(&auth, &recipient).unwrap();
            prop_assert_eq!(decoded.initiator_pubkey, initiator.public_key());
            prop_assert_eq!(decoded.nonce, nonce_i);
            prop_assert_eq!(decoded.version, 4);
            // The packet is sealed for the recipient only.
            prop_assert!(decode_auth(&auth, &initiator).is_err() || initiator == recipient);

            let received = Recipient::with_randomness(&recipient, eph_r.clone(), nonce_r)
                .read_auth(&auth)
                .unwrap();
            prop_assert_eq!(received.remote_pubkey(), &initiator.public_key());
            let (ack, r_secrets) = received.respond();
            let decoded = decode_ack(&ack, &initiator).unwrap();
            prop_assert_eq!(decoded.ephemeral_pubkey, eph_r.public_key());
            prop_assert_eq!(decoded.nonce, nonce_r);

            let i_secrets = init.read_ack(&ack).unwrap();
            prop_assert_eq!(i_secrets.aes, r_secrets.aes);
            prop_assert_eq!(i_secrets.mac, r_secrets.mac);
            prop_assert_eq!(i_secrets.remote_pubkey, recipient.public_key());
            prop_assert_eq!(r_secrets.remote_pubkey, initiator.public_key());
        }
    }
}
