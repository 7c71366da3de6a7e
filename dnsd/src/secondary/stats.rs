//! Per-zone counters and gauges of the secondary side, rendered in Prometheus text format
//! after the server's own metrics.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use super::ZoneCtl;

/// Counters and gauges of one followed zone (relaxed atomics: written by the zone's task
/// and the NOTIFY path, read by `/metrics`).
#[derive(Default)]
pub struct ZoneStats {
    loaded: AtomicBool,
    expired: AtomicBool,
    /// Serial being served.
    pub serial: AtomicU64,
    /// Unix time of the last successful refresh (transfer or SOA check).
    pub last_ok: AtomicU64,
    /// Unix time at which the zone expires without a refresh.
    pub expires_at: AtomicU64,
    /// Full transfers that succeeded.
    pub axfr_ok: AtomicU64,
    /// Full transfers that failed.
    pub axfr_failed: AtomicU64,
    /// Incremental transfers that succeeded.
    pub ixfr_ok: AtomicU64,
    /// Incremental transfers that failed (or could not be applied).
    pub ixfr_failed: AtomicU64,
    /// SOA checks that failed.
    pub soa_failed: AtomicU64,
    /// SOA checks made (one per primary tried).
    pub soa_checks: AtomicU64,
    /// NOTIFYs accepted.
    pub notify_accepted: AtomicU64,
    /// NOTIFYs refused (unknown sender, bad or missing TSIG).
    pub notify_refused: AtomicU64,
}

impl ZoneStats {
    /// Has a version been loaded (disk or transfer)?
    pub fn loaded(&self) -> bool {
        self.loaded.load(Relaxed)
    }
    /// Record that a version is being served.
    pub fn set_version(&self, serial: u32) {
        self.serial.store(serial as u64, Relaxed);
        self.loaded.store(true, Relaxed);
    }
    /// Is the zone expired?
    pub fn expired(&self) -> bool {
        self.expired.load(Relaxed)
    }
    /// Set the expired flag.
    pub fn set_expired(&self, on: bool) {
        self.expired.store(on, Relaxed);
    }
    /// Count a transfer.
    pub fn transfer(&self, incremental: bool, ok: bool) {
        let c = match (incremental, ok) {
            (false, true) => &self.axfr_ok,
            (false, false) => &self.axfr_failed,
            (true, true) => &self.ixfr_ok,
            (true, false) => &self.ixfr_failed,
        };
        c.fetch_add(1, Relaxed);
    }
}

/// Prometheus text for all zones.
pub fn render<'a>(zones: impl Iterator<Item = &'a std::sync::Arc<ZoneCtl>>, now: u64) -> String {
    let mut zs: Vec<_> = zones.collect();
    zs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut s = String::new();
    let mut family =
        |name: &str, kind: &str, help: &str, f: &dyn Fn(&ZoneCtl) -> Vec<(String, u64)>| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for z in &zs {
                for (labels, v) in f(z) {
                    let _ = writeln!(s, "{name}{{zone=\"{}\"{labels}}} {v}", z.name);
                }
            }
        };
    let one = |v: u64| vec![(String::new(), v)];
    family(
        "dnsd_secondary_serial",
        "gauge",
        "SOA serial of the followed zone's served version.",
        &|z| one(z.stats.serial.load(Relaxed)),
    );
    family(
        "dnsd_secondary_loaded",
        "gauge",
        "1 once a version is loaded (disk or transfer).",
        &|z| one(z.stats.loaded() as u64),
    );
    family(
        "dnsd_secondary_expired",
        "gauge",
        "1 while the zone is expired (answers SERVFAIL).",
        &|z| one(z.stats.expired() as u64),
    );
    family(
        "dnsd_secondary_last_refresh_timestamp_seconds",
        "gauge",
        "Unix time of the last successful refresh.",
        &|z| one(z.stats.last_ok.load(Relaxed)),
    );
    family(
        "dnsd_secondary_expire_in_seconds",
        "gauge",
        "Seconds until the zone expires without a refresh (0 = expired or never loaded).",
        &|z| one(z.stats.expires_at.load(Relaxed).saturating_sub(now)),
    );
    family(
        "dnsd_secondary_transfers_total",
        "counter",
        "Zone transfers by kind and result.",
        &|z| {
            let st = &z.stats;
            vec![
                (
                    ",kind=\"axfr\",result=\"ok\"".into(),
                    st.axfr_ok.load(Relaxed),
                ),
                (
                    ",kind=\"axfr\",result=\"failed\"".into(),
                    st.axfr_failed.load(Relaxed),
                ),
                (
                    ",kind=\"ixfr\",result=\"ok\"".into(),
                    st.ixfr_ok.load(Relaxed),
                ),
                (
                    ",kind=\"ixfr\",result=\"failed\"".into(),
                    st.ixfr_failed.load(Relaxed),
                ),
            ]
        },
    );
    family(
        "dnsd_secondary_soa_checks_total",
        "counter",
        "SOA checks made (NOTIFYs arriving during one coalesce into one more).",
        &|z| one(z.stats.soa_checks.load(Relaxed)),
    );
    family(
        "dnsd_secondary_soa_check_failures_total",
        "counter",
        "SOA checks that failed.",
        &|z| one(z.stats.soa_failed.load(Relaxed)),
    );
    family(
        "dnsd_secondary_notify_total",
        "counter",
        "NOTIFY messages by result.",
        &|z| {
            vec![
                (
                    ",result=\"accepted\"".into(),
                    z.stats.notify_accepted.load(Relaxed),
                ),
                (
                    ",result=\"refused\"".into(),
                    z.stats.notify_refused.load(Relaxed),
                ),
            ]
        },
    );
    s
}
