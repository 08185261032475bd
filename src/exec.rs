//! A bounded pool for CPU-bound work (signing, key unwrapping).
//!
//! Crypto never runs on the async reactor: a fixed set of worker threads,
//! sized to the cores, takes jobs from a channel. Admission is bounded by a
//! semaphore of `workers + queue` permits, so at most `queue` jobs wait while
//! every worker is busy; further callers wait asynchronously for a permit (and
//! their request deadline bounds that wait). Knows nothing of what it runs.
//!
//! [`ExecConfig`] is the plain-data `[exec]` section: the size of this pool
//! and of the I/O runtime (built by `app::runtime`), with their bounds.

use std::sync::{Arc, RwLock};
use std::thread;

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
}

impl Exec {
    /// Starts `workers` threads (at least 1) admitting `queue` waiting jobs.
    ///
    /// Fails when a thread cannot be created (a resource limit); the
    /// threads already started then exit, as the pool is dropped.
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Exec> {
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
            }),
        })
    }

    /// The pool `[exec]` describes: `workers` threads, each with
    /// [`QUEUE_PER_WORKER`] admitted waiting jobs.
    pub fn start(config: &ExecConfig) -> std::io::Result<Exec> {
        Exec::new(config.workers, config.workers * QUEUE_PER_WORKER)
    }

    /// One worker per available core (the default `[exec]`).
    pub fn with_cores() -> std::io::Result<Exec> {
        Exec::start(&ExecConfig::default())
    }

    pub fn workers(&self) -> usize {
        self.inner.workers
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

    /// Stops accepting jobs; workers exit once the queue is drained.
    pub fn close(&self) {
        if let Ok(mut g) = self.inner.tx.write() {
            g.take();
        }
        self.inner.admission.close();
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

    #[tokio::test]
    async fn closed_pool_refuses() {
        let exec = Exec::new(1, 1).unwrap();
        exec.close();
        assert_eq!(exec.run(|| 1).await, Err(ExecError::Closed));
    }
}
