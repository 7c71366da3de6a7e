//! Bind9Instance controller: key Secret (generated when absent), ConfigMap, StatefulSet,
//! headless and client Services, all server-side applied with owner references (drift in any
//! child comes back as an event through `owns` and is repaired); status (ready replicas, ready
//! pod IPs, Service address, conditions) from the StatefulSet and its pods.
//!
//! A BIND9 secondary's primary addresses are applied to its running pods live: the ConfigMap
//! changes, the pod template's hash does not ([`rollout_hash`]), and each ready pod gets
//! `rndc reconfig` until `rndc showzone <catalog>` names the new primaries (the kubelet brings
//! the new ConfigMap into the pod within about a minute; the operator may not touch pods to
//! hurry it), then `rndc refresh` of the catalog and the instance's zones so they transfer
//! from the new primaries at once. Re-checked every 2 s while any pod lags.
//!
//! A `server: dnsd` secondary also gets its own key Secret (transfer + NOTIFY keys, created
//! once) and waits, without a StatefulSet, until a primary address is known (see
//! `resources::instance::dnsd`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bindy_crds::common::{
    set_condition, Condition, ConditionStatus, CONDITION_DEGRADED, CONDITION_PROGRESSING,
    CONDITION_READY,
};
use bindy_crds::{
    Bind9Cluster, Bind9Instance, Bind9InstanceStatus, DNSZone, ServerKind, ServerRole,
};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;

use super::{apply, error_policy, instrumented, patch_status, RESYNC};
use crate::bind9::rndc::RndcClient;
use crate::context::{key_scope, Context};
use crate::error::{Error, Result};
use crate::resources::instance::{
    client_service, config_map, dnsd_secret, headless_service, primaries_applied_live,
    rollout_hash, runs_primaries, secondary_primaries, statefulset, InstanceInputs,
};
use crate::resources::keys::KeySet;
use crate::resources::zone::pod_ips;
use crate::resources::{owner_ref, LABEL_INSTANCE, LABEL_PART_OF};

/// Runs the controller until `stop` resolves.
pub async fn run(
    ctx: Arc<Context>,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let instances = ctx.stores.instances.clone();
    let instances2 = ctx.stores.instances.clone();
    let pods_cfg = watcher::Config::default().labels(&format!("{LABEL_PART_OF}=bindy"));
    Controller::new(
        Api::<Bind9Instance>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<StatefulSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<ConfigMap>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(Api::<Pod>::all(client.clone()), pods_cfg, |p| {
        let ns = p.namespace()?;
        p.labels()
            .get(LABEL_INSTANCE)
            .map(|i| ObjectRef::new(i).within(&ns))
    })
    // Cluster settings are inherited: a cluster change re-renders its instances.
    .watches(
        Api::<Bind9Cluster>::all(client.clone()),
        watcher::Config::default(),
        move |c| {
            let ns = c.namespace();
            let name = c.name_any();
            instances
                .state()
                .iter()
                .filter(|i| {
                    i.namespace() == ns && i.spec.cluster_ref.as_deref() == Some(name.as_str())
                })
                .map(|i| ObjectRef::from_obj(i.as_ref()))
                .collect::<Vec<_>>()
        },
    )
    // A primary's pod IPs are in its cluster's secondaries' named.conf.
    .watches(
        Api::<Bind9Instance>::all(client),
        watcher::Config::default(),
        move |p| {
            if p.spec.role != ServerRole::Primary || p.spec.cluster_ref.is_none() {
                return Vec::new();
            }
            let ns = p.namespace();
            instances2
                .state()
                .iter()
                .filter(|i| {
                    i.namespace() == ns
                        && i.spec.cluster_ref == p.spec.cluster_ref
                        && i.spec.role == ServerRole::Secondary
                })
                .map(|i| ObjectRef::from_obj(i.as_ref()))
                .collect::<Vec<_>>()
        },
    )
    .graceful_shutdown_on(stop)
    .run(reconcile, error_policy, ctx)
    .for_each(|_| async {})
    .await;
}

async fn reconcile(inst: Arc<Bind9Instance>, ctx: Arc<Context>) -> Result<Action> {
    let i = inst.clone();
    instrumented("instance", i.as_ref(), &ctx.clone(), async move {
        if inst.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change()); // children go by garbage collection
        }
        reconcile_instance(&inst, &ctx).await
    })
    .await
}

async fn reconcile_instance(inst: &Bind9Instance, ctx: &Context) -> Result<Action> {
    let ns = inst.namespace().unwrap_or_default();
    let name = inst.name_any();
    let api: Api<Bind9Instance> = Api::namespaced(ctx.client.clone(), &ns);
    if let Err(e) = inst.spec.validate() {
        let msg = e.to_string();
        let mut st = inst.status.clone().unwrap_or_default();
        let gen = inst.metadata.generation;
        let changed = set_condition(
            &mut st.conditions,
            Condition::new(
                CONDITION_READY,
                ConditionStatus::False,
                "InvalidSpec",
                msg.clone(),
                gen,
            ),
        );
        if changed {
            patch_status(&api, &name, json(&st)?).await?;
            ctx.event(inst, true, "InvalidSpec", msg.clone()).await;
        }
        return Err(Error::InvalidSpec(msg));
    }
    let cluster = inst
        .spec
        .cluster_ref
        .as_ref()
        .and_then(|c| ctx.stores.clusters.get(&ObjectRef::new(c).within(&ns)));
    let scope = key_scope(inst);
    // Keys of a cluster's instances are owned by the cluster (so they outlive any instance).
    let keys = match (&inst.spec.cluster_ref, &cluster) {
        (Some(_), Some(c)) => ctx.ensure_keys(&ns, &scope, c.as_ref()).await?,
        (Some(c), None) => {
            return Err(Error::Waiting(format!("Bind9Cluster {c} not found")));
        }
        (None, _) => ctx.ensure_keys(&ns, &scope, inst).await?,
    };
    let primaries: Vec<IpAddr> =
        if inst.spec.role == ServerRole::Secondary && inst.spec.cluster_ref.is_some() {
            // From the API: the primary's event that triggered this may not be in the store yet.
            let peers: Vec<Bind9Instance> = api
                .list(&ListParams::default())
                .await?
                .items
                .into_iter()
                .filter(|i| i.spec.cluster_ref == inst.spec.cluster_ref)
                .collect();
            let refs: Vec<&Bind9Instance> = peers.iter().collect();
            pod_ips(&refs, ServerRole::Primary)
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect()
        } else {
            Vec::new()
        };
    let inputs = InstanceInputs {
        instance: inst,
        cluster: cluster.as_ref().map(|c| &c.spec),
        key_scope: scope,
        keys: &keys,
        primaries,
        settings: &ctx.settings,
    };
    let owner = owner_ref(inst)?;
    let dnsd = inst.spec.server() == ServerKind::Dnsd;
    if dnsd {
        ensure_dnsd_secret(ctx, inst, &ns, dnsd_secret(&inputs, &owner)).await?;
    }
    let svc_api = Api::<Service>::namespaced(ctx.client.clone(), &ns);
    apply(&svc_api, &headless_service(&inputs, &owner)).await?;
    apply(&svc_api, &client_service(&inputs, &owner)).await?;
    // A secondary without any primary address (its primary pods restarting, or none ready
    // yet) keeps the configuration it runs: rendering it without primaries would drop the
    // catalog and restart the pods. A dnsd secondary waits for its first primaries; a BIND9
    // one starts without the catalog (as before). The primary's status change re-triggers this.
    let running = inst.status.as_ref().is_some_and(|s| !s.pod_ips.is_empty());
    let no_primaries =
        inst.spec.role == ServerRole::Secondary && secondary_primaries(&inputs).is_empty();
    let rendered = if no_primaries && running {
        Err(Error::Waiting(format!(
            "no ready primary pod: {name} keeps its current primaries"
        )))
    } else {
        config_map(&inputs, &owner)
    };
    let waiting = match rendered {
        Ok(cm) => {
            let hash = rollout_hash(&inputs, &cm)?;
            apply(&Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns), &cm).await?;
            apply(
                &Api::<StatefulSet>::namespaced(ctx.client.clone(), &ns),
                &statefulset(&inputs, &owner, &hash),
            )
            .await?;
            None
        }
        Err(Error::Waiting(why)) if dnsd || no_primaries => Some(why),
        Err(e) => return Err(e),
    };

    // Status from the StatefulSet and the pods (ready pods' IPs are NOTIFY/transfer peers).
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ns)
        .list(&ListParams::default().labels(&format!("{LABEL_INSTANCE}={name}")))
        .await?;
    let mut ips: Vec<String> = pods
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|p| p.status.as_ref().and_then(|s| s.pod_ip.clone()))
        .collect();
    ips.sort();
    let recheck = if waiting.is_none() && primaries_applied_live(&inputs) {
        let want = secondary_primaries(&inputs);
        let pods: Vec<IpAddr> = ips.iter().filter_map(|ip| ip.parse().ok()).collect();
        apply_primaries_live(ctx, inst, &keys, &pods, &want).await
    } else {
        None
    };
    let ready = ips.len() as i32;
    let want = inst.spec.replicas;
    let gen = inst.metadata.generation;
    let mut st: Bind9InstanceStatus = inst.status.clone().unwrap_or_default();
    let before = st.clone();
    // Pod readiness is authoritative; the StatefulSet's count lags behind it.
    st.ready_replicas = ready;
    st.pod_ips = ips;
    st.service_address = Some(format!("{name}.{ns}.svc"));
    st.observed_generation = gen;
    let mut msg = format!("{ready}/{want} pods ready");
    if let Some(why) = &waiting {
        msg = format!("{msg}; {why}");
    }
    let (r, p, d, reason) = if waiting.is_some() && ready == 0 {
        (
            ConditionStatus::False,
            ConditionStatus::True,
            ConditionStatus::False,
            "WaitingForPrimaries",
        )
    } else if ready >= want {
        (
            ConditionStatus::True,
            ConditionStatus::False,
            ConditionStatus::False,
            "PodsReady",
        )
    } else if ready > 0 {
        (
            ConditionStatus::False,
            ConditionStatus::True,
            ConditionStatus::True,
            "PodsNotReady",
        )
    } else {
        (
            ConditionStatus::False,
            ConditionStatus::True,
            ConditionStatus::False,
            "PodsStarting",
        )
    };
    set_condition(
        &mut st.conditions,
        Condition::new(CONDITION_READY, r, reason, msg.clone(), gen),
    );
    set_condition(
        &mut st.conditions,
        Condition::new(CONDITION_PROGRESSING, p, reason, msg.clone(), gen),
    );
    set_condition(
        &mut st.conditions,
        Condition::new(CONDITION_DEGRADED, d, reason, msg.clone(), gen),
    );
    if st != before {
        patch_status(&api, &name, with_empty(json(&st)?, &["podIps"])).await?;
        let was_ready = bindy_crds::common::is_ready(&before.conditions);
        if ready >= want && !was_ready {
            ctx.event(inst, false, "InstanceReady", msg).await;
        } else if ready < want && was_ready {
            ctx.event(inst, true, "InstanceNotReady", msg).await;
        }
    }
    Ok(Action::requeue(recheck.unwrap_or(RESYNC)))
}

/// How soon a pod that does not run its new primaries yet is checked again (the kubelet has
/// not synced its ConfigMap yet).
const LIVE_RECHECK: Duration = Duration::from_secs(2);
/// How soon after an rndc failure.
const LIVE_RETRY: Duration = Duration::from_secs(30);

/// Makes each ready BIND9 secondary pod use `want` as its primaries without a restart.
/// Returns when to check again while some pod still runs other primaries: soon while the
/// kubelet has not synced the ConfigMap, later when rndc failed.
async fn apply_primaries_live(
    ctx: &Context,
    inst: &Bind9Instance,
    keys: &KeySet,
    pods: &[IpAddr],
    want: &[SocketAddr],
) -> Option<Duration> {
    let catalog = &ctx.settings.catalog;
    let mut recheck: Option<Duration> = None;
    let mut zones: Option<Vec<String>> = None;
    for ip in pods {
        let rndc = RndcClient::new(
            SocketAddr::new(*ip, ctx.settings.rndc_port),
            keys.rndc.clone(),
        )
        .with_timeout(ctx.dns_timeout);
        let runs_want = |text: &str| runs_primaries(text, want);
        match rndc.command(&format!("showzone {catalog}")).await {
            Ok(r) if runs_want(&r.text) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(pod = %ip, error = %e, "rndc showzone of the catalog failed");
                recheck = Some(recheck.map_or(LIVE_RETRY, |d| d.min(LIVE_RETRY)));
                continue;
            }
        }
        // Reloads named.conf as the pod sees it (harmless while the kubelet has not synced).
        let r = rndc.command("reconfig").await;
        ctx.metrics.bind_op("reconfig", r.is_ok());
        let now = match rndc.command(&format!("showzone {catalog}")).await {
            Ok(r) => runs_want(&r.text),
            Err(_) => false,
        };
        if !now {
            recheck = Some(LIVE_RECHECK);
            continue;
        }
        // New primaries in effect: transfer from them now rather than at the next refresh.
        let zones = zones.get_or_insert_with(|| {
            let mut z = vec![catalog.clone()];
            z.extend(instance_zones(ctx, inst));
            z
        });
        for z in zones.iter() {
            ctx.metrics.bind_op(
                "refresh",
                rndc.command(&format!("refresh {z}")).await.is_ok(),
            );
        }
        tracing::info!(instance = %inst.name_any(), pod = %ip, primaries = ?want, "secondary follows new primaries (rndc reconfig)");
        ctx.event(
            inst,
            false,
            "PrimariesChanged",
            format!("pod {ip} now transfers from {want:?} (rndc reconfig, no restart)"),
        )
        .await;
    }
    recheck
}

/// Origins of the zones that list this instance in their status.
fn instance_zones(ctx: &Context, inst: &Bind9Instance) -> Vec<String> {
    let name = inst.name_any();
    ctx.stores
        .zones
        .state()
        .iter()
        .filter(|z| z.namespace() == inst.namespace())
        .filter(|z: &&Arc<DNSZone>| {
            z.status
                .as_ref()
                .is_some_and(|s| s.instances.contains(&name))
        })
        .map(|z| z.spec.origin().trim_end_matches('.').to_string())
        .collect()
}

/// Creates a dnsd instance's key Secret when it is missing. It is never updated (the operator
/// may only get and create Secrets): when the cluster's keys were regenerated, a stale copy is
/// reported as an Event and deleting it makes the next reconcile write the current keys.
async fn ensure_dnsd_secret(
    ctx: &Context,
    inst: &Bind9Instance,
    ns: &str,
    want: Secret,
) -> Result<()> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let name = want.metadata.name.clone().unwrap_or_default();
    match api.get_opt(&name).await? {
        Some(have) if have.data == want.data => Ok(()),
        Some(_) => {
            let msg = format!(
                "Secret {name} holds other keys than the cluster's key Secret: delete it to regenerate"
            );
            ctx.event(inst, true, "StaleKeys", msg).await;
            Ok(())
        }
        None => match api.create(&PostParams::default(), &want).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        },
    }
}

/// Status JSON with `fields` present even when empty (a merge patch leaves absent fields as
/// they were, and the CRD types skip empty lists when serialising).
pub(crate) fn with_empty(mut v: serde_json::Value, fields: &[&str]) -> serde_json::Value {
    if let Some(m) = v.as_object_mut() {
        for f in fields {
            m.entry(f.to_string())
                .or_insert(serde_json::Value::Array(Vec::new()));
        }
    }
    v
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Runtime(format!("serialising status: {e}")))
}
