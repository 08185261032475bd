//! The load generator behind `signatrust-bench` (issue 6), and helpers for
//! benchmark set-up (`populate`: many keys in a store, quickly).
//!
//! The generator speaks the signd wire protocol as the C `sign` client does:
//! one TCP connection per request, request written, reply read to EOF. N
//! tasks loop connect → request → reply until the duration is over; every
//! request's latency is recorded (microseconds) and the report gives req/s,
//! p50/p90/p99/max and the errors. The request bytes are built once; each
//! task reuses its read buffer, so a request costs the connection and
//! little else on the client side.
//!
//! Nothing here is used by the server: this is its own workspace member
//! (`tools/bench`, not published), a library so that the smoke test
//! (`tests/smoke.rs`) and the criterion benchmarks (`benches/`) can run it
//! in-process, and the `signatrust-bench` binary (`src/main.rs`).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use signatrust::protocol::{encode_new_request, encode_old_request};
use signatrust::sign::{HashAlgo, KeyType};

/// What each request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BenchCommand {
    /// `sign` with one hash, old protocol (what `sign -d` / `sign` of a
    /// single file sends).
    Sign1,
    /// `sign` with two hashes, new protocol: the v4 probe plus a real hash,
    /// as an rpm signing request does.
    Sign2,
    /// `pubkey`, new protocol.
    Pubkey,
    /// `ping` for the user, new protocol.
    Ping,
    /// `privsign` with this (hex) blob and one hash, new protocol.
    Privsign { blob_hex: String },
}

/// A load run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub addr: SocketAddr,
    pub user: String,
    pub hash: HashAlgo,
    pub command: BenchCommand,
    /// Concurrent connections (tasks), at least 1.
    pub concurrency: usize,
    pub duration: Duration,
    /// Bind a reserved (< 1024) source port for every connection, so a
    /// server with `allow-unprivileged-ports: false` accepts us (needs root
    /// or CAP_NET_BIND_SERVICE).
    pub reserved_port: bool,
    /// Per-request timeout (connect to EOF).
    pub timeout: Duration,
    /// When > 0: `user` is a prefix and requests go round-robin to the
    /// `spread` keys `{user}000000`.. of a populated store (cache misses,
    /// lazy loading), instead of all to `user`.
    pub spread: usize,
    /// TLS to the server (`proto: ssl`), a full handshake per request as the
    /// `sign` client makes; `None` for plain TCP.
    pub tls: Option<TlsClient>,
}

/// The load generator's TLS client: rustls with the ring provider only
/// (chosen with `builder_with_provider`, as the server does), the server's
/// CA, and optionally a client certificate.
#[derive(Clone)]
pub struct TlsClient {
    connector: tokio_rustls::TlsConnector,
    name: rustls::pki_types::ServerName<'static>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Files and choices for [`TlsClient::new`].
#[derive(Debug, Clone, Default)]
pub struct TlsClientFiles {
    /// CA certificates (PEM) that verify the server.
    pub ca: std::path::PathBuf,
    /// Client certificate chain and key (PEM); both or neither.
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
    /// Name the server certificate must carry (an IP address or DNS name).
    pub server_name: String,
    /// Let rustls resume sessions (abbreviated handshakes). Off by default:
    /// the C `sign` client makes a full handshake on every connection.
    pub resume: bool,
}

impl TlsClient {
    pub fn new(files: &TlsClientFiles) -> anyhow::Result<TlsClient> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&files.ca)
            .with_context(|| format!("{}: cannot read CA certificates", files.ca.display()))?
        {
            roots
                .add(c.with_context(|| format!("{}: bad certificate", files.ca.display()))?)
                .context("adding a CA certificate")?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_root_certificates(roots);
        let mut config = match (&files.cert, &files.key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .with_context(|| format!("{}: cannot read", cert.display()))?
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(|| format!("{}: bad certificate", cert.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .with_context(|| format!("{}: cannot read the key", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .context("client certificate and key do not fit")?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => bail!("a TLS client certificate needs both the certificate and the key"),
        };
        if !files.resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        let name = ServerName::try_from(files.server_name.clone())
            .with_context(|| format!("bad TLS server name {}", files.server_name))?;
        Ok(TlsClient {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            name,
        })
    }
}

/// Results of a load run.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Successful requests.
    pub ok: u64,
    pub errors: u64,
    /// Up to a few distinct error messages.
    pub error_samples: Vec<String>,
    /// Wall time from the first connection to the last reply.
    pub elapsed: Duration,
    /// Latencies of the successful requests in microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl LoadReport {
    pub fn req_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let idx = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        f64::from(self.latencies_us[idx.min(self.latencies_us.len() - 1)]) / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies_us
            .last()
            .map_or(0.0, |&v| f64::from(v) / 1000.0)
    }
}

const DIGEST_BYTE: u8 = 0x5a;
/// Trailer: class 00, time 0x65000000 (fixed, so replies are comparable).
const TRAILER: &str = "@0065000000";

fn hash_prefix(hash: HashAlgo) -> &'static str {
    match hash {
        HashAlgo::Sha1 => "",
        HashAlgo::Sha256 => "SHA256:",
        HashAlgo::Sha512 => "SHA512:",
    }
}

fn hash_arg(hash: HashAlgo, byte: u8) -> String {
    let mut s = hex::encode(vec![byte; hash.digest_len()]);
    s.push_str(TRAILER);
    s
}

/// The bytes of one request, built once per run.
pub fn request_bytes(
    command: &BenchCommand,
    user: &str,
    hash: HashAlgo,
) -> anyhow::Result<Vec<u8>> {
    let prefixed_user = format!("{}{user}", hash_prefix(hash));
    let bytes = match command {
        BenchCommand::Sign1 => {
            // Old protocol: the hash prefix travels in the argument.
            let arg = format!("{}{}", hash_prefix(hash), hash_arg(hash, DIGEST_BYTE));
            encode_old_request(user.as_bytes(), arg.as_bytes())?
        }
        BenchCommand::Sign2 => encode_new_request(&[
            "sign",
            &prefixed_user,
            &hash_arg(hash, 0x04),
            &hash_arg(hash, DIGEST_BYTE),
        ])?,
        BenchCommand::Pubkey => encode_new_request(&["pubkey", user])?,
        BenchCommand::Ping => encode_new_request(&["ping", user])?,
        BenchCommand::Privsign { blob_hex } => encode_new_request(&[
            "privsign",
            &prefixed_user,
            blob_hex,
            &hash_arg(hash, DIGEST_BYTE),
        ])?,
    };
    Ok(bytes)
}

/// Checks a reply frame: complete, status 0. Returns the error text
/// otherwise.
pub fn check_reply(reply: &[u8]) -> Result<(), String> {
    if reply.len() < 6 {
        return Err(format!("short reply ({} bytes)", reply.len()));
    }
    let be16 = |i: usize| usize::from(u16::from_be_bytes([reply[i], reply[i + 1]]));
    let (status, outlen, errlen) = (be16(0), be16(2), be16(4));
    if reply.len() != 6 + outlen + errlen {
        return Err(format!(
            "reply size {} != 6 + {outlen} + {errlen}",
            reply.len()
        ));
    }
    if status != 0 {
        let text = String::from_utf8_lossy(&reply[6 + outlen..]);
        return Err(format!("status {status}: {}", text.trim_end()));
    }
    Ok(())
}

/// Cycles through the reserved ports 600..1023 (below 600 are many
/// well-known services; signd only needs < 1024).
struct PortCycle(AtomicU32);

impl PortCycle {
    fn next(&self) -> u16 {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        (600 + n % 424) as u16
    }
}

async fn connect(addr: SocketAddr, ports: Option<&PortCycle>) -> std::io::Result<TcpStream> {
    let Some(ports) = ports else {
        return TcpStream::connect(addr).await;
    };
    let local_ip: IpAddr = match addr {
        SocketAddr::V4(_) => IpAddr::from([0u8, 0, 0, 0]),
        SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
    };
    let mut last = None;
    for _ in 0..424 {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(SocketAddr::new(local_ip, ports.next())) {
            Ok(()) => match socket.connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => last = Some(e),
                Err(e) => return Err(e),
            },
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no reserved port free")))
}

async fn one_request(
    addr: SocketAddr,
    ports: Option<&PortCycle>,
    tls: Option<&TlsClient>,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    let stream = connect(addr, ports)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    buf.clear();
    match tls {
        None => exchange(stream, request, buf).await?,
        Some(tls) => {
            let stream = tls
                .connector
                .connect(tls.name.clone(), stream)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            exchange(stream, request, buf).await?;
        }
    }
    check_reply(buf)
}

/// Writes the request and reads the reply to EOF.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    stream.flush().await.map_err(|e| format!("write: {e}"))?;
    stream
        .read_to_end(buf)
        .await
        .map_err(|e| format!("read: {e}"))?;
    Ok(())
}

struct WorkerResult {
    ok: u64,
    errors: u64,
    samples: Vec<String>,
    latencies: Vec<u32>,
}

/// The prebuilt requests: one, or one per key when spreading.
struct Requests {
    all: Vec<Vec<u8>>,
    next: AtomicU32,
}

impl Requests {
    fn pick(&self) -> &[u8] {
        if self.all.len() == 1 {
            return &self.all[0];
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) as usize;
        &self.all[i % self.all.len()]
    }
}

async fn worker(
    opts: Arc<LoadOptions>,
    requests: Arc<Requests>,
    ports: Option<Arc<PortCycle>>,
    deadline: Instant,
) -> WorkerResult {
    let mut r = WorkerResult {
        ok: 0,
        errors: 0,
        samples: Vec::new(),
        latencies: Vec::with_capacity(4096),
    };
    let mut buf = Vec::with_capacity(8192);
    while Instant::now() < deadline {
        let t0 = Instant::now();
        let res = tokio::time::timeout(
            opts.timeout,
            one_request(
                opts.addr,
                ports.as_deref(),
                opts.tls.as_ref(),
                requests.pick(),
                &mut buf,
            ),
        )
        .await
        .unwrap_or_else(|_| Err("timeout".to_string()));
        match res {
            Ok(()) => {
                r.ok += 1;
                let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                r.latencies.push(us);
            }
            Err(e) => {
                r.errors += 1;
                if r.samples.len() < 4 && !r.samples.contains(&e) {
                    r.samples.push(e);
                }
                // Do not spin on a dead server.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    r
}

/// Runs the load on the current tokio runtime and reports.
pub async fn run_load(opts: LoadOptions) -> anyhow::Result<LoadReport> {
    let all = if opts.spread == 0 {
        vec![request_bytes(&opts.command, &opts.user, opts.hash)?]
    } else {
        (0..opts.spread)
            .map(|i| request_bytes(&opts.command, &populated_name(&opts.user, i), opts.hash))
            .collect::<anyhow::Result<_>>()?
    };
    let requests = Arc::new(Requests {
        all,
        next: AtomicU32::new(0),
    });
    let ports = opts
        .reserved_port
        .then(|| Arc::new(PortCycle(AtomicU32::new(std::process::id()))));
    let opts = Arc::new(opts);
    let started = Instant::now();
    let deadline = started + opts.duration;
    let tasks: Vec<_> = (0..opts.concurrency.max(1))
        .map(|_| {
            tokio::spawn(worker(
                opts.clone(),
                requests.clone(),
                ports.clone(),
                deadline,
            ))
        })
        .collect();
    let mut report = LoadReport {
        ok: 0,
        errors: 0,
        error_samples: Vec::new(),
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for t in tasks {
        let r = t.await.context("load task panicked")?;
        report.ok += r.ok;
        report.errors += r.errors;
        for s in r.samples {
            if report.error_samples.len() < 8 && !report.error_samples.contains(&s) {
                report.error_samples.push(s);
            }
        }
        report.latencies_us.extend_from_slice(&r.latencies);
    }
    report.elapsed = started.elapsed();
    report.latencies_us.sort_unstable();
    Ok(report)
}

/// A background load of key generations (`load --background-keygens N`):
/// N tasks each send `keygen` requests one after the other until stopped,
/// so that N keygens are in the server at any time while the measured load
/// runs.
#[derive(Debug, Clone)]
pub struct KeygenLoad {
    pub addr: SocketAddr,
    /// The signd key that certifies the new keys (needs an encryption
    /// target, as `privsign-setup` imports).
    pub user: String,
    /// signd's key type, e.g. `rsa@4096`.
    pub key_type: String,
    /// Concurrent keygen requests.
    pub count: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// What the background keygens did.
#[derive(Debug, Clone, Default)]
pub struct KeygenReport {
    /// Keygens answered with a key.
    pub ok: u64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    /// Latencies of the keys answered, microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

/// Runs `load` until `stop` turns true; requests in flight then are
/// dropped (the server finishes them for nobody).
pub async fn run_keygens(
    load: KeygenLoad,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<KeygenReport> {
    let request = Arc::new(encode_new_request(&[
        "keygen",
        &load.user,
        &load.key_type,
        "800",
        "Bench Project",
        "bench@example.org",
    ])?);
    let tasks: Vec<_> = (0..load.count)
        .map(|_| {
            let (request, mut stop, load) = (request.clone(), stop.clone(), load.clone());
            tokio::spawn(async move {
                let mut r = KeygenReport::default();
                let mut buf = Vec::with_capacity(8192);
                while !*stop.borrow() {
                    let t0 = Instant::now();
                    let one = async {
                        tokio::time::timeout(
                            load.timeout,
                            one_request(load.addr, None, None, &request, &mut buf),
                        )
                        .await
                        .unwrap_or_else(|_| Err("timeout".to_string()))
                    };
                    let res = tokio::select! {
                        res = one => res,
                        _ = stop.changed() => break,
                    };
                    match res {
                        Ok(()) => {
                            r.ok += 1;
                            r.latencies_us
                                .push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        }
                        Err(e) => {
                            r.errors += 1;
                            if r.error_samples.len() < 4 && !r.error_samples.contains(&e) {
                                r.error_samples.push(e);
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                r
            })
        })
        .collect();
    let mut report = KeygenReport::default();
    for t in tasks {
        let r = t.await.context("keygen task panicked")?;
        report.ok += r.ok;
        report.errors += r.errors;
        for s in r.error_samples {
            if report.error_samples.len() < 8 && !report.error_samples.contains(&s) {
                report.error_samples.push(s);
            }
        }
        report.latencies_us.extend_from_slice(&r.latencies_us);
    }
    report.latencies_us.sort_unstable();
    Ok(report)
}

/// CPU time (user + system) and memory of a process, from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    pub cpu: Duration,
    /// Current resident set, KiB.
    pub rss_kib: u64,
    /// Peak resident set (VmHWM), KiB.
    pub hwm_kib: u64,
}

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const USER_HZ: u64 = 100;

/// Reads `/proc/PID/stat` and `/proc/PID/status` (`pid` = "self" works too).
pub fn proc_sample(pid: &str) -> anyhow::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces) start at
    // field 3 (state); utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        f.get(i)
            .context("short stat")?
            .parse::<u64>()
            .context("bad stat field")
    };
    let cpu_ticks = ticks(11)? + ticks(12)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(ProcSample {
        cpu: Duration::from_millis(cpu_ticks * 1000 / USER_HZ),
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    })
}

/// Runs `openssl speed -seconds S [-multi M] ALG` and returns its sign/s.
pub fn openssl_speed(alg: &str, seconds: u32, multi: Option<u32>) -> anyhow::Result<f64> {
    let mut cmd = std::process::Command::new("openssl");
    cmd.arg("speed").arg("-seconds").arg(seconds.to_string());
    if let Some(m) = multi {
        cmd.arg("-multi").arg(m.to_string());
    }
    cmd.arg(alg);
    let out = cmd
        .stderr(std::process::Stdio::null())
        .output()
        .context("running openssl speed")?;
    if !out.status.success() {
        bail!("openssl speed {alg} failed: {}", out.status);
    }
    parse_openssl_speed(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("no sign/s figure in the output of openssl speed {alg}"))
}

/// The sign/s column of the last result line: the second-to-last number of
/// the last line that mentions `bits` (`rsa 2048 bits 0.000858s 0.000061s
/// 1165.6 16294.2`, ` 253 bits EdDSA (Ed25519) 0.0000s 0.0001s 31292.9
/// 11607.7`).
pub fn parse_openssl_speed(out: &str) -> Option<f64> {
    let line = out.lines().rev().find(|l| l.contains(" bits "))?;
    let nums: Vec<f64> = line
        .split_whitespace()
        .filter_map(|t| t.parse::<f64>().ok())
        .collect();
    (nums.len() >= 2).then(|| nums[nums.len() - 2])
}

/// Formats the report the way `signatrust-bench` prints it.
pub fn format_report(opts: &LoadOptions, r: &LoadReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}{} user={}{} hash={:?} c={} duration={:.1}s",
        match &opts.command {
            BenchCommand::Privsign { blob_hex } =>
                format!("Privsign(blob of {} bytes)", blob_hex.len() / 2),
            other => format!("{other:?}"),
        },
        if opts.tls.is_some() { " over TLS" } else { "" },
        opts.user,
        if opts.spread > 0 {
            format!(" (x{} keys)", opts.spread)
        } else {
            String::new()
        },
        opts.hash,
        opts.concurrency,
        r.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "requests {} ok, {} errors; {:.0} req/s",
        r.ok,
        r.errors,
        r.req_per_sec()
    );
    let _ = writeln!(
        s,
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        r.percentile_ms(0.5),
        r.percentile_ms(0.9),
        r.percentile_ms(0.99),
        r.max_ms()
    );
    for e in &r.error_samples {
        let _ = writeln!(s, "error: {e}");
    }
    s
}

/// Parses a key type name as `key generate --type` spells it.
pub fn key_type(name: &str) -> anyhow::Result<KeyType> {
    Ok(match name {
        "rsa2048" => KeyType::Rsa2048,
        "rsa4096" => KeyType::Rsa4096,
        "ed25519" => KeyType::Ed25519,
        "dsa2048" => KeyType::Dsa2048,
        "nistp256" | "p256" => KeyType::NistP256,
        "nistp384" | "p384" => KeyType::NistP384,
        other => bail!("unknown key type {other}"),
    })
}

/// The name of key `i` of a populated store.
pub fn populated_name(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:06}")
}

/// Fills the store in `data_dir` with `count` keys named
/// `{prefix}000000`.. (one generated key of type `kind`, imported under every
/// name, each with its own data key), `batch` names per transaction. Returns
/// the number of keys inserted (existing names are skipped).
pub async fn populate(
    data_dir: &Path,
    count: usize,
    kind: KeyType,
    prefix: &str,
    batch: usize,
) -> anyhow::Result<usize> {
    let config = signatrust::config::Config::load(Some(data_dir.to_path_buf()), None, None)?;
    let store = signatrust::app::open_store(&config).await?;
    let key = signatrust::sign::generate(kind, "Signatrust Bench <bench@example.org>")?;
    let mut inserted = 0;
    let mut names = Vec::with_capacity(batch.max(1));
    let mut i = 0;
    while i < count {
        names.clear();
        let end = (i + batch.max(1)).min(count);
        names.extend((i..end).map(|j| populated_name(prefix, j)));
        inserted += store.import_many(&names, &key).await?;
        i = end;
    }
    store.close().await;
    Ok(inserted)
}

/// The signd key that the fixture gpg blobs are encrypted to.
pub const PRIVSIGN_SIGND_USER: &str = "defaultkey@localobs";

/// Sets up a store for privsign with the Perl-made fixture blobs: imports
/// the fixture signd key (`obs-sign-t-fixtures/secret-key.asc`, with its
/// ElGamal encryption subkey) as [`PRIVSIGN_SIGND_USER`] and every
/// encryption key of `signd-state/enckeys` (for "01" blobs). The fixture
/// data is read from `fixtures` at run time, never copied. Returns the
/// number of encryption keys stored.
pub async fn privsign_setup(data_dir: &Path, fixtures: &Path) -> anyhow::Result<usize> {
    let config = signatrust::config::Config::load(Some(data_dir.to_path_buf()), None, None)?;
    let store = signatrust::app::open_store(&config).await?;
    let tsk_path = fixtures.join("obs-sign-t-fixtures/secret-key.asc");
    let tsk =
        std::fs::read(&tsk_path).with_context(|| format!("{}: cannot read", tsk_path.display()))?;
    let key = signatrust::sign::import_tsk(&tsk, None)
        .with_context(|| format!("{}: cannot import", tsk_path.display()))?;
    if !store.exists(PRIVSIGN_SIGND_USER).await? {
        store.import(PRIVSIGN_SIGND_USER, &key).await?;
    }
    let mut n = 0;
    let dir = fixtures.join("signd-state/enckeys");
    for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
        let entry = entry?;
        let id = entry.file_name().to_string_lossy().into_owned();
        let secret = signatrust::app::signd_state::read_encryption_key(&id, &entry.path())?;
        store.put_encryption_key(&id, &secret).await?;
        n += 1;
    }
    store.close().await;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signatrust::protocol::{decode, Protocol};

    #[test]
    fn requests_decode_as_intended() {
        for (cmd, proto, argc) in [
            (BenchCommand::Sign1, Protocol::Old, 3),
            (BenchCommand::Sign2, Protocol::New, 4),
            (BenchCommand::Pubkey, Protocol::New, 2),
            (BenchCommand::Ping, Protocol::New, 2),
            (
                BenchCommand::Privsign {
                    blob_hex: "abcd".into(),
                },
                Protocol::New,
                4,
            ),
        ] {
            let bytes = request_bytes(&cmd, "k", HashAlgo::Sha256).unwrap();
            let (req, used) = decode(&bytes).unwrap().unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(req.protocol, proto, "{cmd:?}");
            assert_eq!(req.argv.len(), argc, "{cmd:?}: {:?}", req.argv);
        }
        let bytes = request_bytes(&BenchCommand::Sign1, "k", HashAlgo::Sha512).unwrap();
        let (req, _) = decode(&bytes).unwrap().unwrap();
        assert_eq!(req.argv[0], "sign");
        assert!(
            req.argv[1].eq_ignore_ascii_case("sha512:k"),
            "{:?}",
            req.argv
        );
    }

    #[test]
    fn reply_checks() {
        assert!(check_reply(&[0, 0, 0, 1, 0, 0, 9]).is_ok());
        assert!(check_reply(&[0, 0, 0, 2, 0, 0, 9]).is_err());
        let e = check_reply(b"\x00\x01\x00\x00\x00\x04bad\n").unwrap_err();
        assert!(e.contains("bad"), "{e}");
    }

    #[test]
    fn openssl_speed_output() {
        let rsa = "                  sign    verify    sign/s verify/s\n\
                   rsa 2048 bits 0.000858s 0.000061s   1165.6  16294.2\n";
        assert_eq!(parse_openssl_speed(rsa), Some(1165.6));
        let ed = " 253 bits EdDSA (Ed25519)   0.0000s   0.0001s  31292.9  11607.7\n";
        assert_eq!(parse_openssl_speed(ed), Some(31292.9));
        assert_eq!(parse_openssl_speed("nothing"), None);
    }

    #[test]
    fn proc_self() {
        let s = proc_sample("self").unwrap();
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
    }
}
