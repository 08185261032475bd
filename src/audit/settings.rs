//! `[audit]` settings, plain data (no runtime), so that `config` can fill
//! them.

/// What the server does when the audit backlog cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Refuse signing requests (`audit trail unavailable, request
    /// refused`) while the audit database cannot be written or the backlog
    /// is full: nothing is signed unaudited. The default.
    #[default]
    Refuse,
    /// Keep serving; records wait in the backlog while there is room, and
    /// are dropped (counted and logged) beyond it.
    Log,
}

/// Records waiting to be written, at most (`[audit] queue`).
pub const DEFAULT_AUDIT_QUEUE: usize = 4096;
/// Upper bound of `[audit] queue`.
pub const MAX_AUDIT_QUEUE: usize = 1 << 20;
/// Records written in one transaction, at most (`[audit] batch`).
pub const DEFAULT_AUDIT_BATCH: usize = 1024;
/// Upper bound of `[audit] batch`.
pub const MAX_AUDIT_BATCH: usize = 65536;

/// `[audit]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSettings {
    /// Record requests (`[audit] enabled`, default true).
    pub enabled: bool,
    /// `[audit] on_failure`.
    pub on_failure: OnFailure,
    /// Bound of the backlog, in records.
    pub queue: usize,
    /// Most records per write transaction.
    pub batch: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            enabled: true,
            on_failure: OnFailure::Refuse,
            queue: DEFAULT_AUDIT_QUEUE,
            batch: DEFAULT_AUDIT_BATCH,
        }
    }
}
