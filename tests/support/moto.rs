//! The KMS emulator for tests: moto's server mode (PyPI `moto[server]`,
//! installed by `scripts/install-deps` into `/opt/signatrust-moto`),
//! started by the test on a free loopback port and killed on drop.
//!
//! Keys are created with raw KMS JSON requests (`TrentService.CreateKey`),
//! not with the SDK the code under test uses. The process environment gets
//! dummy AWS credentials (moto checks no signature) and no shared config,
//! profile or instance metadata, so children (`signatrust-admin`,
//! `signatrustd`) use only what the test gives them.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The region the tests use.
pub const REGION: &str = "eu-central-1";

/// `moto_server`: `$SIGNATRUST_MOTO_SERVER`, the venv of
/// `scripts/install-deps`, or `moto_server` on `PATH`.
pub fn moto_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SIGNATRUST_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from("/opt/signatrust-moto/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    })
}

/// Dummy credentials and no other AWS configuration, for this process and
/// its children. Called once before any child starts.
pub fn isolate_aws_environment() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "signatrust-test"),
            ("AWS_SECRET_ACCESS_KEY", "signatrust-test-secret"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ] {
            std::env::set_var(k, v);
        }
        for k in [
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_KMS",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            std::env::remove_var(k);
        }
    });
}

/// A running `moto_server`, killed on drop.
pub struct Moto {
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl Moto {
    /// Starts one on a free loopback port, or returns `None` (saying so)
    /// when moto is not installed. In CI (`$CI` set) a missing moto is a
    /// failure, not a skip.
    pub fn start(log_dir: &std::path::Path) -> Option<Moto> {
        let Some(bin) = moto_server() else {
            let msg = "moto_server is not installed (scripts/install-deps)";
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        isolate_aws_environment();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = log_dir.join(format!("moto-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut moto = Moto { port, child, log };
        moto.wait_ready();
        Some(moto)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto_server exited ({status}):\n{}", self.log_text());
            }
            if self.kms("ListKeys", "{}").is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "moto_server did not answer within 60 s:\n{}",
            self.log_text()
        );
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One KMS JSON-protocol call (`TrentService.<action>`) over plain
    /// HTTP/1.1; the response body as JSON, or the status line and body.
    pub fn kms(&self, action: &str, body: &str) -> Result<serde_json::Value, String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let req = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Amz-Target: TrentService.{action}\r\n\
             Content-Type: application/x-amz-json-1.1\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=signatrust-test/20260101/{REGION}/kms/\
             aws4_request, SignedHeaders=host, Signature=00\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
        let resp = String::from_utf8_lossy(&resp);
        let (head, body) = resp.split_once("\r\n\r\n").ok_or("no HTTP response")?;
        let status = head.lines().next().unwrap_or_default();
        if !status.contains(" 200 ") {
            return Err(format!("{status}: {body}"));
        }
        serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))
    }

    /// A new symmetric encryption key: its (key id, ARN).
    pub fn create_key(&self) -> (String, String) {
        let v = self
            .kms(
                "CreateKey",
                r#"{"KeySpec":"SYMMETRIC_DEFAULT","KeyUsage":"ENCRYPT_DECRYPT"}"#,
            )
            .unwrap();
        let m = &v["KeyMetadata"];
        (
            m["KeyId"].as_str().unwrap().to_owned(),
            m["Arn"].as_str().unwrap().to_owned(),
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
