//! The packages (`scripts/build-packages`): the .deb and the .rpm are built
//! from the release binaries and hold the same files; the .deb installs on
//! this Debian machine with `dpkg -i` (creating the signatrust user and its
//! directories), `signatrustd --check-config` passes with the installed
//! configuration, the installed server starts as that user and answers,
//! and `dpkg --purge` leaves nothing behind.
//!
//! Needs root, dpkg-buildpackage (dpkg-dev, debhelper, fakeroot) and
//! rpmbuild (scripts/install-deps), as CI has; skipped with a message
//! otherwise, or when a `signatrust` package is already installed (the test
//! will not touch an operator's installation). Builds the release binaries
//! first unless they are up to date (scripts/test builds them before
//! `cargo test`).
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn euid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .unwrap()
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn user_exists(name: &str) -> bool {
    Command::new("getent")
        .args(["passwd", name])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why this machine cannot run the test, if it cannot.
fn cannot_run() -> Option<String> {
    if euid() != 0 {
        return Some("not root: dpkg -i needs root (CI runs as root)".into());
    }
    for tool in [
        "dpkg-buildpackage",
        "dh",
        "fakeroot",
        "rpmbuild",
        "dpkg-deb",
        "setpriv",
    ] {
        if !have(tool) {
            return Some(format!("{tool} is missing (scripts/install-deps)"));
        }
    }
    if installed("signatrust") {
        return Some("a signatrust package is installed here; not touching it".into());
    }
    // The test removes what the installed server made; never someone
    // else's store (the default data directory of a hand-run signatrustd).
    for dir in [
        "/var/lib/signatrust",
        "/etc/signatrust",
        "/var/log/signatrust",
    ] {
        if Path::new(dir).symlink_metadata().is_ok() {
            return Some(format!("{dir} exists already; not touching it"));
        }
    }
    None
}

/// Paths in the package, without the leading `.`, directories left out.
fn deb_files(deb: &Path) -> BTreeSet<String> {
    stdout(Command::new("dpkg-deb").arg("-c").arg(deb))
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').to_owned())
        .collect()
}

fn rpm_files(rpm: &Path) -> BTreeSet<String> {
    let dirs: BTreeSet<String> = stdout(
        Command::new("rpm")
            .args(["-qp", "--qf", "[%{FILEMODES:perms} %{FILENAMES}\n]"])
            .arg(rpm),
    )
    .lines()
    .filter(|l| l.starts_with('d'))
    .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
    .collect();
    stdout(Command::new("rpm").arg("-qlp").arg(rpm))
        .lines()
        .filter(|l| !dirs.contains(*l))
        .map(str::to_owned)
        .collect()
}

/// What both packages must hold: the binaries, the unit, sysusers,
/// tmpfiles and logrotate files, the example configuration, every man page
/// of man/ and the completions of completions/.
/// `unit_dir`: Debian 12's debhelper wants `/lib/systemd/system` (the same
/// directory on its merged /usr), rpm `/usr/lib/systemd/system`;
/// `zsh_dir`: where each distribution's zsh looks.
fn required(unit_dir: &str, zsh_dir: &str) -> BTreeSet<String> {
    let unit = format!("{unit_dir}/signatrustd.service");
    let mut want: BTreeSet<String> = [
        "/usr/sbin/signatrustd",
        "/usr/bin/signatrust-admin",
        unit.as_str(),
        "/usr/lib/sysusers.d/signatrust.conf",
        "/usr/lib/tmpfiles.d/signatrust.conf",
        "/etc/logrotate.d/signatrust",
        "/etc/signatrust/signatrust.toml",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for e in std::fs::read_dir(root().join("man")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let section = name.rsplit('.').next().unwrap().to_owned();
        want.insert(format!("/usr/share/man/man{section}/{name}.gz"));
    }
    for b in ["signatrustd", "signatrust-admin"] {
        want.insert(format!("/usr/share/bash-completion/completions/{b}"));
        want.insert(format!("{zsh_dir}/_{b}"));
        want.insert(format!("/usr/share/fish/vendor_completions.d/{b}.fish"));
    }
    want
}

/// Purges the package (and what the test itself made) even when an
/// assertion fails half-way.
struct Cleanup {
    created_user: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "signatrust"])
            .output();
        // The server's first start made a store and a KEK: the package keeps
        // a non-empty state directory on purge (signing keys), the test
        // does not.
        let _ = std::fs::remove_dir_all("/var/lib/signatrust");
        if self.created_user {
            let _ = Command::new("userdel").arg("signatrust").output();
            let _ = Command::new("groupdel").arg("signatrust").output();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An old-protocol ping (`00 00 00 00`, answered `00 00 00 00 00 00`)
/// from a reserved source port, as the installed configuration demands of
/// clients (the test runs as root).
fn pings(addr: SocketAddr) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for port in 600..1024u16 {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            if socket.bind(([127, 0, 0, 1], port).into()).is_err() {
                continue;
            }
            let Ok(Ok(s)) =
                tokio::time::timeout(Duration::from_secs(2), socket.connect(addr)).await
            else {
                return false;
            };
            let mut s = s.into_std().unwrap();
            s.set_nonblocking(false).unwrap();
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reply = Vec::new();
            return s.write_all(&[0, 0, 0, 0]).is_ok()
                && s.read_to_end(&mut reply).is_ok()
                && reply == [0; 6];
        }
        panic!("no free reserved port to ping from");
    })
}

#[test]
fn packages_build_install_start_and_purge_cleanly() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let listing = stdout(&mut Command::new(root().join("scripts/build-packages")));
    let pick = |ext: &str| -> PathBuf {
        let found: Vec<&str> = listing.lines().filter(|l| l.ends_with(ext)).collect();
        assert_eq!(found.len(), 1, "one {ext} in:\n{listing}");
        PathBuf::from(found[0])
    };
    let (deb, rpm) = (pick(".deb"), pick(".rpm"));

    // Contents: the same files in both, bar the zsh directory each
    // distribution's zsh reads and the documentation.
    let not_doc = |p: &String| !p.starts_with("/usr/share/doc/");
    let deb_list = deb_files(&deb);
    let rpm_list = rpm_files(&rpm);
    let want_deb = required("/lib/systemd/system", "/usr/share/zsh/vendor-completions");
    let want_rpm = required("/usr/lib/systemd/system", "/usr/share/zsh/site-functions");
    let deb_main: BTreeSet<String> = deb_list.iter().filter(|p| not_doc(p)).cloned().collect();
    let rpm_main: BTreeSet<String> = rpm_list.iter().filter(|p| not_doc(p)).cloned().collect();
    assert_eq!(deb_main, want_deb, "{} holds", deb.display());
    assert_eq!(rpm_main, want_rpm, "{} holds", rpm.display());
    for list in [&deb_list, &rpm_list] {
        assert!(
            list.contains("/usr/share/doc/signatrust/copyright"),
            "{list:?}"
        );
        // dh_compress gzips it in the .deb.
        assert!(
            list.iter()
                .any(|p| p.starts_with("/usr/share/doc/signatrust/operator-guide.md")),
            "{list:?}"
        );
    }
    // The configuration files are the operator's: kept on upgrade.
    let ctrl = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(ctrl.path()));
    let conffiles = std::fs::read_to_string(ctrl.path().join("conffiles")).unwrap();
    let conffiles: BTreeSet<&str> = conffiles.lines().collect();
    assert_eq!(
        conffiles,
        BTreeSet::from([
            "/etc/logrotate.d/signatrust",
            "/etc/signatrust/signatrust.toml"
        ])
    );
    let rpm_conf = stdout(
        Command::new("rpm")
            .arg("-qp")
            .arg("--configfiles")
            .arg(&rpm),
    );
    let rpm_conf: BTreeSet<&str> = rpm_conf.lines().collect();
    assert_eq!(rpm_conf, conffiles);
    // The rpm makes the user in %pre from a copy of the sysusers line (the
    // file is not installed yet then): the copy must match.
    let sysusers = std::fs::read_to_string(root().join("packaging/signatrust.sysusers")).unwrap();
    let scripts = stdout(Command::new("rpm").args(["-qp", "--scripts"]).arg(&rpm));
    for line in sysusers
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        assert!(
            scripts.contains(&format!("echo '{line}'")),
            "{line}\n{scripts}"
        );
    }
    // Installing must not start (or enable) the server: its unit
    // Conflicts= with obs-signd's, which it would stop.
    let postinst = std::fs::read_to_string(ctrl.path().join("postinst")).unwrap();
    assert!(!postinst.contains("deb-systemd-invoke"), "{postinst}");
    assert!(postinst.contains("systemd-sysusers"), "{postinst}");
    assert!(postinst.contains("systemd-tmpfiles"), "{postinst}");

    // Install as CI does, on this machine.
    let _cleanup = Cleanup {
        created_user: !user_exists("signatrust"),
    };
    let had_signd_log = Path::new("/var/log/signd.log").symlink_metadata().is_ok();
    run(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(user_exists("signatrust"), "dpkg -i made no signatrust user");
    for (dir, mode) in [
        ("/var/lib/signatrust", 0o700),
        ("/var/log/signatrust", 0o750),
    ] {
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!(md.mode() & 0o7777, mode, "{dir}");
        let owner = stdout(Command::new("stat").args(["-c", "%U:%G", dir]));
        assert_eq!(owner.trim(), "signatrust:signatrust", "{dir}");
    }
    if !had_signd_log {
        assert_eq!(
            std::fs::read_link("/var/log/signd.log").unwrap(),
            Path::new("signatrust/signd.log")
        );
    }
    assert_eq!(
        std::fs::read("/usr/lib/systemd/system/signatrustd.service").unwrap(),
        std::fs::read(root().join("packaging/signatrustd.service")).unwrap()
    );

    // As the unit runs it: the signatrust user, the installed config.
    // setpriv execs the program (runuser would stay its parent, and a kill
    // would miss the server).
    let as_service = |prog: &str| {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=signatrust",
            "--regid=signatrust",
            "--init-groups",
            "--",
            prog,
        ])
        .args(["--config", "/etc/signatrust/signatrust.toml"])
        .env_remove("RUST_LOG")
        .current_dir("/");
        c
    };
    let checked = stdout(as_service("/usr/sbin/signatrustd").arg("--check-config"));
    assert!(
        checked.contains("store sqlite:///var/lib/signatrust/signatrust.db")
            && checked.contains("/var/lib/signatrust/kek.key"),
        "{checked}"
    );

    // Started as the unit would (on a free port, not 5167): it answers,
    // and obs-signd's `logfile: /var/log/signd.log` works for a server that
    // may write only below /var/log/signatrust (a non-root user cannot
    // create files in /var/log; under the unit, ProtectSystem=strict and
    // LogsDirectory= leave the same): the symlink leads there.
    let conf_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        conf_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let sign_conf = conf_dir.path().join("sign.conf");
    std::fs::write(
        &sign_conf,
        "allow: 127.0.0.1\nlogfile: /var/log/signd.log\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &sign_conf,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut server = as_service("/usr/sbin/signatrustd")
        .args(["--listen", &addr.to_string()])
        .arg("--sign-conf")
        .arg(&sign_conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut up = false;
    while Instant::now() < deadline {
        if server.try_wait().unwrap().is_some() {
            break;
        }
        if pings(addr) {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        up,
        "the installed signatrustd did not answer:\n{}",
        std::fs::read_to_string(log.path()).unwrap_or_default()
    );
    if !had_signd_log {
        let owner =
            stdout(Command::new("stat").args(["-c", "%U:%G %a", "/var/log/signatrust/signd.log"]));
        assert_eq!(
            owner.trim(),
            "signatrust:signatrust 640",
            "/var/log/signatrust/signd.log"
        );
    }
    if have("logrotate") {
        let out = run(Command::new("logrotate").args(["-d", "/etc/logrotate.d/signatrust"]));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("error"), "{text}");
        assert!(text.contains("/var/log/signatrust/signd.log"), "{text}");
    }
    let keys = stdout(as_service("/usr/bin/signatrust-admin").args(["key", "list"]));
    assert!(!keys.contains("error"), "{keys}");

    // Purge: no file of the package, no log, no symlink.
    run(Command::new("dpkg").args(["--purge", "signatrust"]));
    assert!(!installed("signatrust"));
    for p in deb_list.iter().chain(
        [
            "/var/log/signatrust".to_owned(),
            "/etc/signatrust".to_owned(),
        ]
        .iter(),
    ) {
        assert!(
            Path::new(p).symlink_metadata().is_err(),
            "{p} is left after dpkg --purge"
        );
    }
    if !had_signd_log {
        assert!(Path::new("/var/log/signd.log").symlink_metadata().is_err());
    }
    // The store the server made is kept on purge (keys cannot be made
    // again); an empty state directory is not.
    assert!(Path::new("/var/lib/signatrust/kek.key").exists());
}
