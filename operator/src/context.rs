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
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::resources::instance::Settings;
use crate::resources::keys::{secret, secret_name, KeySet};
use crate::resources::zone::{kind_name, refers_to, zone_selects_labels, RecordEntry, RecordKey};

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
    /// Records by claiming zone, kept by the same reflectors.
    pub claims: Arc<ClaimIndex>,
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

/// Which zone claims each record (`status.zoneRef`), kept by the record reflectors: a zone
/// reconcile and a record's conflict check look only at the records claimed by that zone and
/// the unclaimed ones, not at every record in the cluster (with 10 000 records, scanning and
/// matching all of them cost several milliseconds per reconcile in a debug build).
/// Hand-written: kube-runtime's stores have no secondary index.
#[derive(Default)]
pub struct ClaimIndex(Mutex<ClaimMaps>);

/// (namespace, name) of a zone.
type ZoneKey = (String, String);

#[derive(Default)]
struct ClaimMaps {
    by_zone: HashMap<Option<ZoneKey>, std::collections::HashSet<RecordKey>>,
    of: HashMap<RecordKey, Option<ZoneKey>>,
}

impl ClaimIndex {
    /// Files `record` under its current zone (or removes it when `deleted`).
    pub fn update<K: bindy_crds::DnsRecord>(&self, record: &K, deleted: bool) {
        let key: RecordKey = (
            kind_name::<K>(),
            record.namespace().unwrap_or_default(),
            record.name_any(),
        );
        let zone = record
            .zone_ref()
            .map(|z| (z.namespace.clone(), z.name.clone()));
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = m.of.remove(&key) {
            if let Some(set) = m.by_zone.get_mut(&old) {
                set.remove(&key);
                if set.is_empty() {
                    m.by_zone.remove(&old);
                }
            }
        }
        if !deleted {
            m.by_zone
                .entry(zone.clone())
                .or_default()
                .insert(key.clone());
            m.of.insert(key, zone);
        }
    }

    /// Records claimed by `zone`.
    pub fn claimed_by(&self, zone: &DNSZone) -> Vec<RecordKey> {
        let me = Some((zone.namespace().unwrap_or_default(), zone.name_any()));
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.by_zone
            .get(&me)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Records claimed by `zone`, and unclaimed records.
    fn candidates(&self, zone: &DNSZone) -> Vec<RecordKey> {
        let me = Some((zone.namespace().unwrap_or_default(), zone.name_any()));
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        [me, None]
            .iter()
            .filter_map(|k| m.by_zone.get(k))
            .flat_map(|set| set.iter().cloned())
            .collect()
    }
}

/// The entry of record `key` if it is in `store` and concerns `zone`: in its namespace, and
/// claimed by it or matching its selectors.
fn zone_entry<K: bindy_crds::DnsRecord>(
    store: &Store<K>,
    key: &RecordKey,
    zone: &DNSZone,
) -> Option<RecordEntry> {
    let r = store.get(&ObjectRef::new(&key.2).within(&key.1))?;
    let concerns = r.meta().namespace == zone.metadata.namespace
        && (refers_to(r.zone_ref(), zone) || zone_selects_labels(zone, r.labels()));
    concerns.then(|| RecordEntry::of(r.as_ref()))
}

impl RecordStores {
    /// Records of every kind a zone may care about (see [`ClaimIndex`]): its own and the
    /// unclaimed ones that match its selectors.
    pub fn for_zone(&self, zone: &DNSZone) -> Vec<RecordEntry> {
        self.claims
            .candidates(zone)
            .iter()
            .filter_map(|key| match key.0 {
                "ARecord" => zone_entry(&self.a, key, zone),
                "AAAARecord" => zone_entry(&self.aaaa, key, zone),
                "CNAMERecord" => zone_entry(&self.cname, key, zone),
                "MXRecord" => zone_entry(&self.mx, key, zone),
                "TXTRecord" => zone_entry(&self.txt, key, zone),
                "NSRecord" => zone_entry(&self.ns, key, zone),
                "SRVRecord" => zone_entry(&self.srv, key, zone),
                _ => zone_entry(&self.caa, key, zone),
            })
            .collect()
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

    /// Publishes a Kubernetes Event about `obj` in the background (failures are logged, never
    /// fatal): an Event is a report, and its API round trip should not lengthen the reconcile
    /// that caused it.
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
        let reference = obj.object_ref(&());
        let recorder = self.recorder.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            match recorder.publish(&ev, &reference).await {
                Ok(()) => {
                    metrics.events_published.inc();
                }
                Err(e) => {
                    tracing::warn!(error = %e, reason = %ev.reason, "publishing event failed")
                }
            }
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, zone: Option<&str>) -> ARecord {
        let mut v = serde_json::json!({
            "apiVersion": "bindy.firestoned.io/v1beta1", "kind": "ARecord",
            "metadata": {"name": name, "namespace": "dns", "labels": {"app": "web"}},
            "spec": {"name": name, "ipv4Addresses": ["192.0.2.1"]}
        });
        if let Some(z) = zone {
            v["status"] = serde_json::json!({"zoneRef": {"apiVersion": "bindy.firestoned.io/v1beta1",
                "kind": "DNSZone", "name": z, "namespace": "dns", "zoneName": "example.com."}});
        }
        serde_json::from_value(v).unwrap()
    }

    fn zone(name: &str) -> DNSZone {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "bindy.firestoned.io/v1beta1", "kind": "DNSZone",
            "metadata": {"name": name, "namespace": "dns"},
            "spec": {"zoneName": "example.com", "ttl": 60,
                     "soaRecord": {"primaryNs": "ns1.example.com.", "adminEmail": "h@example.com",
                                   "refresh": 3600, "retry": 600, "expire": 604800, "negativeTtl": 60}}
        }))
        .unwrap()
    }

    fn names(mut keys: Vec<RecordKey>) -> Vec<String> {
        keys.sort();
        keys.into_iter().map(|k| k.2).collect()
    }

    #[test]
    fn claim_index_follows_zone_ref_changes_and_deletions() {
        let idx = ClaimIndex::default();
        let (a, b) = (zone("a"), zone("b"));
        idx.update(&record("r1", None), false);
        idx.update(&record("r2", Some("a")), false);
        idx.update(&record("r3", Some("b")), false);
        // Zone a sees its own and the unclaimed, never b's.
        assert_eq!(names(idx.candidates(&a)), ["r1", "r2"]);
        assert_eq!(names(idx.claimed_by(&a)), ["r2"]);
        // r1 claimed by b, r2 released: the index moves them.
        idx.update(&record("r1", Some("b")), false);
        idx.update(&record("r2", None), false);
        assert_eq!(names(idx.candidates(&a)), ["r2"]);
        assert_eq!(names(idx.claimed_by(&b)), ["r1", "r3"]);
        // Deleted records leave every bucket.
        idx.update(&record("r3", Some("b")), true);
        idx.update(&record("r2", None), true);
        assert_eq!(names(idx.claimed_by(&b)), ["r1"]);
        assert!(idx.candidates(&a).is_empty());
    }
}
