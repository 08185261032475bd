//! The `signatrust-admin` command line, defined once for parsing, `--help`
//! and the man page.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::cli::GlobalArgs;

/// Manage the keys of a Signatrust signing server.
#[derive(Debug, Parser)]
#[command(name = "signatrust-admin", version)]
pub struct AdminCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate an obs-signd installation: keys of every user with a phrases
    /// file, aliases and symmetric encryption keys.
    ImportSignd(ImportSigndArgs),
    /// Import, generate, list, export and delete signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage user aliases (signd's aliases directory).
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Manage the key-encryption key (KEK) that wraps the data keys:
    /// create it, show which KEK wraps the stored secrets, migrate them to
    /// another KEK (e.g. from the key file to an HSM).
    #[command(subcommand)]
    Kek(KekCommand),
    /// Check, query and prune the audit trail (every signing request and
    /// admin change, hash-chained in the key database). Needs no KEK.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain from its first row (or the anchor a prune
    /// left) to its last: fails, naming the row, if a row was edited,
    /// inserted or removed.
    Verify,
    /// Print audit records, oldest first: one tab-separated line each, or
    /// one JSON object per line with --json.
    List {
        /// Only records of this key (the user the request resolved to).
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// Only records at or after TIME (RFC 3339, YYYY-MM-DD in UTC, or
        /// an age such as 7d, 12h, 30m).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only records before TIME (same forms as --since).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove the oldest records written before TIME (same forms as
    /// --since, e.g. 365d); the last removed record's hash is kept as the
    /// anchor, so the rest of the chain still verifies.
    Prune {
        #[arg(long, value_name = "TIME")]
        before: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KekCommand {
    /// Create the configured KEK. With provider "pkcs11": generate a
    /// non-extractable AES-256 key labelled key_label on the token
    /// (refused if the label exists). With provider "file": create the
    /// 32-byte key file (refused if it exists).
    Create,
    /// Show the configured KEK (provider, id, whether it opens) and how many
    /// key and encryption-key rows each KEK id wraps; rows not under the
    /// configured KEK are flagged. Fails if the KEK does not open or such
    /// rows exist.
    Status,
    /// Re-wrap every data key of the store under the KEK described by the
    /// [kms] section of FILE, in one database transaction (all or nothing).
    /// The store and the current KEK are those of --data-dir/--config.
    /// Afterwards serve the store with FILE's [kms] settings.
    Rewrap {
        /// A Signatrust configuration file whose [kms] section names the new
        /// KEK (only [kms] is used); the KEK must exist (kek create).
        #[arg(long, value_name = "FILE")]
        to_config: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ImportSigndArgs {
    /// The obs-signd sign.conf naming phrases:, aliases:, encryptionkeys:
    /// and gnupghome:.
    #[arg(long, value_name = "FILE")]
    pub sign_conf: PathBuf,
    /// The gpg home holding the signd keys, when sign.conf has no gnupghome:
    /// (default: $GNUPGHOME).
    #[arg(long, value_name = "DIR")]
    pub gnupghome: Option<PathBuf>,
    /// The gpg binary to export keys with.
    #[arg(long, value_name = "PATH", default_value = "gpg")]
    pub gpg: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Import an OpenPGP secret key (armored or binary) under NAME.
    Import {
        name: String,
        file: PathBuf,
        /// File whose first line is the key's passphrase.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Generate a new signing key under NAME, shaped as gpg 2.2 makes it:
    /// a primary key that signs and certifies, the user ID and its
    /// self-signature, and an encryption subkey (so the key can serve as
    /// the signd key for `keygen` and `privsign`).
    Generate {
        /// The key's name: the user field clients send (`sign -u NAME`).
        name: String,
        #[arg(long = "type", value_enum)]
        key_type: GenType,
        /// User ID, e.g. "Build Service <obs@example.org>".
        #[arg(long)]
        uid: String,
        /// Days until the key expires (0: never). obs-sign's `sign -x`
        /// (extend) and `sign -C` (certificate) need an expiring key.
        #[arg(long, value_name = "DAYS", default_value_t = 0)]
        expire: u64,
    },
    /// List keys: name, algorithm, fingerprint, user IDs.
    List,
    /// Print the armored public key of NAME.
    Export { name: String },
    /// Delete the key NAME.
    Delete { name: String },
}

/// Key types `key generate` makes (each with gpg's matching encryption
/// subkey).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GenType {
    /// RSA 2048 (RSA encryption subkey).
    Rsa2048,
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
    /// Make ALIAS resolve to TARGET.
    Set { alias: String, target: String },
    /// Remove ALIAS.
    Remove { alias: String },
    /// List aliases.
    List,
}
