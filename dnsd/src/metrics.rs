//! Query counters and their Prometheus text exposition.
//!
//! Each worker (UDP thread or the TCP side) owns a cache-line-aligned block of counters, so
//! the hot path increments an uncontended relaxed atomic; `/metrics` sums the blocks.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Rcodes 0..=16 (16 = BADVERS) plus one slot for dropped packets.
pub const SLOTS: usize = 18;
/// Index of the "dropped" slot.
pub const DROPPED: usize = 17;

/// One worker's counters.
#[repr(align(128))]
#[derive(Default)]
pub struct Counters {
    udp: [AtomicU64; SLOTS],
    tcp: [AtomicU64; SLOTS],
}

impl Counters {
    /// Count one query answered with `rcode` (None = dropped).
    #[inline]
    pub fn count(&self, tcp: bool, rcode: Option<u8>) {
        let i = rcode.map_or(DROPPED, |r| (r as usize).min(16));
        let a = if tcp { &self.tcp } else { &self.udp };
        a[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// All counters of a server.
#[derive(Default)]
pub struct Metrics {
    blocks: Mutex<Vec<Arc<Counters>>>,
}

const RCODE_NAMES: [&str; 17] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
    "BADVERS",
];

impl Metrics {
    /// A new counter block for one worker.
    pub fn worker(&self) -> Arc<Counters> {
        let c = Arc::new(Counters::default());
        if let Ok(mut b) = self.blocks.lock() {
            b.push(c.clone());
        }
        c
    }

    /// Sum of one counter over all workers.
    pub fn total(&self, tcp: bool, slot: usize) -> u64 {
        let Ok(b) = self.blocks.lock() else { return 0 };
        b.iter()
            .map(|c| if tcp { &c.tcp } else { &c.udp }[slot].load(Ordering::Relaxed))
            .sum()
    }

    /// Prometheus text format; `zones` lines are appended as given.
    pub fn render(&self, zones: &[(String, u32)]) -> String {
        let mut s = String::new();
        s.push_str("# HELP dnsd_queries_total Queries answered, by transport and rcode.\n");
        s.push_str("# TYPE dnsd_queries_total counter\n");
        for (tcp, proto) in [(false, "udp"), (true, "tcp")] {
            for (i, name) in RCODE_NAMES.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "dnsd_queries_total{{proto=\"{proto}\",rcode=\"{name}\"}} {}",
                    self.total(tcp, i)
                );
            }
        }
        s.push_str(
            "# HELP dnsd_dropped_total Packets dropped without an answer (runts, responses).\n",
        );
        s.push_str("# TYPE dnsd_dropped_total counter\n");
        let _ = writeln!(
            s,
            "dnsd_dropped_total {}",
            self.total(false, DROPPED) + self.total(true, DROPPED)
        );
        s.push_str("# HELP dnsd_zone_serial SOA serial of the zone version being served.\n");
        s.push_str("# TYPE dnsd_zone_serial gauge\n");
        for (z, serial) in zones {
            let _ = writeln!(s, "dnsd_zone_serial{{zone=\"{z}\"}} {serial}");
        }
        s
    }
}
