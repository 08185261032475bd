//! The request path without sockets: key-cache hit, the worker-pool
//! handoff and `commands::handle` for a whole sign request, and for a
//! `--bulk-cpio` request of 100 hashes (whose signatures are split across
//! the workers). `cargo bench --bench request_path`.
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};

use signatrust::commands::{handle, Ctx, Handled, UserRules};
use signatrust::exec::Exec;
use signatrust::keys::{FileKek, KeyStore};
use signatrust::protocol::{decode, encode_new_request, reply_limit};
use signatrust::sign::{generate, HashAlgo, KeyType};
use signatrust_bench::{request_bytes, BenchCommand};

struct Setup {
    rt: tokio::runtime::Runtime,
    ctx: Arc<Ctx>,
    _dir: tempfile::TempDir,
}

fn setup(kinds: &[(&str, KeyType)]) -> Setup {
    setup_with(kinds, Exec::with_cores().unwrap())
}

fn setup_with(kinds: &[(&str, KeyType)], exec: Exec) -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = rt.block_on(async {
        let kek = FileKek::open_or_create(&dir.path().join("kek")).unwrap();
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        let keys = KeyStore::open(&url, Arc::new(kek)).await.unwrap();
        for (name, kind) in kinds {
            let k = generate(*kind, "Bench <bench@example.org>").unwrap();
            keys.import(name, &k).await.unwrap();
        }
        Arc::new(Ctx {
            keys: Arc::new(keys),
            users: UserRules::default(),
            exec,
            blob_keys: signatrust::commands::BlobKeyCache::new(Default::default()),
        })
    });
    Setup { rt, ctx, _dir: dir }
}

fn cache(c: &mut Criterion) {
    let s = setup(&[("ed", KeyType::Ed25519)]);
    s.rt.block_on(s.ctx.keys.signing_key("ed"))
        .unwrap()
        .unwrap();
    c.bench_function("keystore/signing_key-warm", |b| {
        b.iter(|| {
            s.rt.block_on(s.ctx.keys.signing_key(black_box("ed")))
                .unwrap()
                .unwrap()
        })
    });
    c.bench_function("keystore/exists-warm", |b| {
        b.iter(|| s.rt.block_on(s.ctx.keys.exists(black_box("ed"))).unwrap())
    });
    c.bench_function("keystore/alias-miss-warm", |b| {
        b.iter(|| s.rt.block_on(s.ctx.keys.alias(black_box("ed"))).unwrap())
    });
}

fn exec(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let exec = Exec::with_cores().unwrap();
    c.bench_function("exec/roundtrip", |b| {
        b.iter(|| rt.block_on(exec.run(|| black_box(1u32))).unwrap())
    });
}

fn requests(c: &mut Criterion) {
    let s = setup(&[("ed", KeyType::Ed25519), ("rsa", KeyType::Rsa2048)]);
    let mut g = c.benchmark_group("handle");
    for (user, cmd) in [
        ("ed", BenchCommand::Sign1),
        ("ed", BenchCommand::Sign2),
        ("ed", BenchCommand::Pubkey),
        ("rsa", BenchCommand::Sign1),
    ] {
        let bytes = request_bytes(&cmd, user, HashAlgo::Sha256).unwrap();
        let (req, _) = decode(&bytes).unwrap().unwrap();
        let ctx = s.ctx.clone();
        g.bench_function(format!("{user}/{cmd:?}"), |b| {
            // Handled and encoded, as the server does.
            b.iter(|| match s.rt.block_on(handle(&ctx, black_box(&req))) {
                Ok(Handled::Local(r)) => {
                    let bytes = r.encode(req.protocol, reply_limit(&req)).unwrap();
                    assert_eq!(&bytes[..2], &[0, 0]);
                    bytes
                }
                Ok(Handled::Forward { .. }) => panic!("forwarded"),
                Err(e) => panic!("{e}"),
            })
        });
    }
    g.finish();
}

/// One `sign` request with 100 SHA-256 hashes, as `sign -O --bulk-cpio`
/// sends for a cpio of 100 kernel modules (obs-sign's `BULK_MAX_ARGC`),
/// with the hashes split across one worker per core, and with a pool of
/// one worker (every signature in turn, as before the split).
fn bulk(c: &mut Criterion) {
    let kinds = [("ed", KeyType::Ed25519), ("rsa", KeyType::Rsa2048)];
    let cores = Exec::with_cores().unwrap();
    let pools = [
        (
            format!("{}-workers", cores.workers()),
            setup_with(&kinds, cores),
        ),
        (
            "1-worker".to_string(),
            setup_with(&kinds, Exec::new(1, 64).unwrap()),
        ),
    ];
    let hashes: Vec<String> = (0..100u8)
        .map(|i| format!("{}@0065432100", hex::encode([i; 32])))
        .collect();
    let mut g = c.benchmark_group("handle-bulk");
    g.sample_size(10);
    for (user, _) in kinds {
        let field = format!("SHA256:{user}");
        let mut argv = vec!["sign", field.as_str()];
        argv.extend(hashes.iter().map(String::as_str));
        let bytes = encode_new_request(&argv).unwrap();
        let (req, _) = decode(&bytes).unwrap().unwrap();
        for (pool, s) in &pools {
            let ctx = s.ctx.clone();
            g.bench_function(format!("{user}/sign-100-hashes/{pool}"), |b| {
                b.iter(|| match s.rt.block_on(handle(&ctx, black_box(&req))) {
                    Ok(Handled::Local(r)) => {
                        assert_eq!(r.outputs.len(), 100);
                        r.encode(req.protocol, reply_limit(&req)).unwrap()
                    }
                    Ok(Handled::Forward { .. }) => panic!("forwarded"),
                    Err(e) => panic!("{e}"),
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, cache, exec, requests, bulk);
criterion_main!(benches);
