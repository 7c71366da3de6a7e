//! The record controller, generic over the eight kinds (`DnsRecord`): one code path.
//!
//! Reacts to `status.zoneRef` (written by the zone controller; the watch covers status), checks
//! the record against the other records of its zone (duplicate name+type, CNAME beside other
//! data → `Conflict` condition instead of a fight), replaces the RRset atomically on every
//! primary pod by RFC 2136 UPDATE, NOTIFYs the secondaries at once and sets Ready
//! (`RecordAvailable`). A finalizer removes the RRset from the primaries before the object
//! goes. A fingerprint of what was pushed skips the BIND round trip when the only change is the
//! controller's own status write.

use std::net::SocketAddr;
use std::sync::Arc;

use bindy_crds::common::{set_condition, Condition, ConditionStatus, CONDITION_READY};
use bindy_crds::{DNSZone, DnsRecord, RecordStatus, ServerRole};
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;

use super::instance::json;
use super::{error_policy, instrumented, obj_key, patch_status, RESYNC};
use crate::bind9::notify::notify_all;
use crate::bind9::update::Updater;
use crate::context::{key_scope, Context};
use crate::error::{Error, Result};
use crate::resources::zone::{
    conflicts, instances_for_zone, pod_ips, refers_to, zone_selects_labels, RecordEntry,
};
use crate::resources::FINALIZER_RECORD;

/// Record trigger: spec, `status.zoneRef` (written by the zone controller), finalizers and
/// deletion. The controller's own status writes (Ready, fqdn) never re-trigger it.
pub fn record_trigger<K: DnsRecord>(r: &K) -> Option<u64> {
    super::fingerprint(&(
        &r.meta().uid,
        r.meta().generation,
        r.zone_ref(),
        r.finalizers(),
        r.meta().deletion_timestamp.is_some(),
    ))
}

/// Zone trigger of the records: the zone's placement only (incarnation, epoch = re-created on
/// some pod, TTL and origin, instances, secondaries, deletion). Status churn (`recordCount`,
/// `serial`, conditions) does not fan out to the zone's records.
pub fn zone_placement(z: &DNSZone) -> Option<u64> {
    let st = z.status.as_ref();
    super::fingerprint(&(
        &z.metadata.uid,
        z.annotations().get(crate::resources::ANNOTATION_ZONE_EPOCH),
        z.spec.ttl,
        &z.spec.zone_name,
        st.map(|s| (&s.instances, &s.secondary_ips)),
        z.metadata.deletion_timestamp.is_some(),
    ))
}

/// Runs one controller per record kind until `stop` resolves.
pub async fn run_all<F, Fut>(ctx: Arc<Context>, stop: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let s = &ctx.stores.records;
    let t = &ctx.taps;
    macro_rules! run {
        ($k:ty, $f:ident) => {
            run::<$k>(
                ctx.clone(),
                s.$f.clone(),
                t.$f.stream(record_trigger),
                t.zones.stream(zone_placement),
                stop(),
            )
        };
    }
    futures::join!(
        run!(bindy_crds::ARecord, a),
        run!(bindy_crds::AAAARecord, aaaa),
        run!(bindy_crds::CNAMERecord, cname),
        run!(bindy_crds::MXRecord, mx),
        run!(bindy_crds::TXTRecord, txt),
        run!(bindy_crds::NSRecord, ns),
        run!(bindy_crds::SRVRecord, srv),
        run!(bindy_crds::CAARecord, caa),
    );
}

type Trigger<K> =
    futures::stream::BoxStream<'static, std::result::Result<K, kube::runtime::watcher::Error>>;

async fn run<K>(
    ctx: Arc<Context>,
    store: Store<K>,
    records: Trigger<K>,
    zones: Trigger<DNSZone>,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) where
    K: DnsRecord + kube::Resource<Scope = kube::core::NamespaceResourceScope>,
{
    let claims = ctx.stores.records.claims.clone();
    let kind = crate::resources::zone::kind_name::<K>();
    Controller::for_stream(records, store)
        .with_config(kube::runtime::Config::default().concurrency(super::CONCURRENCY))
        // A zone's placement (primaries, secondaries, re-creation) re-pushes its records.
        .watches_stream(zones, move |z| {
            claims
                .claimed_by(&z)
                .into_iter()
                .filter(|(k, _, _)| *k == kind)
                .map(|(_, ns, name)| ObjectRef::new(&name).within(&ns))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(stop)
        .run(reconcile::<K>, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

async fn reconcile<K>(rec: Arc<K>, ctx: Arc<Context>) -> Result<Action>
where
    K: DnsRecord + kube::Resource<Scope = kube::core::NamespaceResourceScope>,
{
    let r = rec.clone();
    instrumented("record", r.as_ref(), &ctx.clone(), async move {
        let ns = rec.namespace().unwrap_or_default();
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
        super::with_finalizer(
            &api,
            FINALIZER_RECORD,
            rec,
            |r| {
                let ctx = ctx.clone();
                async move { apply_record(r.as_ref(), &ctx).await }
            },
            |r| {
                let ctx = ctx.clone();
                async move { cleanup(r.as_ref(), &ctx).await }
            },
        )
        .await
    })
    .await
}

/// Sets the Ready condition (and fqdn); writes only on change. Returns true when it changed.
async fn set_ready<K>(
    rec: &K,
    ctx: &Context,
    ready: bool,
    reason: &str,
    msg: String,
    fqdn: Option<String>,
) -> Result<bool>
where
    K: DnsRecord + kube::Resource<Scope = kube::core::NamespaceResourceScope>,
{
    let mut st: RecordStatus = rec.record_status().cloned().unwrap_or_default();
    let gen = rec.meta().generation;
    let status = if ready {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let mut changed = set_condition(
        &mut st.conditions,
        Condition::new(CONDITION_READY, status, reason, msg, gen),
    );
    if fqdn.is_some() && st.fqdn != fqdn {
        st.fqdn = fqdn;
        changed = true;
    }
    if st.observed_generation != gen {
        st.observed_generation = gen;
        changed = true;
    }
    if changed {
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &rec.namespace().unwrap_or_default());
        // zoneRef belongs to the zone controller: never sent from here.
        let mut v = json(&st)?;
        if let Some(m) = v.as_object_mut() {
            m.remove("zoneRef");
        }
        patch_status(&api, &rec.name_any(), v).await?;
    }
    Ok(changed)
}

/// Primary pod addresses, the update key, and the secondaries of a zone.
struct Targets {
    primaries: Vec<SocketAddr>,
    secondaries: Vec<SocketAddr>,
    key: crate::resources::keys::KeySet,
}

async fn targets(ctx: &Context, zone: &DNSZone) -> Result<Targets> {
    let ns = zone.namespace().unwrap_or_default();
    // The zone's instances computed as the zone controller does (not from the zone's status,
    // which may be written after the record was claimed).
    let all = ctx.stores.instances.state();
    let refs: Vec<&bindy_crds::Bind9Instance> = all.iter().map(|i| i.as_ref()).collect();
    let insts = instances_for_zone(zone, &refs);
    let port = ctx.settings.dns_port;
    let to_addrs = |ips: Vec<String>| -> Vec<SocketAddr> {
        ips.iter()
            .filter_map(|s| s.parse().ok())
            .map(|ip| SocketAddr::new(ip, port))
            .collect()
    };
    let primaries = to_addrs(pod_ips(&insts, ServerRole::Primary));
    let Some(first) = insts.iter().find(|i| i.spec.role == ServerRole::Primary) else {
        return Err(Error::Waiting(format!(
            "zone {} has no primary instance yet",
            zone.name_any()
        )));
    };
    if primaries.is_empty() {
        return Err(Error::Waiting(format!(
            "zone {} has no ready primary pod yet",
            zone.name_any()
        )));
    }
    let key = ctx.keys(&ns, &key_scope(first)).await?;
    Ok(Targets {
        primaries,
        secondaries: to_addrs(pod_ips(&insts, ServerRole::Secondary)),
        key,
    })
}

/// The zone a record points at, if it exists and is not being deleted.
fn zone_of<K: DnsRecord>(rec: &K, ctx: &Context) -> Option<Arc<DNSZone>> {
    let zr = rec.zone_ref()?;
    ctx.stores
        .zones
        .get(&ObjectRef::new(&zr.name).within(&zr.namespace))
        .filter(|z| z.metadata.deletion_timestamp.is_none())
}

/// The conflict this record loses in its zone, if any.
fn lost_conflict<K: DnsRecord>(rec: &K, zone: &DNSZone, ctx: &Context) -> Option<String> {
    let me = RecordEntry::of(rec);
    let my_key = me.key();
    // Records of the zone: claimed by it, or about to be (selected, not yet claimed: the
    // claim may still be in flight). This object itself comes from the event, not the
    // store, which may lag behind it.
    let mut entries: Vec<RecordEntry> = ctx
        .stores
        .records
        .for_zone(zone)
        .into_iter()
        .filter(|e| e.key() != my_key)
        .filter(|e| {
            refers_to(e.zone_ref.as_ref(), zone)
                || (e.zone_ref.is_none() && !e.deleting && zone_selects_labels(zone, &e.labels))
        })
        .collect();
    entries.push(me);
    let refs: Vec<&RecordEntry> = entries.iter().collect();
    conflicts(&zone.spec.origin(), &refs).remove(&my_key)
}

async fn apply_record<K>(rec: &K, ctx: &Context) -> Result<Action>
where
    K: DnsRecord + kube::Resource<Scope = kube::core::NamespaceResourceScope>,
{
    let Some(zone) = zone_of(rec, ctx) else {
        let why = if rec.zone_ref().is_some() {
            "ZoneNotFound"
        } else {
            "NotSelected"
        };
        set_ready(
            rec,
            ctx,
            false,
            why,
            "waiting for a DNSZone to select this record".into(),
            None,
        )
        .await?;
        return Ok(Action::requeue(RESYNC));
    };
    if let Err(e) = rec.validate() {
        let msg = e.to_string();
        if set_ready(rec, ctx, false, "InvalidRecord", msg.clone(), None).await? {
            ctx.event(rec, true, "InvalidRecord", msg.clone()).await;
        }
        return Err(Error::InvalidSpec(msg));
    }
    let origin = zone.spec.origin();
    let fqdn = rec.fqdn_in(&origin);
    if let Some(why) = lost_conflict(rec, &zone, ctx) {
        if set_ready(rec, ctx, false, "Conflict", why.clone(), Some(fqdn)).await? {
            ctx.event(rec, true, "Conflict", why).await;
        }
        // Re-checked when the winner goes: its deletion re-triggers the zone, not us.
        return Ok(Action::requeue(std::time::Duration::from_secs(5)));
    }
    let t = targets(ctx, &zone).await?;
    let set = rec.record_set();
    let fingerprint = format!(
        "{:?}|{}|{}|{:?}|{}",
        set,
        zone.metadata.uid.as_deref().unwrap_or_default(),
        zone.spec.ttl,
        t.primaries,
        zone.annotations()
            .get(crate::resources::ANNOTATION_ZONE_EPOCH)
            .map(String::as_str)
            .unwrap_or_default()
    );
    let key = obj_key(rec);
    let already =
        ctx.pushed.lock().ok().and_then(|m| m.get(&key).cloned()) == Some(fingerprint.clone());
    let is_ready = rec
        .record_status()
        .is_some_and(|s| bindy_crds::common::is_ready(&s.conditions));
    if !(already && is_ready) {
        let mut changed = false;
        for p in &t.primaries {
            let u = Updater::new(*p, Some(t.key.update.clone())).with_timeout(ctx.dns_timeout);
            let r = u.replace(&origin, &set, zone.spec.ttl).await;
            ctx.metrics.bind_op("update", r.is_ok());
            match r {
                Ok(o) => changed |= o.applied > 0,
                Err(e) if !super::retry_helps(&e) => {
                    let msg = e.to_string();
                    if set_ready(rec, ctx, false, "Rejected", msg.clone(), Some(fqdn.clone()))
                        .await?
                    {
                        ctx.event(rec, true, "Rejected", msg.clone()).await;
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        if changed && !t.secondaries.is_empty() {
            for (to, r) in notify_all(
                &t.secondaries,
                &origin,
                Some(&t.key.transfer),
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
        if let Ok(mut m) = ctx.pushed.lock() {
            m.insert(key, fingerprint);
        }
    }
    let msg = format!(
        "{fqdn} {} on {} primary pod(s)",
        set.record_type,
        t.primaries.len()
    );
    if set_ready(rec, ctx, true, "RecordAvailable", msg.clone(), Some(fqdn)).await? && !is_ready {
        if let Some(created) = rec.meta().creation_timestamp.as_ref() {
            let secs = (k8s_openapi::jiff::Timestamp::now() - created.0).get_milliseconds() as f64
                / 1000.0;
            if secs >= 0.0 {
                ctx.metrics.record_ready_seconds.observe(secs);
            }
        }
        ctx.event(rec, false, "RecordAvailable", msg).await;
    }
    Ok(Action::requeue(RESYNC))
}

/// Deletion: remove the RRset from the primaries (unless this record lost a conflict: the
/// RRset is the winner's), then let the object go.
async fn cleanup<K>(rec: &K, ctx: &Context) -> Result<Action>
where
    K: DnsRecord + kube::Resource<Scope = kube::core::NamespaceResourceScope>,
{
    if let Ok(mut m) = ctx.pushed.lock() {
        m.remove(&obj_key(rec));
    }
    let Some(zone) = zone_of(rec, ctx) else {
        return Ok(Action::await_change());
    };
    if lost_conflict(rec, &zone, ctx).is_some() {
        return Ok(Action::await_change());
    }
    let t = match targets(ctx, &zone).await {
        Ok(t) => t,
        // No primary left: nothing holds the RRset.
        Err(Error::Waiting(_)) => return Ok(Action::await_change()),
        Err(e) => return Err(e),
    };
    let origin = zone.spec.origin();
    let set = rec.record_set();
    for p in &t.primaries {
        let u = Updater::new(*p, Some(t.key.update.clone())).with_timeout(ctx.dns_timeout);
        let r = u.delete(&origin, &set.name, set.record_type).await;
        ctx.metrics.bind_op("delete", r.is_ok());
        r?;
    }
    for (to, r) in notify_all(
        &t.secondaries,
        &origin,
        Some(&t.key.transfer),
        ctx.dns_timeout,
    )
    .await
    {
        if let Err(e) = &r {
            tracing::info!(secondary = %to, error = %e, "NOTIFY not accepted (the SOA refresh still catches up)");
        }
        ctx.metrics.bind_op("notify", r.is_ok());
    }
    Ok(Action::await_change())
}
