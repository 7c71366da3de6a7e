//! dnsd's secondary mode: follow zones (and catalog zones) from primaries, serve transfers
//! to downstream secondaries.
//!
//! * [`xfr`]: the transfer client (SOA check, AXFR, IXFR over TCP, TSIG on every message);
//!   [`tsig`]: RFC 8945; [`msg`]: message reading/writing; [`serial`]: RFC 1982.
//! * [`task`]: one task per zone running the RFC 1035/1996 state machine: NOTIFY or the
//!   refresh timer triggers an SOA check, a newer serial a transfer; retry after failures;
//!   after expire the zone answers SERVFAIL until a transfer succeeds.
//! * [`delta`]: IXFR differences applied copy-on-write to the served version;
//!   [`persist`]: every version on disk, loaded before serving; [`catalog`]: RFC 9432.
//! * [`hooks`]: the few calls the server makes into this module (NOTIFY, expired zones,
//!   outgoing transfers, health, metrics); [`crate::xfr_out`]: AXFR/IXFR out and NOTIFY out.
//!
//! All of it runs on its own two-thread tokio runtime, apart from the query path; new
//! versions reach the query path only through [`Store::publish_zone`].

pub mod args;
pub mod catalog;
pub mod delta;
pub mod hooks;
pub mod msg;
pub mod persist;
pub mod serial;
pub mod stats;
pub mod task;
pub mod tsig;
pub mod xfr;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::Notify;

pub use args::SecondaryArgs;
pub use stats::ZoneStats;
pub use tsig::Key;
pub use xfr::{Delta, Primary};

use crate::error::{Error, Result};
use crate::name;
use crate::zone::{Store, Zone, ZoneSet};

/// A zone to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSpec {
    /// Zone name (presentation form).
    pub name: String,
    /// Primaries, tried in order.
    pub primaries: Vec<Primary>,
    /// A catalog zone (RFC 9432): not served; its members are followed.
    pub catalog: bool,
}

/// Configuration of the secondary side.
#[derive(Debug, Clone, Default)]
pub struct SecondaryConfig {
    /// Zones (and catalogs) to follow.
    pub zones: Vec<ZoneSpec>,
    /// Keys accepted on incoming NOTIFY and transfer requests.
    pub keys: Vec<Arc<Key>>,
    /// Where versions are stored (none: memory only).
    pub state_dir: Option<PathBuf>,
    /// Downstream secondaries to NOTIFY after each new version.
    pub notify: Vec<SocketAddr>,
    /// Addresses allowed to transfer zones from us.
    pub allow_transfer: Vec<IpAddr>,
    /// When set, transfers from us must be signed with this key.
    pub transfer_key: Option<Arc<Key>>,
    /// Source address of outgoing NOTIFYs.
    pub notify_source: Option<IpAddr>,
    /// Refuse unsigned NOTIFYs from primaries that have a key.
    pub notify_require_tsig: bool,
    /// NOTIFYs signed with one of these keys are accepted from any address.
    pub notify_keys: Vec<Arc<Key>>,
}

/// One followed zone, as the NOTIFY path and the metrics see it.
pub struct ZoneCtl {
    /// Lower-cased wire name.
    pub origin: Box<[u8]>,
    /// Presentation name.
    pub name: String,
    /// Primaries.
    pub primaries: Vec<Primary>,
    /// Is it a catalog?
    pub catalog: bool,
    /// The catalog it is a member of.
    pub member_of: Option<Box<[u8]>>,
    /// Wakes the zone's task (NOTIFY); a permit is kept, so NOTIFYs during a transfer
    /// coalesce into one more check after it.
    pub wake: Notify,
    /// Counters and gauges.
    pub stats: ZoneStats,
}

/// Most IXFR differences kept per zone for serving IXFR.
pub const HISTORY: usize = 256;

/// Recent IXFR differences per zone (oldest first).
pub type History = HashMap<Box<[u8]>, VecDeque<Arc<Delta>>>;

/// State shared by the zone tasks, the hooks and the outbound side.
pub struct Shared {
    /// The served zone set.
    pub store: Arc<Store>,
    /// Configuration.
    pub cfg: SecondaryConfig,
    /// Followed zones by origin.
    pub zones: ArcSwap<HashMap<Box<[u8]>, Arc<ZoneCtl>>>,
    /// Zones past their expire time (answered SERVFAIL).
    pub expired: ArcSwap<HashSet<Box<[u8]>>>,
    /// Recent IXFR differences per zone, oldest first, for IXFR out.
    pub history: Mutex<History>,
    tasks: Mutex<HashMap<Box<[u8]>, Vec<tokio::task::AbortHandle>>>,
    rt: tokio::runtime::Handle,
    /// Set once every followed zone has settled (see [`Shared::ready`]); never cleared.
    ready_latch: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// Start following a zone (no-op if already followed). Loads its stored version first,
    /// so it serves before any transfer.
    pub fn add_zone(self: &Arc<Self>, spec: &ZoneSpec, member_of: Option<&[u8]>) -> Result<()> {
        let origin = name::from_text(&spec.name, Some(name::ROOT)).map_err(Error::Config)?;
        let origin = name::lower(&origin);
        if self.zones.load().contains_key(&origin) {
            return Ok(());
        }
        let ctl = Arc::new(ZoneCtl {
            origin: origin.clone(),
            name: name::to_text(&origin),
            primaries: spec.primaries.clone(),
            catalog: spec.catalog,
            member_of: member_of.map(Into::into),
            wake: Notify::new(),
            stats: ZoneStats::default(),
        });
        let stored = self.load_stored(&origin);
        self.zones.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.insert(origin.clone(), ctl.clone());
            m
        });
        let handles = task::spawn(self.clone(), ctl, stored, &self.rt);
        if let Ok(mut t) = self.tasks.lock() {
            t.insert(origin, handles);
        }
        Ok(())
    }

    fn load_stored(&self, origin: &[u8]) -> Option<(Arc<Zone>, persist::Meta)> {
        let dir = self.cfg.state_dir.as_ref()?;
        match persist::load(dir, origin) {
            Ok(Some((z, m))) => {
                tracing::info!(zone = %z.name(), serial = z.serial, records = z.records, "zone loaded from the state dir");
                Some((Arc::new(z), m))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(zone = %name::to_text(origin), error = %e, "stored zone unusable, transferring afresh");
                None
            }
        }
    }

    /// Stop following a zone, stop serving it and forget its stored version.
    pub fn remove_zone(&self, origin: &[u8]) {
        if let Ok(mut t) = self.tasks.lock() {
            for h in t.remove(origin).unwrap_or_default() {
                h.abort();
            }
        }
        self.zones.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.remove(origin);
            m
        });
        self.set_expired(origin, false);
        self.store.remove_zone(origin);
        if let Ok(mut h) = self.history.lock() {
            h.remove(origin);
        }
        if let Some(dir) = &self.cfg.state_dir {
            persist::remove(dir, origin);
        }
        tracing::info!(zone = %name::to_text(origin), "zone no longer followed");
    }

    /// Mark a zone expired (SERVFAIL) or serving again.
    pub fn set_expired(&self, origin: &[u8], on: bool) {
        let cur = self.expired.load();
        if cur.contains(origin) == on {
            return;
        }
        self.expired.rcu(|s| {
            let mut s = HashSet::clone(s);
            if on {
                s.insert(origin.into());
            } else {
                s.remove(origin);
            }
            s
        });
        hooks::set_any_expired(!self.expired.load().is_empty());
    }

    /// Readiness for a load balancer: true once every followed zone has settled, i.e. serves
    /// a version (from disk or a transfer) or has failed a transfer or SOA check at least once
    /// (a broken zone answers SERVFAIL on every replica alike, so it must not hold the pod out
    /// of its Service). Latched: a catalog member added later, whose first transfer takes a
    /// few milliseconds, must not take every replica out of the Service at the same moment.
    pub fn ready(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        if self.ready_latch.load(Relaxed) {
            return true;
        }
        let settled = self.zones.load().values().all(|c| {
            let s = &c.stats;
            s.loaded()
                || s.axfr_failed.load(Relaxed)
                    + s.ixfr_failed.load(Relaxed)
                    + s.soa_failed.load(Relaxed)
                    > 0
        });
        if settled {
            self.ready_latch.store(true, Relaxed);
        }
        settled
    }

    /// Followed zones that serve no version yet (neither from disk nor from a transfer).
    pub fn pending(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .zones
            .load()
            .values()
            .filter(|c| !c.stats.loaded())
            .map(|c| c.name.clone())
            .collect();
        v.sort();
        v
    }
}

/// The running secondary side. Dropping it stops every task and unhooks the server.
pub struct Secondary {
    shared: Arc<Shared>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Secondary {
    /// Load stored versions, publish them, start a task per zone and hook into the server.
    /// Call before [`crate::server::Server::start`] so stored zones serve from the start.
    pub fn start(cfg: SecondaryConfig, store: Arc<Store>) -> Result<Secondary> {
        if let Some(dir) = &cfg.state_dir {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dnsd-xfr")
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("tokio runtime: {e}")))?;
        let shared = Arc::new(Shared {
            store,
            zones: ArcSwap::from_pointee(HashMap::new()),
            expired: ArcSwap::from_pointee(HashSet::new()),
            history: Mutex::new(HashMap::new()),
            tasks: Mutex::new(HashMap::new()),
            rt: rt.handle().clone(),
            ready_latch: std::sync::atomic::AtomicBool::new(false),
            cfg,
        });
        for spec in shared.cfg.zones.clone() {
            shared.add_zone(&spec, None)?;
        }
        hooks::install(shared.clone());
        Ok(Secondary {
            shared,
            rt: Some(rt),
        })
    }

    /// The shared state (tests and metrics).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for Secondary {
    fn drop(&mut self) {
        hooks::uninstall();
        if let Ok(mut t) = self.shared.tasks.lock() {
            for h in t.drain().flat_map(|(_, v)| v) {
                h.abort();
            }
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

/// After a SIGHUP reload built `set` from zone files: keep the followed zones' current
/// versions in it (they are not files).
pub fn keep_followed(set: &mut ZoneSet, current: &ZoneSet) {
    let Some(sh) = hooks::shared() else { return };
    for origin in sh.zones.load().keys() {
        if let Some(z) = current.get(origin) {
            set.insert(z.clone());
        }
    }
}
