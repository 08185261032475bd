//! The audit writer's database work per record: `AuditDb::append` of a
//! batch of request records to a SQLite store with `synchronous = FULL`,
//! 320 records (a commit every 50 ms at about 6,500 RSA-2048 signatures a
//! second), 700 (every 100 ms, the writer's gap) and 1024 (a full batch,
//! `[audit] batch`). The time reported is the process's CPU time
//! (every thread: the tokio worker and sqlx's SQLite worker),
//! not wall time, so the fsync's wait is not counted and the figure
//! compares with the server's CPU per request (BENCHMARKS.md).
//! `cargo bench --bench audit_append`.
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use signatrust::audit::{AuditDb, Record};
use signatrust::keys::{FileKek, KeyStore};

/// Records per appended batch.
const BATCHES: [usize; 3] = [320, 700, 1024];

/// CPU time of every live thread of this process, in nanoseconds: the
/// first field of each `/proc/self/task/*/schedstat` (no unsafe
/// `getrusage`; the threads that matter, the runtime's and sqlx's SQLite
/// worker, live as long as the benchmark).
fn process_cpu() -> Duration {
    let mut ns = 0u64;
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let stat = std::fs::read_to_string(t.unwrap().path().join("schedstat")).unwrap_or_default();
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(ns)
}

/// A sign request's record as the server makes it.
fn record(i: usize) -> Record {
    Record {
        time_us: 1_764_500_000_000_000 + i as i64 * 150,
        kind: "request".into(),
        peer: format!("127.0.0.1:{}", 40000 + i % 20000),
        tls_subject: String::new(),
        command: "sign".into(),
        user: "k-000000".into(),
        key: "k-000000".into(),
        fingerprint: "0123456789ABCDEF0123456789ABCDEF01234567".into(),
        hash_algo: "SHA256".into(),
        digests: format!("{:064x}", i),
        outcome: "ok".into(),
        error: String::new(),
        latency_us: 7_800,
        os_user: String::new(),
        detail: String::new(),
    }
}

fn append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    // The key store makes the file as the server finds it (WAL journal).
    let kek = FileKek::open_or_create(&dir.path().join("kek")).unwrap();
    rt.block_on(KeyStore::open(&url, std::sync::Arc::new(kek)))
        .unwrap();
    let db = rt.block_on(AuditDb::open(&url)).unwrap();
    // Times rise from batch to batch, as a server's do: the time index
    // grows at its end (a batch re-sent with the same times would insert
    // into the middle of the index, at several times the cost).
    let mut next = 0;
    let mut g = c.benchmark_group("audit");
    for size in BATCHES {
        g.throughput(Throughput::Elements(size as u64));
        g.bench_function(format!("append-{size}-sqlite-cpu"), |b| {
            b.iter_custom(|iters| {
                let mut cpu = Duration::ZERO;
                for _ in 0..iters {
                    let batch: Vec<Record> = (next..next + size).map(record).collect();
                    next += size;
                    let start = process_cpu();
                    rt.block_on(db.append(&batch)).unwrap();
                    cpu += process_cpu() - start;
                }
                cpu
            })
        });
    }
    g.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
