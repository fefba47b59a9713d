//! RLPx benchmarks: the frame codec in memory, one loopback TCP stream after
//! a real handshake, handshake costs, and the two secp256k1 implementations.
//!
//! Run with `cargo bench --bench rlpx`. Measurement times are kept short so
//! the whole file finishes in about two minutes.

use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use devp2p_peer::rlpx::wire::{
    decode_auth, AesCtr, AesImpl, FrameEgress, FrameIngress, KeccakMac, MacHash,
};
use devp2p_peer::rlpx::{Conn, SecretKey};
use rand::{RngCore, SeedableRng};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Random bytes from a fixed seed (1337, as in go-ethereum's benchmark).
fn seeded_bytes(n: usize) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1337);
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

/// Encode one message with the egress half and decode it with the ingress
/// half, in memory, snappy off.
fn frame_write_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for size in [64usize, 1024, 64 * 1024, 1 << 20] {
        let data = seeded_bytes(size);
        let mut tx = FrameEgress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
        let mut rx = FrameIngress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        if size >= 64 * 1024 {
            group.sample_size(20);
        } else {
            group.sample_size(50);
        }
        group.bench_with_input(BenchmarkId::new("write+read", size), &data, |b, data| {
            b.iter(|| {
                tx.encode(0x10, data).unwrap();
                let msg = rx.read_msg(&mut tx.frame()).unwrap();
                black_box(msg.data.len())
            })
        });
    }
    group.finish();
}

/// The 1 MiB path as a listener sees it: random (incompressible) payloads with
/// snappy on, encoded by one half and decoded by the other, in memory.
fn frame_write_read_snappy(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(20);
    let size = 1 << 20;
    let data = seeded_bytes(size);
    let mut tx = FrameEgress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
    let mut rx = FrameIngress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
    tx.set_snappy(true);
    rx.set_snappy(true);
    group.throughput(Throughput::Bytes(size as u64));
    group.bench_with_input(
        BenchmarkId::new("write+read_snappy_random", size),
        &data,
        |b, data| {
            b.iter(|| {
                let mut wire = Vec::new();
                tx.write_msg(&mut wire, 0x10, data).unwrap();
                let msg = rx.read_msg(&mut &wire[..]).unwrap();
                black_box(msg.data.len())
            })
        },
    );
    group.finish();
}

/// The frame MAC's running keccak over 1 MiB: the crate's choice
/// ([`KeccakMac::new`], AVX-512 where the CPU has it), the portable
/// `keccak-asm` it falls back to, and the `sha3` crate the MAC used before.
fn keccak(c: &mut Criterion) {
    let mut group = c.benchmark_group("keccak");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(20);
    let size = 1 << 20;
    let data = seeded_bytes(size);
    group.throughput(Throughput::Bytes(size as u64));
    let chosen = KeccakMac::new();
    println!("keccak: KeccakMac::new() runs {}", chosen.implementation());
    for (name, proto) in [
        ("KeccakMac::new", chosen),
        ("keccak-asm", KeccakMac::portable()),
    ] {
        group.bench_with_input(BenchmarkId::new(name, size), &data, |b, data| {
            b.iter(|| {
                let mut h = proto.clone();
                h.update(data);
                h.digest()
            })
        });
    }
    group.bench_with_input(BenchmarkId::new("sha3", size), &data, |b, data| {
        use sha3::Digest;
        b.iter(|| {
            let mut h = sha3::Keccak256::new();
            h.update(data);
            h.finalize()
        })
    });
    group.finish();
}

/// Accepts connections on `listener` and runs the recipient handshake on
/// each, until `stop` is set (a last connection wakes the loop).
fn handshake_server(listener: TcpListener, key: SecretKey, stop: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let _ = Conn::new(stream, None).handshake(&key);
    }
}

/// Two connected, handshaken `Conn`s over loopback TCP: (initiator, recipient).
fn tcp_conn_pair() -> (Conn, Conn) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let pub_b = kb.public_key();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut conn = Conn::new(stream, None);
        conn.handshake(&kb).unwrap();
        conn
    });
    let stream = TcpStream::connect(addr).unwrap();
    let mut conn = Conn::new(stream, Some(pub_b));
    conn.handshake(&ka).unwrap();
    (conn, server.join().unwrap())
}

/// go-ethereum's BenchmarkThroughput shape: one connection, snappy on both
/// ends, 1024-byte random messages written on one thread and read on another.
///
/// Measured twice: with `TCP_NODELAY` (what `Conn::new` sets, as Go does) and
/// with Nagle's algorithm left on, which lets the kernel coalesce the small
/// writes of a bulk stream.
fn throughput_tcp(c: &mut Criterion) {
    let mut group = c.benchmark_group("rlpx");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(30);
    group.throughput(Throughput::Bytes(1024));
    for (name, nodelay) in [
        ("throughput_tcp_1kib_snappy", true),
        ("throughput_tcp_1kib_snappy_nagle", false),
    ] {
        let (writer_conn, reader_conn) = tcp_conn_pair();
        writer_conn.stream().set_nodelay(nodelay).unwrap();
        reader_conn.stream().set_nodelay(nodelay).unwrap();
        let (_, mut tx) = writer_conn.split().unwrap();
        let (mut rx, _reader_tx) = reader_conn.split().unwrap();
        tx.set_snappy(true);
        rx.set_snappy(true);

        let (cmd_tx, cmd_rx) = mpsc::channel::<u64>();
        let writer = thread::spawn(move || {
            let msg = seeded_bytes(1024);
            for n in cmd_rx {
                for _ in 0..n {
                    tx.write_msg(0, &msg).unwrap();
                }
            }
        });
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                cmd_tx.send(iters).unwrap();
                for _ in 0..iters {
                    let msg = rx.read_msg().unwrap();
                    black_box(msg.data.len());
                }
                start.elapsed()
            })
        });
        drop(cmd_tx);
        writer.join().unwrap();
    }
    group.finish();
}

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
const STATIC_B: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";

fn handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("rlpx");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(50);

    // ECIES decryption plus RLP decoding of the EIP-8 Auth₂ packet.
    let auth = hex(AUTH2);
    let key_b = SecretKey::from_hex(STATIC_B).unwrap();
    group.bench_function("handshake_read", |b| {
        b.iter(|| decode_auth(black_box(&auth), &key_b).unwrap())
    });

    // A whole handshake over loopback TCP: connect, initiator here, recipient
    // on a server thread (the initiator finishes last, so its time covers both).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_key = SecretKey::random();
    let server_pub = server_key.public_key();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        thread::spawn(move || handshake_server(listener, server_key, stop))
    };
    let client_key = SecretKey::random();
    group.bench_function("handshake_full_tcp", |b| {
        b.iter(|| {
            let stream = TcpStream::connect(addr).unwrap();
            stream.set_nodelay(true).unwrap();
            let mut conn = Conn::new(stream, Some(server_pub));
            conn.handshake(&client_key).unwrap()
        })
    });
    group.finish();
    stop.store(true, Ordering::Relaxed);
    let _ = TcpStream::connect(addr);
    server.join().unwrap();
}

/// The primitives the handshake uses, in the libsecp256k1 binding
/// (`secp256k1`, the one this crate uses) and in pure-Rust `k256`.
fn ecc(c: &mut Criterion) {
    use k256::ecdsa::{RecoveryId, SigningKey, VerifyingKey};

    let digest = [0x5au8; 32];
    let sk_bytes = hex("49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee");
    let other_bytes = hex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291");

    let mut group = c.benchmark_group("ecc");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(30);

    // secp256k1 (libsecp256k1 through the `secp256k1` crate, high-level API).
    {
        use secp256k1::ecdsa::RecoverableSignature;
        let sk =
            secp256k1::SecretKey::from_secret_bytes(sk_bytes.clone().try_into().unwrap()).unwrap();
        let other =
            secp256k1::SecretKey::from_secret_bytes(other_bytes.clone().try_into().unwrap())
                .unwrap();
        let other_pub = secp256k1::PublicKey::from_secret_key(&other);
        let msg = secp256k1::Message::from_digest(digest);
        let sig = RecoverableSignature::sign_ecdsa_recoverable(msg, &sk);
        group.bench_function("secp256k1/ecdh", |b| {
            b.iter(|| secp256k1::ecdh::shared_secret_point(black_box(&other_pub), &sk))
        });
        group.bench_function("secp256k1/sign_recoverable", |b| {
            b.iter(|| RecoverableSignature::sign_ecdsa_recoverable(black_box(msg), &sk))
        });
        group.bench_function("secp256k1/recover", |b| {
            b.iter(|| black_box(&sig).recover_ecdsa(msg).unwrap())
        });
        group.bench_function("secp256k1/pubkey_derive", |b| {
            b.iter(|| secp256k1::PublicKey::from_secret_key(black_box(&sk)))
        });
    }

    // k256 (pure Rust).
    {
        let sk = k256::SecretKey::from_slice(&sk_bytes).unwrap();
        let other = k256::SecretKey::from_slice(&other_bytes).unwrap();
        let other_pub = other.public_key();
        let signing = SigningKey::from_slice(&sk_bytes).unwrap();
        let (sig, recid): (k256::ecdsa::Signature, RecoveryId) =
            signing.sign_prehash_recoverable(&digest);
        group.bench_function("k256/ecdh", |b| {
            b.iter(|| {
                k256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), black_box(other_pub.as_affine()))
            })
        });
        group.bench_function("k256/sign_recoverable", |b| {
            b.iter(|| signing.sign_prehash_recoverable(black_box(&digest)))
        });
        group.bench_function("k256/recover", |b| {
            b.iter(|| VerifyingKey::recover_from_prehash(black_box(&digest), &sig, recid).unwrap())
        });
        group.bench_function("k256/pubkey_derive", |b| {
            b.iter(|| black_box(&sk).public_key())
        });
    }
    group.finish();
}

/// AES-256-CTR keystream over 64 B, 1 KiB and 1 MiB, from the two crate generations:
/// `aes` 0.9 (which picks VAES-512 at run time on CPUs that have it, and reserves
/// kilobytes of stack on every call for it) and `aes` 0.8 / `ctr` 0.9 (AES-NI, a shallow
/// stack), which the frame codec and ECIES use.
fn aes_ctr(c: &mut Criterion) {
    let mut group = c.benchmark_group("aes256ctr");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(30);
    for size in [64usize, 1024, 1 << 20] {
        let mut data = seeded_bytes(size);
        group.throughput(Throughput::Bytes(size as u64));
        {
            use aes09::cipher::{KeyIvInit, StreamCipher};
            let mut c = ctr010::Ctr128BE::<aes09::Aes256>::new(&[1; 32].into(), &[0; 16].into());
            group.bench_function(BenchmarkId::new("aes0.9-ctr0.10", size), |b| {
                b.iter(|| c.apply_keystream(black_box(&mut data[..])))
            });
        }
        {
            use aes::cipher::{KeyIvInit, StreamCipher};
            let mut c = ctr::Ctr128BE::<aes::Aes256>::new(&[1; 32].into(), &[0; 16].into());
            group.bench_function(BenchmarkId::new("aes0.8-ctr0.9", size), |b| {
                b.iter(|| c.apply_keystream(black_box(&mut data[..])))
            });
        }
    }
    group.finish();
}

/// The frame path's own AES-256-CTR (`wire::AesCtr`) on each implementation this CPU runs,
/// against `ctr` 0.9 on `aes` 0.8 (the frame cipher before it), in one group.
fn aes_ctr_impls(c: &mut Criterion) {
    let mut group = c.benchmark_group("aes256ctr_impl");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(30);
    let impls = [AesImpl::AesNi, AesImpl::Vaes, AesImpl::Crate];
    eprintln!(
        "aes256ctr_impl: this CPU runs {:?}; the frames use {:?}",
        impls.iter().filter(|i| i.available()).collect::<Vec<_>>(),
        AesCtr::new(&[1; 32], [0; 16]).unwrap().implementation()
    );
    for size in [64usize, 1024, 1 << 20] {
        let mut data = seeded_bytes(size);
        group.throughput(Throughput::Bytes(size as u64));
        for imp in impls {
            let Some(mut c) = AesCtr::with_impl(&[1; 32], [0; 16], imp) else {
                continue;
            };
            group.bench_function(BenchmarkId::new(format!("{imp:?}"), size), |b| {
                b.iter(|| c.apply_keystream(black_box(&mut data[..])))
            });
        }
        {
            use aes::cipher::{KeyIvInit, StreamCipher};
            let mut c = ctr::Ctr128BE::<aes::Aes256>::new(&[1; 32].into(), &[0; 16].into());
            group.bench_function(BenchmarkId::new("aes0.8-ctr0.9", size), |b| {
                b.iter(|| c.apply_keystream(black_box(&mut data[..])))
            });
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    aes_ctr,
    aes_ctr_impls,
    keccak,
    frame_write_read,
    frame_write_read_snappy,
    throughput_tcp,
    handshake,
    ecc
);
criterion_main!(benches);
