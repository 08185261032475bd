//! The `signatrust-admin` command line, defined once for parsing, `--help`
//! and the man page.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::cli::GlobalArgs;

/// The exit status section of `--help` and the man page (see
/// [`super::exit`]).
const EXIT_STATUS_HELP: &str = "\
Exit status:
  0   success
  1   failure (unknown key, bad input file, wrong passphrase, store error)
  2   usage error (unknown option, bad value, bad name)
  78  configuration error (EX_CONFIG: signatrust.toml, sign.conf, KEK, a
      SQLite store that does not exist)

The store is the one of --data-dir (default /var/lib/signatrust) or of the
[store] section of --config. Names are key names as clients send them
(`sign -u NAME`): no '/', ':', control characters or leading '.'.";

/// Manage the keys of a Signatrust signing server.
#[derive(Debug, Parser)]
#[command(
    name = "signatrust-admin",
    version,
    // Every verb has `--help` and a man page; a `help` verb would be a
    // page that does not exist.
    disable_help_subcommand = true,
    after_help = EXIT_STATUS_HELP,
    after_long_help = EXIT_STATUS_HELP
)]
pub struct AdminCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the key store the configuration names, with its data
    /// directory (mode 0700) and, for [kms] provider = "file", its KEK
    /// file, and bind the store to the configured KEK (its KEK canary).
    /// An existing store is opened and checked instead. Verbs that only
    /// read or change what a store holds refuse a SQLite store that does
    /// not exist, so that a mistyped --data-dir creates nothing.
    #[command(
        after_help = "Example:\n  signatrust-admin --config /etc/signatrust/signatrust.toml init"
    )]
    Init,
    /// Migrate an obs-signd installation: keys of every user with a phrases
    /// file, other secret keys that can decrypt (for decryption only),
    /// aliases and symmetric encryption keys. Idempotent.
    ImportSignd(ImportSigndArgs),
    /// Check OBS project keys: decrypt every `_signkey` blob found under
    /// DIR (e.g. /srv/obs/projects) with the stored keys and confirm the
    /// secret key matches the `_pubkey` beside it. Prints the failures and
    /// a summary; fails if any blob fails.
    CheckBlobs(CheckBlobsArgs),
    /// Generate, import, inspect, export, extend, replace, delete and
    /// restore signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage user aliases (signd's aliases directory), including the
    /// `:enc` and `:enc:<user>` aliases that choose keygen's blob
    /// encryption key.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Manage the symmetric encryption keys of "01" blobs (signd's
    /// encryptionkeys directory).
    #[command(subcommand)]
    Enckey(EnckeyCommand),
    /// Show or set the key used for requests with an empty user.
    #[command(subcommand)]
    DefaultUser(DefaultUserCommand),
    /// Manage the key-encryption key (KEK) that wraps the data keys:
    /// create it, show which KEK wraps the stored secrets, migrate them to
    /// another KEK (e.g. from the key file to an HSM).
    #[command(subcommand)]
    Kek(KekCommand),
    /// Check, query and prune the audit trail (every signing request and
    /// admin change, hash-chained in the key database). Needs no KEK.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The key database's schema: which migrations it has, and applying
    /// the missing ones (no KEK needed).
    #[command(subcommand)]
    Db(DbCommand),
    /// Write a consistent copy of the SQLite store to FILE (mode 0600)
    /// while servers keep running. The copy holds only wrapped secrets: it
    /// opens nothing without the store's KEK, which must be backed up
    /// separately. Restore by serving the copy (`--database-url
    /// sqlite:///FILE`, or as signatrust.db in the data directory) with
    /// that KEK. A PostgreSQL store is backed up with pg_dump.
    #[command(
        after_help = "Example:\n  signatrust-admin backup /var/backups/signatrust-$(date +%F).db"
    )]
    Backup {
        /// The new file; refused if it exists.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Show the database (password removed), its backend, and each
    /// migration of this build as applied or pending. Changes nothing;
    /// exits 1 if a migration is pending, 78 if a SQLite store does not
    /// exist.
    #[command(
        after_help = "Example:\n  SIGNATRUST_DATABASE_URL=postgres://signatrust@db/signatrust \\\n    signatrust-admin db status"
    )]
    Status,
    /// Apply the migrations the database lacks, in order, each in its own
    /// transaction (also done whenever a server or admin verb opens the
    /// store). Run it once before rolling out servers of a new version on
    /// a shared PostgreSQL store. On a SQLite store that does not exist
    /// yet it creates the store, and the data directory (mode 0700).
    #[command(
        after_help = "Example:\n  signatrust-admin --database-url postgres://signatrust@db/signatrust db migrate"
    )]
    Migrate,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain from its first row (or the anchor a prune
    /// left) to its last: fails, naming the row, if a row was edited,
    /// inserted or removed.
    #[command(after_help = "Example:\n  signatrust-admin audit verify")]
    Verify,
    /// Print audit records, oldest first: one tab-separated line each, or
    /// one JSON object per line with --json.
    #[command(
        after_help = "Example:\n  signatrust-admin audit list --key obs-signkey --since 7d --json"
    )]
    List {
        /// Only records of this key (the user the request resolved to).
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// Only records at or after TIME (RFC 3339, YYYY-MM-DD in UTC, or
        /// an age such as 7d, 12h, 30m).
        #[arg(long, value_name = "TIME", value_parser = time_arg)]
        since: Option<String>,
        /// Only records before TIME (same forms as --since).
        #[arg(long, value_name = "TIME", value_parser = time_arg)]
        until: Option<String>,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove the oldest records written before TIME (same forms as
    /// --since, e.g. 365d); the last removed record's hash is kept as the
    /// anchor, so the rest of the chain still verifies.
    #[command(after_help = "Example:\n  signatrust-admin audit prune --before 365d")]
    Prune {
        /// Remove records written before TIME (RFC 3339, YYYY-MM-DD in
        /// UTC, or an age such as 365d).
        #[arg(long, value_name = "TIME", value_parser = time_arg)]
        before: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KekCommand {
    /// Create the configured KEK. With provider "pkcs11": generate a
    /// non-extractable AES-256 key labelled key_label on the token
    /// (refused if the label exists). With provider "aws-kms": create a
    /// symmetric KMS encryption key and the alias key_id ("alias/NAME",
    /// refused if the alias exists). With provider "file": create the
    /// 32-byte key file (refused if it exists).
    #[command(
        after_help = "Example:\n  signatrust-admin --config /etc/signatrust/signatrust.toml kek create"
    )]
    Create,
    /// Show the configured KEK (provider, id, whether it opens) and how many
    /// key and encryption-key rows each KEK id wraps; rows not under the
    /// configured KEK are flagged. Fails if the KEK does not open or such
    /// rows exist; during an online rotation (kek rotate) it reports how
    /// many rows the new KEK opens, and, run with the new KEK, fails only
    /// while some row has no wrap under it yet.
    #[command(after_help = "Example:\n  signatrust-admin kek status --json")]
    Status {
        /// One JSON object (provider, kek_id, opens, error, store,
        /// store_exists, store_kek_id, wrapped, and rotation: null, or to, rows, ready,
        /// pending, configured while `kek rotate` is under way).
        #[arg(long)]
        json: bool,
    },
    /// Re-wrap every data key of the store under the KEK described by the
    /// [kms] section of FILE, in one database transaction (all or nothing).
    /// The store and the current KEK are those of --data-dir/--config.
    /// Afterwards serve the store with FILE's [kms] settings.
    #[command(
        after_help = "Example:\n  signatrust-admin --config old.toml kek rewrap --to-config hsm.toml"
    )]
    Rewrap {
        /// A Signatrust configuration file whose [kms] section names the new
        /// KEK (only [kms] is used); the KEK must exist (kek create).
        #[arg(long, value_name = "FILE")]
        to_config: PathBuf,
    },
    /// Move the store to the KEK of FILE's [kms] section while servers keep
    /// serving. First run: every data key is wrapped by the new KEK as
    /// well, BATCH rows per transaction; servers on either KEK keep
    /// working, and an interrupted run is resumed by running it again.
    /// Then switch every server to FILE's [kms] (rolling restart; `kek
    /// status` with FILE says whether a server on it opens every row), and
    /// end with --finish, which moves the new wraps into the rows in one
    /// transaction; from then on the old KEK is refused.
    #[command(after_help = "Example:
  signatrust-admin --config old.toml kek rotate --to-config new.toml
                        # restart each server with new.toml's [kms], then:
                        signatrust-admin --config old.toml kek rotate --to-config new.toml --finish")]
    Rotate {
        /// A Signatrust configuration file whose [kms] section names the new
        /// KEK (only [kms] is used); the KEK must exist (kek create).
        #[arg(long, value_name = "FILE")]
        to_config: PathBuf,
        /// Rows per transaction.
        #[arg(long, value_name = "N", default_value_t = 500,
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
        /// End the rotation: every row takes its new wrap, in one
        /// transaction (refused while any row has none yet).
        #[arg(long)]
        finish: bool,
    },
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  signatrust-admin import-signd --sign-conf /etc/sign.conf --dry-run\n  \
                         signatrust-admin import-signd --sign-conf /etc/sign.conf --jobs 4"
)]
pub struct ImportSigndArgs {
    /// The obs-signd sign.conf naming phrases:, aliases:, encryptionkeys:
    /// and gnupghome: (default: `sign_conf` of the configuration file).
    #[arg(long, value_name = "FILE")]
    pub sign_conf: Option<PathBuf>,
    /// The gpg home holding the signd keys, when sign.conf has no gnupghome:
    /// (default: $GNUPGHOME).
    #[arg(long, value_name = "DIR")]
    pub gnupghome: Option<PathBuf>,
    /// The gpg binary to export keys with.
    #[arg(long, value_name = "PATH", default_value = "gpg")]
    pub gpg: PathBuf,
    /// Report what would be imported and every problem; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// gpg exports to run at once (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
}

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  signatrust-admin check-blobs /srv/obs/projects")]
pub struct CheckBlobsArgs {
    /// Directories to search for `_signkey` files (each checked against
    /// the `_pubkey` in the same directory), e.g. /srv/obs/projects.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// A key name, alias or user as clients send it (`sign -u NAME`): what
/// signd accepts as a user (no '/', no control character, no leading '.')
/// that the store can hold (not empty, at most 255 bytes) and that a client
/// can reach (no ':', which clients use to prefix the hash). The error
/// names the value.
pub fn key_name(s: &str) -> Result<String, String> {
    crate::keys::validate_name(s).map_err(|e| e.to_string())?;
    if s.contains(':') {
        return Err(format!(
            "invalid name {s:?}: contains ':' (clients send HASH:USER, so no client could \
             reach it)"
        ));
    }
    Ok(s.to_owned())
}

/// An alias: a [`key_name`], or `:enc` / `:enc:USER` (keygen's blob
/// encryption target) with USER a [`key_name`].
pub fn alias_name(s: &str) -> Result<String, String> {
    match s.strip_prefix(":enc") {
        Some("") => Ok(s.to_owned()),
        Some(rest) => match rest.strip_prefix(':') {
            Some(user) => key_name(user)
                .map(|_| s.to_owned())
                .map_err(|e| format!("invalid alias {s:?}: {e}")),
            None => Err(format!(
                "invalid alias {s:?}: only :enc and :enc:USER may start with ':'"
            )),
        },
        None => key_name(s),
    }
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a new signing key under NAME, shaped as gpg 2.2 makes it:
    /// a primary key that signs and certifies, the user ID and its
    /// self-signature, and with --encryption-subkey an encryption subkey
    /// (needed by the signd key of an OBS server for `keygen` and
    /// `privsign`). A revocation certificate is saved to
    /// --revocation-cert, else to NAME.rev in the data directory; its path
    /// is printed.
    #[command(
        after_help = "Example:\n  signatrust-admin key generate obs@example.org --type rsa4096 \\\n    \
        --uid 'Build Service <obs@example.org>' --expire 730 --encryption-subkey"
    )]
    Generate {
        /// The key's name: the user field clients send (`sign -u NAME`).
        #[arg(value_parser = key_name)]
        name: String,
        /// Algorithm and size of the primary key.
        #[arg(long = "type", value_enum)]
        key_type: GenType,
        /// User ID, e.g. "Build Service <obs@example.org>".
        #[arg(long)]
        uid: String,
        /// Days until the key expires (0: never). obs-sign's `sign -x`
        /// (extend) and `sign -C` (certificate) need an expiring key.
        #[arg(long, value_name = "DAYS", default_value_t = 0)]
        expire: u64,
        /// Add an encryption subkey (gpg's pairing for the type).
        #[arg(long)]
        encryption_subkey: bool,
        /// Where to write the revocation certificate (armored; refused if
        /// the file exists). Default: NAME.rev in the data directory.
        #[arg(long, value_name = "PATH")]
        revocation_cert: Option<PathBuf>,
    },
    /// Import an OpenPGP secret key (armored or binary) under NAME. A
    /// protected key is unlocked with --passphrase-file, else with a
    /// passphrase asked on the terminal.
    #[command(
        after_help = "Example:\n  signatrust-admin key import obs@example.org secret.asc \
        --passphrase-file phrase"
    )]
    Import {
        /// The key's name: the user field clients send.
        #[arg(value_parser = key_name)]
        name: String,
        /// The secret key, armored or binary (`gpg --export-secret-keys`).
        file: PathBuf,
        /// File whose first line is the key's passphrase.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// List keys: name, algorithm and size, fingerprint, user IDs,
    /// created, expires, aliases (tab-separated; dates UTC).
    #[command(after_help = "Example:\n  signatrust-admin key list --json | jq -r '.[].name'")]
    List {
        /// One JSON array of objects instead of lines.
        #[arg(long)]
        json: bool,
        /// List retired keys (restorable with `key restore`) instead.
        #[arg(long)]
        deleted: bool,
    },
    /// Show one key: fingerprint, algorithm, user IDs, created, expires,
    /// subkeys, the aliases pointing at it, the KEK that wraps it.
    #[command(after_help = "Example:\n  signatrust-admin key show obs@example.org --json")]
    Show {
        /// The key's name.
        name: String,
        /// A JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Print the public key of NAME: armored OpenPGP (what `pubkey`
    /// returns) or the primary key as PEM (SubjectPublicKeyInfo).
    #[command(after_help = "Example:\n  signatrust-admin key export obs@example.org > obs.asc")]
    Export {
        /// The key's name.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Armor)]
        format: ExportFormat,
    },
    /// Retire the key NAME: it stops serving at once and is kept, with its
    /// wrapped secret, for --retention-days (`key restore` brings it back).
    /// Asks on a terminal unless --yes. Refused while aliases point at it,
    /// unless --force.
    #[command(after_help = "Example:\n  signatrust-admin key delete old@example.org --yes")]
    Delete {
        /// The key's name.
        name: String,
        /// Do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Delete even though aliases point at the key (they then resolve
        /// to no key).
        #[arg(long)]
        force: bool,
        /// Destroy the wrapped secret now (and any retired copy): no restore.
        #[arg(long)]
        now: bool,
        /// Days the retired key stays restorable.
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        retention_days: u64,
    },
    /// Bring back a key retired by `key delete` or `key replace`. One
    /// retired copy is kept per name: deleting or replacing a key again
    /// discards the older copy. To undo a replace, use --swap.
    #[command(
        after_help = "Examples:\n  signatrust-admin key restore old@example.org\n  \
                            signatrust-admin key restore --swap obs@example.org   # undo a replace"
    )]
    Restore {
        /// The key's name.
        name: String,
        /// When a live key holds the name (after `key replace`): put the
        /// retired key back in its place, in one transaction, and retire
        /// the live one (restorable in turn).
        #[arg(long)]
        swap: bool,
        /// With --swap: days the key swapped out stays restorable.
        #[arg(long, value_name = "DAYS", default_value_t = 30, requires = "swap")]
        retention_days: u64,
    },
    /// Swap the key under NAME for the secret key in FILE or a newly
    /// generated one, in one transaction: every request sees the old key
    /// or the new one, never "unknown key". The old key is retired
    /// (restorable with `key restore` once the new one is deleted).
    #[command(
        after_help = "Example:\n  signatrust-admin key replace obs@example.org new-secret.asc\n  \
        signatrust-admin key replace obs@example.org --generate --type ed25519 --uid 'OBS <obs@example.org>'"
    )]
    Replace {
        /// The key's name.
        name: String,
        /// The new secret key, armored or binary.
        #[arg(required_unless_present = "generate", conflicts_with = "generate")]
        file: Option<PathBuf>,
        /// File whose first line is FILE's passphrase.
        #[arg(long, value_name = "FILE", requires = "file")]
        passphrase_file: Option<PathBuf>,
        /// Generate the new key (--type, --uid, --expire,
        /// --encryption-subkey as for `key generate`).
        #[arg(long, requires_all = ["key_type", "uid"])]
        generate: bool,
        /// With --generate: algorithm and size of the new key.
        #[arg(long = "type", value_enum, requires = "generate")]
        key_type: Option<GenType>,
        /// With --generate: the new key's user ID.
        #[arg(long, requires = "generate")]
        uid: Option<String>,
        /// With --generate: days until the new key expires (0: never).
        #[arg(long, value_name = "DAYS", default_value_t = 0, requires = "generate")]
        expire: u64,
        /// With --generate: add an encryption subkey.
        #[arg(long, requires = "generate")]
        encryption_subkey: bool,
        /// Days the old key stays restorable.
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        retention_days: u64,
    },
    /// Extend the expiry of NAME (or, with --expiring-within, of every key
    /// that expires within DAYS or has expired) with new self-signatures
    /// made here, so `pubkey` returns the extended key. Subkeys that expire
    /// are extended to the same date. Signatures made before stay valid.
    #[command(
        after_help = "Examples:\n  signatrust-admin key extend obs@example.org --days 730\n  \
        signatrust-admin key extend --expiring-within 30 --by 365 --dry-run"
    )]
    Extend {
        /// The key's name (or --expiring-within).
        #[arg(
            required_unless_present = "expiring_within",
            conflicts_with = "expiring_within"
        )]
        name: Option<String>,
        /// New expiry: DAYS from now.
        #[arg(long, value_name = "DAYS", required_unless_present = "by",
              conflicts_with = "expiring_within", value_parser = clap::value_parser!(u64).range(1..))]
        days: Option<u64>,
        /// Every key that expires within DAYS from now (expired ones too).
        #[arg(long, value_name = "DAYS", requires = "by")]
        expiring_within: Option<u64>,
        /// With --expiring-within: the new expiry, DAYS from now.
        #[arg(long, value_name = "DAYS", requires = "expiring_within",
              value_parser = clap::value_parser!(u64).range(1..))]
        by: Option<u64>,
        /// Allow a new expiry earlier than the key's current one (or an
        /// expiry for a key that never expires); refused otherwise.
        #[arg(long, requires = "days")]
        shorten: bool,
        /// List what would be extended; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `key export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// ASCII-armored OpenPGP public key (as `pubkey` returns it).
    Armor,
    /// The primary key as a PEM SubjectPublicKeyInfo (RSA, DSA, ECDSA,
    /// Ed25519), e.g. for `openssl` or sigstore.
    Pem,
}

/// Key types `key generate` makes (with --encryption-subkey, gpg's matching
/// encryption subkey).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GenType {
    /// RSA 2048 (RSA encryption subkey).
    Rsa2048,
    /// RSA 3072 (RSA encryption subkey).
    Rsa3072,
    /// RSA 4096 (RSA encryption subkey).
    Rsa4096,
    /// EdDSA on Ed25519 (Curve25519 ECDH encryption subkey).
    Ed25519,
    /// DSA, 2048-bit p and 256-bit q (ElGamal encryption subkey).
    Dsa2048,
    /// ECDSA on NIST P-256 (ECDH subkey). rpm 4.18 cannot verify ECDSA.
    Nistp256,
    /// ECDSA on NIST P-384 (ECDH subkey). rpm 4.18 cannot verify ECDSA.
    Nistp384,
}

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Make ALIAS resolve to TARGET, an existing key (for `:enc` aliases
    /// also an encryption key id). Replaces an existing alias.
    #[command(
        visible_alias = "set",
        after_help = "Examples:\n  \
        signatrust-admin alias add alice@example.org obs@example.org\n  \
        signatrust-admin alias add :enc:alice 0123456789ABCDEF"
    )]
    Add {
        /// The alias: a name clients send, or `:enc` / `:enc:USER`.
        #[arg(value_parser = alias_name)]
        alias: String,
        /// The key (or encryption key id) it stands for.
        #[arg(value_parser = key_name)]
        target: String,
    },
    /// Remove ALIAS.
    #[command(after_help = "Example:\n  signatrust-admin alias remove alice@example.org")]
    Remove {
        /// The alias.
        alias: String,
    },
    /// List aliases: alias, target (tab-separated).
    #[command(after_help = "Example:\n  signatrust-admin alias list --json")]
    List {
        /// One JSON array of {alias, target} objects.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EnckeyCommand {
    /// Generate a symmetric encryption key as `signd --gen-enckey` does and
    /// print its id (16 upper-case hex digits); with --alias also point
    /// that `:enc` alias at it.
    #[command(after_help = "Example:\n  signatrust-admin enckey generate --alias :enc")]
    Generate {
        /// `:enc` or `:enc:USER` to point at the new key.
        #[arg(long, value_parser = alias_name)]
        alias: Option<String>,
    },
    /// List encryption keys: id, created, the KEK that wraps it, aliases.
    #[command(after_help = "Example:\n  signatrust-admin enckey list --json")]
    List {
        /// One JSON array of objects.
        #[arg(long)]
        json: bool,
    },
    /// Import a signd encryption key file (one line of 144 hex digits),
    /// named by its id, the file name (16 upper-case hex digits).
    #[command(
        after_help = "Example:\n  signatrust-admin enckey import /srv/signd/encryptionkeys/0123456789ABCDEF"
    )]
    Import {
        /// The key file; its name is the key id.
        file: PathBuf,
    },
    /// Delete an encryption key. Blobs encrypted to it can no longer be
    /// used. Refused while `:enc` aliases point at it, unless --force.
    #[command(after_help = "Example:\n  signatrust-admin enckey delete 0123456789ABCDEF --yes")]
    Delete {
        /// The key id.
        id: String,
        /// Do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Delete even though aliases point at it.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DefaultUserCommand {
    /// Print the store's default user (the key for requests with an empty
    /// user when the configuration sets none).
    #[command(after_help = "Example:\n  signatrust-admin default-user show")]
    Show,
    /// Set the store's default user to an existing key; `--clear` removes
    /// it. `user:` in sign.conf or [users] default_user take precedence.
    #[command(after_help = "Example:\n  signatrust-admin default-user set obs@example.org")]
    Set {
        /// The key's name.
        #[arg(value_parser = key_name, required_unless_present = "clear")]
        name: Option<String>,
        /// Remove the default user.
        #[arg(long, conflicts_with = "name")]
        clear: bool,
    },
}

/// A time for `--since`, `--until`, `--before`: RFC 3339, a UTC date
/// `YYYY-MM-DD`, or an age `N` + `d`/`h`/`m`/`s` before `now_us`.
pub(super) fn parse_time(s: &str, now_us: i64) -> anyhow::Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    let unit = match s.chars().last() {
        Some('d') => 86_400,
        Some('h') => 3_600,
        Some('m') => 60,
        Some('s') => 1,
        _ => 0,
    };
    if unit > 0 {
        if let Ok(n) = s[..s.len() - 1].parse::<i64>() {
            if let Some(age) = n.checked_mul(unit * 1_000_000) {
                return Ok(now_us.saturating_sub(age));
            }
        }
    }
    anyhow::bail!("bad time '{s}': expected RFC 3339 (2026-01-31T12:00:00Z), a date (2026-01-31) or an age (30d, 12h, 15m, 10s)")
}

/// A `--since`, `--until` or `--before` value, checked when the arguments
/// are parsed (a bad one is a usage error, exit 2); [`parse_time`] reads it
/// against the clock later.
fn time_arg(s: &str) -> Result<String, String> {
    parse_time(s, 0)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}
