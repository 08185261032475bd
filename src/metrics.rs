//! Prometheus metrics (`prometheus-client`): one registry per server,
//! updated on the request path, encoded as text for `/metrics` (the
//! listener lives in `server`).
//!
//! Metric names (all prefixed `signatrust_`):
//!
//! * `requests_total{command, outcome}`: requests answered; `command` is
//!   one of signd's commands or `other`, `outcome` one of `ok`, `error`,
//!   `forwarded`, `refused` (audit trail unavailable);
//! * `request_duration_seconds{command}`: histogram, from the decoded
//!   request to the reply;
//! * `connections_open`, `connections_refused_total` (over the limit);
//! * `audit_backlog` (records waiting), `audit_dropped` (records dropped,
//!   `on_failure = "log"`), `audit_failing` (1 while the audit database
//!   cannot be written): set when scraped;
//! * `build_info{version}`: always 1.
//!
//! Sampled when scraped from the counters the subsystems keep themselves
//! (so that `exec` and `keys` need not know this module; `Sampled`):
//!
//! * `exec_queue_depth{lane}` (jobs waiting for a thread), `exec_admitted`
//!   (running or waiting), `exec_capacity`, `exec_workers`, with `lane`
//!   `sign` (the signing pool) or `keygen` (the keygen lane);
//!   `keygen_refused_total{reason}`: `full` (queue full) or `timeout` (no
//!   thread before the start deadline);
//! * `cache_hits_total{cache}`, `cache_misses_total{cache}`,
//!   `cache_entries{cache}`, with `cache` `key` (unwrapped signing keys),
//!   `row`, `alias`, `setting` (the store's) or `blob` (privsign project
//!   keys);
//! * `db_read_duration_seconds` (histogram) and `db_read_errors_total`: the
//!   database reads on the serving path (`keys::DbStats`);
//! * `kek_duration_seconds` (histogram) and `kek_errors_total`: the store
//!   KEK's wrap and unwrap calls, whatever the provider (an AWS KMS round
//!   trip, a PKCS#11 call, AES-GCM with a key file).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The commands with a label of their own; anything else is `other`, so
/// that a client cannot grow the label set.
const COMMANDS: &[&str] = &[
    "ping",
    "pubkey",
    "sign",
    "privsign",
    "keygen",
    "privtotp",
    "certgen",
    "privileged",
];

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    /// Connections being served.
    pub connections_open: Gauge,
    /// Connections refused over the connection limit.
    pub connections_refused: Counter,
    audit_backlog: Gauge,
    audit_dropped: Gauge,
    audit_failing: Gauge,
    /// Queues, caches and database reads, copied in when scraped.
    sampled: Sampled,
}

/// 0.5 ms to about 8 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("signatrust");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by command and outcome",
            requests.clone(),
        );
        let latency = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time from the decoded request to the reply, by command",
            latency.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Connections being served",
            connections_open.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "connections_refused",
            "Connections refused over the connection limit",
            connections_refused.clone(),
        );
        let audit_backlog = Gauge::default();
        registry.register(
            "audit_backlog",
            "Audit records waiting to be written",
            audit_backlog.clone(),
        );
        let audit_dropped = Gauge::default();
        registry.register(
            "audit_dropped",
            "Audit records dropped since start (on_failure = log, backlog full)",
            audit_dropped.clone(),
        );
        let audit_failing = Gauge::default();
        registry.register(
            "audit_failing",
            "1 while the audit database cannot be written",
            audit_failing.clone(),
        );
        let build_info = Family::<Labels, Gauge>::default();
        build_info
            .get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_owned())])
            .set(1);
        registry.register("build_info", "The running version", build_info);
        let sampled = Sampled::register(&mut registry);
        Metrics {
            registry,
            requests,
            latency,
            connections_open,
            connections_refused,
            audit_backlog,
            audit_dropped,
            audit_failing,
            sampled,
        }
    }

    /// Counts one answered request.
    pub fn request(&self, command: &str, outcome: &'static str, latency: Duration) {
        let command = COMMANDS
            .iter()
            .find(|c| **c == command)
            .copied()
            .unwrap_or("other");
        self.requests
            .get_or_create(&vec![
                ("command", command.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![("command", command.to_owned())])
            .observe(latency.as_secs_f64());
    }

    /// The audit writer's state, set before each scrape.
    pub fn set_audit(&self, backlog: usize, dropped: u64, failing: bool) {
        self.audit_backlog
            .set(i64::try_from(backlog).unwrap_or(i64::MAX));
        self.audit_dropped
            .set(i64::try_from(dropped).unwrap_or(i64::MAX));
        self.audit_failing.set(i64::from(failing));
    }

    /// A crypto queue's occupancy, set before each scrape: `lane` is `sign`
    /// or `keygen`.
    pub fn set_queue(
        &self,
        lane: &'static str,
        workers: usize,
        capacity: usize,
        admitted: usize,
        queued: usize,
    ) {
        let l = vec![("lane", lane.to_owned())];
        let s = &self.sampled;
        s.queue_depth.get_or_create(&l).set(gauge(queued));
        s.admitted.get_or_create(&l).set(gauge(admitted));
        s.capacity.get_or_create(&l).set(gauge(capacity));
        s.workers.get_or_create(&l).set(gauge(workers));
    }

    /// The keygen lane's refusals since start, set before each scrape.
    pub fn set_keygen_refused(&self, full: u64, timed_out: u64) {
        let _one = self.sampled.lock();
        for (reason, total) in [("full", full), ("timeout", timed_out)] {
            let c = self
                .sampled
                .keygen_refused
                .get_or_create(&vec![("reason", reason.to_owned())]);
            catch_up(&c, total);
        }
    }

    /// A cache's hits and misses since start and its entries now, set
    /// before each scrape.
    pub fn set_cache(&self, cache: &'static str, hits: u64, misses: u64, entries: usize) {
        let _one = self.sampled.lock();
        let l = vec![("cache", cache.to_owned())];
        let s = &self.sampled;
        catch_up(&s.cache_hits.get_or_create(&l), hits);
        catch_up(&s.cache_misses.get_or_create(&l), misses);
        s.cache_entries.get_or_create(&l).set(gauge(entries));
    }

    /// The serving path's database reads since start, set before each
    /// scrape: `buckets` are `(upper bound in seconds, reads)`, not
    /// cumulative, the last bound `+Inf`.
    pub fn set_db_reads(&self, count: u64, errors: u64, sum_seconds: f64, buckets: &[(f64, u64)]) {
        let s = &self.sampled;
        self.set_timed(
            &s.db_latency,
            &s.db_errors,
            count,
            errors,
            sum_seconds,
            buckets,
        );
    }

    /// The store KEK's wrap and unwrap calls since start (a KMS round trip,
    /// a PKCS#11 call or local AES), set before each scrape; `buckets` as
    /// in [`Metrics::set_db_reads`].
    pub fn set_kek_calls(&self, count: u64, errors: u64, sum_seconds: f64, buckets: &[(f64, u64)]) {
        let s = &self.sampled;
        self.set_timed(
            &s.kek_latency,
            &s.kek_errors,
            count,
            errors,
            sum_seconds,
            buckets,
        );
    }

    /// Copies a source's timed calls into `histogram` and its failures
    /// into `failed` (the counters behind `set_db_reads`, `set_kek_calls`).
    fn set_timed(
        &self,
        histogram: &SampledHistogram,
        failed: &Counter,
        count: u64,
        errors: u64,
        sum_seconds: f64,
        buckets: &[(f64, u64)],
    ) {
        let _one = self.sampled.lock();
        *histogram.0.lock().unwrap_or_else(|e| e.into_inner()) =
            (sum_seconds, count, last_as_max(buckets));
        catch_up(failed, errors);
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The buckets with an infinite bound as `f64::MAX`, which the encoder
/// writes `+Inf` (as `Histogram` does).
fn last_as_max(buckets: &[(f64, u64)]) -> Vec<(f64, u64)> {
    buckets
        .iter()
        .map(|&(b, n)| (if b.is_infinite() { f64::MAX } else { b }, n))
        .collect()
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Brings a sampled counter up to `total` (the source's count since start;
/// it never goes down, and a concurrent scrape is kept out by the caller).
fn catch_up(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

/// The metrics copied in when scraped, from counters their subsystems keep.
#[derive(Debug)]
struct Sampled {
    /// Two scrapes at once must not both add the same difference.
    one_at_a_time: Mutex<()>,
    queue_depth: Family<Labels, Gauge>,
    admitted: Family<Labels, Gauge>,
    capacity: Family<Labels, Gauge>,
    workers: Family<Labels, Gauge>,
    keygen_refused: Family<Labels, Counter>,
    cache_hits: Family<Labels, Counter>,
    cache_misses: Family<Labels, Counter>,
    cache_entries: Family<Labels, Gauge>,
    db_latency: SampledHistogram,
    db_errors: Counter,
    kek_latency: SampledHistogram,
    kek_errors: Counter,
}

impl Sampled {
    fn register(registry: &mut Registry) -> Sampled {
        let s = Sampled {
            one_at_a_time: Mutex::new(()),
            queue_depth: Family::default(),
            admitted: Family::default(),
            capacity: Family::default(),
            workers: Family::default(),
            keygen_refused: Family::default(),
            cache_hits: Family::default(),
            cache_misses: Family::default(),
            cache_entries: Family::default(),
            db_latency: SampledHistogram::default(),
            db_errors: Counter::default(),
            kek_latency: SampledHistogram::default(),
            kek_errors: Counter::default(),
        };
        registry.register(
            "exec_queue_depth",
            "Crypto jobs waiting for a thread, by lane (sign, keygen)",
            s.queue_depth.clone(),
        );
        registry.register(
            "exec_admitted",
            "Crypto jobs running or waiting, by lane",
            s.admitted.clone(),
        );
        registry.register(
            "exec_capacity",
            "Crypto jobs admitted at most at once, by lane",
            s.capacity.clone(),
        );
        registry.register("exec_workers", "Crypto threads, by lane", s.workers.clone());
        registry.register(
            "keygen_refused",
            "Keygens refused: queue full, or no thread before the start deadline",
            s.keygen_refused.clone(),
        );
        registry.register(
            "cache_hits",
            "Lookups answered from a cache (key, row, alias, setting, blob)",
            s.cache_hits.clone(),
        );
        registry.register(
            "cache_misses",
            "Lookups that loaded (database, KEK unwrap, blob decryption), by cache",
            s.cache_misses.clone(),
        );
        registry.register(
            "cache_entries",
            "Entries held, by cache",
            s.cache_entries.clone(),
        );
        registry.register(
            "db_read_duration_seconds",
            "Database reads on the serving path (key, alias, default user, revision)",
            s.db_latency.clone(),
        );
        registry.register(
            "db_read_errors",
            "Database reads on the serving path that failed",
            s.db_errors.clone(),
        );
        registry.register(
            "kek_duration_seconds",
            "KEK wrap and unwrap calls of the store (KMS, PKCS#11 or key file)",
            s.kek_latency.clone(),
        );
        registry.register(
            "kek_errors",
            "KEK wrap and unwrap calls that failed (provider unreachable, DEK not authentic)",
            s.kek_errors.clone(),
        );
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.one_at_a_time.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A histogram whose buckets are counted elsewhere (`keys::DbStats`) and
/// copied in when scraped: `(sum in seconds, count, (upper bound, count)
/// per bucket, not cumulative)`.
#[derive(Debug, Clone, Default)]
struct SampledHistogram(Arc<Mutex<HistogramSample>>);

/// `(sum in seconds, count, (upper bound, count) per bucket)`.
type HistogramSample = (f64, u64, Vec<(f64, u64)>);

impl TypedMetric for SampledHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for SampledHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let h = self.0.lock().unwrap_or_else(|e| e.into_inner());
        encoder.encode_histogram::<NoLabelSet>(h.0, h.1, &h.2, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_command_and_outcome() {
        let m = Metrics::new();
        m.request("sign", "ok", Duration::from_millis(2));
        m.request("sign", "ok", Duration::from_millis(3));
        m.request("evil\"label", "error", Duration::from_millis(1));
        let text = m.encode();
        assert!(
            text.contains("signatrust_requests_total{command=\"sign\",outcome=\"ok\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("signatrust_requests_total{command=\"other\",outcome=\"error\"} 1"),
            "{text}"
        );
        assert!(text.contains("signatrust_build_info{version="), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    /// Sampled counters follow their source's totals (two scrapes of the
    /// same totals count once); the histogram is rendered cumulative.
    #[test]
    fn sampled_series() {
        let m = Metrics::new();
        for _ in 0..2 {
            m.set_cache("key", 3, 1, 1);
            m.set_queue("keygen", 2, 10, 3, 1);
            m.set_keygen_refused(4, 0);
            m.set_db_reads(3, 1, 0.5, &[(0.001, 2), (f64::INFINITY, 1)]);
        }
        let text = m.encode();
        for want in [
            "signatrust_cache_hits_total{cache=\"key\"} 3\n",
            "signatrust_cache_misses_total{cache=\"key\"} 1\n",
            "signatrust_cache_entries{cache=\"key\"} 1\n",
            "signatrust_exec_queue_depth{lane=\"keygen\"} 1\n",
            "signatrust_exec_admitted{lane=\"keygen\"} 3\n",
            "signatrust_keygen_refused_total{reason=\"full\"} 4\n",
            "signatrust_db_read_duration_seconds_bucket{le=\"0.001\"} 2\n",
            "signatrust_db_read_duration_seconds_bucket{le=\"+Inf\"} 3\n",
            "signatrust_db_read_duration_seconds_count 3\n",
            "signatrust_db_read_errors_total 1\n",
        ] {
            assert!(text.contains(want), "{want}\n{text}");
        }
    }
}
