//! The batching writer: records go through a bounded queue to one task that
//! appends them in transactions of up to `[audit] batch` rows, off the
//! request path.
//!
//! A request reserves its place in the queue *before* anything is signed
//! ([`Auditor::reserve`]) and fills it with the outcome afterwards
//! ([`Slot::send`]), so with `on_failure = "refuse"` a signature is made
//! only when its record has room: while the database cannot be written
//! (the writer keeps the failed batch and retries it, with backoff) or the
//! backlog is full, requests get `audit trail unavailable, request
//! refused`. With `"log"` they are served; records beyond the backlog are
//! dropped, counted and logged. [`Auditor::close`] writes everything queued
//! (clean shutdown loses no record).
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::db::AuditDb;
use super::record::Record;
use super::settings::{AuditSettings, OnFailure};

/// How long a request waits for room in a full backlog before it is
/// refused (`on_failure = "refuse"`).
const RESERVE_WAIT: Duration = Duration::from_secs(1);
/// Retries of a batch at shutdown before its records are given up (and
/// logged as lost).
const SHUTDOWN_ATTEMPTS: u32 = 5;
/// Refusal records a second at most ([`Auditor::record_refusal`]).
pub const REFUSALS_PER_SECOND: u32 = 50;

/// What [`Auditor::record_refusal`] let through this second, and what it
/// left out since the last summary.
#[derive(Debug, Default)]
struct RefusalBudget {
    /// The second (since the epoch) `used` counts in.
    second: i64,
    used: u32,
    /// Refusals not recorded since the last summary record.
    suppressed: u64,
}

/// Counters shared with the writer task.
#[derive(Debug, Default)]
struct State {
    failing: AtomicBool,
    written: AtomicU64,
    dropped: AtomicU64,
}

/// The handle requests use: reserve, then send. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Auditor {
    tx: mpsc::Sender<Record>,
    queue: usize,
    on_failure: OnFailure,
    state: Arc<State>,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
    refusals: Mutex<RefusalBudget>,
}

/// A reserved place in the backlog. Dropping it unused frees the place.
pub struct Slot<'a>(Option<mpsc::Permit<'a, Record>>);

impl Slot<'_> {
    /// Queues the record (nothing happens for a slot that had no room in
    /// `log` mode).
    pub fn send(self, record: Record) {
        if let Some(p) = self.0 {
            p.send(record);
        }
    }
}

impl Auditor {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(db: AuditDb, settings: &AuditSettings) -> Auditor {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let state = Arc::new(State::default());
        let stop = CancellationToken::new();
        let task = tokio::spawn(write_loop(
            db,
            rx,
            settings.batch.max(1),
            state.clone(),
            stop.clone(),
        ));
        Auditor {
            tx,
            queue: settings.queue.max(1),
            on_failure: settings.on_failure,
            state,
            stop,
            task: Mutex::new(Some(task)),
            refusals: Mutex::new(RefusalBudget::default()),
        }
    }

    /// A place in the backlog for one record, taken before the request is
    /// served. `Err` means: refuse the request (`on_failure = "refuse"` and
    /// the database is failing, or the backlog stayed full for a second,
    /// or the writer has stopped).
    pub async fn reserve(&self) -> Result<Slot<'_>, Unavailable> {
        match self.on_failure {
            OnFailure::Refuse => {
                if self.state.failing.load(Ordering::Relaxed) {
                    return Err(Unavailable::Failing);
                }
                // Room at once (the usual case): no timer to arm.
                match self.tx.try_reserve() {
                    Ok(p) => return Ok(Slot(Some(p))),
                    Err(mpsc::error::TrySendError::Closed(())) => return Err(Unavailable::Stopped),
                    Err(mpsc::error::TrySendError::Full(())) => {}
                }
                match tokio::time::timeout(RESERVE_WAIT, self.tx.reserve()).await {
                    Ok(Ok(p)) => Ok(Slot(Some(p))),
                    Ok(Err(_)) => Err(Unavailable::Stopped),
                    Err(_) => Err(Unavailable::Full),
                }
            }
            OnFailure::Log => match self.tx.try_reserve() {
                Ok(p) => Ok(Slot(Some(p))),
                Err(_) => {
                    let n = self.state.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_power_of_two() {
                        tracing::error!(
                            dropped = n,
                            "audit backlog full or writer stopped: request served without an audit record"
                        );
                    }
                    Ok(Slot(None))
                }
            },
        }
    }

    /// Records a connection refused before its request was handled
    /// (`kind = refused`: source port, `allow:`, TLS subject, a malformed
    /// request), best effort and without waiting: the refusal is already
    /// decided and does not depend on its record.
    ///
    /// Refusals come from anyone who can connect, so they must not crowd
    /// out the records of served requests nor fill the database: one is
    /// recorded only while the backlog is at most half full and at most
    /// [`REFUSALS_PER_SECOND`] a second. The ones left out are counted
    /// (`refusals not recorded` in the log) and summed up in one record
    /// (`detail`: `N refusals not recorded`) with the next refusal recorded
    /// in a later second, or at [`Auditor::close`].
    pub fn record_refusal(&self, record: Record) {
        let mut budget = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        let second = record.time_us.div_euclid(1_000_000);
        if budget.second != second {
            budget.second = second;
            budget.used = 0;
            self.summarise_refusals(&mut budget, record.time_us);
        }
        let room = self.tx.capacity() > self.queue / 2;
        if room && budget.used < REFUSALS_PER_SECOND && self.tx.try_send(record).is_ok() {
            budget.used += 1;
            return;
        }
        budget.suppressed += 1;
        if budget.suppressed.is_power_of_two() {
            tracing::warn!(
                suppressed = budget.suppressed,
                "refusals not recorded in the audit trail (over {REFUSALS_PER_SECOND} a second, \
                 or the audit backlog over half full)"
            );
        }
    }

    /// Queues the summary of the refusals left out, if any (kept for later
    /// when even that finds no room).
    fn summarise_refusals(&self, budget: &mut RefusalBudget, time_us: i64) {
        if budget.suppressed == 0 {
            return;
        }
        let summary = Record {
            time_us,
            kind: super::Kind::Refused.as_str().into(),
            outcome: "refused".into(),
            detail: format!("{} refusals not recorded", budget.suppressed),
            ..Record::default()
        };
        if self.tx.try_send(summary).is_ok() {
            budget.suppressed = 0;
            budget.used += 1;
        }
    }

    /// Records waiting to be written.
    pub fn backlog(&self) -> usize {
        self.queue - self.tx.capacity()
    }

    /// Records written since start.
    pub fn written(&self) -> u64 {
        self.state.written.load(Ordering::Relaxed)
    }

    /// Records dropped (`log` mode, backlog full) since start.
    pub fn dropped(&self) -> u64 {
        self.state.dropped.load(Ordering::Relaxed)
    }

    /// Whether the last write failed.
    pub fn failing(&self) -> bool {
        self.state.failing.load(Ordering::Relaxed)
    }

    /// Writes everything queued, then stops the writer. Call after the
    /// listeners have finished their requests; later records are refused.
    pub async fn close(&self) {
        {
            let mut budget = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
            self.summarise_refusals(&mut budget, super::now_us());
        }
        self.stop.cancel();
        let task = self.task.lock().expect("audit task lock").take();
        if let Some(task) = task {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "audit writer task failed");
            }
        }
    }
}

/// Why a request cannot be audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("the audit database cannot be written")]
    Failing,
    #[error("the audit backlog is full")]
    Full,
    #[error("the audit writer has stopped")]
    Stopped,
}

/// The pause after an audit transaction that emptied the queue (see
/// `write_loop`): records gather into larger batches, which cost less per
/// record (each commit rewrites the table's and indexes' last pages and
/// syncs the WAL: 640 records a commit cost 15 % less CPU each than 320,
/// `cargo bench --bench audit_append`). A crash loses the records queued,
/// at most those of about one gap and one commit.
const COMMIT_GAP: Duration = Duration::from_millis(100);

/// The pause after a full batch (`[audit] batch` records, so more are
/// waiting): short, so that the writer keeps up with any request rate (a
/// batch of 1024 every 10 ms and its commit is more than 50,000 records a
/// second; with the long gap after every batch the trail capped Ed25519
/// signing at about 9,000 requests a second, BENCHMARKS.md), yet not
/// zero, so that `signatrust-admin` still finds the write lock free.
const FULL_BATCH_GAP: Duration = Duration::from_millis(10);

async fn write_loop(
    db: AuditDb,
    mut rx: mpsc::Receiver<Record>,
    batch: usize,
    state: Arc<State>,
    stop: CancellationToken,
) {
    let mut buf: Vec<Record> = Vec::with_capacity(batch);
    // Records given up at shutdown (see below).
    let mut lost = 0;
    loop {
        let full = tokio::select! {
            biased;
            n = rx.recv_many(&mut buf, batch) => {
                if n == 0 {
                    break;
                }
                n == batch
            }
            _ = stop.cancelled() => break,
        };
        if !write(&db, &mut buf, &state, &stop).await {
            // Given up: the stop came while the database failed.
            lost += buf.len();
            buf.clear();
            break;
        }
        // Group commit: let the next records gather, and leave the
        // database's write lock free for a moment. On SQLite a writer that
        // commits and at once begins again starves every other writer
        // (signatrust-admin waits in SQLite's polling busy handler and keeps
        // missing the gap: `database is locked` after the busy timeout).
        tokio::select! {
            _ = tokio::time::sleep(if full { FULL_BATCH_GAP } else { COMMIT_GAP }) => {}
            _ = stop.cancelled() => {}
        }
    }
    // Shutdown: no new reservations; write what is queued and what the
    // holders of reserved places still send.
    rx.close();
    // Once a batch has been given up, the database is gone: the rest is
    // counted as lost at once instead of each batch waiting out its own
    // attempts (with a backlog of 64 batches that was minutes, past any
    // stop timeout).
    while rx.recv_many(&mut buf, batch).await > 0 {
        if lost > 0 || !write(&db, &mut buf, &state, &stop).await {
            lost += buf.len();
            buf.clear();
        }
    }
    if lost > 0 {
        tracing::error!(
            lost,
            "audit records lost at shutdown: the database cannot be written"
        );
    }
    db.close().await;
}

/// Writes `buf` (then empties it), retrying with backoff while the database
/// fails; at shutdown, gives up after a few attempts: `false`, with `buf`
/// left as it was for the caller to count and log as lost.
async fn write(
    db: &AuditDb,
    buf: &mut Vec<Record>,
    state: &State,
    stop: &CancellationToken,
) -> bool {
    let mut attempt: u32 = 0;
    loop {
        match db.append(buf).await {
            Ok(rows) => {
                if state.failing.swap(false, Ordering::Relaxed) {
                    tracing::warn!("audit database writable again");
                }
                state.written.fetch_add(rows as u64, Ordering::Relaxed);
                buf.clear();
                return true;
            }
            Err(e) => {
                attempt += 1;
                if !state.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %format!("{:#}", anyhow::Error::new(e)), backlog = buf.len(), "audit records cannot be written, retrying");
                }
                if stop.is_cancelled() && attempt >= SHUTDOWN_ATTEMPTS {
                    return false;
                }
                let wait = Duration::from_millis(50 << attempt.min(6));
                tokio::time::sleep(wait).await;
            }
        }
    }
}
