//! Set-up shared by the integration tests (`tests/*.rs`) and the compat
//! replay (`compat-tests/`): where the fixtures are, the fixture signd's
//! keys and state, and an in-process server on `127.0.0.1:0`. Each test
//! crate includes it with `mod support;` (or `#[path]`), so not every crate
//! uses every piece.
#![allow(dead_code)]
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use tokio::net::TcpListener;

use signatrust::daemon::Service;
use signatrust::keys::KeyStore;
use signatrust::secret::SecretBytes;
use signatrust::sign::import_tsk;

/// The fixture directory: `$SIGNATRUST_FIXTURES` or the committed link at
/// the workspace root (also from `tools/bench`, which includes this file).
pub fn fixtures() -> PathBuf {
    if let Some(dir) = std::env::var_os("SIGNATRUST_FIXTURES") {
        return PathBuf::from(dir);
    }
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|d| d.join("obs-sign-fixtures"))
        .find(|d| d.exists())
        .unwrap_or_else(|| manifest.join("obs-sign-fixtures"))
}

/// A server running on a spawned task until this is dropped or stopped.
pub struct Running {
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Shuts the server down as SIGTERM does and waits until it has
    /// finished the requests in flight.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("the server task panicked");
    }
}

/// Serves `service` on a fresh `127.0.0.1:0` listener, as the daemon does
/// (`server::run`), until the returned handle is dropped.
pub async fn serve(service: &Service) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, service)
}

/// [`serve`] on a listener the caller bound (another address, IPv6).
pub fn serve_on(listener: TcpListener, service: &Service) -> Running {
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ctx, edge) = (service.ctx.clone(), service.edge.clone());
    let task = tokio::spawn(async move {
        signatrust::server::run(
            listener,
            async {
                let _ = stopped.await;
            },
            ctx,
            edge,
        )
        .await;
    });
    Running { addr, stop, task }
}

/// The two keys of the fixture signd (obs-sign's t/ keys, one of them
/// behind the passphrase "xxx"), under the users the fixtures use.
pub async fn import_fixture_keys(keys: &KeyStore) {
    let fx = fixtures();
    for (name, file, phrase) in [
        ("defaultkey@localobs", "secret-key.asc", None),
        (
            "defaultkeysec@localobs",
            "secret-key-passphrase.asc",
            Some("xxx"),
        ),
    ] {
        let data = std::fs::read(fx.join("obs-sign-t-fixtures").join(file)).unwrap();
        let phrase = phrase.map(|p| SecretString::from(p.to_string()));
        let key =
            import_tsk(&data, phrase.as_ref()).unwrap_or_else(|e| panic!("importing {file}: {e}"));
        keys.import(name, &key).await.unwrap();
    }
}

/// The fixture signd's aliases directory (first line of each file).
pub async fn import_fixture_aliases(keys: &KeyStore) {
    for (name, line) in state_files("aliases") {
        let target = String::from_utf8_lossy(&line)
            .trim_end_matches('\r')
            .to_string();
        keys.set_alias(&name, &target).await.unwrap();
    }
}

/// The fixture signd's symmetric encryption keys (`encryptionkeys:`,
/// spec §8.2; first line of each file).
pub async fn import_fixture_encryption_keys(keys: &KeyStore) {
    for (id, line) in state_files("enckeys") {
        keys.put_encryption_key(&id, &SecretBytes::from_slice(&line))
            .await
            .unwrap();
    }
}

/// `(file name, first line)` of every file in `signd-state/<dir>`.
fn state_files(dir: &str) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(fixtures().join("signd-state").join(dir))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let data = std::fs::read(entry.path()).unwrap();
            let line = data.split(|&b| b == b'\n').next().unwrap_or(&[]).to_vec();
            (entry.file_name().to_string_lossy().into_owned(), line)
        })
        .collect()
}
