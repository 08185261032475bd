//! The command-line definitions both binaries share: [`GlobalArgs`] (where
//! the store and its KEK live) and the daemon's [`DaemonArgs`]. Defined once
//! for parsing, `--help` and the man pages (`tests/man.rs`).
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser};

use crate::config::{Config, ConfigError};

/// Options shared by both binaries: where the store and its KEK live.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Directory of the embedded store (signatrust.db) and the KEK file
    /// (kek.key); created by signatrustd's first start and by the admin
    /// verbs that make a store (init, key generate, key import, enckey
    /// generate|import, import-signd, db migrate). Default:
    /// /var/lib/signatrust, or the [store] of --config.
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Signatrust configuration file (TOML).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// The key database, overriding `[store] url`: `sqlite:///PATH` or
    /// `postgres://USER@HOST/DB` (prefer the environment variable for a URL
    /// with a password: command lines are visible to other users).
    #[arg(
        long,
        value_name = "URL",
        env = "SIGNATRUST_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
}

impl GlobalArgs {
    /// The configuration these flags name: `--config` (else the defaults
    /// for `--data-dir`), with `sign_conf`, then `--database-url` or
    /// `$SIGNATRUST_DATABASE_URL` in place of `[store] url`.
    ///
    /// # Errors
    /// A configuration file that does not load, or a database URL that is
    /// not `sqlite:` or `postgres:`.
    pub fn load_config(&self, sign_conf: Option<PathBuf>) -> Result<Config, ConfigError> {
        let mut config = Config::load(self.data_dir.clone(), self.config.clone(), sign_conf)?;
        if let Some(url) = &self.database_url {
            config.set_store_url(url, "--database-url (or $SIGNATRUST_DATABASE_URL)")?;
        }
        Ok(config)
    }
}

/// The obs-signd compatible signing server.
#[derive(Debug, Parser)]
#[command(
    name = "signatrustd",
    version,
    after_help = "Example:\n  signatrustd --config /etc/signatrust/signatrust.toml --sign-conf /etc/sign.conf\n\n\
Exit status:\n  0   stopped by SIGTERM/SIGINT, or --check-config found no error\n  \
1   failure (cannot listen, store unreachable, ...)\n  2   usage error\n  \
78  configuration error (EX_CONFIG): use RestartPreventExitStatus=78 in the unit\n\n\
The data directory defaults to /var/lib/signatrust; see signatrust.toml(5)."
)]
pub struct DaemonArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// An obs-signd sign.conf to honour (port, allow, user, map, ...).
    #[arg(long, value_name = "FILE")]
    pub sign_conf: Option<PathBuf>,
    /// Listen on this address instead of the configured one (repeatable).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// Load and validate the configuration, print warnings, and exit.
    #[arg(long)]
    pub check_config: bool,
    /// obs-signd's test hook: read one framed request on stdin, write the
    /// reply on stdout; nothing on stderr unless RUST_LOG is set. The
    /// sign.conf is `--sign-conf`, else `$SIGN_CONF`, else (without
    /// --data-dir/--config) /etc/sign.conf. Without --data-dir/--config the
    /// keys come from the gpg home named by sign.conf, held in a scratch
    /// store that is deleted on exit.
    #[arg(long, conflicts_with = "test")]
    pub test_sign: bool,
    /// Run one command (`-t CMD USER ARGS…`) and print the raw reply, as
    /// `signd -t` does. Same configuration rules as --test-sign.
    #[arg(short = 't', value_name = "CMD USER ARGS", num_args = 1.., allow_hyphen_values = true)]
    pub test: Option<Vec<String>>,
}

impl DaemonArgs {
    /// `--test-sign` or `-t`: one request, no socket.
    pub fn test_mode(&self) -> bool {
        self.test_sign || self.test.is_some()
    }
}
