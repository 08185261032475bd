//! A bounded pool for CPU-bound work (signing, key unwrapping).
//!
//! Crypto never runs on the async reactor: a fixed set of worker threads,
//! sized to the cores, takes jobs from a channel. Admission is bounded by a
//! semaphore of `workers + queue` permits, so at most `queue` jobs wait while
//! every worker is busy; further callers wait asynchronously for a permit (and
//! their request deadline bounds that wait). Knows nothing of what it runs.
//!
//! Key generation (seconds of CPU for RSA-4096) has a [`Lane`] of its own:
//! `[exec] keygen_workers` threads, scheduled so that signing wins the CPU,
//! a bounded queue that refuses when full, and a start deadline
//! (`[exec] keygen_timeout_ms`). A burst of keygens therefore never holds
//! the signing workers.
//!
//! [`ExecConfig`] is the plain-data `[exec]` section: the size of this pool,
//! of the keygen lane and of the I/O runtime (built by `app::runtime`), with
//! their bounds.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::Duration;

use crossbeam_channel as channel;
use thiserror::Error;
use tokio::sync::{oneshot, Semaphore};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Jobs admitted to wait per worker while every worker is busy.
pub const QUEUE_PER_WORKER: usize = 64;
/// Upper bound of `[exec] workers`: more signing threads than any machine
/// has cores only add memory and contention.
pub const MAX_WORKERS: usize = 1024;
/// Upper bound of `[exec] io_threads`.
pub const MAX_IO_THREADS: usize = 1024;
/// Upper bound of `[exec] keygen_workers`.
pub const MAX_KEYGEN_WORKERS: usize = 1024;
/// Keygens admitted to wait per keygen worker while every keygen worker is
/// busy; one more is refused (`server busy`).
pub const KEYGEN_QUEUE_PER_WORKER: usize = 8;
/// Default of `[exec] keygen_timeout_ms`: how long a keygen may wait for a
/// free keygen worker. Half of the default request deadline (30 s), so a
/// keygen that starts at the last moment still has time to finish and be
/// answered.
pub const DEFAULT_KEYGEN_TIMEOUT: Duration = Duration::from_secs(15);
/// Upper bound of `[exec] keygen_timeout_ms` (one day, as the server's
/// timeouts).
pub const MAX_KEYGEN_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// The nice value of the keygen threads. They are `SCHED_IDLE`, which
/// already gives them the smallest share of a contended core; the nice
/// value also keeps them lowest in `top` and for any later policy change.
pub const KEYGEN_NICE: i32 = 19;

/// Threads: the CPU pool that computes signatures and the I/O runtime
/// (`[exec]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecConfig {
    /// Signing threads (`[exec] workers`, default: the cores), 1 to
    /// [`MAX_WORKERS`].
    pub workers: usize,
    /// Network threads (`[exec] io_threads`, default: half the cores, at
    /// least one), 1 to [`MAX_IO_THREADS`].
    pub io_threads: usize,
    /// Linux scheduling class of the network threads.
    pub io_scheduling: IoScheduling,
    /// Key generation threads (`[exec] keygen_workers`, default: half the
    /// cores, at least one), 1 to [`MAX_KEYGEN_WORKERS`]; separate from the
    /// signing threads.
    pub keygen_workers: usize,
    /// How long a keygen may wait for a keygen thread before it is answered
    /// with an error (`[exec] keygen_timeout_ms`, default
    /// [`DEFAULT_KEYGEN_TIMEOUT`]), at most [`MAX_KEYGEN_TIMEOUT`].
    pub keygen_timeout: Duration,
}

/// How the network threads are scheduled (`[exec] io_scheduling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoScheduling {
    /// `SCHED_BATCH`: a waking network thread does not preempt a signing
    /// thread mid-signature; it runs at the next scheduling point and then
    /// handles everything that arrived meanwhile. The default: it saves
    /// context switches on every request (BENCHMARKS.md).
    Batch,
    /// `SCHED_OTHER`, the Linux default.
    Normal,
}

impl Default for ExecConfig {
    fn default() -> Self {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        ExecConfig {
            workers: cores.min(MAX_WORKERS),
            io_threads: (cores / 2).clamp(1, MAX_IO_THREADS),
            io_scheduling: IoScheduling::Batch,
            keygen_workers: (cores / 2).clamp(1, MAX_KEYGEN_WORKERS),
            keygen_timeout: DEFAULT_KEYGEN_TIMEOUT,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ExecError {
    #[error("worker pool is shut down")]
    Closed,
    #[error("job panicked")]
    Panicked,
}

/// Handle to the worker pool; cheap to clone.
#[derive(Clone)]
pub struct Exec {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` once closed. Senders take the read lock, so they never wait
    /// on each other; only `close` writes.
    tx: RwLock<Option<channel::Sender<Job>>>,
    admission: Semaphore,
    workers: usize,
    /// `workers + queue`: the admission's permits.
    capacity: usize,
    /// Where key generation runs.
    keygen: Lane,
}

impl Exec {
    /// Starts `workers` threads (at least 1) admitting `queue` waiting jobs.
    ///
    /// Fails when a thread cannot be created (a resource limit); the
    /// threads already started then exit, as the pool is dropped. The
    /// keygen lane has the default size for `workers` (half, at least one).
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Exec> {
        let keygen = (workers / 2).max(1);
        let lane = Lane::new(
            keygen,
            keygen * KEYGEN_QUEUE_PER_WORKER,
            DEFAULT_KEYGEN_TIMEOUT,
        )?;
        Exec::with_lane(workers, queue, lane)
    }

    /// Starts `workers` signing threads admitting `queue` waiting jobs,
    /// next to the keygen `lane`.
    pub fn with_lane(workers: usize, queue: usize, lane: Lane) -> std::io::Result<Exec> {
        let workers = workers.max(1);
        // Unbounded: the semaphore bounds what is in the channel. A
        // crossbeam receiver is shared by the workers without a lock and a
        // send wakes exactly one idle worker.
        let (tx, rx) = channel::unbounded::<Job>();
        for i in 0..workers {
            let rx = rx.clone();
            thread::Builder::new()
                .name(format!("signatrust-crypto-{i}"))
                .spawn(move || {
                    // Ends when the pool is closed (or dropped) and drained.
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                })?;
        }
        Ok(Exec {
            inner: Arc::new(Inner {
                tx: RwLock::new(Some(tx)),
                admission: Semaphore::new(workers + queue),
                workers,
                capacity: workers + queue,
                keygen: lane,
            }),
        })
    }

    /// The pool `[exec]` describes: `workers` threads, each with
    /// [`QUEUE_PER_WORKER`] admitted waiting jobs, and the keygen lane of
    /// `keygen_workers` threads, each with [`KEYGEN_QUEUE_PER_WORKER`].
    pub fn start(config: &ExecConfig) -> std::io::Result<Exec> {
        let lane = Lane::new(
            config.keygen_workers,
            config.keygen_workers * KEYGEN_QUEUE_PER_WORKER,
            config.keygen_timeout,
        )?;
        Exec::with_lane(config.workers, config.workers * QUEUE_PER_WORKER, lane)
    }

    /// The keygen lane, separate from the signing workers.
    pub fn keygen(&self) -> &Lane {
        &self.inner.keygen
    }

    /// One worker per available core (the default `[exec]`).
    pub fn with_cores() -> std::io::Result<Exec> {
        Exec::start(&ExecConfig::default())
    }

    pub fn workers(&self) -> usize {
        self.inner.workers
    }

    /// The signing pool's occupancy now (for `/metrics`).
    pub fn stats(&self) -> QueueStats {
        QueueStats {
            workers: self.inner.workers,
            capacity: self.inner.capacity,
            admitted: self
                .inner
                .capacity
                .saturating_sub(self.inner.admission.available_permits()),
            queued: queued(&self.inner.tx),
            refused_full: 0,
            timed_out: 0,
        }
    }

    /// Runs every job of `jobs` on the pool, up to [`Exec::workers`] of them
    /// at once, and returns their results in the order of `jobs`.
    ///
    /// Each batch of at most `workers` jobs is admitted as a whole (one
    /// acquisition of that many permits), so callers never hold part of
    /// their permits while waiting for the rest. Every job that was sent
    /// is awaited before an error is returned: [`ExecError::Panicked`] if
    /// any job panicked.
    pub async fn run_all<T, F>(&self, jobs: Vec<F>) -> Result<Vec<T>, ExecError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let mut results = Vec::with_capacity(jobs.len());
        let mut failed = None;
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            let batch: Vec<F> = jobs.by_ref().take(self.inner.workers).collect();
            let permits = u32::try_from(batch.len()).map_err(|_| ExecError::Closed)?;
            let _permits = self
                .inner
                .admission
                .acquire_many(permits)
                .await
                .map_err(|_| ExecError::Closed)?;
            let mut pending = Vec::with_capacity(batch.len());
            {
                let guard = self.inner.tx.read().map_err(|_| ExecError::Closed)?;
                let tx = guard.as_ref().ok_or(ExecError::Closed)?;
                for f in batch {
                    let (done_tx, done_rx) = oneshot::channel();
                    let job: Job = Box::new(move || {
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
                        let _ = done_tx.send(r);
                    });
                    match tx.send(job) {
                        Ok(()) => pending.push(done_rx),
                        Err(_) => {
                            failed.get_or_insert(ExecError::Closed);
                            break;
                        }
                    }
                }
            }
            for done in pending {
                match done.await {
                    Ok(Ok(v)) => results.push(v),
                    Ok(Err(_)) => {
                        failed.get_or_insert(ExecError::Panicked);
                    }
                    Err(_) => {
                        failed.get_or_insert(ExecError::Closed);
                    }
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        Ok(results)
    }

    /// Runs `f` on a worker and returns its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ExecError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _permit = self
            .inner
            .admission
            .acquire()
            .await
            .map_err(|_| ExecError::Closed)?;
        let (done_tx, done_rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = done_tx.send(r);
        });
        {
            let guard = self.inner.tx.read().map_err(|_| ExecError::Closed)?;
            let tx = guard.as_ref().ok_or(ExecError::Closed)?;
            tx.send(job).map_err(|_| ExecError::Closed)?;
        }
        match done_rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(ExecError::Panicked),
            Err(_) => Err(ExecError::Closed),
        }
    }

    /// Stops accepting jobs; workers exit once the queue is drained. Closes
    /// the keygen lane too.
    pub fn close(&self) {
        if let Ok(mut g) = self.inner.tx.write() {
            g.take();
        }
        self.inner.admission.close();
        self.inner.keygen.close();
    }
}

/// A queue's occupancy at one moment: the signing pool's or the keygen
/// lane's ([`Exec::stats`], [`Lane::stats`]), for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Threads.
    pub workers: usize,
    /// Jobs admitted at most at once (running and waiting).
    pub capacity: usize,
    /// Jobs admitted now: running or waiting for a thread.
    pub admitted: usize,
    /// Jobs waiting for a thread now (the queue depth).
    pub queued: usize,
    /// Lane only: jobs refused at once because the queue was full, since
    /// start.
    pub refused_full: u64,
    /// Lane only: jobs no thread took before their start deadline, since
    /// start.
    pub timed_out: u64,
}

/// The jobs in a channel not yet taken by a worker (0 once closed).
fn queued(tx: &RwLock<Option<channel::Sender<Job>>>) -> usize {
    tx.read()
        .ok()
        .and_then(|g| g.as_ref().map(channel::Sender::len))
        .unwrap_or(0)
}

/// Why a [`Lane`] job did not run (or did not finish).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LaneError {
    /// Every worker is busy and the queue is full.
    #[error("keygen queue is full")]
    Full,
    /// No worker became free before the start deadline; the job never ran.
    #[error("no keygen worker free within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("keygen lane is shut down")]
    Closed,
    #[error("job panicked")]
    Panicked,
}

/// A bounded lane for long CPU jobs (key generation): at most `workers`
/// run at once, on threads of their own that are `SCHED_IDLE` (nice
/// [`KEYGEN_NICE`]) on Linux, so a waking signing thread always takes a
/// shared core at once and keygens run in the CPU time signing leaves. At
/// most `queue` jobs wait; a job that finds the queue full is refused at
/// once ([`LaneError::Full`]), and one that no worker takes before its
/// deadline is dropped unrun ([`LaneError::Timeout`]). Cheap to clone.
#[derive(Clone)]
pub struct Lane {
    inner: Arc<LaneInner>,
}

struct LaneInner {
    /// `None` once closed.
    tx: RwLock<Option<channel::Sender<Job>>>,
    /// `workers + queue` permits, taken without waiting; a job holds its
    /// permit until a worker has run it or skipped it.
    admission: Arc<Semaphore>,
    workers: usize,
    timeout: Duration,
    /// `workers + queue`: the admission's permits.
    capacity: usize,
    /// Jobs refused with [`LaneError::Full`], and with
    /// [`LaneError::Timeout`], since start.
    refused_full: AtomicU64,
    timed_out: AtomicU64,
}

/// A lane job's state, shared by the caller and the worker.
const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

/// Marks the job abandoned if the caller goes away (its request deadline,
/// a shutdown) before a worker took it, so no worker runs it for nobody.
struct AbandonOnDrop(Arc<AtomicU8>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        let _ = self
            .0
            .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl Lane {
    /// Starts `workers` threads (at least 1) admitting `queue` waiting jobs,
    /// each allowed to wait `timeout` for a worker.
    pub fn new(workers: usize, queue: usize, timeout: Duration) -> std::io::Result<Lane> {
        let workers = workers.max(1);
        let (tx, rx) = channel::unbounded::<Job>();
        for i in 0..workers {
            let rx = rx.clone();
            thread::Builder::new()
                .name(format!("signatrust-keygen-{i}"))
                .spawn(move || {
                    lower_priority();
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                })?;
        }
        Ok(Lane {
            inner: Arc::new(LaneInner {
                tx: RwLock::new(Some(tx)),
                admission: Arc::new(Semaphore::new(workers + queue)),
                workers,
                timeout,
                capacity: workers + queue,
                refused_full: AtomicU64::new(0),
                timed_out: AtomicU64::new(0),
            }),
        })
    }

    pub fn workers(&self) -> usize {
        self.inner.workers
    }

    /// How long a job may wait for a worker.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The lane's occupancy now and its refusals since start (for
    /// `/metrics`).
    pub fn stats(&self) -> QueueStats {
        let i = &self.inner;
        QueueStats {
            workers: i.workers,
            capacity: i.capacity,
            admitted: i.capacity.saturating_sub(i.admission.available_permits()),
            queued: queued(&i.tx),
            refused_full: i.refused_full.load(Ordering::Relaxed),
            timed_out: i.timed_out.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` on a lane worker and returns its result; refuses at once
    /// when the queue is full, and gives up (without running `f`) when no
    /// worker takes it within the lane's timeout. Once started, `f` runs
    /// to its end even if the caller goes away.
    pub async fn run<T, F>(&self, f: F) -> Result<T, LaneError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let deadline = tokio::time::Instant::now() + self.inner.timeout;
        let permit = match self.inner.admission.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                self.inner.refused_full.fetch_add(1, Ordering::Relaxed);
                return Err(LaneError::Full);
            }
            Err(tokio::sync::TryAcquireError::Closed) => return Err(LaneError::Closed),
        };
        let state = Arc::new(AtomicU8::new(QUEUED));
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel();
        let job_state = Arc::clone(&state);
        let job: Job = Box::new(move || {
            let _permit = permit;
            if job_state
                .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return; // abandoned while queued
            }
            let _ = started_tx.send(());
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = done_tx.send(r);
        });
        {
            let guard = self.inner.tx.read().map_err(|_| LaneError::Closed)?;
            let tx = guard.as_ref().ok_or(LaneError::Closed)?;
            tx.send(job).map_err(|_| LaneError::Closed)?;
        }
        let abandon = AbandonOnDrop(Arc::clone(&state));
        match tokio::time::timeout_at(deadline, started_rx).await {
            Ok(Ok(())) => {}
            // The job was dropped unrun: the lane shut down.
            Ok(Err(_)) => return Err(LaneError::Closed),
            Err(_) => {
                if state
                    .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.inner.timed_out.fetch_add(1, Ordering::Relaxed);
                    return Err(LaneError::Timeout(self.inner.timeout));
                }
                // A worker took it just now: wait for it.
            }
        }
        drop(abandon);
        match done_rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(LaneError::Panicked),
            Err(_) => Err(LaneError::Closed),
        }
    }

    /// Stops accepting jobs; workers exit once the queue is drained.
    pub fn close(&self) {
        if let Ok(mut g) = self.inner.tx.write() {
            g.take();
        }
        self.inner.admission.close();
    }
}

/// Puts the calling (keygen) thread into `SCHED_IDLE` with nice
/// [`KEYGEN_NICE`], both allowed without privileges: a waking signing
/// thread preempts it at once, and it gets only a minimal share of a core
/// a signing thread also wants; on an idle core it runs at full speed.
/// `SCHED_BATCH` with nice 10 left sign p99 at 2.9× of idle during six
/// RSA-4096 keygens at c=4; `SCHED_IDLE` 1.4–1.5× (BENCHMARKS.md, "Key
/// generation under signing load"). A no-op outside Linux; a failure is
/// logged, not fatal.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is valid for the call; pid 0 is the calling
        // thread. setpriority with the thread's own tid changes only this
        // thread's nice value (Linux threads are tasks).
        #[allow(unsafe_code)]
        let (idle, nice) = unsafe {
            (
                libc::sched_setscheduler(0, libc::SCHED_IDLE, &param),
                libc::setpriority(
                    libc::PRIO_PROCESS,
                    libc::gettid() as libc::id_t,
                    KEYGEN_NICE,
                ),
            )
        };
        if idle != 0 || nice != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "cannot lower the scheduling priority of a keygen thread"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_off_the_reactor() {
        let exec = Exec::new(2, 4).unwrap();
        let here = thread::current().id();
        let there = exec.run(|| thread::current().id()).await.unwrap();
        assert_ne!(here, there);
        let sum: u64 = exec.run(|| (1..=10u64).sum()).await.unwrap();
        assert_eq!(sum, 55);
    }

    #[tokio::test]
    async fn run_all_keeps_the_order_and_uses_every_worker() {
        let exec = Exec::new(3, 4).unwrap();
        let jobs: Vec<_> = (0..10u64)
            .map(|i| {
                move || {
                    // Later jobs finish first within a batch.
                    thread::sleep(std::time::Duration::from_millis(30 - 3 * i));
                    (i, thread::current().id())
                }
            })
            .collect();
        let done = exec.run_all(jobs).await.unwrap();
        let order: Vec<u64> = done.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, (0..10).collect::<Vec<_>>());
        let threads: std::collections::HashSet<_> = done.iter().map(|(_, t)| *t).collect();
        assert_eq!(threads.len(), 3, "one batch per worker count");
        assert_eq!(exec.run_all(Vec::<fn() -> u8>::new()).await, Ok(vec![]));
    }

    #[tokio::test]
    async fn run_all_reports_a_panic_after_every_job_ran() {
        let exec = Exec::new(2, 2).unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let jobs: Vec<Box<dyn FnOnce() -> usize + Send>> = (0..5usize)
            .map(|i| {
                let ran = ran.clone();
                Box::new(move || {
                    ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i == 1 {
                        panic!("boom");
                    }
                    i
                }) as Box<dyn FnOnce() -> usize + Send>
            })
            .collect();
        assert_eq!(exec.run_all(jobs).await, Err(ExecError::Panicked));
        // The batch with the panic ran to its end; none was started after.
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(exec.run(|| 7).await, Ok(7));
        exec.close();
        assert_eq!(exec.run_all(vec![|| 1]).await, Err(ExecError::Closed));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_a_dead_worker() {
        let exec = Exec::new(1, 1).unwrap();
        assert_eq!(
            exec.run(|| panic!("boom")).await,
            Err::<(), _>(ExecError::Panicked)
        );
        assert_eq!(exec.run(|| 7).await, Ok(7));
    }

    #[tokio::test]
    async fn the_default_pool_has_one_worker_per_core() {
        let config = ExecConfig::default();
        assert!(config.workers >= 1 && config.workers <= MAX_WORKERS);
        assert!(config.io_threads >= 1 && config.io_threads <= config.workers);
        assert_eq!(config.io_scheduling, IoScheduling::Batch);
        let exec = Exec::start(&config).unwrap();
        assert_eq!(exec.workers(), config.workers);
        assert_eq!(exec.run(|| 1).await, Ok(1));
        exec.close();
    }

    /// Holds lane jobs until released; counts how many run at once.
    struct Gate {
        open: std::sync::Mutex<bool>,
        cv: std::sync::Condvar,
        running: std::sync::atomic::AtomicUsize,
        max_running: std::sync::atomic::AtomicUsize,
        started: std::sync::mpsc::SyncSender<()>,
    }

    impl Gate {
        fn new() -> (Arc<Gate>, std::sync::mpsc::Receiver<()>) {
            let (started, rx) = std::sync::mpsc::sync_channel(64);
            let gate = Gate {
                open: std::sync::Mutex::new(false),
                cv: std::sync::Condvar::new(),
                running: Default::default(),
                max_running: Default::default(),
                started,
            };
            (Arc::new(gate), rx)
        }

        /// The job: counts itself running, signals, waits for `release`.
        fn hold(&self) {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now, Ordering::SeqCst);
            let _ = self.started.send(());
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.cv.wait(open).unwrap();
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
        }

        fn release(&self) {
            *self.open.lock().unwrap() = true;
            self.cv.notify_all();
        }
    }

    /// Waits (off the reactor) until `n` held jobs have started.
    async fn started(rx: std::sync::mpsc::Receiver<()>, n: usize) -> std::sync::mpsc::Receiver<()> {
        tokio::task::spawn_blocking(move || {
            for _ in 0..n {
                rx.recv().unwrap();
            }
            rx
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lane_runs_at_most_workers_and_refuses_past_its_queue() {
        let lane = Lane::new(2, 3, Duration::from_secs(600)).unwrap();
        let (gate, rx) = Gate::new();
        let mut jobs = Vec::new();
        for _ in 0..5 {
            let (lane, gate) = (lane.clone(), gate.clone());
            jobs.push(tokio::spawn(
                async move { lane.run(move || gate.hold()).await },
            ));
        }
        let rx = started(rx, 2).await;
        // 2 running + 3 queued hold every permit: the sixth is refused at
        // once, without waiting for the timeout.
        while lane.inner.admission.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(lane.run(|| ()).await, Err(LaneError::Full));
        assert_eq!(gate.running.load(Ordering::SeqCst), 2);
        gate.release();
        for j in jobs {
            assert_eq!(j.await.unwrap(), Ok(()));
        }
        drop(rx);
        assert_eq!(gate.max_running.load(Ordering::SeqCst), 2);
        // Every permit is back: the lane takes jobs again.
        assert_eq!(lane.run(|| 5).await, Ok(5));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_no_worker_takes_in_time_times_out_unrun() {
        let lane = Lane::new(1, 4, Duration::from_millis(300)).unwrap();
        let (gate, rx) = Gate::new();
        let holder = {
            let (lane, gate) = (lane.clone(), gate.clone());
            tokio::spawn(async move { lane.run(move || gate.hold()).await })
        };
        let _rx = started(rx, 1).await;
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let r = lane.run(move || flag.store(true, Ordering::SeqCst)).await;
        assert_eq!(r, Err(LaneError::Timeout(Duration::from_millis(300))));
        gate.release();
        assert_eq!(holder.await.unwrap(), Ok(()));
        // The worker skips the abandoned job and is free again.
        assert_eq!(lane.run(|| 6).await, Ok(6));
        assert!(!ran.load(Ordering::SeqCst), "a timed-out job ran");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_whose_caller_left_is_not_run() {
        let lane = Lane::new(1, 4, Duration::from_secs(600)).unwrap();
        let (gate, rx) = Gate::new();
        let holder = {
            let (lane, gate) = (lane.clone(), gate.clone());
            tokio::spawn(async move { lane.run(move || gate.hold()).await })
        };
        let _rx = started(rx, 1).await;
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let left = tokio::time::timeout(
            Duration::from_millis(50),
            lane.run(move || flag.store(true, Ordering::SeqCst)),
        )
        .await;
        assert!(left.is_err(), "the held worker cannot have run it");
        gate.release();
        assert_eq!(holder.await.unwrap(), Ok(()));
        assert_eq!(lane.run(|| 7).await, Ok(7));
        assert!(!ran.load(Ordering::SeqCst), "a job nobody waits for ran");
    }

    #[tokio::test]
    async fn a_panicking_keygen_is_an_error_and_the_lane_goes_on() {
        let lane = Lane::new(1, 1, Duration::from_secs(600)).unwrap();
        assert_eq!(
            lane.run(|| panic!("boom")).await,
            Err::<(), _>(LaneError::Panicked)
        );
        assert_eq!(lane.run(|| 8).await, Ok(8));
        lane.close();
        assert_eq!(lane.run(|| 9).await, Err(LaneError::Closed));
    }

    #[tokio::test]
    async fn the_exec_config_sizes_the_keygen_lane_apart_from_the_signers() {
        let config = ExecConfig {
            workers: 2,
            keygen_workers: 3,
            keygen_timeout: Duration::from_millis(1234),
            ..ExecConfig::default()
        };
        let exec = Exec::start(&config).unwrap();
        assert_eq!(exec.workers(), 2);
        assert_eq!(exec.keygen().workers(), 3);
        assert_eq!(exec.keygen().timeout(), Duration::from_millis(1234));
        assert_eq!(
            exec.keygen().inner.admission.available_permits(),
            3 + 3 * KEYGEN_QUEUE_PER_WORKER
        );
        let signer = exec
            .run(|| thread::current().name().map(str::to_owned))
            .await;
        let keygen = exec
            .keygen()
            .run(|| thread::current().name().map(str::to_owned))
            .await;
        assert!(signer.unwrap().unwrap().starts_with("signatrust-crypto-"));
        assert!(keygen.unwrap().unwrap().starts_with("signatrust-keygen-"));
        exec.close();
        assert_eq!(exec.keygen().run(|| 1).await, Err(LaneError::Closed));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn keygen_threads_yield_to_signing_threads() {
        let lane = Lane::new(1, 1, Duration::from_secs(600)).unwrap();
        // SAFETY: plain queries of the calling thread's policy and nice.
        #[allow(unsafe_code)]
        let probe = || unsafe {
            (
                libc::sched_getscheduler(0),
                libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t),
            )
        };
        assert_eq!(lane.run(probe).await, Ok((libc::SCHED_IDLE, KEYGEN_NICE)));
        let exec = Exec::new(1, 1).unwrap();
        let (policy, _) = exec.run(probe).await.unwrap();
        assert_eq!(policy, libc::SCHED_OTHER, "signing threads stay normal");
    }

    #[test]
    fn the_default_keygen_lane_is_half_the_cores() {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        let config = ExecConfig::default();
        assert_eq!(config.keygen_workers, (cores / 2).max(1));
        assert_eq!(config.keygen_timeout, DEFAULT_KEYGEN_TIMEOUT);
    }

    #[tokio::test]
    async fn closed_pool_refuses() {
        let exec = Exec::new(1, 1).unwrap();
        exec.close();
        assert_eq!(exec.run(|| 1).await, Err(ExecError::Closed));
    }
}
