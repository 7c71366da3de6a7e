//! DNSZone controller: places the zone on its primaries, keeps the catalog, selects records.
//!
//! For each ready primary pod: `rndc addzone` from the shared bootstrap file (journal named
//! after the zone's uid, so a re-created zone never replays an old journal), `rndc modzone`
//! when the secondaries' IPs changed (`also-notify` follows `status.secondaryIps`), UPDATE to
//! the zone's SOA / apex NS / glue, catalog membership (secondaries provision the zone from the
//! catalog), then a NOTIFY to every secondary. Records are selected by `recordsFrom`: the zone
//! writes `status.zoneRef` into each selected record (the record controller reacts to that)
//! and, for records that stop matching, removes their RRset and clears the reference.
//!
//! Watches: DNSZone, the eight record kinds (mapped to the zones of their namespace that
//! select them, plus the zone named in their `zoneRef`), Bind9Instances (mapped to zones whose
//! instance set they are or may be in).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bindy_crds::common::{
    is_ready, set_condition, Condition, ConditionStatus, CONDITION_DEGRADED, CONDITION_PROGRESSING,
    CONDITION_READY,
};
use bindy_crds::{Bind9Instance, DNSZone, DNSZoneStatus, DnsRecord, ServerRole};
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;

use super::instance::{json, with_empty};
use super::{error_policy, instrumented, patch_status, RESYNC};
use crate::bind9::catalog::Catalog;
use crate::bind9::namedconf::{Acl, PrimaryZone, ZoneConfig};
use crate::bind9::notify::notify_all;
use crate::bind9::rndc::RndcClient;
use crate::bind9::serial;
use crate::bind9::update::Updater;
use crate::context::{key_scope, Context};
use crate::error::{Error, Result};
use crate::resources::instance::Settings;
use crate::resources::keys::{KeySet, TRANSFER_KEY, UPDATE_KEY};
use crate::resources::zone::{
    instances_for_zone, pod_ips, refers_to, select, skeleton, zone_ref_of, zone_selects_labels,
    RecordEntry, RecordKey,
};
use crate::resources::{ANNOTATION_ZONE_EPOCH, FINALIZER_ZONE};

/// Zones a record change concerns: its current zone when it is claimed (a claimed record is
/// never taken by another zone, so the others need no reconcile), else the zones of its
/// namespace that select it.
fn zones_for_record<K: DnsRecord>(zones: &Store<DNSZone>, r: &K) -> Vec<ObjectRef<DNSZone>> {
    if let Some(zr) = r.zone_ref() {
        return vec![ObjectRef::new(&zr.name).within(&zr.namespace)];
    }
    let ns = r.namespace();
    zones
        .state()
        .iter()
        .filter(|z| z.namespace() == ns && zone_selects_labels(z, r.labels()))
        .map(|z| ObjectRef::from_obj(z.as_ref()))
        .collect()
}

/// Record claims (`status.zoneRef` patches) one zone reconcile sends concurrently.
const CLAIMS_IN_FLIGHT: usize = 8;

/// Zone trigger: spec, finalizers, deletion, labels and annotations (except the epoch the
/// zone writes itself). Status is the controller's own output and never re-triggers it.
pub fn zone_trigger(z: &DNSZone) -> Option<u64> {
    let mut ann = z.annotations().clone();
    ann.remove(ANNOTATION_ZONE_EPOCH);
    super::fingerprint(&(
        &z.metadata.uid,
        z.metadata.generation,
        z.finalizers(),
        z.metadata.deletion_timestamp.is_some(),
        z.labels(),
        ann,
    ))
}

/// Instance trigger: what zone placement depends on (selection by labels/cluster/spec, pod
/// IPs, the Ready transition that marks a restart, deletion), not status churn.
pub fn instance_trigger(i: &Bind9Instance) -> Option<u64> {
    let st = i.status.as_ref();
    let ready = st
        .and_then(|s| bindy_crds::common::find_condition(&s.conditions, CONDITION_READY))
        .map(|c| {
            (
                format!("{:?}", c.status),
                c.last_transition_time.0.to_string(),
            )
        });
    super::fingerprint(&(
        &i.metadata.uid,
        i.metadata.generation,
        i.labels(),
        i.metadata.deletion_timestamp.is_some(),
        st.map(|s| &s.pod_ips),
        ready,
    ))
}

/// Record trigger of the zone: selection (labels, zoneRef, spec), readiness (counted in the
/// zone's status), deletion.
pub fn record_trigger<K: DnsRecord>(r: &K) -> Option<u64> {
    super::fingerprint(&(
        &r.meta().uid,
        r.meta().generation,
        r.labels(),
        r.zone_ref(),
        r.meta().deletion_timestamp.is_some(),
        r.record_status()
            .is_some_and(|s| bindy_crds::common::is_ready(&s.conditions)),
    ))
}

/// Runs the controller until `stop` resolves.
pub async fn run(
    ctx: Arc<Context>,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let zones = ctx.stores.zones.clone();
    let taps = &ctx.taps;
    let c = Controller::for_stream(taps.zones.stream(zone_trigger), zones.clone())
        .with_config(controller_config());
    macro_rules! watch_kind {
        ($c:expr, $tap:ident) => {{
            let z = zones.clone();
            $c.watches_stream(taps.$tap.stream(record_trigger), move |r| {
                zones_for_record(&z, &r)
            })
        }};
    }
    let c = watch_kind!(c, a);
    let c = watch_kind!(c, aaaa);
    let c = watch_kind!(c, cname);
    let c = watch_kind!(c, mx);
    let c = watch_kind!(c, txt);
    let c = watch_kind!(c, ns);
    let c = watch_kind!(c, srv);
    let c = watch_kind!(c, caa);
    let z = zones.clone();
    c.watches_stream(taps.instances.stream(instance_trigger), move |i| {
        let ns = i.namespace();
        let name = i.name_any();
        z.state()
            .iter()
            .filter(|zone| zone.namespace() == ns)
            .filter(|zone| {
                zone.status
                    .as_ref()
                    .is_some_and(|s| s.instances.contains(&name))
                    || !instances_for_zone(zone, &[&i]).is_empty()
            })
            .map(|zone| ObjectRef::from_obj(zone.as_ref()))
            .collect::<Vec<_>>()
    })
    .graceful_shutdown_on(stop)
    .run(reconcile, error_policy, ctx.clone())
    .for_each(|_| async {})
    .await;
}

/// Controller settings: bounded concurrency (each reconcile holds API and DNS connections;
/// unbounded, a burst of a thousand zones opens a thousand of each at once) and no debounce
/// (the record path's latency goes through this controller).
fn controller_config() -> kube::runtime::Config {
    kube::runtime::Config::default().concurrency(super::CONCURRENCY)
}

async fn reconcile(zone: Arc<DNSZone>, ctx: Arc<Context>) -> Result<Action> {
    let z = zone.clone();
    instrumented("zone", z.as_ref(), &ctx.clone(), async move {
        let ns = zone.namespace().unwrap_or_default();
        let api: Api<DNSZone> = Api::namespaced(ctx.client.clone(), &ns);
        super::with_finalizer(
            &api,
            FINALIZER_ZONE,
            zone,
            |z| {
                let ctx = ctx.clone();
                async move { apply_zone(&z, &ctx).await }
            },
            |z| {
                let ctx = ctx.clone();
                async move { cleanup(&z, &ctx).await }
            },
        )
        .await
    })
    .await
}

/// A primary pod the zone lives on, with the keys of its instance.
struct PrimaryPod {
    instance: String,
    ip: IpAddr,
    keys: KeySet,
}

async fn primary_pods(
    ctx: &Context,
    ns: &str,
    instances: &[&Bind9Instance],
) -> Result<Vec<PrimaryPod>> {
    let mut out = Vec::new();
    for i in instances
        .iter()
        .filter(|i| i.spec.role == ServerRole::Primary)
    {
        let keys = ctx.keys(ns, &key_scope(i)).await?;
        for ip in i
            .status
            .as_ref()
            .map(|s| s.pod_ips.clone())
            .unwrap_or_default()
        {
            if let Ok(ip) = ip.parse() {
                out.push(PrimaryPod {
                    instance: i.name_any(),
                    ip,
                    keys: keys.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// The zone statement body for `rndc addzone` / `modzone`. The journal path is relative:
/// named resolves it in its `directory`, the writable data volume, and a fresh name per zone
/// incarnation (the uid) never replays an old journal.
pub fn zone_body(
    zone: &DNSZone,
    secondaries: &[IpAddr],
    extra_transfer: &[Acl],
    settings: &Settings,
) -> Result<String> {
    let origin = zone.spec.origin();
    let stem = origin.trim_end_matches('.');
    let uid = zone.metadata.uid.clone().unwrap_or_default();
    let port = settings.dns_port;
    ZoneConfig::Primary(PrimaryZone {
        name: origin.clone(),
        file: settings.bootstrap_file.clone(),
        journal: Some(format!("{stem}.{uid}.jnl")),
        allow_update: vec![Acl::Key(UPDATE_KEY.into())],
        // The transfer key, plus the instance's `allowTransfer` addresses (a zone's own list
        // overrides the options block, so they are repeated here).
        allow_transfer: extra_transfer
            .iter()
            .filter(|a| **a != Acl::None)
            .cloned()
            .chain(std::iter::once(Acl::Key(TRANSFER_KEY.into())))
            .collect(),
        also_notify: secondaries
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect(),
        notify_key: Some(TRANSFER_KEY.into()),
    })
    .body()
}

fn entries_by_key(entries: &[RecordEntry]) -> std::collections::HashMap<RecordKey, &RecordEntry> {
    entries.iter().map(|e| (e.key(), e)).collect()
}

async fn apply_zone(zone: &DNSZone, ctx: &Context) -> Result<Action> {
    let ns = zone.namespace().unwrap_or_default();
    let name = zone.name_any();
    let api: Api<DNSZone> = Api::namespaced(ctx.client.clone(), &ns);
    let gen = zone.metadata.generation;
    let prev = zone.status.clone().unwrap_or_default();
    let mut st: DNSZoneStatus = prev.clone();
    if let Err(e) = zone.spec.validate() {
        let msg = e.to_string();
        if set_condition(
            &mut st.conditions,
            Condition::new(
                CONDITION_READY,
                ConditionStatus::False,
                "InvalidSpec",
                msg.clone(),
                gen,
            ),
        ) {
            patch_status(&api, &name, json(&st)?).await?;
            ctx.event(zone, true, "InvalidSpec", msg.clone()).await;
        }
        return Err(Error::InvalidSpec(msg));
    }
    let origin = zone.spec.origin();
    let port = ctx.settings.dns_port;

    // 1. Instances and their pods, from the store: instance events reach this controller only
    // after the store holds them (see `reconcile::Tap`), so it is never older than the trigger.
    let all: Vec<Arc<Bind9Instance>> = ctx
        .stores
        .instances
        .state()
        .into_iter()
        .filter(|i| i.namespace().as_deref() == Some(ns.as_str()))
        .collect();
    let refs: Vec<&Bind9Instance> = all.iter().map(|i| i.as_ref()).collect();
    let chosen = instances_for_zone(zone, &refs);
    let secondary_ips = pod_ips(&chosen, ServerRole::Secondary);
    let secondaries: Vec<IpAddr> = secondary_ips
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let primaries = primary_pods(ctx, &ns, &chosen).await?;
    let names: Vec<String> = chosen.iter().map(|i| i.name_any()).collect();

    // 2. The zone on every primary pod.
    let mut failures = Vec::new();
    let secondaries_changed = prev.secondary_ips != secondary_ips;
    let extra_transfer: Vec<Acl> = match chosen.iter().find(|i| i.spec.role == ServerRole::Primary)
    {
        Some(p) => {
            let cluster = p
                .spec
                .cluster_ref
                .as_ref()
                .and_then(|c| ctx.stores.clusters.get(&ObjectRef::new(c).within(&ns)));
            let cfg = p.spec.effective_config(cluster.as_ref().map(|c| &c.spec));
            cfg.allow_transfer()
                .map(|l| crate::resources::instance::to_acls(&l))
                .map_err(|e| Error::InvalidSpec(e.to_string()))?
        }
        None => Vec::new(),
    };
    let body = zone_body(zone, &secondaries, &extra_transfer, &ctx.settings)?;
    let floor = zone
        .spec
        .soa_record
        .serial
        .unwrap_or(0)
        .max(serial::date_serial(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        ));
    let mut served_serial = None;
    let mut created_on = Vec::new();
    // Placement fingerprint: what the BIND side depends on. Unchanged (the usual case when a
    // record event triggered this reconcile) means no rndc/UPDATE round trip at all. A pod
    // restart shows as a new Ready transition time of its instance.
    let restarts: Vec<String> = chosen
        .iter()
        .filter(|i| i.spec.role == ServerRole::Primary)
        .filter_map(|i| i.status.as_ref())
        .filter_map(|s| bindy_crds::common::find_condition(&s.conditions, CONDITION_READY))
        .map(|c| c.last_transition_time.0.to_string())
        .collect();
    let placement = format!(
        "{body}|{:?}|{restarts:?}|{}|{}",
        primaries.iter().map(|p| p.ip).collect::<Vec<_>>(),
        serde_json::to_string(&zone.spec).unwrap_or_default(),
        floor
    );
    let cache_key = format!("placement/{}", super::obj_key(zone));
    let unchanged = ctx
        .pushed
        .lock()
        .ok()
        .and_then(|m| m.get(&cache_key).cloned())
        .is_some_and(|f| f == placement)
        && !secondaries_changed;
    for p in primaries.iter().filter(|_| !unchanged) {
        let rndc = RndcClient::new(
            SocketAddr::new(p.ip, ctx.settings.rndc_port),
            p.keys.rndc.clone(),
        )
        .with_timeout(ctx.dns_timeout);
        let known = prev.instances.contains(&p.instance);
        match rndc.addzone(&origin, &body).await {
            Ok(_) => {
                ctx.metrics.bind_op("addzone", true);
                created_on.push(p.ip.to_string());
            }
            Err(Error::RndcCommand { text, .. }) if text.contains("already exists") => {
                if secondaries_changed || !known {
                    let r = rndc.modzone(&origin, &body).await;
                    ctx.metrics.bind_op("modzone", r.is_ok());
                    if let Err(e) = r {
                        failures.push(format!("modzone on {}: {e}", p.ip));
                        continue;
                    }
                }
            }
            Err(e) => {
                ctx.metrics.bind_op("addzone", false);
                failures.push(format!("addzone on {}: {e}", p.ip));
                continue;
            }
        }
        let dns = SocketAddr::new(p.ip, port);
        let glue = primaries.first().map(|p| p.ip);
        let data = skeleton(zone, floor, glue);
        let updater = Updater::new(dns, Some(p.keys.update.clone())).with_timeout(ctx.dns_timeout);
        match updater.sync_zone(&data).await {
            Ok(_) => ctx.metrics.bind_op("update", true),
            Err(e) => {
                ctx.metrics.bind_op("update", false);
                failures.push(format!("zone data on {}: {e}", p.ip));
                continue;
            }
        }
        let cat = Catalog::new(dns, p.keys.update.clone(), ctx.settings.catalog.clone())
            .with_timeout(ctx.dns_timeout);
        let added = cat.add_member(&origin).await;
        ctx.metrics.bind_op("catalog", added.is_ok());
        match added {
            Ok(true) => {
                let targets: Vec<SocketAddr> = secondaries
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, port))
                    .collect();
                for (to, r) in notify_all(
                    &targets,
                    &ctx.settings.catalog,
                    Some(&p.keys.transfer),
                    ctx.dns_timeout,
                )
                .await
                {
                    if let Err(e) = &r {
                        tracing::info!(secondary = %to, error = %e, "NOTIFY not accepted (the SOA refresh still catches up)");
                    }
                    ctx.metrics.bind_op("notify", r.is_ok());
                }
            }
            Ok(false) => {}
            Err(e) => failures.push(format!("catalog on {}: {e}", p.ip)),
        }
        if served_serial.is_none() {
            served_serial = serial::current(dns, &origin, ctx.dns_timeout)
                .await
                .ok()
                .flatten();
        }
    }
    if failures.is_empty() && !primaries.is_empty() {
        if let Ok(mut m) = ctx.pushed.lock() {
            m.insert(cache_key, placement);
        }
    }
    // Zone removed from instances that no longer serve it (best effort: they may be gone).
    for gone in prev.instances.iter().filter(|i| !names.contains(i)) {
        if let Some(inst) = all
            .iter()
            .find(|i| i.name_any() == *gone && i.namespace().as_deref() == Some(ns.as_str()))
        {
            let pods = primary_pods(ctx, &ns, &[inst.as_ref()])
                .await
                .unwrap_or_default();
            remove_from(ctx, &origin, &pods).await;
        }
    }
    if !created_on.is_empty() {
        // The zone is new on some pod (first placement, a new pod, or a named that lost its
        // state): a new epoch makes the record controller push every record again.
        let epoch = format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        );
        api.patch(
            &name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                serde_json::json!({"metadata": {"annotations": {ANNOTATION_ZONE_EPOCH: epoch}}}),
            ),
        )
        .await?;
        ctx.event(
            zone,
            false,
            "ZoneCreated",
            format!("zone {origin} added on {}", created_on.join(", ")),
        )
        .await;
    }
    if secondaries_changed && !prev.secondary_ips.is_empty() {
        ctx.event(
            zone,
            false,
            "SecondariesChanged",
            format!("also-notify/allow-transfer now {secondary_ips:?}"),
        )
        .await;
    }

    // 3. Records: claim the selected, release those that stopped matching.
    let entries = ctx.stores.records.for_zone(zone);
    let entry_refs: Vec<&RecordEntry> = entries.iter().collect();
    let sel = select(zone, &entry_refs);
    let by_key = entries_by_key(&entries);
    let zref = zone_ref_of(zone);
    // Claims are independent status patches: up to CLAIMS_IN_FLIGHT at once, so a zone that
    // selects many new records waits for a few API round trips, not one per record.
    for batch in sel.to_claim.chunks(CLAIMS_IN_FLIGHT) {
        let mut patches = Vec::with_capacity(batch.len());
        for key in batch {
            patches.push(set_zone_ref(ctx, key, Some(&zref)));
        }
        for r in futures::future::join_all(patches).await {
            r?;
        }
    }
    for key in &sel.to_release {
        if let Some(e) = by_key.get(key) {
            for p in &primaries {
                let u = Updater::new(SocketAddr::new(p.ip, port), Some(p.keys.update.clone()))
                    .with_timeout(ctx.dns_timeout);
                let r = u.delete(&origin, &e.set.name, e.set.record_type).await;
                ctx.metrics.bind_op("delete", r.is_ok());
                r?;
            }
        }
        set_zone_ref(ctx, key, None).await?;
    }
    let not_ready = count_not_ready(&entries, &sel.selected);

    // 4. Secondaries: once the zone's records are all ready, one `rndc retransfer` on each
    // BIND9 secondary pod that has not had one for this zone incarnation (new zone, new pod).
    let retransfer_pending = if failures.is_empty()
        && !primaries.is_empty()
        && not_ready == 0
        && sel.out_of_zone.is_empty()
    {
        retransfer_new(ctx, zone, &chosen).await
    } else {
        false
    };

    // 5. Status.
    st.instances = names;
    st.secondary_ips = secondary_ips;
    st.record_count = sel.selected.len() as i32;
    if served_serial.is_some() {
        st.serial = served_serial;
    }
    st.observed_generation = gen;
    let n_primaries = primaries.len();
    let (ready, progressing, degraded, reason, msg) = if n_primaries == 0 {
        (
            false,
            true,
            false,
            "WaitingForPrimaries",
            "no ready primary pod yet".to_string(),
        )
    } else if !failures.is_empty() {
        (
            false,
            true,
            failures.len() < n_primaries,
            "PrimaryUnreachable",
            failures.join("; "),
        )
    } else if not_ready > 0 || !sel.out_of_zone.is_empty() {
        (
            true,
            false,
            true,
            "RecordsNotReady",
            format!(
                "{not_ready} record(s) not ready, {} outside the zone",
                sel.out_of_zone.len()
            ),
        )
    } else {
        (
            true,
            false,
            false,
            "ZoneAvailable",
            format!(
                "served by {n_primaries} primary pod(s), {} record(s)",
                st.record_count
            ),
        )
    };
    let b = |v: bool| {
        if v {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    };
    set_condition(
        &mut st.conditions,
        Condition::new(CONDITION_READY, b(ready), reason, msg.clone(), gen),
    );
    set_condition(
        &mut st.conditions,
        Condition::new(
            CONDITION_PROGRESSING,
            b(progressing),
            reason,
            msg.clone(),
            gen,
        ),
    );
    set_condition(
        &mut st.conditions,
        Condition::new(CONDITION_DEGRADED, b(degraded), reason, msg.clone(), gen),
    );
    if st != prev {
        patch_status(
            &api,
            &name,
            with_empty(json(&st)?, &["instances", "secondaryIps"]),
        )
        .await?;
        if !ready && is_ready(&prev.conditions) {
            ctx.event(zone, true, reason, msg.clone()).await;
        }
    }
    if n_primaries == 0 {
        return Err(Error::Waiting("no ready primary pod yet".into()));
    }
    if !failures.is_empty() {
        return Err(Error::Waiting(msg));
    }
    let retry_key = format!("retransfer/{}", super::obj_key(zone));
    let mut f = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
    if retransfer_pending {
        let n = f.entry(retry_key).or_insert(0);
        *n += 1;
        return Ok(Action::requeue(super::backoff_delay(*n)));
    }
    f.remove(&retry_key);
    Ok(Action::requeue(RESYNC))
}

/// `rndc retransfer <zone>` on every BIND9 secondary pod of the zone that has not had one for
/// this zone incarnation (the zone is new, or the pod is: a secondary joined or came back on a
/// new IP). NOTIFY keeps a secondary fresh record by record; the retransfer makes sure a
/// secondary that missed NOTIFYs while it (or its copy of the zone) was being set up catches
/// up at once instead of at the next SOA refresh. dnsd secondaries have no rndc (NOTIFY and
/// their own refresh suffice). Returns true when some pod is still pending (it failed, e.g.
/// the secondary has not learnt the zone from the catalog yet): the caller retries with backoff.
async fn retransfer_new(ctx: &Context, zone: &DNSZone, chosen: &[&Bind9Instance]) -> bool {
    let ns = zone.namespace().unwrap_or_default();
    let origin = zone.spec.origin();
    let key = format!(
        "{}/{}",
        super::obj_key(zone),
        zone.metadata.uid.as_deref().unwrap_or_default()
    );
    let mut pods: Vec<(IpAddr, &Bind9Instance)> = Vec::new();
    for i in chosen.iter().filter(|i| {
        i.spec.role == ServerRole::Secondary && i.spec.server() == bindy_crds::ServerKind::Bind9
    }) {
        for ip in i
            .status
            .as_ref()
            .map(|s| s.pod_ips.as_slice())
            .unwrap_or_default()
        {
            if let Ok(ip) = ip.parse() {
                pods.push((ip, i));
            }
        }
    }
    let done: BTreeSet<IpAddr> = {
        let mut m = ctx.retransferred.lock().unwrap_or_else(|p| p.into_inner());
        let d = m.entry(key.clone()).or_default();
        // Pods that are gone: a pod that comes back on the same IP needs one again.
        d.retain(|ip| pods.iter().any(|(p, _)| p == ip));
        d.clone()
    };
    let mut pending = false;
    let mut now_done = Vec::new();
    for (ip, inst) in pods.iter().filter(|(ip, _)| !done.contains(ip)) {
        let keys = match ctx.keys(&ns, &key_scope(inst)).await {
            Ok(k) => k,
            Err(e) => {
                tracing::info!(zone = %origin, pod = %ip, error = %e, "retransfer: no rndc key yet");
                pending = true;
                continue;
            }
        };
        let rndc = RndcClient::new(SocketAddr::new(*ip, ctx.settings.rndc_port), keys.rndc)
            .with_timeout(ctx.dns_timeout);
        let r = rndc.retransfer(&origin).await;
        ctx.metrics.bind_op("retransfer", r.is_ok());
        match r {
            Ok(_) => now_done.push(*ip),
            Err(e) => {
                tracing::info!(zone = %origin, pod = %ip, error = %e, "retransfer failed, will retry");
                pending = true;
            }
        }
    }
    if !now_done.is_empty() {
        if let Ok(mut m) = ctx.retransferred.lock() {
            m.entry(key).or_default().extend(now_done.iter().copied());
        }
        let list: Vec<String> = now_done.iter().map(IpAddr::to_string).collect();
        ctx.event(
            zone,
            false,
            "SecondaryRetransfer",
            format!("rndc retransfer {origin} on {}", list.join(", ")),
        )
        .await;
    }
    pending
}

fn count_not_ready(entries: &[RecordEntry], selected: &[RecordKey]) -> usize {
    let set: BTreeSet<&RecordKey> = selected.iter().collect();
    entries
        .iter()
        .filter(|e| set.contains(&e.key()))
        .filter(|e| e.zone_ref.is_none() || !e.ready)
        .count()
}

/// Writes (or clears) `status.zoneRef` of one record.
async fn set_zone_ref(
    ctx: &Context,
    key: &RecordKey,
    zref: Option<&bindy_crds::ZoneRef>,
) -> Result<()> {
    let (kind, ns, name) = key;
    let status = match zref {
        Some(z) => serde_json::json!({ "zoneRef": z }),
        None => serde_json::json!({
            "zoneRef": null,
            "conditions": [Condition::new(CONDITION_READY, ConditionStatus::False, "NotSelected", "no DNSZone selects this record", None)],
        }),
    };
    macro_rules! patch {
        ($t:ty) => {
            patch_status(&Api::<$t>::namespaced(ctx.client.clone(), ns), name, status).await
        };
    }
    let r = match *kind {
        "ARecord" => patch!(bindy_crds::ARecord),
        "AAAARecord" => patch!(bindy_crds::AAAARecord),
        "CNAMERecord" => patch!(bindy_crds::CNAMERecord),
        "MXRecord" => patch!(bindy_crds::MXRecord),
        "TXTRecord" => patch!(bindy_crds::TXTRecord),
        "NSRecord" => patch!(bindy_crds::NSRecord),
        "SRVRecord" => patch!(bindy_crds::SRVRecord),
        _ => patch!(bindy_crds::CAARecord),
    };
    match r {
        Err(Error::Kube(kube::Error::Api(e))) if e.code == 404 => Ok(()),
        other => other,
    }
}

async fn remove_from(ctx: &Context, origin: &str, pods: &[PrimaryPod]) {
    for p in pods {
        let dns = SocketAddr::new(p.ip, ctx.settings.dns_port);
        let cat = Catalog::new(dns, p.keys.update.clone(), ctx.settings.catalog.clone())
            .with_timeout(ctx.dns_timeout);
        ctx.metrics
            .bind_op("catalog", cat.remove_member(origin).await.is_ok());
        let rndc = RndcClient::new(
            SocketAddr::new(p.ip, ctx.settings.rndc_port),
            p.keys.rndc.clone(),
        )
        .with_timeout(ctx.dns_timeout);
        // Not `-clean`: the file is the shared bootstrap.
        ctx.metrics
            .bind_op("delzone", rndc.delzone(origin, false).await.is_ok());
    }
}

/// Zone deletion: records are released, the zone leaves the catalog and the primaries.
async fn cleanup(zone: &DNSZone, ctx: &Context) -> Result<Action> {
    if let Ok(mut m) = ctx.pushed.lock() {
        m.remove(&format!("placement/{}", super::obj_key(zone)));
    }
    if let Ok(mut m) = ctx.retransferred.lock() {
        m.retain(|k, _| !k.starts_with(&format!("{}/", super::obj_key(zone))));
    }
    let ns = zone.namespace().unwrap_or_default();
    let origin = zone.spec.origin();
    for e in ctx.stores.records.for_zone(zone) {
        if refers_to(e.zone_ref.as_ref(), zone) {
            set_zone_ref(ctx, &e.key(), None).await?;
        }
    }
    let all = ctx.stores.instances.state();
    let served: Vec<&Bind9Instance> = all
        .iter()
        .map(|i| i.as_ref())
        .filter(|i| {
            i.namespace().as_deref() == Some(ns.as_str())
                && zone
                    .status
                    .as_ref()
                    .is_some_and(|s| s.instances.contains(&i.name_any()))
        })
        .collect();
    let pods = primary_pods(ctx, &ns, &served).await.unwrap_or_default();
    remove_from(ctx, &origin, &pods).await;
    let targets: Vec<SocketAddr> = pod_ips(&served, ServerRole::Secondary)
        .iter()
        .filter_map(|s| s.parse().ok())
        .map(|ip| SocketAddr::new(ip, ctx.settings.dns_port))
        .collect();
    if let Some(p) = pods.first() {
        notify_all(
            &targets,
            &ctx.settings.catalog,
            Some(&p.keys.transfer),
            ctx.dns_timeout,
        )
        .await;
    }
    ctx.event(
        zone,
        false,
        "ZoneDeleted",
        format!("zone {origin} removed from {} primary pod(s)", pods.len()),
    )
    .await;
    Ok(Action::await_change())
}
