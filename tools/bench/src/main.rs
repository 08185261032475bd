//! `signatrust-bench`: load generator and benchmark set-up for signatrustd.
//! See `BENCHMARKS.md` and `signatrust_bench`.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};

use signatrust::sign::HashAlgo;
use signatrust_bench::{self as bench, BenchCommand, LoadOptions};

#[derive(Debug, Parser)]
#[command(name = "signatrust-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Hash {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Command {
    /// `sign` with one hash, old protocol.
    Sign,
    /// `sign` with two hashes (v4 probe + real hash), new protocol.
    Sign2,
    Pubkey,
    Ping,
    /// `privsign` with the blob in `--blob FILE`.
    Privsign,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs concurrent connections against a server and reports req/s and
    /// latency percentiles.
    Load(Box<LoadArgs>),
    /// Fills a store with many keys (one generated key under N names).
    Populate {
        /// The data directory (embedded store and KEK file).
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        keys: usize,
        /// rsa2048, rsa4096, ed25519, dsa2048, nistp256, nistp384.
        #[arg(long = "type", default_value = "ed25519")]
        key_type: String,
        /// Keys are named PREFIX000000, PREFIX000001, ...
        #[arg(long, default_value = "k")]
        prefix: String,
        /// Names per transaction.
        #[arg(long, default_value_t = 2000)]
        batch: usize,
    },
    /// Prepares a store for `load --command privsign` with the Perl-made
    /// fixture blobs (`generated/P1-rsa2048-gpgenc.hex`, ElGamal;
    /// `generated/P2-rsa2048-symenc.hex`, "01"): imports the fixture signd
    /// key as defaultkey@localobs and the fixture encryption keys.
    PrivsignSetup {
        #[arg(long)]
        data_dir: PathBuf,
        /// The obs-sign fixtures directory (read at run time).
        #[arg(long, default_value = "obs-sign-fixtures")]
        fixtures: PathBuf,
    },
    /// Waits until ADDR accepts a connection; prints how long that took.
    Wait {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    #[arg(long, default_value = "127.0.0.1:5167")]
    addr: SocketAddr,
    /// Key name (user field, without hash prefix).
    #[arg(long)]
    user: String,
    #[arg(long, value_enum, default_value_t = Hash::Sha256)]
    hash: Hash,
    #[arg(long, value_enum, default_value_t = Command::Sign)]
    command: Command,
    /// For `privsign`: a file holding the blob as the client sends it (hex).
    #[arg(long)]
    blob: Option<PathBuf>,
    /// Spread requests over N keys of a populated store: `--user` is then
    /// the name prefix (`k` for k000000, k000001, ...).
    #[arg(long, default_value_t = 0)]
    spread: usize,
    /// Concurrent connections.
    #[arg(short, long, default_value_t = 50)]
    concurrency: usize,
    /// Seconds to run.
    #[arg(short, long, default_value_t = 10.0)]
    duration: f64,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Bind a reserved source port (< 1024) for each connection; needs root.
    /// Without it the server must allow unprivileged ports.
    #[arg(long)]
    reserved_port: bool,
    /// Client runtime threads (1 = current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Also run `openssl speed` for this algorithm (rsa2048, ed25519,
    /// ecdsap256, ...) once on one core and once with `-multi`, and print
    /// the ratios.
    #[arg(long, value_name = "ALG")]
    openssl_speed: Option<String>,
    #[arg(long, default_value_t = 3)]
    openssl_seconds: u32,
    #[arg(long, default_value_t = 2)]
    openssl_multi: u32,
    /// The server's PID: report its CPU time per request and its memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// TLS to the server (`proto: ssl`): a full handshake per request, as
    /// the `sign` client makes. Needs --tls-ca.
    #[arg(long)]
    tls: bool,
    /// CA certificates (PEM) that verify the server's certificate.
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) to present; with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The name the server certificate must carry (default: the address's
    /// IP).
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
    /// Allow TLS session resumption (abbreviated handshakes); the `sign`
    /// client does not resume.
    #[arg(long)]
    tls_resume: bool,
    /// Keep N `keygen` requests running during the measured load (each
    /// task sends the next when one is answered), started
    /// --keygen-warmup seconds before it.
    #[arg(long, default_value_t = 0)]
    background_keygens: usize,
    /// The key type of the background keygens (signd's names).
    #[arg(long, default_value = "rsa@4096")]
    keygen_type: String,
    /// The signd key that certifies the background keygens' keys (default:
    /// --user; it needs an encryption target, see `privsign-setup`).
    #[arg(long)]
    keygen_user: Option<String>,
    #[arg(long, default_value_t = 1.0)]
    keygen_warmup: f64,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("signatrust-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.cmd {
        Cmd::Load(args) => load(*args),
        Cmd::Populate {
            data_dir,
            keys,
            key_type,
            prefix,
            batch,
        } => {
            let kind = bench::key_type(&key_type)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let t0 = Instant::now();
            let n = rt.block_on(bench::populate(&data_dir, keys, kind, &prefix, batch))?;
            println!(
                "inserted {n} keys ({} .. {}) in {:.2}s",
                bench::populated_name(&prefix, 0),
                bench::populated_name(&prefix, keys.saturating_sub(1)),
                t0.elapsed().as_secs_f64()
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Cmd::PrivsignSetup { data_dir, fixtures } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let n = rt.block_on(bench::privsign_setup(&data_dir, &fixtures))?;
            println!(
                "imported {} and {n} encryption key(s) into {}",
                bench::PRIVSIGN_SIGND_USER,
                data_dir.display()
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Cmd::Wait { addr, timeout } => {
            let t0 = Instant::now();
            let limit = Duration::from_secs_f64(timeout);
            loop {
                if std::net::TcpStream::connect(addr).is_ok() {
                    println!("{addr} accepting after {:.3}s", t0.elapsed().as_secs_f64());
                    return Ok(std::process::ExitCode::SUCCESS);
                }
                if t0.elapsed() > limit {
                    bail!("{addr} not accepting after {timeout}s");
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

fn load(a: LoadArgs) -> anyhow::Result<std::process::ExitCode> {
    let tls = if a.tls {
        let ca = a.tls_ca.clone().context("--tls needs --tls-ca FILE")?;
        Some(bench::TlsClient::new(&bench::TlsClientFiles {
            ca,
            cert: a.tls_cert.clone(),
            key: a.tls_key.clone(),
            server_name: a
                .tls_server_name
                .clone()
                .unwrap_or_else(|| a.addr.ip().to_string()),
            resume: a.tls_resume,
        })?)
    } else {
        None
    };
    let command = match a.command {
        Command::Sign => BenchCommand::Sign1,
        Command::Sign2 => BenchCommand::Sign2,
        Command::Pubkey => BenchCommand::Pubkey,
        Command::Ping => BenchCommand::Ping,
        Command::Privsign => {
            let path = a.blob.as_ref().context("privsign needs --blob FILE")?;
            let blob = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            BenchCommand::Privsign {
                blob_hex: blob.trim().to_string(),
            }
        }
    };
    let hash = match a.hash {
        Hash::Sha1 => HashAlgo::Sha1,
        Hash::Sha256 => HashAlgo::Sha256,
        Hash::Sha512 => HashAlgo::Sha512,
    };
    let opts = LoadOptions {
        addr: a.addr,
        user: a.user.clone(),
        hash,
        command,
        concurrency: a.concurrency,
        duration: Duration::from_secs_f64(a.duration),
        reserved_port: a.reserved_port,
        timeout: Duration::from_secs_f64(a.timeout),
        spread: a.spread,
        tls,
    };

    // The crypto ceiling first, so it does not compete with the load.
    // `openssl speed` counts signatures per second of its own user CPU time
    // (not wall time), so the one-core figure is the CPU cost of one
    // signature. `-multi M` is printed as openssl reports it; the stricter
    // ceiling used for the ratio is the larger of that and M x one core.
    let ceiling = match &a.openssl_speed {
        Some(alg) => {
            let one = bench::openssl_speed(alg, a.openssl_seconds, None)?;
            let multi = bench::openssl_speed(alg, a.openssl_seconds, Some(a.openssl_multi))?;
            let ideal = one * f64::from(a.openssl_multi);
            println!(
                "openssl speed {alg}: {one:.1} sign/s on one core ({:.3} ms CPU per signature); \
                 -multi {m}: {multi:.1} sign/s; {m} x one core: {ideal:.1} sign/s",
                1000.0 / one,
                m = a.openssl_multi
            );
            Some((alg.clone(), one, multi, ideal))
        }
        None => None,
    };

    let rt = if a.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(a.threads)
            .enable_all()
            .build()?
    };
    let pid = a.server_pid.map(|p| p.to_string());
    let server_before = pid.as_deref().map(bench::proc_sample).transpose()?;
    let client_before = bench::proc_sample("self")?;
    let (report, keygens) = rt.block_on(async {
        if a.background_keygens == 0 {
            return Ok::<_, anyhow::Error>((bench::run_load(opts.clone()).await?, None));
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let background = tokio::spawn(bench::run_keygens(
            bench::KeygenLoad {
                addr: a.addr,
                user: a.keygen_user.clone().unwrap_or_else(|| a.user.clone()),
                key_type: a.keygen_type.clone(),
                count: a.background_keygens,
                timeout: Duration::from_secs_f64(a.timeout),
            },
            stop_rx,
        ));
        tokio::time::sleep(Duration::from_secs_f64(a.keygen_warmup)).await;
        let report = bench::run_load(opts.clone()).await;
        let _ = stop_tx.send(true);
        let keygens = background.await.context("keygen load panicked")??;
        Ok((report?, Some(keygens)))
    })?;
    let client_after = bench::proc_sample("self")?;
    let server_after = pid.as_deref().map(bench::proc_sample).transpose()?;

    print!("{}", bench::format_report(&opts, &report));
    if let Some(k) = &keygens {
        let pct = |p: f64| {
            let v = &k.latencies_us;
            v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
                .map_or(0.0, |us| f64::from(*us) / 1000.0)
        };
        println!(
            "background: {} x keygen {} kept running: {} answered (p50 {:.0} ms, max {:.0} ms), {} errors{}",
            a.background_keygens,
            a.keygen_type,
            k.ok,
            pct(0.5),
            pct(1.0),
            k.errors,
            if k.error_samples.is_empty() {
                String::new()
            } else {
                format!(" {:?}", k.error_samples)
            }
        );
    }
    let per_req_ms = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / report.ok.max(1) as f64;
    let client_cpu = client_after.cpu.saturating_sub(client_before.cpu);
    println!(
        "client CPU {:.2}s, {:.3} ms/req",
        client_cpu.as_secs_f64(),
        per_req_ms(client_cpu)
    );
    let mut server_ms = None;
    if let (Some(b), Some(s)) = (server_before, server_after) {
        let cpu = s.cpu.saturating_sub(b.cpu);
        server_ms = Some(per_req_ms(cpu));
        println!(
            "server CPU {:.2}s, {:.4} ms/req; server RSS {:.1} MiB, peak {:.1} MiB",
            cpu.as_secs_f64(),
            per_req_ms(cpu),
            s.rss_kib as f64 / 1024.0,
            s.hwm_kib as f64 / 1024.0
        );
    }
    if let Some((alg, one, multi, ideal)) = ceiling {
        println!(
            "ratio to openssl speed -multi {m} {alg}: {:.1}%; to {m} x one core: {:.1}%",
            100.0 * report.req_per_sec() / multi,
            100.0 * report.req_per_sec() / ideal,
            m = a.openssl_multi
        );
        if let Some(ms) = server_ms {
            let sign_ms = 1000.0 / one;
            println!(
                "server CPU/req = {:.2} x one openssl {alg} signature ({sign_ms:.3} ms)",
                ms / sign_ms
            );
        }
    }
    Ok(if report.errors == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(2)
    })
}
