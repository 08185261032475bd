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
