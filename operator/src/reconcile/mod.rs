//! The controllers (kube-runtime `Controller`s) and what they share: error classification,
//! per-object exponential backoff, server-side apply and status patch helpers.
//!
//! - [`cluster`]: Bind9Cluster → managed instances, cascade deletion, aggregated status.
//! - [`instance`]: Bind9Instance → StatefulSet, Services, ConfigMap, key Secret; status from pods.
//! - [`zone`]: DNSZone → zone on the primaries (rndc + UPDATE), catalog, record selection.
//! - [`record`]: the eight record kinds, one generic reconciler → RRset on the primaries.
//!
//! Each reconcile fetches its inputs from the reflector stores in [`Context`], calls the pure
//! builders in [`crate::resources`] and applies the result. Nothing polls: changes arrive as
//! watch events (a long requeue is only a safety net).

pub mod cluster;
pub mod instance;
pub mod record;
pub mod zone;

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::mpsc::{unbounded, UnboundedReceiver};
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, Predicate, PredicateConfig, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::context::{Context, RecordStores, Stores};
use crate::error::{Error, Result};
use crate::resources::FIELD_MANAGER;

/// Reconciles in flight per controller (kube-runtime's default is unbounded).
pub const CONCURRENCY: u16 = 4;
/// Safety-net resync of healthy objects (events drive everything else).
pub const RESYNC: Duration = Duration::from_secs(600);
/// First retry delay; doubles per consecutive failure up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_millis(250);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(120);
/// Retry delay for errors retrying cannot fix (bad spec): a spec change triggers anyway.
pub const PERMANENT_RETRY: Duration = Duration::from_secs(900);

/// Whether retrying without a change can succeed.
pub fn retry_helps(e: &Error) -> bool {
    match e {
        Error::InvalidInput(_) | Error::InvalidSpec(_) | Error::BadKey { .. } => false,
        Error::DnsRcode { rcode, .. } => {
            !matches!(rcode.as_str(), "YXRRSET" | "YXDOMAIN" | "FORMERR")
        }
        Error::Kube(kube::Error::Api(ae)) => !matches!(ae.code, 400 | 422),
        _ => true,
    }
}

/// Identity of an object for backoff bookkeeping.
pub fn obj_key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// The delay before the `n`th consecutive retry (n ≥ 1).
pub fn backoff_delay(n: u32) -> Duration {
    let factor = 1u64 << n.saturating_sub(1).min(16);
    (BASE_BACKOFF * factor as u32).min(MAX_BACKOFF)
}

/// A 409 from the API server: our write lost a resourceVersion race and will be redone.
fn is_conflict(err: &Error) -> bool {
    matches!(err, Error::Kube(kube::Error::Api(s)) if s.code == 409)
}

/// Controller error policy: exponential backoff per object, long delay for permanent errors.
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    err: &Error,
    ctx: Arc<Context>,
) -> Action {
    if !retry_helps(err) {
        tracing::warn!(object = %obj_key(obj.as_ref()), error = %err, "reconcile failed (needs a spec change)");
        return Action::requeue(PERMANENT_RETRY);
    }
    let n = {
        let mut f = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = f.entry(obj_key(obj.as_ref())).or_insert(0);
        *n += 1;
        *n
    };
    let delay = backoff_delay(n);
    if is_conflict(err) {
        // Optimistic concurrency doing its job (another write won the resourceVersion race):
        // routine, so only visible at debug.
        tracing::debug!(object = %obj_key(obj.as_ref()), attempt = n, ?delay, "write conflict, retrying");
    } else {
        tracing::info!(object = %obj_key(obj.as_ref()), error = %err, attempt = n, ?delay, "reconcile failed, retrying");
    }
    Action::requeue(delay)
}

/// Wraps a reconcile: metrics, backoff reset on success.
pub async fn instrumented<K, F>(controller: &str, obj: &K, ctx: &Context, fut: F) -> Result<Action>
where
    K: Resource<DynamicType = ()>,
    F: std::future::Future<Output = Result<Action>>,
{
    let start = Instant::now();
    let res = fut.await;
    let result = match &res {
        Ok(_) => {
            if let Ok(mut f) = ctx.failures.lock() {
                f.remove(&obj_key(obj));
            }
            "ok"
        }
        Err(e) if retry_helps(e) => "transient",
        Err(_) => "permanent",
    };
    ctx.metrics
        .reconciled(controller, start.elapsed().as_secs_f64(), result);
    res
}

/// Server-side apply of a child object (field manager `bindy`, forced: we own these fields).
pub async fn apply<K>(api: &Api<K>, obj: &K) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    Ok(api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(obj),
        )
        .await?)
}

/// Merge-patches `status` (only the fields given).
pub async fn patch_status<K>(api: &Api<K>, name: &str, status: serde_json::Value) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "status": status })),
    )
    .await?;
    Ok(())
}

/// Touched objects of one reflector, for the controllers that trigger on that kind.
///
/// Every receiver gets every object, and only after the reflector put it into its store, so a
/// reconcile never reads a store older than the event that triggered it (a controller's own
/// `watches` stream would race the shared store). Each consumer filters with its own
/// predicate ([`Tap::stream`]). Deleted objects arrive with `deletionTimestamp` set (see
/// [`reflect`]) so a predicate that includes it passes the final deletion.
pub struct Tap<K>(Mutex<Vec<UnboundedReceiver<Arc<K>>>>);

impl<K> Tap<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// One trigger stream (each receiver is taken once), filtered by `predicate`: only objects
    /// whose predicate hash changed since their last event pass (kube-runtime's
    /// `predicate_filter`).
    pub fn stream<P>(
        &self,
        predicate: P,
    ) -> futures::stream::BoxStream<'static, std::result::Result<K, watcher::Error>>
    where
        P: Predicate<K> + Send + 'static,
    {
        let rx = self.0.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match rx {
            Some(rx) => rx
                .map(|o| Ok(Arc::unwrap_or_clone(o)))
                .predicate_filter(predicate, PredicateConfig::default())
                .boxed(),
            None => {
                tracing::error!(kind = %K::kind(&()), "trigger stream taken twice (no receiver left)");
                futures::stream::empty().boxed()
            }
        }
    }
}

/// Hash of `parts`, as a predicate value (the fields a controller cares about).
pub fn fingerprint<T: Hash + ?Sized>(parts: &T) -> Option<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    Some(h.finish())
}

/// Called with each object the reflector stores (`true`: deleted), before the taps see it.
pub type Hook<K> = Option<Box<dyn Fn(&K, bool) + Send + Sync>>;

/// Starts a reflector for `K` on all namespaces; returns its store, its [`Tap`] with `taps`
/// receivers, and the task (runs until aborted).
pub fn reflect<K>(
    client: &Client,
    taps: usize,
    hook: Hook<K>,
) -> (Store<K>, Tap<K>, tokio::task::JoinHandle<()>)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..taps).map(|_| unbounded::<Arc<K>>()).unzip();
    let stream = reflector::reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            let obj = match ev {
                Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                    if let Some(h) = &hook {
                        h(&o, false);
                    }
                    o
                }
                Ok(watcher::Event::Delete(mut o)) => {
                    if let Some(h) = &hook {
                        h(&o, true);
                    }
                    // Gone without a finalizer: mark it so predicates see a change.
                    if o.meta().deletion_timestamp.is_none() {
                        o.meta_mut().deletion_timestamp =
                            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                                k8s_openapi::jiff::Timestamp::now(),
                            ));
                    }
                    o
                }
                _ => continue,
            };
            let obj = Arc::new(obj);
            for tx in &txs {
                // A stopped controller dropped its receiver: nothing to do.
                let _ = tx.unbounded_send(obj.clone());
            }
        }
    });
    (reader, Tap(Mutex::new(rxs)), task)
}

/// Trigger streams of every controller, fed by the reflectors behind [`Stores`].
pub struct Taps {
    /// Zone controller (1) + one per record controller (8).
    pub zones: Tap<bindy_crds::DNSZone>,
    /// Zone controller.
    pub instances: Tap<bindy_crds::Bind9Instance>,
    /// Per record kind: its record controller + the zone controller.
    pub a: Tap<bindy_crds::ARecord>,
    pub aaaa: Tap<bindy_crds::AAAARecord>,
    pub cname: Tap<bindy_crds::CNAMERecord>,
    pub mx: Tap<bindy_crds::MXRecord>,
    pub txt: Tap<bindy_crds::TXTRecord>,
    pub ns: Tap<bindy_crds::NSRecord>,
    pub srv: Tap<bindy_crds::SRVRecord>,
    pub caa: Tap<bindy_crds::CAARecord>,
}

/// Reflectors for every kind; waits until all have listed once.
pub async fn start_stores(
    client: &Client,
) -> Result<(Stores, Taps, Vec<tokio::task::JoinHandle<()>>)> {
    let mut tasks = Vec::new();
    macro_rules! r {
        ($t:ty, $n:expr) => {{
            let (s, tap, t) = reflect::<$t>(client, $n, None);
            tasks.push(t);
            (s, tap)
        }};
    }
    let claims = Arc::new(crate::context::ClaimIndex::default());
    // Record kinds: also kept in the claim index.
    macro_rules! rec {
        ($t:ty) => {{
            let c = claims.clone();
            let hook: Hook<$t> = Some(Box::new(move |r: &$t, deleted| c.update(r, deleted)));
            let (s, tap, t) = reflect::<$t>(client, 2, hook);
            tasks.push(t);
            (s, tap)
        }};
    }
    let (clusters, _) = r!(bindy_crds::Bind9Cluster, 0);
    let (instances, t_instances) = r!(bindy_crds::Bind9Instance, 1);
    let (zones, t_zones) = r!(bindy_crds::DNSZone, 9);
    let (a, t_a) = rec!(bindy_crds::ARecord);
    let (aaaa, t_aaaa) = rec!(bindy_crds::AAAARecord);
    let (cname, t_cname) = rec!(bindy_crds::CNAMERecord);
    let (mx, t_mx) = rec!(bindy_crds::MXRecord);
    let (txt, t_txt) = rec!(bindy_crds::TXTRecord);
    let (ns, t_ns) = rec!(bindy_crds::NSRecord);
    let (srv, t_srv) = rec!(bindy_crds::SRVRecord);
    let (caa, t_caa) = rec!(bindy_crds::CAARecord);
    let stores = Stores {
        clusters,
        instances,
        zones,
        records: RecordStores {
            a,
            aaaa,
            cname,
            mx,
            txt,
            ns,
            srv,
            caa,
            claims,
        },
    };
    let taps = Taps {
        zones: t_zones,
        instances: t_instances,
        a: t_a,
        aaaa: t_aaaa,
        cname: t_cname,
        mx: t_mx,
        txt: t_txt,
        ns: t_ns,
        srv: t_srv,
        caa: t_caa,
    };
    let wait = async {
        stores.clusters.wait_until_ready().await.ok();
        stores.instances.wait_until_ready().await.ok();
        stores.zones.wait_until_ready().await.ok();
        let r = &stores.records;
        r.a.wait_until_ready().await.ok();
        r.aaaa.wait_until_ready().await.ok();
        r.cname.wait_until_ready().await.ok();
        r.mx.wait_until_ready().await.ok();
        r.txt.wait_until_ready().await.ok();
        r.ns.wait_until_ready().await.ok();
        r.srv.wait_until_ready().await.ok();
        r.caa.wait_until_ready().await.ok();
    };
    if tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .is_err()
    {
        for t in &tasks {
            t.abort();
        }
        return Err(Error::Waiting(
            "caches did not sync within 60 s (are the CRDs installed?)".into(),
        ));
    }
    Ok((stores, taps, tasks))
}

/// Runs every controller until `shutdown` resolves.
pub async fn run_controllers(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stop = move || {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    };
    let all = futures::future::join_all(vec![
        Box::pin(cluster::run(ctx.clone(), stop())) as futures::future::BoxFuture<'static, ()>,
        Box::pin(instance::run(ctx.clone(), stop())),
        Box::pin(zone::run(ctx.clone(), stop())),
        Box::pin(record::run_all(ctx.clone(), stop)),
    ]);
    let mut all = Box::pin(all);
    tokio::select! {
        _ = &mut all => {}
        _ = shutdown => {
            // Let in-flight reconciles finish (bounded), then drop the controllers.
            let _ = tx.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(10), all).await;
        }
    }
}

/// The whole operator: reflectors + controllers, under leader election when `lease` is given.
/// Returns when `shutdown` resolves (the `bindy` binary and the end-to-end tests both run this).
pub async fn run_operator(
    client: Client,
    settings: crate::resources::instance::Settings,
    metrics: Arc<crate::metrics::Metrics>,
    identity: String,
    lease: Option<crate::leader::LeaseSettings>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let lead = {
        let client = client.clone();
        let metrics = metrics.clone();
        let identity = identity.clone();
        move |stop: futures::future::BoxFuture<'static, ()>| {
            let client = client.clone();
            let metrics = metrics.clone();
            let settings = settings.clone();
            let identity = identity.clone();
            async move {
                let (stores, taps, tasks) = match start_stores(&client).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "starting caches failed");
                        return;
                    }
                };
                let _guards: Vec<crate::leader::AbortOnDrop<()>> = tasks
                    .into_iter()
                    .map(|t| crate::leader::AbortOnDrop(Some(t)))
                    .collect();
                let ctx = Arc::new(Context::new(
                    client, settings, stores, taps, metrics, &identity,
                ));
                run_controllers(ctx, stop).await;
            }
        }
    };
    match lease {
        None => {
            lead(Box::pin(shutdown)).await;
            Ok(())
        }
        Some(l) => crate::leader::run(client, l, metrics, lead, shutdown).await,
    }
}

/// Finalizer handling (add on first sight, run `cleanup` on deletion, then remove).
///
/// Hand-written instead of `kube::runtime::finalizer`: that helper adds the first finalizer
/// with a JSON patch whose `test` op expects a missing field to read as null, which the test
/// double (json-patch crate) rejects. A merge patch carrying the full list and the observed
/// `resourceVersion` is just as safe (409 on a concurrent change) on both.
pub async fn with_finalizer<K, A, AF, C, CF>(
    api: &Api<K>,
    finalizer: &str,
    obj: Arc<K>,
    apply: A,
    cleanup: C,
) -> Result<Action>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    A: FnOnce(Arc<K>) -> AF,
    AF: std::future::Future<Output = Result<Action>>,
    C: FnOnce(Arc<K>) -> CF,
    CF: std::future::Future<Output = Result<Action>>,
{
    let name = obj.name_any();
    let current = obj.finalizers().to_vec();
    let has = current.iter().any(|f| f == finalizer);
    let patch = |list: Vec<String>| {
        serde_json::json!({"metadata": {
            "finalizers": list,
            "resourceVersion": obj.resource_version(),
        }})
    };
    if obj.meta().deletion_timestamp.is_some() {
        if !has {
            return Ok(Action::await_change());
        }
        let action = cleanup(obj.clone()).await?;
        let rest: Vec<String> = current.into_iter().filter(|f| f != finalizer).collect();
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch(rest)))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
        return Ok(action);
    }
    if !has {
        let mut list = current;
        list.push(finalizer.to_string());
        api.patch(&name, &PatchParams::default(), &Patch::Merge(patch(list)))
            .await?;
        // The patch comes back as a watch event; the next reconcile applies.
        return Ok(Action::await_change());
    }
    apply(obj).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_delay(1), Duration::from_millis(250));
        assert_eq!(backoff_delay(2), Duration::from_millis(500));
        assert_eq!(backoff_delay(5), Duration::from_secs(4));
        assert_eq!(backoff_delay(40), MAX_BACKOFF);
    }

    #[test]
    fn errors_say_whether_retrying_helps() {
        assert!(!retry_helps(&Error::InvalidSpec("x".into())));
        assert!(retry_helps(&Error::Waiting("pods".into())));
        let conflict = Error::DnsRcode {
            server: "127.0.0.1:53".parse().unwrap(),
            operation: "UPDATE",
            zone: "example.com".into(),
            rcode: "YXRRSET".into(),
            detail: String::new(),
        };
        assert!(!retry_helps(&conflict));
        assert!(
            !is_conflict(&conflict),
            "a DNS-level conflict is not an API 409"
        );
    }

    #[test]
    fn api_409_is_a_routine_conflict() {
        let status = |code: u16| {
            Error::Kube(kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..Default::default()
            })))
        };
        assert!(is_conflict(&status(409)));
        assert!(retry_helps(&status(409)));
        assert!(!is_conflict(&status(500)));
    }
}
