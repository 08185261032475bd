//! Timings of the database reads a request may wait for (the key row, an
//! alias, the store's default user, the store revision), for `/metrics`: a histogram of their durations and a count of
//! their errors, in atomics; the `metrics` module renders a snapshot
//! ([`DbStats`]) when scraped.
//!
//! Writes (admin verbs, imports) and the change feed are not timed: they
//! are not on the serving path.
//!
//! The store's KEK calls (wrap and unwrap of data keys: a KMS round trip,
//! a PKCS#11 call or local AES) are timed the same way by [`TimedKek`],
//! whatever the provider.
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::keys::kek::{Kek, KekError};
use crate::secret::SecretBytes;

/// Upper bounds of the latency buckets, seconds: 0.1 ms to about 1.6 s,
/// doubling (a read over the network to PostgreSQL takes ~0.2-1 ms; a
/// slow one, or a pool wait, shows in the upper buckets). Beyond the last
/// is `+Inf`.
pub const DB_LATENCY_BUCKETS: [f64; 15] = [
    0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032, 0.0064, 0.0128, 0.0256, 0.0512, 0.1024, 0.2048,
    0.4096, 0.8192, 1.6384,
];

/// The serving path's database reads since start, as a histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbStats {
    /// Reads timed, failed ones included.
    pub count: u64,
    /// Reads that failed (the database unreachable, a query error).
    pub errors: u64,
    /// Their summed duration, seconds.
    pub sum_seconds: f64,
    /// `(upper bound in seconds, reads in this bucket)`, not cumulative,
    /// the last bound `f64::INFINITY`.
    pub buckets: Vec<(f64, u64)>,
}

/// The counters behind [`DbStats`].
pub(super) struct DbTimings {
    buckets: [AtomicU64; DB_LATENCY_BUCKETS.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
    errors: AtomicU64,
}

impl Default for DbTimings {
    fn default() -> Self {
        DbTimings {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }
}

impl DbTimings {
    /// Runs `read`, recording its duration and whether it failed. A read
    /// whose caller went away (dropped future) is not recorded.
    pub(super) async fn time<T, E>(
        &self,
        read: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = read.await;
        self.record(started.elapsed(), result.is_err());
        result
    }

    /// [`DbTimings::time`] for a synchronous call.
    pub(super) fn time_sync<T, E>(&self, call: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let started = Instant::now();
        let result = call();
        self.record(started.elapsed(), result.is_err());
        result
    }

    fn record(&self, took: Duration, failed: bool) {
        let secs = took.as_secs_f64();
        let bucket = DB_LATENCY_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(DB_LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A snapshot (the counters are read one by one: a read recorded
    /// meanwhile may be in some of them only, until the next scrape).
    pub(super) fn stats(&self) -> DbStats {
        let bounds = DB_LATENCY_BUCKETS.iter().copied().chain([f64::INFINITY]);
        DbStats {
            count: self.count.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            sum_seconds: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
            buckets: bounds
                .zip(&self.buckets)
                .map(|(b, n)| (b, n.load(Ordering::Relaxed)))
                .collect(),
        }
    }
}

/// A KEK whose wrap and unwrap calls are timed into `timings`; otherwise
/// it is `inner` (same id, same results). An unwrap that fails because the
/// DEK does not authenticate counts as an error like an unreachable KMS.
pub(super) struct TimedKek {
    pub(super) inner: Arc<dyn Kek>,
    pub(super) timings: Arc<DbTimings>,
}

impl Kek for TimedKek {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn wrap(&self, dek: &SecretBytes, aad: &[u8]) -> Result<Vec<u8>, KekError> {
        self.timings.time_sync(|| self.inner.wrap(dek, aad))
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError> {
        self.timings.time_sync(|| self.inner.unwrap(wrapped, aad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_land_in_their_bucket_and_errors_count() {
        let t = DbTimings::default();
        t.record(Duration::from_micros(50), false);
        t.record(Duration::from_millis(3), true);
        t.record(Duration::from_secs(5), false);
        let r: Result<(), &str> = t.time(async { Err("down") }).await;
        assert!(r.is_err());
        let s = t.stats();
        assert_eq!((s.count, s.errors), (4, 2));
        assert_eq!(s.buckets.len(), DB_LATENCY_BUCKETS.len() + 1);
        assert_eq!(s.buckets[0], (0.0001, 2), "50 us and the instant error");
        assert_eq!(s.buckets[5], (0.0032, 1), "3 ms");
        assert_eq!(*s.buckets.last().unwrap(), (f64::INFINITY, 1), "5 s");
        assert!(
            s.sum_seconds > 5.0 && s.sum_seconds < 5.01,
            "{}",
            s.sum_seconds
        );
    }
}
