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
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
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
        Metrics {
            registry,
            requests,
            latency,
            connections_open,
            connections_refused,
            audit_backlog,
            audit_dropped,
            audit_failing,
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

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
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
}
