//! The Hello message: EIP-8's test vector and liberal decoding.

use devp2p_peer::{Cap, Hello};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// EIP-8, "devp2p Base Protocol": a Hello with a higher version and extra list elements.
const EIP8_HELLO: &str = "
f87137916b6e6574682f76302e39312f706c616e39cdc5836574683dc6846d6f726b1682270fb840
fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569
bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877c883666f6f836261720304";

#[test]
fn eip8_hello_vector() {
    let hello: Hello = rlp::decode(&unhex(EIP8_HELLO)).unwrap();
    assert_eq!(hello.version, 55);
    assert_eq!(hello.name, "kneth/v0.91/plan9");
    assert_eq!(hello.caps, vec![Cap::new("eth", 61), Cap::new("mork", 22)]);
    assert_eq!(hello.listen_port, 9999);
    assert_eq!(
        hello.id,
        unhex("fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877")
    );
    assert_eq!(
        hello.rest,
        vec![unhex("c883666f6f83626172"), vec![0x03], vec![0x04]]
    );
    // Re-encoding keeps the extra elements.
    assert_eq!(rlp::encode(&hello).to_vec(), unhex(EIP8_HELLO));
}

#[test]
fn our_hello_is_sorted_version_5_port_0() {
    let h = Hello::new(
        "x",
        vec![
            Cap::new("snap", 1),
            Cap::new("eth", 69),
            Cap::new("eth", 68),
        ],
        [9; 64],
    );
    assert_eq!(h.version, 5);
    assert_eq!(h.listen_port, 0);
    assert_eq!(
        h.caps,
        vec![
            Cap::new("eth", 68),
            Cap::new("eth", 69),
            Cap::new("snap", 1)
        ]
    );
    let back: Hello = rlp::decode(&rlp::encode(&h)).unwrap();
    assert_eq!(back, h);
}

#[test]
fn odd_bytes_in_names_do_not_fail_the_hello() {
    let mut s = rlp::RlpStream::new_list(5);
    s.append(&5u64);
    s.append(&vec![0xffu8, b'x']);
    s.begin_list(1);
    s.begin_list(2).append(&vec![0xfeu8]).append(&1u64);
    s.append(&0u64);
    s.append(&vec![1u8; 64]);
    let hello: Hello = rlp::decode(&s.out()).unwrap();
    assert_eq!(hello.name, "\u{fffd}x");
    assert_eq!(hello.caps[0].version, 1);
}

#[test]
fn short_and_malformed_hellos_fail() {
    let mut s = rlp::RlpStream::new_list(4);
    s.append(&5u64).append(&"x").begin_list(0);
    s.append(&0u64);
    assert!(rlp::decode::<Hello>(&s.out()).is_err());
    // A cap with three elements.
    let mut s = rlp::RlpStream::new_list(5);
    s.append(&5u64).append(&"x");
    s.begin_list(1)
        .begin_list(3)
        .append(&"eth")
        .append(&68u64)
        .append(&1u64);
    s.append(&0u64).append(&vec![1u8; 64]);
    assert!(rlp::decode::<Hello>(&s.out()).is_err());
    assert!(rlp::decode::<Hello>(&[0x80]).is_err());
}
