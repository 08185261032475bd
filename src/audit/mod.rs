//! The audit trail: every signing-related request and every admin change,
//! recorded in the store's database, hash-chained so that an edited,
//! inserted or removed row is found (`signatrust-admin audit verify`).
//!
//! * `record.rs`: the [`Record`], its canonical encoding, SHA-256 chain and
//!   [`ChainCheck`] (pure, no I/O);
//! * `db.rs`: [`AuditDb`], the `audit_log` and `audit_anchor` tables
//!   (`migrations/*/0005_audit.sql`): append a batch, page, prune;
//! * `writer.rs`: [`Auditor`], the bounded queue and the batching writer
//!   task (`[audit] on_failure`: refuse or log);
//! * `settings.rs`: [`AuditSettings`] (`[audit]`), plain data for `config`.
//!
//! What is recorded never includes a secret or a whole blob: digests (the
//! client's hashes), names, fingerprints, error texts, and for privsign and
//! privtotp the SHA-256 of the encrypted blob.
//!
//! Other modules record admin changes with [`record_admin`]; the server
//! records requests it refused before handling them (host, port, subject,
//! malformed) with [`Auditor::record_refusal`], best effort and
//! rate-limited ([`REFUSALS_PER_SECOND`]).

mod db;
mod record;
mod settings;
mod writer;

pub use db::{AuditDb, AuditDbError, Filter};
pub use record::{digests_of, Anchor, ChainCheck, ChainError, Chained, Kind, Record, GENESIS};
pub use settings::{
    AuditSettings, OnFailure, DEFAULT_AUDIT_BATCH, DEFAULT_AUDIT_QUEUE, MAX_AUDIT_BATCH,
    MAX_AUDIT_QUEUE,
};
pub use writer::{Auditor, Slot, Unavailable, REFUSALS_PER_SECOND};

use std::time::{SystemTime, UNIX_EPOCH};

/// The signd commands whose requests are recorded.
pub const AUDITED_COMMANDS: &[&str] = &["sign", "privsign", "keygen", "privtotp", "pubkey"];

/// Whether requests of `command` are recorded.
pub fn is_audited(command: &str) -> bool {
    AUDITED_COMMANDS.contains(&command)
}

/// Now, in microseconds since the epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// One admin change, for [`record_admin`]. Empty fields are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminChange {
    /// The verb: `key generate`, `key import`, `key delete`, `alias set`,
    /// `kek create`, `kek rewrap`, `audit prune`, …
    pub command: String,
    /// The key (or alias) changed.
    pub key: String,
    /// Its fingerprint, when known.
    pub fingerprint: String,
    /// What changed, in a few words (never a secret).
    pub detail: String,
}

/// Records an admin change in the database at `url` (the store's URL),
/// with the operating-system user, the outcome (`Err` holds the error text)
/// and the time; written at once, not batched (admin commands are one-off
/// processes). Call it after the change, with its result.
///
/// Errors: the audit database cannot be opened or written.
pub async fn record_admin(
    url: &str,
    change: AdminChange,
    result: Result<(), String>,
) -> Result<(), AuditDbError> {
    let db = AuditDb::open(url).await?;
    let (outcome, error) = match result {
        Ok(()) => ("ok", String::new()),
        Err(e) => ("error", e),
    };
    let record = Record {
        time_us: now_us(),
        kind: Kind::Admin.as_str().into(),
        command: change.command,
        key: change.key,
        fingerprint: change.fingerprint,
        detail: change.detail,
        outcome: outcome.into(),
        error,
        os_user: os_user(),
        ..Record::default()
    };
    let res = db.append(std::slice::from_ref(&record)).await.map(drop);
    db.close().await;
    res
}

/// The operating-system user running this process: `NAME (uid N)` (the
/// name from `$LOGNAME`/`$USER`, the uid from the kernel), and `, sudo
/// from NAME` when run through sudo.
pub fn os_user() -> String {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective uid.
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let name = std::env::var("LOGNAME")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_default();
    let mut s = match (name.is_empty(), uid) {
        (false, Some(uid)) => format!("{name} (uid {uid})"),
        (false, None) => name,
        (true, Some(uid)) => format!("uid {uid}"),
        (true, None) => "unknown".to_owned(),
    };
    if let Ok(sudo) = std::env::var("SUDO_USER") {
        s += &format!(", sudo from {sudo}");
    }
    s
}
