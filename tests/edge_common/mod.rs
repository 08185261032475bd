//! Shared set-up for the `edge_*` tests: an in-process signatrustd with the
//! two fixture keys (and aliases), configured from a sign.conf text.
#![allow(dead_code)]
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use signatrust::config::Config;
use signatrust::daemon;

#[path = "../support/mod.rs"]
mod support;
// Not every edge test crate uses every piece.
#[allow(unused_imports)]
pub use support::{fixtures, serve_on, Running};

/// `(request, reply)` of connection 1 of a fixture case.
pub fn case(name: &str) -> (Vec<u8>, Vec<u8>) {
    let d = fixtures().join("cases").join(name);
    (
        std::fs::read(d.join("1.request.bin")).unwrap(),
        std::fs::read(d.join("1.reply.bin")).unwrap(),
    )
}

pub struct Server {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    _server: Running,
}

/// Starts a server from `sign_conf` (written into a temp dir; `@DIR@` is
/// replaced by that dir), after `tweak` adjusted the loaded configuration.
pub async fn start(sign_conf: &str, tweak: impl FnOnce(&mut Config)) -> Server {
    start_with(sign_conf, tweak, true).await
}

/// [`start`] without any key: a pure proxy when sign.conf names an
/// upstream and no `phrases:`.
pub async fn start_keyless(sign_conf: &str, tweak: impl FnOnce(&mut Config)) -> Server {
    start_with(sign_conf, tweak, false).await
}

async fn start_with(sign_conf: &str, tweak: impl FnOnce(&mut Config), keys: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("sign.conf");
    std::fs::write(
        &conf,
        sign_conf.replace("@DIR@", &dir.path().display().to_string()),
    )
    .unwrap();
    let mut config = Config::load(Some(dir.path().join("data")), None, Some(conf)).unwrap();
    tweak(&mut config);
    let service = daemon::build(config).await.expect("building the service");
    if keys {
        import_fixture_keys(&service.ctx.keys).await;
    }
    let server = support::serve(&service).await;
    Server {
        addr: server.addr,
        dir,
        _server: server,
    }
}

/// The fixture signd's two keys and its aliases.
pub async fn import_fixture_keys(keys: &signatrust::keys::KeyStore) {
    support::import_fixture_keys(keys).await;
    support::import_fixture_aliases(keys).await;
}

/// One plain exchange: write, read to EOF (bounded by 10 s).
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("reply within 10 s")
        .unwrap();
    out
}

/// The error text of a reply (without the newline), or "" for success.
pub fn err_text(reply: &[u8]) -> String {
    if reply.len() < 6 {
        return format!("<{} bytes>", reply.len());
    }
    let outlen = u16::from_be_bytes([reply[2], reply[3]]) as usize;
    String::from_utf8_lossy(reply.get(6 + outlen..).unwrap_or(&[]))
        .trim_end_matches('\n')
        .to_string()
}

pub fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}
