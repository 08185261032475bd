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

#[test]
fn ready_stopping_and_sighup_reopens_the_log_file() {
    let dir = short_tempdir();
    let data = dir.path().join("store");
    let key = fixture("obs-sign-t-fixtures/secret-key.asc");
    admin_ok(&data, &["key", "import", "k", key.to_str().unwrap()]);
    let notify = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&notify).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.path().join("signd.log");
    let conf = dir.path().join("st.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\nallow = [\"127.0.0.1\"]\n\
             allow_unprivileged_ports = true\n[log]\nfile = {log:?}\n"
        ),
    )
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
