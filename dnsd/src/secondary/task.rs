//! One task per followed zone: the refresh/retry/expire state machine (RFC 1035 §4.3.5,
//! RFC 1996), plus a writer task that persists versions.
//!
//! The task waits for the first of: a NOTIFY (the zone's [`tokio::sync::Notify`]), the
//! refresh timer (or retry timer after a failure), or the expire deadline. A check asks
//! each primary in turn for its SOA serial; a newer one (RFC 1982) is transferred by IXFR
//! when we hold a version (AXFR otherwise, or when the IXFR cannot be applied). The new
//! version is built off to the side (blocking thread pool) and published atomically. A
//! NOTIFY arriving during a check leaves a permit, so exactly one more check follows and
//! the latest serial is never lost. Expiry counts from the last successful refresh in wall
//! clock time, which the state dir keeps across restarts.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use super::persist::{self, Meta};
use super::tsig::now;
use super::xfr::{self, Outcome, Primary};
use super::{catalog, delta, serial, Shared, ZoneCtl, ZoneSpec, HISTORY};
use crate::rtype;
use crate::xfr_out;
use crate::zone::{soa_field, Zone};

/// Timers used before the first version is known.
const BOOT_RETRY: Duration = Duration::from_secs(2);
/// Longest wait between attempts while we hold nothing.
const MAX_BOOT_RETRY: Duration = Duration::from_secs(60);

type Stored = Option<(Arc<Zone>, Meta)>;

/// Spawn the zone's task and its writer on `rt`.
pub fn spawn(
    sh: Arc<Shared>,
    ctl: Arc<ZoneCtl>,
    stored: Stored,
    rt: &tokio::runtime::Handle,
) -> Vec<tokio::task::AbortHandle> {
    let (tx, rx) = watch::channel(None);
    let (meta_tx, meta_rx) = watch::channel(None);
    let mut t = ZoneTask {
        sh: sh.clone(),
        ctl,
        current: None,
        last_ok: 0,
        persist: tx,
        persist_meta: meta_tx,
        children: Children::None,
    };
    if let Some((z, meta)) = stored {
        t.last_ok = meta.last_ok;
        let zc = z.clone();
        t.children = Children::Building(rt.spawn_blocking(move || delta::ChildIndex::build(&zc)));
        t.install(z, false);
        if now() >= meta.last_ok + meta.expire as u64 {
            tracing::warn!(zone = %t.ctl.name, "stored version expired while dnsd was down");
            t.expire();
        }
    }
    let writer = rt.spawn(writer(sh, t.ctl.origin.clone(), rx, meta_rx));
    let main = rt.spawn(t.run());
    vec![main.abort_handle(), writer.abort_handle()]
}

/// Writes the latest version (and refresh times) to the state dir; versions arriving during
/// a write coalesce.
async fn writer(
    sh: Arc<Shared>,
    origin: Box<[u8]>,
    mut rx: watch::Receiver<Option<(Arc<Zone>, Meta)>>,
    mut meta_rx: watch::Receiver<Option<Meta>>,
) {
    let Some(dir) = sh.cfg.state_dir.clone() else {
        return;
    };
    loop {
        let d = dir.clone();
        let job = tokio::select! {
            r = rx.changed() => {
                if r.is_err() {
                    return;
                }
                let Some((z, meta)) = rx.borrow_and_update().clone() else {
                    continue;
                };
                tokio::task::spawn_blocking(move || persist::save(&d, &z, meta))
            }
            r = meta_rx.changed() => {
                if r.is_err() {
                    return;
                }
                let Some(meta) = *meta_rx.borrow_and_update() else {
                    continue;
                };
                let o = origin.clone();
                tokio::task::spawn_blocking(move || persist::save_meta(&d, &o, meta))
            }
        };
        match job.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "persisting a zone version failed"),
            Err(e) => tracing::error!(error = %e, "persist task failed"),
        }
    }
}

/// The child index of the current version (see [`delta::ChildIndex`]).
enum Children {
    None,
    Building(tokio::task::JoinHandle<delta::ChildIndex>),
    Ready(delta::ChildIndex),
}

impl Children {
    /// The index, waiting for a background build; None when there is none (built by the
    /// caller then).
    async fn take(&mut self) -> Option<delta::ChildIndex> {
        match std::mem::replace(self, Children::None) {
            Children::Ready(i) => Some(i),
            Children::Building(h) => h.await.ok(),
            Children::None => None,
        }
    }
}

struct ZoneTask {
    sh: Arc<Shared>,
    ctl: Arc<ZoneCtl>,
    current: Option<Arc<Zone>>,
    last_ok: u64,
    persist: watch::Sender<Option<(Arc<Zone>, Meta)>>,
    persist_meta: watch::Sender<Option<Meta>>,
    /// Child counts of `current`: ready, or being built in the background after an AXFR.
    children: Children,
}

/// (refresh, retry, expire) of a version's SOA.
fn timers(z: &Zone) -> (u32, u32, u32) {
    let rd = z
        .apex()
        .and_then(|a| a.get(rtype::SOA))
        .and_then(|s| s.rdatas.first());
    let f = |i| rd.and_then(|r| soa_field(r, i));
    (
        f(1).unwrap_or(3600).max(1),
        f(2).unwrap_or(600).max(1),
        f(3).unwrap_or(604_800).max(1),
    )
}

impl ZoneTask {
    fn expire_secs(&self) -> u32 {
        self.current.as_ref().map_or(0, |z| timers(z).2)
    }

    /// Serve `z` (unless a catalog) and remember it.
    fn install(&mut self, z: Arc<Zone>, fresh: bool) {
        if self.ctl.catalog {
            self.sync_catalog(&z);
        } else {
            self.sh.store.publish_zone(z.clone());
        }
        self.ctl.stats.set_version(z.serial);
        self.current = Some(z.clone());
        if fresh {
            self.mark_ok();
            let _ = self.persist.send(Some((
                z,
                Meta {
                    last_ok: self.last_ok,
                    expire: self.expire_secs(),
                },
            )));
        } else {
            self.update_expiry();
        }
    }

    fn update_expiry(&self) {
        let at = self.last_ok + self.expire_secs() as u64;
        self.ctl.stats.expires_at.store(at, Relaxed);
        self.ctl.stats.last_ok.store(self.last_ok, Relaxed);
    }

    fn mark_ok(&mut self) {
        self.last_ok = now();
        self.update_expiry();
        let _ = self.persist_meta.send(Some(Meta {
            last_ok: self.last_ok,
            expire: self.expire_secs(),
        }));
        if self.ctl.stats.expired() {
            tracing::info!(zone = %self.ctl.name, "zone refreshed, serving again");
            self.ctl.stats.set_expired(false);
            self.sh.set_expired(&self.ctl.origin, false);
        }
    }

    fn expire(&mut self) {
        tracing::error!(zone = %self.ctl.name, "zone expired: answering SERVFAIL until a transfer succeeds");
        self.ctl.stats.set_expired(true);
        self.sh.set_expired(&self.ctl.origin, true);
    }

    fn sync_catalog(&self, cat: &Zone) {
        let members = catalog::members(cat);
        let zones = self.sh.zones.load_full();
        for (origin, ctl) in zones.iter() {
            if ctl.member_of.as_deref() == Some(&self.ctl.origin[..])
                && !members.contains_key(&origin[..])
            {
                self.sh.remove_zone(origin);
            }
        }
        for (origin, name) in members {
            if zones.contains_key(&origin[..]) {
                continue;
            }
            tracing::info!(catalog = %self.ctl.name, zone = %name, "catalog adds a member zone");
            let spec = ZoneSpec {
                name,
                primaries: self.ctl.primaries.clone(),
                catalog: false,
            };
            if let Err(e) = self.sh.add_zone(&spec, Some(&self.ctl.origin)) {
                tracing::error!(catalog = %self.ctl.name, error = %e, "cannot follow member zone");
            }
        }
    }

    async fn run(mut self) {
        let mut next = Instant::now();
        let mut boot_wait = BOOT_RETRY;
        loop {
            let expire_at = match &self.current {
                Some(_) if !self.ctl.stats.expired() => {
                    let at = self.last_ok + self.expire_secs() as u64;
                    Some(Instant::now() + Duration::from_secs(at.saturating_sub(now())))
                }
                _ => None,
            };
            tokio::select! {
                _ = self.ctl.wake.notified() => {}
                _ = sleep_until(next) => {}
                _ = sleep_until(expire_at.unwrap_or(next)), if expire_at.is_some() => {
                    if expire_at.is_some_and(|e| e <= Instant::now()) && now() >= self.last_ok + self.expire_secs() as u64 {
                        self.expire();
                    }
                    continue;
                }
            }
            let ok = self.refresh().await;
            next = Instant::now()
                + match (&self.current, ok) {
                    (Some(z), true) => Duration::from_secs(timers(z).0 as u64),
                    (Some(z), false) => Duration::from_secs(timers(z).1 as u64),
                    (None, _) => {
                        let w = boot_wait;
                        boot_wait = (boot_wait * 2).min(MAX_BOOT_RETRY);
                        w
                    }
                };
        }
    }

    async fn refresh(&mut self) -> bool {
        for p in self.ctl.primaries.clone() {
            match self.check(&p).await {
                Ok(()) => return true,
                Err(e) => {
                    tracing::warn!(zone = %self.ctl.name, primary = %p.addr, error = %e, "refresh failed");
                }
            }
        }
        false
    }

    async fn check(&mut self, p: &Primary) -> Result<(), String> {
        let ctl = self.ctl.clone();
        let st = &ctl.stats;
        st.soa_checks.fetch_add(1, Relaxed);
        let theirs = match xfr::soa_serial(p, &self.ctl.origin).await {
            Ok(s) => s,
            Err(e) => {
                st.soa_failed.fetch_add(1, Relaxed);
                return Err(format!("SOA check: {e}"));
            }
        };
        if let Some(cur) = &self.current {
            if !serial::gt(theirs, cur.serial) {
                tracing::debug!(zone = %self.ctl.name, serial = cur.serial, "up to date");
                self.mark_ok();
                return Ok(());
            }
        }
        let have = self.current.as_ref().and_then(|z| {
            let soa = z.apex()?.get(rtype::SOA)?;
            Some((z.serial, soa.rdatas.first()?.to_vec(), soa.ttl))
        });
        let incremental = have.is_some();
        let started = std::time::Instant::now();
        let out = xfr::transfer(
            p,
            &self.ctl.origin,
            have.as_ref().map(|h| (h.0, &h.1[..], h.2)),
        )
        .await
        .inspect_err(|_| st.transfer(incremental, false))
        .map_err(|e| format!("{}: {e}", if incremental { "IXFR" } else { "AXFR" }))?;
        let transfer_ms = started.elapsed().as_millis() as u64;
        let origin = self.ctl.origin.clone();
        let (zone, deltas) = match out {
            Outcome::UpToDate(_) => {
                self.mark_ok();
                return Ok(());
            }
            Outcome::Full { records, .. } => {
                let z = tokio::task::spawn_blocking(move || Zone::from_records(&origin, records))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| {
                        st.transfer(false, false);
                        e.to_string()
                    })?;
                st.transfer(false, true);
                (z, Vec::new())
            }
            Outcome::Incremental { deltas, .. } => {
                let Some(base) = self.current.clone() else {
                    return Err("IXFR answer without a version to apply it to".into());
                };
                let ds = deltas.clone();
                let idx = self.children.take().await;
                let r = tokio::task::spawn_blocking(move || {
                    let mut idx = idx.unwrap_or_else(|| delta::ChildIndex::build(&base));
                    delta::apply(&base, &ds, &mut idx).map(|z| (z, idx))
                })
                .await
                .map_err(|e| e.to_string())?;
                match r {
                    Ok((z, idx)) => {
                        st.transfer(true, true);
                        self.children = Children::Ready(idx);
                        (z, deltas)
                    }
                    Err(e) => {
                        st.transfer(true, false);
                        tracing::warn!(zone = %self.ctl.name, error = %e, "IXFR not applicable, falling back to AXFR");
                        let out = xfr::transfer(p, &self.ctl.origin, None).await;
                        let Ok(Outcome::Full { records, .. }) = out else {
                            st.transfer(false, false);
                            return Err("AXFR fallback failed".into());
                        };
                        let origin = self.ctl.origin.clone();
                        let z = tokio::task::spawn_blocking(move || {
                            Zone::from_records(&origin, records)
                        })
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| e.to_string())?;
                        st.transfer(false, true);
                        (z, Vec::new())
                    }
                }
            }
        };
        let old = self.current.as_ref().map(|z| z.serial);
        tracing::info!(zone = %self.ctl.name, from = ?old, serial = zone.serial, records = zone.records,
            kind = if deltas.is_empty() { "AXFR" } else { "IXFR" },
            transfer_ms, ms = started.elapsed().as_millis() as u64, "new version");
        let full = deltas.is_empty();
        self.record_history(deltas);
        let z = Arc::new(zone);
        self.install(z.clone(), true);
        if full {
            // Off the publishing path, so the first IXFR after an AXFR finds it ready.
            let zc = z.clone();
            self.children = Children::Building(tokio::task::spawn_blocking(move || {
                delta::ChildIndex::build(&zc)
            }));
        }
        if !self.ctl.catalog {
            xfr_out::notify_downstream(&self.sh, &z);
        }
        Ok(())
    }

    fn record_history(&self, deltas: Vec<xfr::Delta>) {
        let Ok(mut h) = self.sh.history.lock() else {
            return;
        };
        let e = h.entry(self.ctl.origin.clone()).or_default();
        if deltas.is_empty() {
            e.clear();
            return;
        }
        for d in deltas {
            e.push_back(Arc::new(d));
        }
        while e.len() > HISTORY {
            e.pop_front();
        }
    }
}
