//! The real obs-sign C client (`sign`) for the tests: the unchanged source in
//! `../shared/oracles/`, built once per target directory with
//! `build-sign-client.sh` (plain, and `--ssl` for TLS).
//!
//! `$SIGNATRUST_SIGN_CLIENT` / `$SIGNATRUST_SIGN_CLIENT_SSL` name prebuilt
//! binaries and skip the build. Otherwise the client is built into
//! `<target dir>/sign-client/<plain|ssl>-<tarball size>/`: built in a
//! private directory and renamed into place, so concurrent test processes
//! never see a half-built client (the loser of the rename race throws its
//! copy away). A missing oracles directory is a test failure, never a skip:
//! CI always has it.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `../shared/oracles` beside the workspace (or `$SIGNATRUST_ORACLES`).
pub fn oracles_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates: Vec<PathBuf> = match std::env::var_os("SIGNATRUST_ORACLES") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => manifest
            .ancestors()
            .map(|d| d.join("shared/oracles"))
            .collect(),
    };
    candidates
        .into_iter()
        .find(|d| d.join("build-sign-client.sh").exists())
        .unwrap_or_else(|| {
            panic!(
                "the obs-sign oracles are missing: no shared/oracles/build-sign-client.sh \
                 beside {} or above it (set $SIGNATRUST_ORACLES, or \
                 $SIGNATRUST_SIGN_CLIENT and $SIGNATRUST_SIGN_CLIENT_SSL); \
                 the real-client tests cannot run without it",
                manifest.display()
            )
        })
}

/// The obs-sign source tarball in the oracles directory.
pub fn tarball() -> PathBuf {
    let dir = oracles_dir();
    let found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("obs-sign-") && n.ends_with(".tar.gz")
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one obs-sign-*.tar.gz in {}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

/// The cargo target directory these tests were built into.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // <target>/<profile>/signatrustd
    Path::new(env!("CARGO_BIN_EXE_signatrustd"))
        .parent()
        .and_then(Path::parent)
        .expect("target dir of signatrustd")
        .to_path_buf()
}

fn build(ssl: bool) -> PathBuf {
    let flavour = if ssl { "ssl" } else { "plain" };
    let var = if ssl {
        "SIGNATRUST_SIGN_CLIENT_SSL"
    } else {
        "SIGNATRUST_SIGN_CLIENT"
    };
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "${var} = {} is not a file", p.display());
        return p;
    }
    let tar = tarball();
    let size = std::fs::metadata(&tar).unwrap().len();
    let base = target_dir().join("sign-client");
    let dir = base.join(format!("{flavour}-{size}"));
    let stamp = dir.join("sign-path");
    if let Ok(p) = std::fs::read_to_string(&stamp) {
        let p = PathBuf::from(p.trim());
        if p.is_file() {
            return p;
        }
    }
    std::fs::create_dir_all(&base).unwrap();
    let work = tempfile::Builder::new()
        .prefix(&format!(".{flavour}-build"))
        .tempdir_in(&base)
        .unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg(oracles_dir().join("build-sign-client.sh"));
    if ssl {
        cmd.arg("--ssl");
    }
    let out = cmd
        .arg(work.path())
        .output()
        .expect("run build-sign-client.sh");
    assert!(
        out.status.success(),
        "building the obs-sign client ({flavour}) failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let built = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let rel = built.strip_prefix(work.path()).unwrap().to_path_buf();
    std::fs::write(
        work.path().join("sign-path"),
        dir.join(&rel).display().to_string(),
    )
    .unwrap();
    let work = work.keep();
    if std::fs::rename(&work, &dir).is_err() {
        // Another process won the race: use its client.
        let _ = std::fs::remove_dir_all(&work);
    }
    let p = PathBuf::from(std::fs::read_to_string(&stamp).unwrap().trim());
    assert!(p.is_file(), "no client at {}", p.display());
    p
}

/// The client config lines for a server on 127.0.0.1:PORT. As root the
/// client binds a reserved source port, as obs-signd expects; otherwise it
/// is told `use-unprivileged-ports: true` (the test servers allow both).
pub fn client_conf(port: u16) -> String {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    let mut conf = format!("server: 127.0.0.1\nport: {port}\n");
    if !root {
        conf.push_str("use-unprivileged-ports: true\n");
    }
    conf
}

/// The plain-TCP client.
pub fn sign_client() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| build(false))
}

/// The client built with `-DWITH_OPENSSL` (`proto: ssl`).
pub fn sign_client_ssl() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| build(true))
}
