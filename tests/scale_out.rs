//! Scale-out, all on loopback: a scratch PostgreSQL database, two
//! `signatrustd` replicas (the built binary) on it, and HAProxy in TCP mode
//! sending the PROXY protocol v2 and checking `/readyz`, configured with
//! the blocks of `docs/scale-out.md` (only ports and paths changed). Then:
//!
//! 1. the real C `sign` client signs through HAProxy (checked by `gpg
//!    --verify`) and is judged by its own address and source port: the
//!    replicas allow 127.0.0.1 and reserved ports only, HAProxy connects
//!    from 127.0.0.2 and unreserved ports, so a signature at all shows the
//!    carried client was judged; the same client from an unreserved port
//!    is refused, and the audit trail records the client's reserved port;
//! 2. a rolling restart (SIGTERM drain of one replica, start it again,
//!    then the other) under a load of concurrent clients fails nothing;
//! 3. `kill -9` of one replica under the load fails at most the requests
//!    it had in flight, and HAProxy marks it down within the health-check
//!    interval;
//! 4. a key deleted with `signatrust-admin` stops being served by both
//!    replicas within the documented bound (1 s).
//!
//! Needs `$SIGNATRUST_TEST_PG_URL` (skipped without, as the other
//! PostgreSQL tests), HAProxy (`scripts/install-deps`) and root (the
//! client binds reserved ports, as on a build host). The figures it prints
//! are the ones in BENCHMARKS.md.
#[path = "support/client.rs"]
mod client;
mod e2e_common;
#[path = "support/pg.rs"]
mod pg;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_common::{admin_ok, fixture, short_tempdir, GpgHome, ADMIN, DAEMON};

const USER: &str = "signd@localobs";
const DOOMED: &str = "doomed@localobs";
/// The documented propagation bound with the change feed up
/// (docs/scale-out.md, "Propagation of key changes").
const PROPAGATION_BOUND: Duration = Duration::from_secs(1);
/// HAProxy's `inter` in docs/scale-out.md.
const CHECK_INTERVAL: Duration = Duration::from_millis(200);
const CLIENTS: usize = 4;

/// The fenced block of `lang` that follows `after` in docs/scale-out.md.
fn doc_block(lang: &str, after: &str) -> String {
    let doc = include_str!("../docs/scale-out.md");
    let from = doc
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} in the doc"));
    let open = format!("```{lang}\n");
    let start = from + doc[from..].find(&open).expect("the block") + open.len();
    let end = start + doc[start..].find("```").expect("its end");
    doc[start..end].to_owned()
}

/// The doc's ports and paths, replaced by this run's.
struct Layout {
    front: u16,
    direct: [u16; 2],
    signd: [u16; 2],
    metrics: [u16; 2],
    stats: PathBuf,
}

impl Layout {
    fn apply(&self, text: &str) -> String {
        let doc = [
            ("5167", self.front),
            ("5168", self.signd[0]),
            ("5169", self.signd[1]),
            ("9168", self.metrics[0]),
            ("9169", self.metrics[1]),
        ];
        // Through placeholders: a new port may contain an old one.
        let mut t = text.to_owned();
        for (i, (old, _)) in doc.iter().enumerate() {
            t = t.replace(old, &format!("@P{i}@"));
        }
        for (i, (_, new)) in doc.iter().enumerate() {
            t = t.replace(&format!("@P{i}@"), &new.to_string());
        }
        t.replace(
            "/run/haproxy/signatrust.sock",
            &self.stats.display().to_string(),
        )
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The processes, killed on drop (also when an assertion fails).
struct World {
    dir: tempfile::TempDir,
    data: PathBuf,
    url: String,
    layout: Layout,
    replicas: [Option<Child>; 2],
    haproxy: Option<Child>,
    client_conf: PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        for c in self
            .replicas
            .iter_mut()
            .chain([&mut self.haproxy])
            .flatten()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl World {
    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    fn logs(&self) -> String {
        ["a", "b", "haproxy"]
            .iter()
            .map(|n| {
                format!(
                    "--- {n}\n{}",
                    std::fs::read_to_string(self.log(n)).unwrap_or_default()
                )
            })
            .collect()
    }

    /// Starts replica `i` (0: a, 1: b) and waits until `/readyz` says
    /// ready.
    fn start_replica(&mut self, i: usize) {
        let name = ["a", "b"][i];
        let toml = doc_block("toml", "Replica `a`");
        let toml = if i == 1 {
            toml.replace("5168", "5169").replace("9168", "9169")
        } else {
            toml
        };
        let conf = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&conf, self.layout.apply(&toml)).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(name))
            .unwrap();
        let child = Command::new(DAEMON)
            .env_remove("RUST_LOG")
            .env("SIGNATRUST_DATABASE_URL", &self.url)
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--config")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn signatrustd");
        self.replicas[i] = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_status(self.layout.metrics[i], "/readyz") != Some(200) {
            if let Some(st) = self.replicas[i].as_mut().unwrap().try_wait().unwrap() {
                panic!("replica {name} exited ({st}):\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "replica {name} not ready:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` to replica `i` and waits for it to exit (SIGTERM:
    /// within the drain grace plus a few seconds).
    fn stop_replica(&mut self, i: usize, signal: &str) -> Duration {
        let mut child = self.replicas[i].take().expect("running");
        let t0 = Instant::now();
        let st = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let deadline = t0 + Duration::from_secs(20);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                if signal == "-TERM" {
                    assert!(st.success(), "replica exited {st} on SIGTERM");
                }
                return t0.elapsed();
            }
            assert!(
                Instant::now() < deadline,
                "replica did not exit:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn start_haproxy(&mut self) {
        let mut cfg = self.layout.apply(&doc_block(
            "haproxy",
            "This is the configuration the test uses",
        ));
        // One frontend per replica, to ask each one directly (through
        // HAProxy, so with the PROXY protocol): not part of a deployment.
        for (i, name) in ["a", "b"].iter().enumerate() {
            cfg.push_str(&format!(
                "\nfrontend direct_{name}\n    bind 127.0.0.1:{}\n    default_backend only_{name}\n\
                 \nbackend only_{name}\n    source 127.0.0.2\n    \
                 server {name} 127.0.0.1:{} send-proxy-v2\n",
                self.layout.direct[i], self.layout.signd[i]
            ));
        }
        let path = self.dir.path().join("haproxy.cfg");
        std::fs::write(&path, &cfg).unwrap();
        let check = Command::new(haproxy())
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "haproxy -c:\n{}{}\n{cfg}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let log = std::fs::File::create(self.log("haproxy")).unwrap();
        self.haproxy = Some(
            Command::new(haproxy())
                .arg("-db")
                .arg("-f")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawn haproxy"),
        );
        self.wait_state(0, "UP", Duration::from_secs(10));
        self.wait_state(1, "UP", Duration::from_secs(10));
    }

    /// HAProxy's `status` of replica `i` in the `signatrust` backend.
    fn state(&self, i: usize) -> String {
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&self.layout.stats) else {
            return String::new();
        };
        if s.write_all(b"show stat\n").is_err() {
            return String::new();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let mut lines = out.lines();
        let Some(head) = lines.next() else {
            return String::new();
        };
        let cols: Vec<&str> = head.trim_start_matches("# ").split(',').collect();
        let col = |name: &str| cols.iter().position(|c| *c == name).unwrap();
        let (px, sv, status) = (col("pxname"), col("svname"), col("status"));
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.len() > status && f[px] == "signatrust" && f[sv] == ["a", "b"][i])
            .map(|f| f[status].to_owned())
            .unwrap_or_default()
    }

    /// Waits until replica `i`'s state starts with `want`; how long it
    /// took.
    fn wait_state(&self, i: usize, want: &str, within: Duration) -> Duration {
        let t0 = Instant::now();
        loop {
            let st = self.state(i);
            if st.starts_with(want) {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < within,
                "replica {i} not {want} within {within:?} (is {st:?}):\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The real `sign` client: `sign --config CONF -u USER ARGS`, `input`
    /// on stdin.
    fn sign(&self, conf: &Path, user: &str, args: &[&str], input: &[u8]) -> Output {
        run_sign(conf, user, args, input)
    }

    fn conf_for_port(&self, name: &str, port: u16, extra: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, format!("server: 127.0.0.1\nport: {port}\n{extra}")).unwrap();
        p
    }
}

fn run_sign(conf: &Path, user: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(client::sign_client())
        .arg("--config")
        .arg(conf)
        .args(["-u", user])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the sign client");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn signed_ok(out: &Output) -> bool {
    out.status.success()
        && String::from_utf8_lossy(&out.stdout).contains("-----BEGIN PGP SIGNATURE-----")
}

fn haproxy() -> &'static str {
    ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("HAProxy is not installed (scripts/install-deps installs the Debian package)")
}

/// `GET path` on 127.0.0.1:port: the status code, `None` if unreachable.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_whitespace().nth(1)?.parse().ok()
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Concurrent clients signing through the front door until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(conf: PathBuf) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..CLIENTS)
            .map(|n| {
                let (stop, ok, failed, conf) =
                    (stop.clone(), ok.clone(), failed.clone(), conf.clone());
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let input = format!("client {n} request {i}\n");
                        let out = run_sign(&conf, USER, &["-h", "sha256", "-c"], input.as_bytes());
                        if signed_ok(&out) {
                            ok.fetch_add(1, Ordering::Relaxed);
                        } else {
                            failed.lock().unwrap().push(format!(
                                "client {n} request {i}: {} {}",
                                out.status,
                                String::from_utf8_lossy(&out.stderr).trim()
                            ));
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            threads,
        }
    }

    fn counts(&self) -> (u64, usize) {
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.lock().unwrap().len(),
        )
    }

    /// Stops the clients; the successes and the failures.
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let failed = self.failed.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), failed)
    }
}

#[test]
fn two_replicas_behind_haproxy() {
    if !is_root() {
        eprintln!("not root: the sign client cannot bind reserved ports; skipping");
        return;
    }
    let Some(url) = pg::scratch_database_blocking() else {
        return;
    };
    let t_all = Instant::now();
    let dir = short_tempdir();
    let data = dir.path().join("data");
    // Keys (and the KEK file, shared by both replicas) through the admin
    // tool, on the shared database.
    let admin = |args: &[&str]| {
        let mut full = vec!["--database-url", url.as_str()];
        full.extend_from_slice(args);
        admin_ok(&data, &full)
    };
    admin(&["db", "migrate"]);
    let secret = fixture("obs-sign-t-fixtures/secret-key.asc");
    admin(&["key", "import", USER, secret.to_str().unwrap()]);
    admin(&[
        "key",
        "generate",
        DOOMED,
        "--type",
        "ed25519",
        "--uid",
        "Doomed <doomed@localobs>",
        "--revocation-cert",
        dir.path().join("doomed.rev").to_str().unwrap(),
    ]);
    let layout = Layout {
        front: free_port(),
        direct: [free_port(), free_port()],
        signd: [free_port(), free_port()],
        metrics: [free_port(), free_port()],
        stats: dir.path().join("haproxy.sock"),
    };
    let mut w = World {
        data: data.clone(),
        url: url.clone(),
        layout,
        replicas: [None, None],
        haproxy: None,
        client_conf: PathBuf::new(),
        dir,
    };
    w.start_replica(0);
    w.start_replica(1);
    w.start_haproxy();
    w.client_conf = w.conf_for_port("client.conf", w.layout.front, "");
    let mut figures = BTreeMap::new();

    // 1. Judged by its own source port.
    let gpg = GpgHome::new();
    gpg.gpg_ok(&[
        "--import",
        fixture("obs-sign-t-fixtures/public-key.asc")
            .to_str()
            .unwrap(),
    ]);
    for n in 0..2 {
        // Round robin: two requests, one to each replica.
        let out = w.sign(
            &w.client_conf,
            USER,
            &["-h", "sha256", "-c"],
            b"through haproxy\n",
        );
        assert!(
            signed_ok(&out),
            "sign through HAProxy ({n}): {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            w.logs()
        );
        let signed = w.dir.path().join(format!("signed{n}.asc"));
        std::fs::write(&signed, &out.stdout).unwrap();
        gpg.gpg_ok(&["--verify", signed.to_str().unwrap()]);
    }
    let unprivileged = w.conf_for_port(
        "unprivileged.conf",
        w.layout.front,
        "use-unprivileged-ports: true\n",
    );
    let out = w.sign(&unprivileged, USER, &["-h", "sha256", "-c"], b"x\n");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not coming from a reserved port"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The request log lines name the client (its reserved port), never
    // HAProxy's 127.0.0.2.
    let logs = w.logs();
    let peers: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(" request") && l.contains("argv="))
        .filter_map(|l| l.split_whitespace().find(|f| f.starts_with("peer=")))
        .collect();
    assert!(peers.len() >= 2, "request lines: {peers:?}\n{logs}");
    for p in &peers {
        let (ip, port) = p["peer=".len()..].rsplit_once(':').unwrap();
        assert_eq!(ip, "127.0.0.1", "{p}");
        assert!(port.parse::<u16>().unwrap() < 1024, "{p}: a reserved port");
    }
    let refused = logs
        .lines()
        .find(|l| l.contains("access refused"))
        .expect("the unreserved port's refusal is logged");
    assert!(refused.contains("peer=127.0.0.1:"), "{refused}");
    assert!(
        refused.contains("not coming from a reserved port"),
        "{refused}"
    );

    // 2. Rolling restart under load: nothing fails.
    let load = Load::start(w.client_conf.clone());
    std::thread::sleep(Duration::from_secs(1));
    let t_roll = Instant::now();
    let mut out_after = Vec::new();
    for i in 0..2 {
        let before = load.counts().0;
        let exit = w.stop_replica(i, "-TERM");
        // Out of the rotation from the first check after SIGTERM.
        assert!(
            !w.state(i).starts_with("UP"),
            "replica {i} still UP after exiting"
        );
        w.start_replica(i);
        let up = w.wait_state(i, "UP", Duration::from_secs(10));
        out_after.push((exit, up));
        assert!(load.counts().0 > before, "the load made progress");
    }
    std::thread::sleep(Duration::from_millis(500));
    let roll = t_roll.elapsed();
    let (ok, failed) = load.finish();
    assert!(
        failed.is_empty(),
        "rolling restart: {} of {} failed:\n{}\n{}",
        failed.len(),
        ok as usize + failed.len(),
        failed.join("\n"),
        w.logs()
    );
    assert!(ok > 20, "only {ok} requests in {roll:?}");
    figures.insert("rolling restart: requests", ok.to_string());
    figures.insert("rolling restart: failed", "0".into());
    figures.insert(
        "rolling restart: duration",
        format!("{:.1} s", roll.as_secs_f64()),
    );

    // The audit trail (flushed by the restarts' SIGTERM) has the clients'
    // address and reserved ports, not HAProxy's 127.0.0.2 and its
    // unreserved ports.
    let audit = Command::new(ADMIN)
        .args(["--data-dir", data.to_str().unwrap(), "--database-url", &url])
        .args(["audit", "list", "--json"])
        .output()
        .unwrap();
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    let peers: Vec<String> = String::from_utf8_lossy(&audit.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        // Served requests; the refusal of the unreserved port above is a
        // `refused` record with that port, as it should be.
        .filter(|r| r["command"] == "sign" && r["kind"] == "request")
        .map(|r| r["peer"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(peers.len() >= 2, "{peers:?}");
    for p in &peers {
        let (ip, port) = p.rsplit_once(':').expect("address:port");
        assert_eq!(ip, "127.0.0.1", "{p}: the client's address");
        assert!(port.parse::<u16>().unwrap() < 1024, "{p}: a reserved port");
    }
    figures.insert(
        "audited sign requests, all from reserved ports",
        peers.len().to_string(),
    );

    // 3. kill -9 under load: at most the requests in flight fail, HAProxy
    // routes around it within the check interval.
    let load = Load::start(w.client_conf.clone());
    std::thread::sleep(Duration::from_secs(1));
    let (before_ok, _) = load.counts();
    w.stop_replica(0, "-KILL");
    let t_kill = Instant::now();
    let down = w.wait_state(0, "DOWN", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(1));
    let (ok, failed) = load.finish();
    let killed = t_kill.elapsed();
    assert!(
        failed.len() <= CLIENTS,
        "kill -9: {} failed, more than the {CLIENTS} that can be in flight:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert!(ok > before_ok, "requests went on after the kill");
    assert!(
        down <= CHECK_INTERVAL * 2 + Duration::from_millis(300),
        "marked down after {down:?}"
    );
    figures.insert("kill -9: requests", ok.to_string());
    figures.insert("kill -9: failed", failed.len().to_string());
    figures.insert(
        "kill -9: marked down after",
        format!("{} ms", down.as_millis()),
    );
    let _ = killed;
    w.start_replica(0);
    w.wait_state(0, "UP", Duration::from_secs(10));

    // 4. A deleted key stops being served by both within the bound.
    let direct: Vec<PathBuf> = (0..2)
        .map(|i| w.conf_for_port(&format!("direct{i}.conf"), w.layout.direct[i], ""))
        .collect();
    for conf in &direct {
        // Cached on both replicas.
        for _ in 0..2 {
            let out = w.sign(conf, DOOMED, &["-h", "sha256", "-c"], b"doomed\n");
            assert!(signed_ok(&out), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    admin(&["key", "delete", DOOMED, "--yes"]);
    let t_del = Instant::now();
    let mut gone = [None, None];
    while gone.iter().any(Option::is_none) {
        for (i, conf) in direct.iter().enumerate() {
            if gone[i].is_some() {
                continue;
            }
            let out = w.sign(conf, DOOMED, &["-h", "sha256", "-c"], b"doomed\n");
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("unknown key: doomed@localobs"), "{err}");
                gone[i] = Some(t_del.elapsed());
            }
        }
        assert!(
            t_del.elapsed() < Duration::from_secs(10),
            "the deleted key is still served: {gone:?}"
        );
    }
    let slowest = gone.iter().flatten().max().copied().unwrap();
    assert!(
        slowest <= PROPAGATION_BOUND,
        "deletion reached both replicas after {slowest:?} (bound {PROPAGATION_BOUND:?})"
    );
    figures.insert(
        "deletion: served by neither after",
        format!("{} ms", slowest.as_millis()),
    );
    // The other key is still served by both.
    for conf in &direct {
        let out = w.sign(conf, USER, &["-h", "sha256", "-c"], b"still\n");
        assert!(signed_ok(&out), "{}", String::from_utf8_lossy(&out.stderr));
    }
    figures.insert(
        "whole test",
        format!("{:.1} s", t_all.elapsed().as_secs_f64()),
    );
    for (k, v) in &figures {
        println!("scale-out: {k}: {v}");
    }
    let _ = out_after;
}
