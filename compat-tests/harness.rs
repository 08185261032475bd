//! The in-process server and the replay client used by the compat tests.
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use signatrust::commands::Ctx;
use signatrust::config::Config;
use signatrust::daemon;
use signatrust::server::EdgeConfig;

use crate::support;

pub use crate::support::fixtures as fixtures_dir;

pub enum Scope {
    ThisIssue,
    /// Cannot be replayed against this harness (tested elsewhere).
    NotReplayable(&'static str),
}

/// Which issue a fixture case belongs to.
pub fn case_scope(case: &Value) -> Scope {
    let name = case["name"].as_str().unwrap_or("");
    let det = case["reply_determinism"].as_str().unwrap_or("");
    let kind = case["kind"].as_str().unwrap_or("");
    if kind != "sign-client" && kind != "raw-request" {
        return Scope::NotReplayable("not a client or raw-request case");
    }
    if det != "byte-identical" && det != "status-only" {
        return Scope::NotReplayable("reply is random (keygen) or there is no connection");
    }
    match name {
        "raw-split-request" => {
            return Scope::NotReplayable(
                "deliberate fix of a Perl quirk: split_header_is_read_to_the_end",
            )
        }
        "raw-unprivileged-source-port" | "unprivileged-port-ping" => {
            return Scope::NotReplayable(
                "needs a strict server: unprivileged_source_port_is_refused_after_reading",
            )
        }
        "raw-disallowed-host" => {
            return Scope::NotReplayable("needs source 127.0.0.2: disallowed_host_is_refused")
        }
        _ => {}
    }
    if name.starts_with("signproxy") {
        // The proxy's reply and the upstream leg are both checked there.
        return Scope::NotReplayable(
            "needs a proxy and an upstream: signproxy_cases_forward_to_an_upstream",
        );
    }
    // Issue 4 (privsign, keygen, totp, keyextend, certgen with a key,
    // raw-privsign-*, raw-privtotp-*) is in scope; random keygen cases are
    // checked structurally by `keygen_cases_have_the_right_structure`.
    Scope::ThisIssue
}

pub struct Harness {
    pub addr: SocketAddr,
    /// The service behind the listener, for `--test-sign` replays (none for
    /// [`Harness::client_for`]).
    pub service: Option<(Arc<Ctx>, Arc<EdgeConfig>)>,
    _dir: tempfile::TempDir,
    _server: Option<support::Running>,
}

impl Harness {
    /// A server as the fixtures' signd, accepting unprivileged source ports
    /// (the test client cannot bind reserved ports).
    pub async fn start() -> Harness {
        Self::start_with(true, None).await
    }

    /// [`Harness::start`] on the store at `store_url` (a scratch
    /// PostgreSQL database) instead of a SQLite file.
    pub async fn start_on(store_url: &str) -> Harness {
        Self::start_with(true, Some(store_url)).await
    }

    /// The same with signd's default reserved-port rule.
    pub async fn start_strict() -> Harness {
        Self::start_with(false, None).await
    }

    async fn start_with(allow_unprivileged_ports: bool, store_url: Option<&str>) -> Harness {
        let fx = fixtures_dir();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::load(
            Some(dir.path().join("data")),
            None,
            Some(fx.join("signd-state/server.conf")),
        )
        .expect("loading the fixture server.conf");
        config.access.allow_unprivileged_ports = allow_unprivileged_ports;
        if let Some(url) = store_url {
            config.set_store_url(url, "test").unwrap();
        }
        // The fixture's `logfile: @STATE@/signd.log` names no real directory.
        config.log.file = None;
        let service = daemon::build(config).await.expect("building the service");
        let keys = &service.ctx.keys;
        support::import_fixture_keys(keys).await;
        support::import_fixture_encryption_keys(keys).await;
        support::import_fixture_aliases(keys).await;
        let server = support::serve(&service).await;
        Harness {
            addr: server.addr,
            service: Some((service.ctx.clone(), service.edge.clone())),
            _dir: dir,
            _server: Some(server),
        }
    }

    /// A replay client for a server started elsewhere (no state of its own).
    pub fn client_for(addr: SocketAddr) -> Harness {
        Harness {
            addr,
            service: None,
            _dir: tempfile::tempdir().unwrap(),
            _server: None,
        }
    }

    /// Sends `request` on a new connection (optionally split after `split`
    /// bytes, optionally from `source`) and reads the reply to EOF. The
    /// sending side is half-closed only when the request is incomplete, as
    /// the real client never half-closes.
    pub async fn exchange(
        &self,
        request: &[u8],
        split: Option<usize>,
        source: Option<IpAddr>,
    ) -> Vec<u8> {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0)).unwrap();
        }
        let mut stream = socket.connect(self.addr).await.unwrap();
        match split {
            Some(n) if n < request.len() => {
                stream.write_all(&request[..n]).await.unwrap();
                stream.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                stream.write_all(&request[n..]).await.unwrap();
            }
            _ => stream.write_all(request).await.unwrap(),
        }
        let complete = matches!(signatrust::protocol::decode(request), Ok(Some(_)) | Err(_));
        if !complete {
            stream.shutdown().await.unwrap();
        }
        let mut reply = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
            .await
            .expect("reply within 10 s")
            .unwrap();
        reply
    }

    /// Replays every connection of a manifest case.
    pub async fn replay(&self, case: &Value, determinism: &str) -> Result<(), String> {
        self.replay_via(case, determinism, false).await
    }

    /// Replays every connection of a manifest case as `sign --test-sign`
    /// does: the request framed on signatrustd's stdin, the reply from its
    /// stdout (`server::testmode::answer_from`, the code behind
    /// `--test-sign`), no socket.
    pub async fn replay_test_sign(&self, case: &Value, determinism: &str) -> Result<(), String> {
        self.replay_via(case, determinism, true).await
    }

    async fn replay_via(
        &self,
        case: &Value,
        determinism: &str,
        test_sign: bool,
    ) -> Result<(), String> {
        let fx = fixtures_dir();
        let split = case["how_sent"]
            .as_str()
            .and_then(|s| s.split("--split ").nth(1))
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        for (i, conn) in case["connections"].as_array().unwrap().iter().enumerate() {
            let req = std::fs::read(fx.join(conn["request"].as_str().unwrap())).unwrap();
            let want = std::fs::read(fx.join(conn["reply"].as_str().unwrap())).unwrap();
            let got = if test_sign {
                let (ctx, edge) = self.service.as_ref().expect("an in-process service");
                signatrust::server::testmode::answer_from(&mut req.as_slice(), ctx, edge).await
            } else {
                self.exchange(&req, split, None).await
            };
            let ok = match determinism {
                "status-only" => got.len() >= 6 && got[..2] == want[..2] && got[4..6] != [0, 0],
                _ => got == want,
            };
            if !ok {
                return Err(format!(
                    "connection {}: want {} got {}",
                    i + 1,
                    describe(&want),
                    describe(&got)
                ));
            }
        }
        Ok(())
    }
}

/// A short description of a reply for failure messages.
fn describe(reply: &[u8]) -> String {
    if reply.len() < 6 {
        return format!("{} bytes {:02x?}", reply.len(), reply);
    }
    let status = u16::from_be_bytes([reply[0], reply[1]]);
    let outlen = u16::from_be_bytes([reply[2], reply[3]]) as usize;
    let err = String::from_utf8_lossy(&reply[6 + outlen.min(reply.len() - 6)..]);
    format!("[status {status}, {} bytes, err {:?}]", reply.len(), err)
}
