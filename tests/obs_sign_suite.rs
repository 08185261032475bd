//! obs-sign's own test suite (`t/000_signd.t`, `t/001_sign.t` from the
//! unchanged source tarball in `../shared/oracles/`) run with `prove`, with
//! `signatrustd` standing in for its Perl `signd`: the suite runs
//! `./signd -t CMD USER ARGS…` and `./sign --test-sign ./signd …` in the
//! source directory, so `./signd` there is a two-line wrapper that execs the
//! built `signatrustd`, and `./sign` is the real C client built from the same
//! tarball. The suite's files are not touched.
//!
//! Two of the 52 tests are skipped by the suite itself when the Perl module
//! Crypt::GCrypt is missing (it is not packaged in Debian); they exercise the
//! Perl signd's gcrypt backend (`SIGN_GCRYPT=force`), which a stand-in has no
//! counterpart for. The test asserts those two are the only skips.

#[path = "support/client.rs"]
mod client;

use std::path::PathBuf;
use std::process::Command;

const SIGNATRUSTD: &str = env!("CARGO_BIN_EXE_signatrustd");

/// The source tree of the tarball, extracted under `dir`, with `./sign`
/// the real client and `./signd` a wrapper around `signatrustd`.
fn prepare(dir: &std::path::Path) -> PathBuf {
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(client::tarball())
        .arg("-C")
        .arg(dir)
        .output()
        .expect("run tar");
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let src = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("t/001_sign.t").exists())
        .expect("obs-sign source with t/001_sign.t in the tarball");
    std::fs::copy(client::sign_client(), src.join("sign")).unwrap();
    std::fs::rename(src.join("signd"), src.join("signd.perl")).unwrap();
    let wrapper = src.join("signd");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec '{SIGNATRUSTD}' \"$@\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    src
}

#[test]
fn obs_sign_t_suite_passes_with_signatrustd_as_signd() {
    let tmp = tempfile::Builder::new()
        .prefix("obst")
        .tempdir_in("/tmp")
        .unwrap();
    let src = prepare(tmp.path());
    let out = Command::new("prove")
        .args(["-v", "t/000_signd.t", "t/001_sign.t"])
        .current_dir(&src)
        .env("LANG", "C")
        .env("TMPDIR", tmp.path())
        .env_remove("GNUPGHOME")
        .env_remove("SIGN_CONF")
        .output()
        .expect("run prove (Debian package perl)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ok: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok ")).collect();
    let not_ok: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("not ok "))
        .collect();
    let skipped: Vec<&&str> = ok.iter().filter(|l| l.contains("# skip")).collect();
    println!(
        "obs-sign t/*.t with signatrustd as signd: {} of 52 ok ({} of them skipped by the suite), {} not ok",
        ok.len(),
        skipped.len(),
        not_ok.len()
    );
    for l in &skipped {
        println!("  {l}");
    }
    assert!(
        out.status.success() && not_ok.is_empty() && stdout.contains("Result: PASS"),
        "prove failed ({}):\n{stdout}\nstderr (tail):\n{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stderr), 60)
    );
    assert_eq!(ok.len(), 52, "52 tests in the two files:\n{stdout}");
    assert!(
        stdout.contains("Files=2, Tests=52"),
        "prove summary:\n{stdout}"
    );
    assert!(
        skipped.len() <= 2
            && skipped
                .iter()
                .all(|l| l.contains("Crypt::GCrypt not available")),
        "only the Crypt::GCrypt tests may be skipped: {skipped:?}"
    );
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
