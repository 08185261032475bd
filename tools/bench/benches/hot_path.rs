//! Pure hot-path pieces: request decode, reply encode, packet assembly and
//! the signature itself per key type. `cargo bench --bench hot_path`.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

use signatrust::protocol::{decode, Protocol, Reply, CLIENT_BUFFER};
use signatrust::sign::{
    assemble_packet, generate, signature_packet, HashAlgo, KeyType, SigningKey,
};
use signatrust_bench::{request_bytes, BenchCommand};

fn key(kind: KeyType) -> SigningKey {
    let k = generate(kind, "Bench <bench@example.org>").expect("generating a key");
    SigningKey::from_secret(&k.secret).expect("loading the key")
}

fn protocol(c: &mut Criterion) {
    let old = request_bytes(&BenchCommand::Sign1, "bench@example.org", HashAlgo::Sha256).unwrap();
    let new = request_bytes(&BenchCommand::Sign2, "bench@example.org", HashAlgo::Sha256).unwrap();
    c.bench_function("decode/old-sign-1hash", |b| {
        b.iter(|| decode(black_box(&old)).unwrap().unwrap())
    });
    c.bench_function("decode/new-sign-2hash", |b| {
        b.iter(|| decode(black_box(&new)).unwrap().unwrap())
    });
    let pkt = vec![0x89u8; 287]; // an RSA-2048 v3 packet's size
    c.bench_function("encode/new-2-outputs", |b| {
        b.iter(|| {
            Reply::ok(vec![pkt.clone(), pkt.clone()])
                .encode(Protocol::New, CLIENT_BUFFER)
                .unwrap()
        })
    });
    c.bench_function("encode/old-1-output", |b| {
        b.iter(|| {
            Reply::ok(vec![pkt.clone()])
                .encode(Protocol::Old, CLIENT_BUFFER)
                .unwrap()
        })
    });
}

fn packets(c: &mut Criterion) {
    let k = key(KeyType::Ed25519);
    let digest = [0x5au8; 32];
    let probe = [0x04u8; 32];
    let mpis = k.sign_mpis(HashAlgo::Sha256, &digest).unwrap();
    c.bench_function("packet/v3-assemble", |b| {
        b.iter(|| {
            assemble_packet(
                &k,
                HashAlgo::Sha256,
                black_box(&digest),
                0,
                0x6500_0000,
                &mpis,
            )
        })
    });
    c.bench_function("packet/v4-assemble", |b| {
        b.iter(|| {
            assemble_packet(
                &k,
                HashAlgo::Sha256,
                black_box(&probe),
                0,
                0x6500_0000,
                &mpis,
            )
        })
    });
}

fn signatures(c: &mut Criterion) {
    let mut g = c.benchmark_group("sign");
    g.sample_size(20);
    for (name, kind, hash) in [
        ("rsa2048", KeyType::Rsa2048, HashAlgo::Sha256),
        ("rsa4096", KeyType::Rsa4096, HashAlgo::Sha256),
        ("nistp256", KeyType::NistP256, HashAlgo::Sha256),
        ("nistp384", KeyType::NistP384, HashAlgo::Sha512),
        ("ed25519", KeyType::Ed25519, HashAlgo::Sha256),
        ("dsa2048", KeyType::Dsa2048, HashAlgo::Sha256),
    ] {
        let k = key(kind);
        let digest = vec![0x5au8; hash.digest_len()];
        g.bench_function(format!("{name}/mpis"), |b| {
            b.iter(|| k.sign_mpis(hash, black_box(&digest)).unwrap())
        });
        g.bench_function(format!("{name}/packet"), |b| {
            b.iter(|| signature_packet(&k, hash, black_box(&digest), 0, 0x6500_0000).unwrap())
        });
    }
    g.finish();
}

/// What our RSA path costs beyond the raw operation: a PKCS#1 v1.5
/// signature with a fresh `PkeyCtx` per call vs one reused context (what
/// `openssl speed` does).
fn openssl_baseline(c: &mut Criterion) {
    use openssl::md::Md;
    use openssl::pkey::PKey;
    use openssl::pkey_ctx::PkeyCtx;
    use openssl::rsa::{Padding, Rsa};
    let pkey = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let digest = [0x5au8; 32];
    let mut g = c.benchmark_group("openssl-rsa2048");
    g.sample_size(20);
    g.bench_function("ctx-per-call", |b| {
        b.iter(|| {
            let mut ctx = PkeyCtx::new(&pkey).unwrap();
            ctx.sign_init().unwrap();
            ctx.set_rsa_padding(Padding::PKCS1).unwrap();
            ctx.set_signature_md(Md::sha256()).unwrap();
            let mut sig = Vec::new();
            ctx.sign_to_vec(&digest, &mut sig).unwrap();
            sig
        })
    });
    let mut ctx = PkeyCtx::new(&pkey).unwrap();
    ctx.sign_init().unwrap();
    ctx.set_rsa_padding(Padding::PKCS1).unwrap();
    ctx.set_signature_md(Md::sha256()).unwrap();
    g.bench_function("ctx-reused", |b| {
        b.iter(|| {
            let mut sig = Vec::new();
            ctx.sign_to_vec(&digest, &mut sig).unwrap();
            sig
        })
    });
    g.bench_function("ctx-setup-only", |b| {
        b.iter(|| {
            let mut ctx = PkeyCtx::new(&pkey).unwrap();
            ctx.sign_init().unwrap();
            ctx.set_rsa_padding(Padding::PKCS1).unwrap();
            ctx.set_signature_md(Md::sha256()).unwrap();
            ctx
        })
    });
    g.finish();
}

/// Loading a stored key on a cache miss: `from_secret` (import: full RSA
/// check) vs `load` (store: pairwise check).
fn key_loading(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    for (name, kind) in [("rsa2048", KeyType::Rsa2048), ("ed25519", KeyType::Ed25519)] {
        let k = generate(kind, "Bench <bench@example.org>").unwrap();
        g.bench_function(format!("{name}/from_secret"), |b| {
            b.iter(|| SigningKey::from_secret(black_box(&k.secret)).unwrap())
        });
        g.bench_function(format!("{name}/load"), |b| {
            b.iter(|| SigningKey::load(black_box(&k.secret)).unwrap())
        });
    }
    g.finish();
}

/// The fixture data, read at run time (never copied into the repository).
fn fixture(path: &str) -> Option<Vec<u8>> {
    let base = std::env::var_os("SIGNATRUST_FIXTURES")
        .map(std::path::PathBuf::from)
        // The committed link sits at the workspace root, two levels up.
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../obs-sign-fixtures")
        });
    std::fs::read(base.join(path)).ok()
}

/// privsign's blob work on a cache miss: decrypting the Perl-made fixture
/// blobs (gpg/ElGamal and "01"/symmetric, both RSA-2048 project keys) and
/// loading the project key from the plaintext; and the cache hit that
/// replaces all of it for a blob seen before.
fn blobs(c: &mut Criterion) {
    use signatrust::commands::BlobKeyCache;
    use signatrust::keys::CacheConfig;
    use signatrust::secret::SecretBytes;
    use signatrust::sign::{blob, import_tsk};
    use std::sync::Arc;

    let (Some(p1), Some(p2), Some(tsk), Some(enc)) = (
        fixture("generated/P1-rsa2048-gpgenc.hex"),
        fixture("generated/P2-rsa2048-symenc.hex"),
        fixture("obs-sign-t-fixtures/secret-key.asc"),
        fixture("signd-state/enckeys/A5E1A4F82E43F0E7"),
    ) else {
        eprintln!("blob benches skipped: obs-sign-fixtures not found");
        return;
    };
    let unhex = |b: Vec<u8>| hex::decode(String::from_utf8(b).unwrap().trim()).unwrap();
    let (p1, p2) = (unhex(p1), unhex(p2));
    let tsks = vec![import_tsk(&tsk, None).unwrap().secret];
    let line = SecretBytes::from_slice(enc.split(|&b| b == b'\n').next().unwrap());
    let enc_key = |id: &str| (id == "A5E1A4F82E43F0E7").then(|| line.clone());

    let mut g = c.benchmark_group("blob");
    g.sample_size(20);
    g.bench_function("decrypt/gpg-elgamal", |b| {
        b.iter(|| blob::decrypt(black_box(&p1), enc_key, &tsks).unwrap())
    });
    g.bench_function("decrypt/symmetric-01", |b| {
        b.iter(|| blob::decrypt(black_box(&p2), enc_key, &tsks).unwrap())
    });
    let plain = blob::decrypt(&p2, enc_key, &tsks).unwrap();
    g.bench_function("project-key/rsa2048", |b| {
        b.iter(|| blob::signing_key(black_box(&plain)).unwrap())
    });
    let cache = BlobKeyCache::new(CacheConfig::default());
    cache.insert(&p1, Arc::new(blob::signing_key(&plain).unwrap()));
    g.bench_function("cache-hit", |b| {
        b.iter(|| cache.get(black_box(&p1)).unwrap())
    });
    let hex_p1 = hex::encode(&p1);
    g.bench_function("hex-decode", |b| {
        b.iter(|| hex::decode(black_box(&hex_p1)).unwrap())
    });
    g.finish();
}

criterion_group!(
    benches,
    blobs,
    protocol,
    packets,
    signatures,
    openssl_baseline,
    key_loading
);
criterion_main!(benches);
