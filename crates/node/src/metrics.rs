//! Prometheus metrics of a node: requests, decisions by outcome, transfers
//! by destination, log size, sequencing latency, failed log appends.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route, e.g. `/v1/transfer`.
    pub route: String,
    /// HTTP status.
    pub status: u16,
}

/// Labels of a decision count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// Action as decided.
    pub action: String,
    /// `allow` or `deny`.
    pub outcome: String,
}

/// Labels of a transfer count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransferLabels {
    /// Destination jurisdiction.
    pub destination: String,
}

/// A node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Decisions by action and outcome.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Allowed transfers by destination jurisdiction.
    pub transfers: Family<TransferLabels, Counter>,
    /// Entries in the log.
    pub log_size: Gauge,
    /// Seconds from submitting an entry to its acknowledgement.
    pub sequencing: Histogram,
    /// Entries the log did not take (nothing was released for them): an
    /// alert, since every decision must be logged.
    pub log_append_failures: Counter,
    /// Notifications the app acknowledged.
    pub notified: Counter,
    /// Deliveries of notifications that failed (each is retried).
    pub notify_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("residency");
        let requests = Family::default();
        let decisions = Family::default();
        let transfers = Family::default();
        let log_size = Gauge::default();
        let sequencing = Histogram::new(exponential_buckets(0.000_5, 2.0, 14));
        let log_append_failures = Counter::default();
        let notified = Counter::default();
        let notify_failures = Counter::default();
        registry.register(
            "notified",
            "Notifications of accesses the app acknowledged",
            notified.clone(),
        );
        registry.register(
            "notify_failures",
            "Failed deliveries of notifications to the app (each retried)",
            notify_failures.clone(),
        );
        registry.register(
            "requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "decisions",
            "Policy decisions by action and outcome",
            decisions.clone(),
        );
        registry.register(
            "transfers",
            "Allowed transfers by destination jurisdiction",
            transfers.clone(),
        );
        registry.register("log_size", "Entries in the region's log", log_size.clone());
        registry.register(
            "sequencing_seconds",
            "Time to sequence a log entry durably",
            sequencing.clone(),
        );
        registry.register(
            "log_append_failures",
            "Entries the log did not take; nothing was released for them",
            log_append_failures.clone(),
        );
        Metrics {
            registry,
            log_append_failures,
            notified,
            notify_failures,
            requests,
            decisions,
            transfers,
            log_size,
            sequencing,
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_log_appends_are_exposed_for_alerting() {
        let m = Metrics::default();
        m.log_append_failures.inc();
        assert!(
            m.render().contains("residency_log_append_failures_total 1"),
            "{}",
            m.render()
        );
    }
}
