//! The real `signatrustd` under a stand-in for systemd: `READY=1` on
//! `$NOTIFY_SOCKET` once it serves, `STOPPING=1` on SIGTERM; SIGHUP reopens
//! the log file (as logrotate's `postrotate kill -HUP` expects), between
//! `RELOADING=1` and `READY=1`, and the server keeps serving.
#[path = "e2e_common.rs"]
mod e2e_common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e_common::*;

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Kills the daemon if the test fails half-way.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = sock.recv(&mut buf).expect("a notification within 20 s");
    String::from_utf8_lossy(&buf[..n]).trim_end().to_owned()
}

/// The fixture key `k` imported into `dir/store`, and `dir/st.toml`: a
/// server on a free loopback port that lets unprivileged ports in, writing
/// the signd log to `signd_log` when given. Returns (data dir, port,
/// config file).
fn served_store(
    dir: &std::path::Path,
    signd_log: Option<&std::path::Path>,
) -> (std::path::PathBuf, u16, std::path::PathBuf) {
    let data = dir.join("store");
    let key = fixture("obs-sign-t-fixtures/secret-key.asc");
    admin_ok(&data, &["key", "import", "k", key.to_str().unwrap()]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut toml = format!(
        "[server]\nlisten = [\"127.0.0.1:{port}\"]\nallow = [\"127.0.0.1\"]\n\
         allow_unprivileged_ports = true\n"
    );
    if let Some(log) = signd_log {
        toml += &format!("[log]\nfile = {log:?}\n");
    }
    let conf = dir.join("st.toml");
    std::fs::write(&conf, toml).unwrap();
    (data, port, conf)
}

#[test]
fn ready_stopping_and_sighup_reopens_the_log_file() {
    let dir = short_tempdir();
    let log = dir.path().join("signd.log");
    let (data, port, conf) = served_store(dir.path(), Some(&log));
    let notify = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&notify).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let child = Command::new(DAEMON)
        .env("NOTIFY_SOCKET", &notify)
        .env_remove("RUST_LOG")
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut child = KillOnDrop(Some(child));
    let child = child.0.as_mut().unwrap();

    // READY=1 comes once the listener is up: the first request after it
    // is served.
    assert_eq!(recv(&sock), "READY=1");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let request = old_request("k", &format!("{}@00656d0f00", "ab".repeat(20)));
    let exchange = |what: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{what}: {e}"));
        std::io::Write::write_all(&mut s, &request).unwrap();
        let mut reply = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut reply).unwrap();
        assert_eq!(&reply[..2], [0, 0], "{what}");
    };
    exchange("first request after READY=1");
    let first = std::fs::read_to_string(&log).unwrap();
    assert_eq!(first.lines().count(), 1, "{first}");

    // logrotate: move the file away, SIGHUP; the next line goes to a new
    // file at the configured path, and the server still serves.
    let rotated = dir.path().join("signd.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    signal(pid, "-HUP");
    // The reload is bracketed for systemd (253+ wants the timestamp).
    let reloading = recv(&sock);
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    assert_eq!(recv(&sock), "READY=1");
    let mut reopened = false;
    for _ in 0..100 {
        if log.exists() {
            reopened = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(reopened, "no new log file after SIGHUP");
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP killed the server"
    );
    exchange("request after SIGHUP");
    let second = std::fs::read_to_string(&log).unwrap();
    assert_eq!(second.lines().count(), 1, "{second}");
    assert!(second.contains(": sign k "), "{second}");
    assert_eq!(std::fs::read_to_string(&rotated).unwrap(), first);

    // SIGTERM: STOPPING=1, then a clean exit.
    signal(pid, "-TERM");
    assert_eq!(recv(&sock), "STOPPING=1");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// packaging/signatrustd.service with `ExecStart=` pointing at the binary
/// under test (`systemd-analyze verify` wants the executable to exist),
/// written to `dir`.
fn unit_copy(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/signatrustd.service"
    ))
    .unwrap();
    assert!(
        unit.contains("\nExecStart=/usr/sbin/signatrustd "),
        "{unit}"
    );
    let unit = unit.replace(
        "\nExecStart=/usr/sbin/signatrustd ",
        &format!("\nExecStart={DAEMON} "),
    );
    let path = dir.join("signatrustd.service");
    std::fs::write(&path, unit).unwrap();
    path
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The unit parses (`systemd-analyze verify`: directives, executables),
/// names man pages that exist, and `systemd-analyze security` rates its
/// exposure at most 2.0 ("OK"). The unit before issue 15 rated 6.7.
#[test]
fn the_unit_verifies_and_its_exposure_is_at_most_2() {
    if !have("systemd-analyze") {
        eprintln!("skipped: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    let dir = short_tempdir();
    let unit = unit_copy(dir.path());
    // --man=no: the pages are checked below, in the tree, not installed.
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    assert!(stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
    let text = std::fs::read_to_string(&unit).unwrap();
    for doc in text
        .lines()
        .filter_map(|l| l.strip_prefix("Documentation="))
        .flat_map(str::split_whitespace)
    {
        let page = doc.strip_prefix("man:").expect("man: documentation only");
        let (name, section) = page.trim_end_matches(')').split_once('(').unwrap();
        let file = format!("{}/man/{name}.{section}", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&file).exists(), "{doc}: no {file}");
    }

    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&unit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exposure above 2.0:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exposure: f64 = stdout
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for signatrustd.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{stdout}"));
    assert!(exposure <= 2.0, "exposure {exposure}:\n{stdout}");
}

/// `MemoryDenyWriteExecute=yes` holds: the server starts and signs with
/// the kernel refusing writable-and-executable memory (`PR_SET_MDWE`,
/// Linux 6.3+, the same rule systemd enforces with seccomp), so neither
/// OpenSSL nor Sequoia needs a JIT.
#[test]
#[allow(unsafe_code)]
fn the_server_signs_under_memory_deny_write_execute() {
    const PR_SET_MDWE: libc::c_int = 65;
    const PR_MDWE_REFUSE_EXEC_GAIN: libc::c_ulong = 1;
    // Probe in a child, not in the test process.
    let probe = Command::new("true").pre_exec_mdwe().status();
    match probe {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("skipped: the kernel has no PR_SET_MDWE (Linux 6.3+)");
            return;
        }
    }
    let dir = short_tempdir();
    let (data, port, conf) = served_store(dir.path(), None);
    let log = dir.path().join("daemon.log");
    let logfile = std::fs::File::create(&log).unwrap();
    let child = Command::new(DAEMON)
        .pre_exec_mdwe()
        .env_remove("RUST_LOG")
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stderr(logfile)
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(Some(child));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let request = old_request("k", &format!("{}@00656d0f00", "ab".repeat(20)));
    let mut reply = None;
    for _ in 0..200 {
        if let Ok(r) = exchange_at(addr, &request) {
            reply = Some(r);
            break;
        }
        let c = child.0.as_mut().unwrap();
        assert!(
            c.try_wait().unwrap().is_none(),
            "signatrustd exited under PR_SET_MDWE:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let reply = parse_reply(&reply.expect("signatrustd answers within 20 s"));
    assert_eq!(reply.status, 0, "{}", reply.err);
    assert!(!reply.out.is_empty());

    trait Mdwe {
        fn pre_exec_mdwe(&mut self) -> &mut Self;
    }
    impl Mdwe for Command {
        fn pre_exec_mdwe(&mut self) -> &mut Self {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe and touches no memory of
            // the parent.
            unsafe {
                self.pre_exec(|| {
                    if libc::prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                })
            }
        }
    }
}

/// Proxying to an old signd from a reserved source port without
/// `CAP_NET_BIND_SERVICE` (a `User=` unit without `AmbientCapabilities=`):
/// the client's error and the log line name the capability and the
/// sign.conf setting. obs-signd retries the bind forever; the old code
/// answered a bare "upstream signd … is not available".
#[test]
fn a_reserved_port_bind_without_the_capability_names_it() {
    let root = unsafe_free_euid() == 0;
    if !root {
        let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(1024);
        if start <= 600 {
            eprintln!("skipped: unprivileged processes may bind port 600 here");
            return;
        }
    } else if !have("setpriv") {
        eprintln!("skipped: running as root and setpriv (util-linux) is missing");
        return;
    }
    let dir = short_tempdir();
    let base = dir.path();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, upstream_port) = (free(), free());
    let sign_conf = base.join("sign.conf");
    // No `phrases:`: every request goes to the upstream, from a reserved
    // port (no use-unprivileged-ports).
    std::fs::write(
        &sign_conf,
        format!("server: 127.0.0.1\nport: {upstream_port}\nproxyport: {port}\nallow: 127.0.0.1\n"),
    )
    .unwrap();
    let conf = base.join("st.toml");
    std::fs::write(
        &conf,
        format!(
            "sign_conf = {sign_conf:?}\n[server]\nlisten = [\"127.0.0.1:{port}\"]\n\
             allow = [\"127.0.0.1\"]\nallow_unprivileged_ports = true\n"
        ),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let logfile = std::fs::File::create(&log).unwrap();
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        // Root without the one capability, as `User=` without
        // `AmbientCapabilities=` leaves the server (its files stay root's).
        c.args([
            "--inh-caps=-net_bind_service",
            "--bounding-set=-net_bind_service",
            "--",
            DAEMON,
        ]);
        c
    } else {
        Command::new(DAEMON)
    };
    let child = cmd
        .env_remove("RUST_LOG")
        .arg("--data-dir")
        .arg(base.join("store"))
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stderr(logfile)
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(Some(child));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let request = old_request("someone", &format!("{}@00656d0f00", "ab".repeat(20)));
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut reply = None;
    for _ in 0..200 {
        if let Ok(r) = exchange_at(addr, &request) {
            reply = Some(r);
            break;
        }
        let c = child.0.as_mut().unwrap();
        assert!(
            c.try_wait().unwrap().is_none(),
            "signatrustd exited:\n{}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let reply = parse_reply(&reply.expect("signatrustd answers within 20 s"));
    assert_eq!(reply.status, 1, "{reply:?}");
    assert_eq!(
        reply.err,
        format!(
            "upstream signd 127.0.0.1:{upstream_port} is not available: binding a reserved \
             source port needs CAP_NET_BIND_SERVICE or use-unprivileged-ports: true\n"
        )
    );
    let text = log_text();
    assert!(
        text.contains("cannot bind a reserved source port")
            && text.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE")
            && text.contains("use-unprivileged-ports: true"),
        "{text}"
    );
}

/// The effective user id, from /proc (no unsafe libc call).
fn unsafe_free_euid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap()
}

/// The system calls of a set as `systemd-analyze syscall-filter` lists
/// them, nested sets expanded.
fn syscall_set(name: &str, into: &mut std::collections::BTreeSet<String>) {
    let out = Command::new("systemd-analyze")
        .args(["syscall-filter", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze syscall-filter {name}"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for item in text
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if item.starts_with('@') {
            syscall_set(item, into);
        } else {
            into.insert(item.to_owned());
        }
    }
}

/// `SystemCallFilter=@system-service` and `~@privileged` hold: every
/// system call the server makes while starting, signing, reopening its log
/// (SIGHUP) and draining (SIGTERM), traced with strace, is in the set the
/// unit allows (a call outside it would fail with EPERM under the unit).
#[test]
fn the_servers_system_calls_are_all_in_the_units_filter() {
    if !have("systemd-analyze") || !have("strace") {
        eprintln!("skipped: needs systemd-analyze (systemd) and strace");
        return;
    }
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/signatrustd.service"
    ))
    .unwrap();
    let filters: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("SystemCallFilter="))
        .collect();
    assert_eq!(filters, ["@system-service", "~@privileged"], "{unit}");
    let mut allowed = std::collections::BTreeSet::new();
    syscall_set("@system-service", &mut allowed);
    let mut privileged = std::collections::BTreeSet::new();
    syscall_set("@privileged", &mut privileged);
    allowed.retain(|s| !privileged.contains(s));
    assert!(allowed.contains("read") && !allowed.contains("reboot"));

    let dir = short_tempdir();
    let log = dir.path().join("signd.log");
    let (data, port, conf) = served_store(dir.path(), Some(&log));
    let trace = dir.path().join("strace.out");
    let child = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg("--")
        .arg(DAEMON)
        .env_remove("RUST_LOG")
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(Some(child));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let request = old_request("k", &format!("{}@00656d0f00", "ab".repeat(20)));
    let mut reply = None;
    for _ in 0..300 {
        if let Ok(r) = exchange_at(addr, &request) {
            reply = Some(r);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let reply = parse_reply(&reply.expect("signatrustd under strace answers within 30 s"));
    assert_eq!(reply.status, 0, "{}", reply.err);
    // The server is strace's child; strace -f writes its pid first.
    let first = std::fs::read_to_string(&trace).unwrap();
    let pid: u32 = first
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("strace -f writes the pid first");
    signal(pid, "-HUP");
    std::thread::sleep(Duration::from_millis(300));
    exchange_at(addr, &request).expect("a request after SIGHUP");
    signal(pid, "-TERM");
    let status = child.0.as_mut().unwrap().wait().unwrap();
    child.0 = None;
    assert!(status.success(), "{status}");

    let text = std::fs::read_to_string(&trace).unwrap();
    let mut used = std::collections::BTreeSet::new();
    for line in text.lines() {
        // "PID name(args...) = ret" or "PID <... name resumed> ..."
        let rest = line.split_once(' ').map_or("", |(_, r)| r.trim_start());
        let name = if let Some(r) = rest.strip_prefix("<... ") {
            r.split(' ').next().unwrap_or("")
        } else {
            rest.split('(').next().unwrap_or("")
        };
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            used.insert(name.to_owned());
        }
    }
    assert!(
        used.contains("accept4") || used.contains("accept"),
        "{used:?}"
    );
    if unsafe_free_euid() == 0 {
        // SQLite gives its -journal/-wal/-shm files the database's owner
        // when it runs as root (robust_fchown); under the unit's User= it
        // never does.
        used.remove("fchown");
    }
    let outside: Vec<&String> = used.iter().filter(|s| !allowed.contains(*s)).collect();
    assert!(
        outside.is_empty(),
        "system calls outside SystemCallFilter=@system-service ~@privileged: {outside:?}"
    );
}
