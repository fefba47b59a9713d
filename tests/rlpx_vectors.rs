//! Known-answer tests: the EIP-8 handshake vectors, go-ethereum's frame
//! golden vector, and values derived independently from them (labelled
//! "derived": they come from a separate implementation, not from a spec).
#![cfg(feature = "rlpx")]

use devp2p_peer::rlpx::wire::{
    decode_ack, decode_auth, session, FrameEgress, FrameIngress, KeccakMac, MacHash, Recipient,
    Secrets, SessionParams,
};
use devp2p_peer::rlpx::{PublicKey, SecretKey};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn arr32(s: &str) -> [u8; 32] {
    hex(s).try_into().expect("32 bytes")
}

fn key(s: &str) -> SecretKey {
    SecretKey::from_hex(s).expect("valid key")
}

// ---- EIP-8 §B inputs ----
const STATIC_A: &str = "49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee";
const STATIC_B: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
const EPHEMERAL_A: &str = "869d6ecf5211f1cc60418a13b9d870b22959d0c16f02bec714c960dd2298a32d";
const EPHEMERAL_B: &str = "e238eb8e04fee6511ab04c6dd3c89ce097b11f25d584863ac2b6d5b35b1847e4";
const NONCE_A: &str = "7e968bba13b6c50e2c4cd7f241cc0d64d1ac25c7f5952df231ac6a2bda8ee5d6";
const NONCE_B: &str = "559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd";
const AUTH_SIGNATURE: &str = "299ca6acfd35e3d72d8ba3d1e2b60b5561d5af5218eb5bc182045769eb4226910a301acae3b369fffc4a4899d6b02531e89fd4fe36a2cf0d93607ba470b50f7800";

// ---- EIP-8 §C packets ----
const AUTH2: &str = "
01b304ab7578555167be8154d5cc456f567d5ba302662433674222360f08d5f1534499d3678b513b
0fca474f3a514b18e75683032eb63fccb16c156dc6eb2c0b1593f0d84ac74f6e475f1b8d56116b84
9634a8c458705bf83a626ea0384d4d7341aae591fae42ce6bd5c850bfe0b999a694a49bbbaf3ef6c
da61110601d3b4c02ab6c30437257a6e0117792631a4b47c1d52fc0f8f89caadeb7d02770bf999cc
147d2df3b62e1ffb2c9d8c125a3984865356266bca11ce7d3a688663a51d82defaa8aad69da39ab6
d5470e81ec5f2a7a47fb865ff7cca21516f9299a07b1bc63ba56c7a1a892112841ca44b6e0034dee
70c9adabc15d76a54f443593fafdc3b27af8059703f88928e199cb122362a4b35f62386da7caad09
c001edaeb5f8a06d2b26fb6cb93c52a9fca51853b68193916982358fe1e5369e249875bb8d0d0ec3
6f917bc5e1eafd5896d46bd61ff23f1a863a8a8dcd54c7b109b771c8e61ec9c8908c733c0263440e
2aa067241aaa433f0bb053c7b31a838504b148f570c0ad62837129e547678c5190341e4f1693956c
3bf7678318e2d5b5340c9e488eefea198576344afbdf66db5f51204a6961a63ce072c8926c";

const AUTH3: &str = "
01b8044c6c312173685d1edd268aa95e1d495474c6959bcdd10067ba4c9013df9e40ff45f5bfd6f7
2471f93a91b493f8e00abc4b80f682973de715d77ba3a005a242eb859f9a211d93a347fa64b597bf
280a6b88e26299cf263b01b8dfdb712278464fd1c25840b995e84d367d743f66c0e54a586725b7bb
f12acca27170ae3283c1073adda4b6d79f27656993aefccf16e0d0409fe07db2dc398a1b7e8ee93b
cd181485fd332f381d6a050fba4c7641a5112ac1b0b61168d20f01b479e19adf7fdbfa0905f63352
bfc7e23cf3357657455119d879c78d3cf8c8c06375f3f7d4861aa02a122467e069acaf513025ff19
6641f6d2810ce493f51bee9c966b15c5043505350392b57645385a18c78f14669cc4d960446c1757
1b7c5d725021babbcd786957f3d17089c084907bda22c2b2675b4378b114c601d858802a55345a15
116bc61da4193996187ed70d16730e9ae6b3bb8787ebcaea1871d850997ddc08b4f4ea668fbf3740
7ac044b55be0908ecb94d4ed172ece66fd31bfdadf2b97a8bc690163ee11f5b575a4b44e36e2bfb2
f0fce91676fd64c7773bac6a003f481fddd0bae0a1f31aa27504e2a533af4cef3b623f4791b2cca6
d490";

const ACK2: &str = "
01ea0451958701280a56482929d3b0757da8f7fbe5286784beead59d95089c217c9b917788989470
b0e330cc6e4fb383c0340ed85fab836ec9fb8a49672712aeabbdfd1e837c1ff4cace34311cd7f4de
05d59279e3524ab26ef753a0095637ac88f2b499b9914b5f64e143eae548a1066e14cd2f4bd7f814
c4652f11b254f8a2d0191e2f5546fae6055694aed14d906df79ad3b407d94692694e259191cde171
ad542fc588fa2b7333313d82a9f887332f1dfc36cea03f831cb9a23fea05b33deb999e85489e645f
6aab1872475d488d7bd6c7c120caf28dbfc5d6833888155ed69d34dbdc39c1f299be1057810f34fb
e754d021bfca14dc989753d61c413d261934e1a9c67ee060a25eefb54e81a4d14baff922180c395d
3f998d70f46f6b58306f969627ae364497e73fc27f6d17ae45a413d322cb8814276be6ddd13b885b
201b943213656cde498fa0e9ddc8e0b8f8a53824fbd82254f3e2c17e8eaea009c38b4aa0a3f306e8
797db43c25d68e86f262e564086f59a2fc60511c42abfb3057c247a8a8fe4fb3ccbadde17514b7ac
8000cdb6a912778426260c47f38919a91f25f4b5ffb455d6aaaf150f7e5529c100ce62d6d92826a7
1778d809bdf60232ae21ce8a437eca8223f45ac37f6487452ce626f549b3b5fdee26afd2072e4bc7
5833c2464c805246155289f4";

const ACK3: &str = "
01f004076e58aae772bb101ab1a8e64e01ee96e64857ce82b1113817c6cdd52c09d26f7b90981cd7
ae835aeac72e1573b8a0225dd56d157a010846d888dac7464baf53f2ad4e3d584531fa203658fab0
3a06c9fd5e35737e417bc28c1cbf5e5dfc666de7090f69c3b29754725f84f75382891c561040ea1d
dc0d8f381ed1b9d0d4ad2a0ec021421d847820d6fa0ba66eaf58175f1b235e851c7e2124069fbc20
2888ddb3ac4d56bcbd1b9b7eab59e78f2e2d400905050f4a92dec1c4bdf797b3fc9b2f8e84a482f3
d800386186712dae00d5c386ec9387a5e9c9a1aca5a573ca91082c7d68421f388e79127a5177d4f8
590237364fd348c9611fa39f78dcdceee3f390f07991b7b47e1daa3ebcb6ccc9607811cb17ce51f1
c8c2c5098dbdd28fca547b3f58c01a424ac05f869f49c6a34672ea2cbbc558428aa1fe48bbfd6115
8b1b735a65d99f21e70dbc020bfdface9f724a0d1fb5895db971cc81aa7608baa0920abb0a565c9c
436e2fd13323428296c86385f2384e408a31e104670df0791d93e743a3a5194ee6b076fb6323ca59
3011b7348c16cf58f66b9633906ba54a2ee803187344b394f75dd2e663a57b956cb830dd7a908d4f
39a2336a61ef9fda549180d4ccde21514d117b6c6fd07a9102b5efe710a32af4eeacae2cb3b1dec0
35b9593b48b9d3ca4c13d245d5f04169b0b1";

// ---- §E derived public keys ----
const PUB_STATIC_A: &str = "fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877";
const PUB_STATIC_B: &str = "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f";
const PUB_EPHEMERAL_A: &str = "654d1044b69c577a44e5f01a1209523adb4026e70c62d1c13a067acabc09d2667a49821a0ad4b634554d330a15a58fe61f8a8e0544b310c6de7b0c8da7528a8d";
const PUB_EPHEMERAL_B: &str = "b6d82fa3409da933dbf9cb0140c5dde89f4e64aec88d476af648880f4a10e1e49fe35ef3e69e93dd300b4797765a747c6384a6ecf5db9c2690398607a86181e4";

#[test]
fn derived_public_keys() {
    // Derived (§E): the public keys of the four EIP-8 secret keys.
    for (sk, pk) in [
        (STATIC_A, PUB_STATIC_A),
        (STATIC_B, PUB_STATIC_B),
        (EPHEMERAL_A, PUB_EPHEMERAL_A),
        (EPHEMERAL_B, PUB_EPHEMERAL_B),
    ] {
        assert_eq!(key(sk).public_key().to_bytes().to_vec(), hex(pk));
        assert_eq!(key(sk).public_key(), PublicKey::from_hex(pk).unwrap());
    }
}

#[test]
fn packet_sizes_match_eip8() {
    assert_eq!(hex(AUTH2).len(), 437);
    assert_eq!(hex(AUTH3).len(), 442);
    assert_eq!(hex(ACK2).len(), 492);
    assert_eq!(hex(ACK3).len(), 498);
}

#[test]
fn auth2_decodes_with_key_b() {
    let auth = decode_auth(&hex(AUTH2), &key(STATIC_B)).unwrap();
    assert_eq!(auth.signature.to_vec(), hex(AUTH_SIGNATURE));
    assert_eq!(auth.initiator_pubkey, key(STATIC_A).public_key());
    assert_eq!(auth.nonce, arr32(NONCE_A));
    assert_eq!(auth.version, 4);
    assert!(auth.rest.is_empty());
}

#[test]
fn auth3_decodes_with_key_b() {
    let auth = decode_auth(&hex(AUTH3), &key(STATIC_B)).unwrap();
    assert_eq!(auth.signature.to_vec(), hex(AUTH_SIGNATURE));
    assert_eq!(auth.initiator_pubkey, key(STATIC_A).public_key());
    assert_eq!(auth.nonce, arr32(NONCE_A));
    assert_eq!(auth.version, 56);
    assert_eq!(auth.rest, vec![hex("01"), hex("02"), hex("c20405")]);
}

#[test]
fn ack2_decodes_with_key_a() {
    let ack = decode_ack(&hex(ACK2), &key(STATIC_A)).unwrap();
    assert_eq!(ack.ephemeral_pubkey, key(EPHEMERAL_B).public_key());
    assert_eq!(ack.nonce, arr32(NONCE_B));
    assert_eq!(ack.version, 4);
    assert!(ack.rest.is_empty());
}

#[test]
fn ack3_decodes_with_key_a() {
    let ack = decode_ack(&hex(ACK3), &key(STATIC_A)).unwrap();
    assert_eq!(ack.ephemeral_pubkey, key(EPHEMERAL_B).public_key());
    assert_eq!(ack.nonce, arr32(NONCE_B));
    assert_eq!(ack.version, 57);
    assert_eq!(ack.rest, vec![hex("06"), hex("c20708"), hex("81fa")]);
}

#[test]
fn packets_do_not_decode_with_the_wrong_key() {
    assert!(decode_auth(&hex(AUTH2), &key(STATIC_A)).is_err());
    assert!(decode_ack(&hex(ACK2), &key(STATIC_B)).is_err());
}

#[test]
fn recipient_recovers_ephemeral_key_from_auth3() {
    let received = Recipient::with_randomness(&key(STATIC_B), key(EPHEMERAL_B), arr32(NONCE_B))
        .read_auth(&hex(AUTH3))
        .unwrap();
    assert_eq!(*received.remote_ephemeral(), key(EPHEMERAL_A).public_key());
    assert_eq!(*received.remote_pubkey(), key(STATIC_A).public_key());
}

/// B's secrets for (Auth₂, Ack₂), as the recipient that received Auth₂.
fn b_secrets() -> Secrets {
    let received = Recipient::with_randomness(&key(STATIC_B), key(EPHEMERAL_B), arr32(NONCE_B))
        .read_auth(&hex(AUTH2))
        .unwrap();
    received.finish(&hex(ACK2))
}

/// A's secrets for (Auth₂, Ack₂), as the initiator that sent Auth₂.
fn a_secrets() -> Secrets {
    let ack = decode_ack(&hex(ACK2), &key(STATIC_A)).unwrap();
    let (auth, ackb) = (hex(AUTH2), hex(ACK2));
    Secrets::derive(&SessionParams {
        initiator: true,
        ephemeral: &key(EPHEMERAL_A),
        remote_ephemeral: &ack.ephemeral_pubkey,
        initiator_nonce: &arr32(NONCE_A),
        recipient_nonce: &ack.nonce,
        auth_packet: &auth,
        ack_packet: &ackb,
        remote_pubkey: &key(STATIC_B).public_key(),
    })
}

#[test]
fn eip8_recipient_secrets() {
    let s = b_secrets();
    assert_eq!(
        s.aes,
        arr32("80e8632c05fed6fc2a13b0f8d31a3cf645366239170ea067065aba8e28bac487")
    );
    assert_eq!(
        s.mac,
        arr32("2ea74ec5dae199227dff1af715362700e989d889d7a493cb0639691efb8e5f98")
    );
    assert_eq!(s.remote_pubkey, key(STATIC_A).public_key());

    // Derived (§E): the MAC states before anything is absorbed.
    assert_eq!(
        s.ingress_mac.digest(),
        arr32("1876ff58fc175e0a177afd2044d57eff497080dc0386a382aa44d9eb2f182aab")
    );
    assert_eq!(
        s.egress_mac.digest(),
        arr32("7a076efd50d3771655f22190654053ba82f6f47f3123be6a4ba61df58845abc6")
    );

    // EIP-8: B's ingress MAC state run on "foo".
    let mut ingress = s.ingress_mac.clone();
    ingress.update(b"foo");
    assert_eq!(
        ingress.digest(),
        arr32("0c7ec6340062cc46f5e9f1e3cf86f8c8c403c5a0964f5df0ebd34a75ddc86db5")
    );
}

#[test]
fn initiator_secrets_mirror_recipient() {
    let (a, b) = (a_secrets(), b_secrets());
    assert_eq!(a.aes, b.aes);
    assert_eq!(a.mac, b.mac);
    assert_eq!(a.egress_mac.digest(), b.ingress_mac.digest());
    assert_eq!(a.ingress_mac.digest(), b.egress_mac.digest());
    assert_eq!(a.remote_pubkey, key(STATIC_B).public_key());
}

/// Derived (§E): raw frames of the real (Auth₂, Ack₂) session, no snappy.
#[test]
fn derived_end_to_end_frames() {
    let b_to_a_1 = hex("f25926f27a7e8fa7ba4cbb3756ff0ca109543909595a52962d730d0b682c31693777d3dfefeae2c8e2a40120778b1d76d2ad19bb4ef20bd47771484ed6e78d2e");
    let b_to_a_2 = hex("c6b2916bb5cb17b2f98088cc80674b69d4c2fbe5dc5b92c5ea592fbaff8c1d8c3dac55b43df812cb24452f012951442b672023a815c7a8e8524630ff65cd028a");
    let a_to_b_1 = hex("f25922f27a7e8fa7ba4cbb3756ff0ca1ec7df03d4f71941880e87c1ab61e8c743d73d2ddeceee2c8e2a40120778b1d762a3174635b9f06fe45d277439d6c41d6");

    let (mut b_out, mut b_in) = session(b_secrets());
    let (mut a_out, mut a_in) = session(a_secrets());

    b_out.encode(8, &hex("c401020304")).unwrap();
    assert_eq!(b_out.frame(), &b_to_a_1[..]);
    b_out.encode(0, &hex("c0")).unwrap();
    assert_eq!(b_out.frame(), &b_to_a_2[..]);
    a_out.encode(2, &hex("c0")).unwrap();
    assert_eq!(a_out.frame(), &a_to_b_1[..]);

    let m = a_in.read_msg(&mut &b_to_a_1[..]).unwrap();
    assert_eq!((m.code, m.data.to_vec()), (8, hex("c401020304")));
    let m = a_in.read_msg(&mut &b_to_a_2[..]).unwrap();
    assert_eq!((m.code, m.data.to_vec()), (0, hex("c0")));
    let m = b_in.read_msg(&mut &a_to_b_1[..]).unwrap();
    assert_eq!((m.code, m.data.to_vec()), (2, hex("c0")));
}

/// A hash whose update does nothing and whose digest is always 32 × 0x01,
/// as in go-ethereum's frame test.
struct FakeHash;

impl MacHash for FakeHash {
    fn update(&mut self, _data: &[u8]) {}
    fn digest(&self) -> [u8; 32] {
        [1; 32]
    }
}

const GOLDEN_FRAME: &str = "
00828ddae471818bb0bfa6b551d1cb42
01010101010101010101010101010101
ba628a4ba590cb43f7848f41c4382885
01010101010101010101010101010101";

#[test]
fn golden_frame_write() {
    let secret = arr32("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    let mut out = FrameEgress::new(&secret, &secret, FakeHash).unwrap();
    let mut wire = Vec::new();
    let wire_size = out.write_msg(&mut wire, 8, &hex("c401020304")).unwrap();
    assert_eq!(wire_size, 5);
    assert_eq!(wire, hex(GOLDEN_FRAME));
}

#[test]
fn golden_frame_read() {
    let secret = arr32("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    let mut input = FrameIngress::new(&secret, &secret, FakeHash).unwrap();
    let frame = hex(GOLDEN_FRAME);
    let m = input.read_msg(&mut &frame[..]).unwrap();
    assert_eq!(m.code, 8);
    assert_eq!(m.data, &hex("c401020304")[..]);
    assert_eq!(m.wire_size, 5);
}

#[test]
fn keccak_state_is_the_production_default() {
    // The type parameter defaults to KeccakMac.
    let _: FrameEgress = FrameEgress::new(&[0; 32], &[0; 32], KeccakMac::new()).unwrap();
}

/// Derived (§E): snappy block encodings of small base-protocol payloads.
#[test]
fn golden_snappy_encodings() {
    let cases = [
        ("c0", "0100c0"),
        ("c108", "0204c108"),
        ("c180", "0204c180"),
        ("c110", "0204c110"),
        ("c281ff", "0308c281ff"),
    ];
    for (plain, compressed) in cases {
        // The frame codec's wire size and bytes: encode with snappy, then read
        // back with snappy off to see the compressed payload as sent.
        let mut out = FrameEgress::new(&[9; 32], &[9; 32], KeccakMac::new()).unwrap();
        let mut input = FrameIngress::new(&[9; 32], &[9; 32], KeccakMac::new()).unwrap();
        out.set_snappy(true);
        let mut wire = Vec::new();
        let size = out.write_msg(&mut wire, 1, &hex(plain)).unwrap();
        assert_eq!(size, hex(compressed).len());
        let m = input.read_msg(&mut &wire[..]).unwrap();
        assert_eq!(m.data, &hex(compressed)[..], "snappy of {plain}");
    }
}
