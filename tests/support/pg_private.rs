//! A private, throwaway PostgreSQL cluster for tests that stop and start the
//! database itself (`pg_ctl stop`/`start`), which they must never do to the
//! shared test server on 5432 that other tests use at the same time.
//!
//! [`PrivateCluster::start`] runs `initdb` into a temporary directory and
//! `pg_ctl start` on a free loopback port (TCP on 127.0.0.1 only, its Unix
//! socket in the temporary directory), with a password-protected superuser
//! `signatrust` and a database `signatrust`. The binaries are the newest
//! under `/usr/lib/postgresql/*/bin` (or `$SIGNATRUST_PG_BIN`). `initdb`
//! refuses to run as root, so as root (CI) every PostgreSQL command runs as
//! the `postgres` user through `runuser`, in a directory it owns. Dropping
//! the cluster stops it (`-m immediate`) and removes the directory.
//!
//! Returns `None` (after saying why) when no PostgreSQL server binaries are
//! installed, so that the tests using it skip like the other PostgreSQL
//! variants; CI installs them (`scripts/install-deps`).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A loopback port free at the moment.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The superuser's password (a throwaway cluster on loopback).
const PASSWORD: &str = "private-pw";

/// A running (or stopped) private cluster.
pub struct PrivateCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// `postgres` when the tests run as root, else `None` (this user).
    run_as: Option<String>,
    pub port: u16,
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The newest installed `/usr/lib/postgresql/N/bin` holding `initdb`.
fn find_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SIGNATRUST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Whether this process runs as root (the owner of `/proc/self`).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl PrivateCluster {
    /// Creates and starts a cluster; `None` without PostgreSQL binaries.
    pub fn start() -> Option<PrivateCluster> {
        let Some(bin) = find_bin() else {
            eprintln!(
                "no PostgreSQL server binaries under /usr/lib/postgresql (initdb); skipping \
                 the private-cluster test"
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("st-pg")
            .tempdir_in("/tmp")
            .unwrap();
        let run_as = is_root().then(|| "postgres".to_owned());
        if run_as.is_some() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown postgres {}", dir.path().display());
        }
        let port = free_port();
        let mut cluster = PrivateCluster {
            bin,
            dir,
            run_as,
            port,
        };
        let pwfile = cluster.dir.path().join("pw");
        std::fs::write(&pwfile, format!("{PASSWORD}\n")).unwrap();
        if cluster.run_as.is_some() {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&pwfile)
                .status()
                .unwrap();
        }
        let data = cluster.data_dir();
        cluster.pg_ok(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "signatrust",
                "--auth=scram-sha-256",
                "--pwfile",
                pwfile.to_str().unwrap(),
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        // Loopback TCP on our port, the socket in our directory, small and
        // fast (a throwaway: no fsync).
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n\
             shared_buffers = 16MB\nmax_connections = 60\n",
            cluster.dir.path().display()
        );
        cluster.append_conf(&conf);
        // The port was free a moment ago; another process may have taken
        // it since (the later `port =` line wins).
        for attempt in 0.. {
            cluster.append_conf(&format!("port = {}\n", cluster.port));
            if cluster.try_start() {
                break;
            }
            assert!(
                attempt < 3,
                "the private cluster does not start:\n{}",
                cluster.server_log()
            );
            cluster.port = free_port();
        }
        let port = cluster.port;
        cluster.pg_ok(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "signatrust",
                "signatrust",
            ],
        );
        Some(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Runs `bin/TOOL ARGS` (as `postgres` when root) with the password.
    fn pg(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .env("PGPASSWORD", PASSWORD)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()))
    }

    fn pg_ok(&self, tool: &str, args: &[&str]) -> Output {
        let out = self.pg(tool, args);
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}\nserver log:\n{}",
            text(&out),
            self.server_log()
        );
        out
    }

    /// The server's log so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// `postgres://signatrust:PW@127.0.0.1:PORT/signatrust`.
    pub fn url(&self) -> String {
        format!(
            "postgres://signatrust:{PASSWORD}@127.0.0.1:{}/signatrust",
            self.port
        )
    }

    /// Stops the server (`pg_ctl stop -m fast`: open connections are
    /// terminated, new ones refused) and waits until it is down.
    pub fn stop(&self) {
        let data = self.data_dir();
        self.pg_ok(
            "pg_ctl",
            &["stop", "-D", data.to_str().unwrap(), "-m", "fast", "-w"],
        );
    }

    fn append_conf(&self, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data_dir().join("postgresql.conf"))
            .unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    }

    /// `pg_ctl start`; whether the server came up.
    fn try_start(&self) -> bool {
        let (data, log) = (self.data_dir(), self.log_file());
        self.pg(
            "pg_ctl",
            &[
                "start",
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
            ],
        )
        .status
        .success()
    }

    /// Starts the stopped server on the same port and waits until it
    /// accepts connections.
    pub fn start_again(&self) {
        let (data, log) = (self.data_dir(), self.log_file());
        self.pg_ok(
            "pg_ctl",
            &[
                "start",
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
            ],
        );
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the private cluster does not listen on {}:\n{}",
                self.port,
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `pg_dump` of the database, as text.
    pub fn dump(&self) -> Vec<u8> {
        self.pg_ok(
            "pg_dump",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "signatrust",
                "signatrust",
            ],
        )
        .stdout
    }

    /// Loads a `pg_dump` text dump into a new database `name` (psql with
    /// `ON_ERROR_STOP`); returns its URL.
    pub fn restore(&self, name: &str, dump: &[u8]) -> String {
        let port = self.port.to_string();
        let conn = ["-h", "127.0.0.1", "-p", port.as_str(), "-U", "signatrust"];
        let mut args = conn.to_vec();
        args.push(name);
        self.pg_ok("createdb", &args);
        let file = self.dir.path().join(format!("{name}.sql"));
        std::fs::write(&file, dump).unwrap();
        let mut args = conn.to_vec();
        args.extend(["-v", "ON_ERROR_STOP=1", "-q", "-d", name, "-f"]);
        args.push(file.to_str().unwrap());
        self.pg_ok("psql", &args);
        format!(
            "postgres://signatrust:{PASSWORD}@127.0.0.1:{}/{name}",
            self.port
        )
    }

    /// The cluster's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.pg(
            "pg_ctl",
            &[
                "stop",
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
            ],
        );
    }
}
