//! A bounded pool for CPU-bound work (signing, key unwrapping).
//!
//! Crypto never runs on the async reactor: a fixed set of worker threads,
//! sized to the cores, takes jobs from a channel. Admission is bounded by a
//! semaphore of `workers + queue` permits, so at most `queue` jobs wait while
//! every worker is busy; further callers wait asynchronously for a permit (and
//! their request deadline bounds that wait). Knows nothing of what it runs.

use std::sync::{Arc, RwLock};
use std::thread;

use crossbeam_channel as channel;
use thiserror::Error;
use tokio::sync::{oneshot, Semaphore};

type Job = Box<dyn FnOnce() + Send + 'static>;

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
    pub fn new(workers: usize, queue: usize) -> Exec {
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
                })
                .expect("spawning a crypto worker thread");
        }
        Exec {
            inner: Arc::new(Inner {
                tx: RwLock::new(Some(tx)),
                admission: Semaphore::new(workers + queue),
                workers,
            }),
        }
    }

    /// One worker per available core.
    pub fn with_cores() -> Exec {
        let n = thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Exec::new(n, n * 64)
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
        let exec = Exec::new(2, 4);
        let here = thread::current().id();
        let there = exec.run(|| thread::current().id()).await.unwrap();
        assert_ne!(here, there);
        let sum: u64 = exec.run(|| (1..=10u64).sum()).await.unwrap();
        assert_eq!(sum, 55);
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_a_dead_worker() {
        let exec = Exec::new(1, 1);
        assert_eq!(
            exec.run(|| panic!("boom")).await,
            Err::<(), _>(ExecError::Panicked)
        );
        assert_eq!(exec.run(|| 7).await, Ok(7));
    }

    #[tokio::test]
    async fn closed_pool_refuses() {
        let exec = Exec::new(1, 1);
        exec.close();
        assert_eq!(exec.run(|| 1).await, Err(ExecError::Closed));
    }
}
