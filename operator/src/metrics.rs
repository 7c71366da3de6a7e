//! Prometheus metrics of the operator (prometheus-client). Every metric declared here is
//! updated by the reconcilers or the leader task; `/metrics` serves them (see [`crate::http`]).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of per-controller metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

/// Labels of reconcile outcomes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub controller: String,
    /// `ok`, `transient` (retry helps) or `permanent` (needs a spec change).
    pub result: String,
}

/// Labels of BIND operations.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    /// `update`, `delete`, `addzone`, `modzone`, `delzone`, `notify`, `catalog`, `retransfer`.
    pub op: String,
    pub result: String,
}

/// The operator's metrics and their registry.
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<OutcomeLabels, Counter>,
    pub reconcile_seconds: Family<ControllerLabels, Histogram>,
    pub bind_ops: Family<OpLabels, Counter>,
    pub leader: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Time from a record's creation to its Ready condition (seconds), per record.
    pub record_ready_seconds: Histogram,
    pub events_published: Counter<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bindy");
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        let reconcile_seconds = Family::<ControllerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let bind_ops = Family::<OpLabels, Counter>::default();
        let leader = Gauge::default();
        let record_ready_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        let events_published = Counter::default();
        registry.register(
            "reconciles",
            "Reconciliations by controller and result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciliations by controller",
            reconcile_seconds.clone(),
        );
        registry.register(
            "bind_operations",
            "Operations sent to BIND9 (UPDATE, rndc, NOTIFY, catalog) by result",
            bind_ops.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        registry.register(
            "record_ready_seconds",
            "Seconds from a record's creation to its first Ready condition",
            record_ready_seconds.clone(),
        );
        registry.register(
            "events_published",
            "Kubernetes Events published",
            events_published.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_seconds,
            bind_ops,
            leader,
            record_ready_seconds,
            events_published,
        }
    }

    /// Counts one BIND operation.
    pub fn bind_op(&self, op: &str, ok: bool) {
        self.bind_ops
            .get_or_create(&OpLabels {
                op: op.into(),
                result: if ok { "ok" } else { "error" }.into(),
            })
            .inc();
    }

    /// Records one reconcile's duration and outcome.
    pub fn reconciled(&self, controller: &str, seconds: f64, result: &str) {
        self.reconcile_seconds
            .get_or_create(&ControllerLabels {
                controller: controller.into(),
            })
            .observe(seconds);
        self.reconciles
            .get_or_create(&OutcomeLabels {
                controller: controller.into(),
                result: result.into(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_appears_once_updated() {
        let m = Metrics::new();
        m.reconciled("zone", 0.002, "ok");
        m.bind_op("update", true);
        m.leader.set(1);
        m.record_ready_seconds.observe(0.3);
        m.events_published.inc();
        let text = m.encode();
        for name in [
            "bindy_reconciles_total{controller=\"zone\",result=\"ok\"} 1",
            "bindy_reconcile_duration_seconds_count{controller=\"zone\"} 1",
            "bindy_bind_operations_total{op=\"update\",result=\"ok\"} 1",
            "bindy_leader 1",
            "bindy_record_ready_seconds_count 1",
            "bindy_events_published_total 1",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}
