//! Shared state of the controllers: the client, reflector stores of every kind (so mappers and
//! reconcilers read the cluster state from memory instead of listing the API per event), the
//! operator settings, metrics, the Event recorder and per-object backoff counters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindy_crds::{
    AAAARecord, ARecord, Bind9Cluster, Bind9Instance, CAARecord, CNAMERecord, DNSZone, MXRecord,
    NSRecord, SRVRecord, TXTRecord,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::resources::instance::Settings;
use crate::resources::keys::{secret, secret_name, KeySet};
use crate::resources::zone::{refers_to, zone_selects_labels, RecordEntry};

/// Reflector stores of the eight record kinds.
#[derive(Clone)]
pub struct RecordStores {
    pub a: Store<ARecord>,
    pub aaaa: Store<AAAARecord>,
    pub cname: Store<CNAMERecord>,
    pub mx: Store<MXRecord>,
    pub txt: Store<TXTRecord>,
    pub ns: Store<NSRecord>,
    pub srv: Store<SRVRecord>,
    pub caa: Store<CAARecord>,
}

macro_rules! each_store {
    ($self:ident, $f:expr) => {{
        let mut out = Vec::new();
        out.extend(
            $self
                .a
                .state()
                .iter()
                .filter_map(|r| $f(RecordEntry::of(r.as_ref()))),
        );
        out.extend(
            $self
                .aaaa
                .state()
                .iter()
                .filter_map(|r| $f(RecordEntry::of(r.as_ref()))),
        );
        out.extend(
            $self
                .cname
                .state()
                .iter()
                .filter_map(|r| $f(RecordEntry::of(r.as_ref()))),
        );
        out.extend(
            $self
                .mx
                .state()
                .iter()
                .filter_map(|r| $f(RecordEntry::of(r.as_ref()))),
        );
        out.extend(
            $self
                .txt
                .state()
                .iter()
                .filter_map(|r| $f(RecordEntry::of(r.as_ref()))),
        );
        out.extend(
            $self
                .ns
                .state()
                .iter()
                .filter_map(|r| $f(RecordEntry::of(r.as_ref()))),
        );
        out.extend(
            $self
                .srv
                .state()
                .iter()
                .filter_map(|r| $f(RecordEntry::of(r.as_ref()))),
        );
        out.extend(
            $self
                .caa
                .state()
                .iter()
                .filter_map(|r| $f(RecordEntry::of(r.as_ref()))),
        );
        out
    }};
}

/// Records of `store` a zone may care about: in its namespace, and claimed by it or matching its
/// selectors (checked on the objects, before an entry is built).
fn zone_entries<K: bindy_crds::DnsRecord>(
    out: &mut Vec<RecordEntry>,
    store: &Store<K>,
    zone: &DNSZone,
) {
    let ns = zone.metadata.namespace.as_deref();
    out.extend(
        store
            .state()
            .iter()
            .filter(|r| r.meta().namespace.as_deref() == ns)
            .filter(|r| refers_to(r.zone_ref(), zone) || zone_selects_labels(zone, r.labels()))
            .map(|r| RecordEntry::of(r.as_ref())),
    );
}

impl RecordStores {
    /// Records of every kind a zone may care about (see [`zone_entries`]): a zone reconcile
    /// costs one cheap comparison per record in the cluster, and entries only for its own.
    pub fn for_zone(&self, zone: &DNSZone) -> Vec<RecordEntry> {
        let mut out = Vec::new();
        zone_entries(&mut out, &self.a, zone);
        zone_entries(&mut out, &self.aaaa, zone);
        zone_entries(&mut out, &self.cname, zone);
        zone_entries(&mut out, &self.mx, zone);
        zone_entries(&mut out, &self.txt, zone);
        zone_entries(&mut out, &self.ns, zone);
        zone_entries(&mut out, &self.srv, zone);
        zone_entries(&mut out, &self.caa, zone);
        out
    }

    /// Records of every kind in `namespace`.
    pub fn in_namespace(&self, namespace: &str) -> Vec<RecordEntry> {
        each_store!(self, |e: RecordEntry| (e.namespace == namespace)
            .then_some(e))
    }
}

/// Reflector stores of every kind the operator reads.
#[derive(Clone)]
pub struct Stores {
    pub clusters: Store<Bind9Cluster>,
    pub instances: Store<Bind9Instance>,
    pub zones: Store<DNSZone>,
    pub records: RecordStores,
}

/// Everything a reconciler gets.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub stores: Stores,
    /// Trigger streams fed by the stores' reflectors (each taken once by its controller).
    pub taps: crate::reconcile::Taps,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// Deadline of each DNS/rndc exchange.
    pub dns_timeout: Duration,
    /// Consecutive failures per object (`kind/ns/name`), for exponential backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// Per record: fingerprint of the last state pushed to BIND (skips no-op re-pushes when
    /// our own status write comes back as a watch event).
    pub pushed: Mutex<HashMap<String, String>>,
    /// Per zone incarnation (`kind/ns/name/uid`): BIND9 secondary pods that got their
    /// `rndc retransfer` (see `reconcile::zone`).
    pub retransferred: Mutex<HashMap<String, std::collections::BTreeSet<std::net::IpAddr>>>,
    /// Key sets by (namespace, scope), read from their Secrets.
    keys: Mutex<HashMap<(String, String), KeySet>>,
}

impl Context {
    pub fn new(
        client: Client,
        settings: Settings,
        stores: Stores,
        taps: crate::reconcile::Taps,
        metrics: Arc<Metrics>,
        identity: &str,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "bindy".into(),
                instance: Some(identity.to_string()),
            },
        );
        Context {
            client,
            settings,
            stores,
            taps,
            metrics,
            recorder,
            dns_timeout: Duration::from_secs(3),
            failures: Mutex::new(HashMap::new()),
            pushed: Mutex::new(HashMap::new()),
            retransferred: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes a Kubernetes Event about `obj` (failures are logged, never fatal).
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let ev = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        match self.recorder.publish(&ev, &obj.object_ref(&())).await {
            Ok(()) => {
                self.metrics.events_published.inc();
            }
            Err(e) => tracing::warn!(error = %e, reason, "publishing event failed"),
        }
    }

    /// The key set of `scope` in `namespace`: from its Secret, or generated and stored in a new
    /// Secret owned by `owner` when there is none.
    pub async fn ensure_keys<O: Resource<DynamicType = ()>>(
        &self,
        namespace: &str,
        scope: &str,
        owner: &O,
    ) -> Result<KeySet> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let name = secret_name(scope);
        if let Some(s) = api.get_opt(&name).await? {
            let keys = KeySet::from_secret(&s)?;
            self.cache_keys(namespace, scope, &keys);
            return Ok(keys);
        }
        let keys = KeySet::generate();
        let owner_ref = crate::resources::owner_ref(owner)?;
        let labels = [(
            crate::resources::LABEL_PART_OF.to_string(),
            "bindy".to_string(),
        )]
        .into();
        let s = secret(scope, namespace, &keys, owner_ref, labels);
        match api.create(&PostParams::default(), &s).await {
            Ok(_) => {
                tracing::info!(secret = %name, namespace, owner = %owner.name_any(), "generated key Secret");
                self.cache_keys(namespace, scope, &keys);
                Ok(keys)
            }
            // Another replica or reconcile created it first: use theirs.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let s = api.get(&name).await?;
                let keys = KeySet::from_secret(&s)?;
                self.cache_keys(namespace, scope, &keys);
                Ok(keys)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn cache_keys(&self, namespace: &str, scope: &str, keys: &KeySet) {
        if let Ok(mut m) = self.keys.lock() {
            m.insert((namespace.into(), scope.into()), keys.clone());
        }
    }

    /// The key set of `scope`, from cache or its Secret; never generates (zone and record
    /// reconcilers only use keys an instance reconcile made).
    pub async fn keys(&self, namespace: &str, scope: &str) -> Result<KeySet> {
        if let Some(k) = self
            .keys
            .lock()
            .ok()
            .and_then(|m| m.get(&(namespace.to_string(), scope.to_string())).cloned())
        {
            return Ok(k);
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        match api.get_opt(&secret_name(scope)).await? {
            Some(s) => {
                let keys = KeySet::from_secret(&s)?;
                self.cache_keys(namespace, scope, &keys);
                Ok(keys)
            }
            None => Err(Error::Waiting(format!(
                "key Secret {} not created yet",
                secret_name(scope)
            ))),
        }
    }
}

/// The key scope of an instance: its cluster, or itself when alone.
pub fn key_scope(inst: &bindy_crds::Bind9Instance) -> String {
    inst.spec
        .cluster_ref
        .clone()
        .unwrap_or_else(|| inst.name_any())
}
