//! Storage of the API-server test double: one map of JSON objects keyed by
//! (group, resource, namespace, name), a single global resourceVersion counter, a bounded event
//! history for watch resumption (older versions answer 410 Gone) and a broadcast channel that
//! fans events out to open watches. Everything happens under one mutex: the double is for
//! tests, so correctness and simple reasoning beat throughput. The broadcast send happens under
//! the same lock as the write, so a watch that subscribes under the lock sees every later event
//! exactly once and in resourceVersion order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::{broadcast, Notify};

use crate::error::ApiError;
use crate::resources::{from_crd, Registry, ResourceType};
use crate::selectors::{FieldSelector, LabelSelector};

/// Storage key; version-agnostic (the double does no version conversion).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// API group.
    pub group: String,
    /// Plural resource.
    pub plural: String,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// Object name.
    pub name: String,
}

/// One change, as delivered to watches.
#[derive(Debug)]
pub struct WatchEvent {
    /// resourceVersion assigned by this change.
    pub rv: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// Group of the object.
    pub group: String,
    /// Plural resource of the object.
    pub plural: String,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// The object after the change (for DELETED: the last state, with the deletion's version).
    pub object: Value,
    /// The object before the change (None for ADDED and synthetic events).
    pub prev: Option<Value>,
}

/// What a request addresses: a type, the version it was asked in, and a namespace (None for
/// cluster-scoped types or an all-namespaces list/watch).
#[derive(Debug, Clone)]
pub struct Target {
    /// Resource type.
    pub rt: Arc<ResourceType>,
    /// Requested version (objects are presented with this apiVersion).
    pub version: String,
    /// Namespace from the URL.
    pub namespace: Option<String>,
    /// The client asked for `PartialObjectMetadata` (kube's metadata-only API).
    pub metadata_only: bool,
    /// `fieldManager` of the request (server-side apply and ownership bookkeeping).
    pub field_manager: Option<String>,
    /// `force` of a server-side apply.
    pub force: bool,
}

impl Target {
    pub(crate) fn key(&self, name: &str) -> Key {
        Key {
            group: self.rt.group.clone(),
            plural: self.rt.plural.clone(),
            namespace: if self.rt.namespaced {
                self.namespace.clone().unwrap_or_default()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }

    /// Set apiVersion/kind as the client asked for them.
    pub fn present(&self, v: Value) -> Value {
        if self.metadata_only {
            return json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": v.get("metadata").cloned().unwrap_or(json!({}))});
        }
        self.stamp(v)
    }

    /// The stored form: apiVersion/kind of the request (Events keep their group's shape).
    pub fn stamp(&self, mut v: Value) -> Value {
        if self.rt.plural == "events" {
            v = crate::events::convert(&v, &self.rt.group);
        }
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "apiVersion".into(),
                json!(self.rt.api_version(&self.version)),
            );
            m.insert("kind".into(), json!(self.rt.kind));
        }
        v
    }

    pub(crate) fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(&self.rt.qualified(), &self.rt.group, &self.rt.plural, name)
    }
}

/// Which objects a list or watch wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
}

impl Filter {
    pub(crate) fn matches(
        &self,
        t: &Target,
        group: &str,
        plural: &str,
        ns: &str,
        obj: &Value,
    ) -> bool {
        let same = group == t.rt.group && plural == t.rt.plural;
        let cross = !same
            && crate::events::is_event_group(group, plural)
            && crate::events::is_event_group(&t.rt.group, &t.rt.plural);
        if !(same || cross) {
            return false;
        }
        if !t
            .namespace
            .as_deref()
            .is_none_or(|n| !t.rt.namespaced || n == ns)
        {
            return false;
        }
        if cross {
            let view = crate::events::convert(obj, &t.rt.group);
            return self.labels.matches(&view) && self.fields.matches(&view);
        }
        self.labels.matches(obj) && self.fields.matches(obj)
    }
}

impl Filter {
    /// The event type a watcher with this filter receives for `ev`, if any: a modification that
    /// moves an object into the selection is ADDED, one that moves it out is DELETED, as the
    /// real server does.
    pub fn event_kind(&self, t: &Target, ev: &WatchEvent) -> Option<&'static str> {
        let now = self.matches(t, &ev.group, &ev.plural, &ev.namespace, &ev.object);
        let before = ev
            .prev
            .as_ref()
            .is_some_and(|p| self.matches(t, &ev.group, &ev.plural, &ev.namespace, p));
        match (ev.kind, before, now) {
            ("MODIFIED", false, true) => Some("ADDED"),
            ("MODIFIED", true, false) => Some("DELETED"),
            (_, _, true) => Some(ev.kind),
            _ => None,
        }
    }
}

/// Mutable state behind the store's lock.
#[derive(Clone)]
pub(crate) struct State {
    pub(crate) objects: BTreeMap<Key, Value>,
    pub(crate) rv: u64,
    history: VecDeque<Arc<WatchEvent>>,
    history_floor: u64,
    history_cap: usize,
    pub(crate) registry: Registry,
    /// Last applied configuration per (object, field manager), for server-side apply.
    pub(crate) applied: HashMap<(Key, String), Value>,
    /// Field owners per object (see `ownership`).
    pub(crate) owners: HashMap<Key, BTreeMap<String, String>>,
}

/// The double's storage. Cheap to share behind an `Arc`.
pub struct Store {
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<WatchEvent>>,
    pub(crate) gc_wake: Notify,
}

/// Start of a watch: replayed events, the version they bring the watcher to, and the live feed.
pub struct WatchStart {
    /// Events to send first (synthetic ADDED for a fresh watch, or history after the given rv).
    pub initial: Vec<Arc<WatchEvent>>,
    /// The global resourceVersion at subscription time.
    pub start_rv: u64,
    /// Live events after `start_rv`.
    pub rx: broadcast::Receiver<Arc<WatchEvent>>,
}

pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub(crate) fn meta_str<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get("metadata")?.get(field)?.as_str()
}

pub(crate) fn meta_mut(v: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = json!({});
    }
    match v.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(m) => m,
        None => unreachable!("metadata was just made an object"),
    }
}

impl Store {
    /// A store with the standard namespaces (`default`, `kube-system`, `kube-public`) and an
    /// event history of `history_cap` events.
    pub fn new(history_cap: usize) -> Arc<Self> {
        let (tx, _) = broadcast::channel(8192);
        let store = Arc::new(Self {
            state: Mutex::new(State {
                objects: BTreeMap::new(),
                rv: 0,
                history: VecDeque::new(),
                history_floor: 0,
                history_cap: history_cap.max(1),
                registry: Registry::default(),
                applied: HashMap::new(),
                owners: HashMap::new(),
            }),
            tx,
            gc_wake: Notify::new(),
        });
        for ns in ["default", "kube-system", "kube-public"] {
            let t = store.target("", "v1", "namespaces", None);
            if let Some(t) = t {
                let _ = store.create(&t, json!({"metadata": {"name": ns}}));
            }
        }
        store
    }

    /// A throw-away copy of the current state, for `dryRun` requests: the write runs the same
    /// code (validation, defaulting, conflicts) against the copy and nothing is persisted or
    /// sent to watches.
    pub fn scratch_copy(&self) -> Arc<Self> {
        let state = self.lock().clone();
        let (tx, _) = broadcast::channel(16);
        Arc::new(Self {
            state: Mutex::new(state),
            tx,
            gc_wake: Notify::new(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolve a URL's group/version/resource to a target.
    pub fn target(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        ns: Option<String>,
    ) -> Option<Target> {
        let rt = self.lock().registry.find(group, version, plural)?;
        Some(Target {
            rt,
            version: version.to_string(),
            namespace: ns,
            metadata_only: false,
            field_manager: None,
            force: false,
        })
    }

    /// A snapshot of the served types (for discovery).
    pub fn registry(&self) -> Registry {
        self.lock().registry.clone()
    }

    /// Current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// Record a change: assign the next resourceVersion, store or remove the object, append to
    /// the history window and notify watches. CRD changes update the served types.
    pub(crate) fn commit(
        &self,
        st: &mut State,
        key: Key,
        mut obj: Value,
        kind: &'static str,
    ) -> Value {
        let prev = st.objects.get(&key).cloned();
        st.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(st.rv.to_string()));
        if kind == "DELETED" {
            st.objects.remove(&key);
            st.applied.retain(|(k, _), _| *k != key);
            st.owners.remove(&key);
            self.gc_wake.notify_one();
        } else {
            st.objects.insert(key.clone(), obj.clone());
        }
        let ev = Arc::new(WatchEvent {
            rv: st.rv,
            kind,
            group: key.group.clone(),
            plural: key.plural.clone(),
            namespace: key.namespace.clone(),
            object: obj.clone(),
            prev,
        });
        st.history.push_back(ev.clone());
        while st.history.len() > st.history_cap {
            if let Some(old) = st.history.pop_front() {
                st.history_floor = old.rv;
            }
        }
        let _ = self.tx.send(ev);
        if key.group == "apiextensions.k8s.io" && key.plural == "customresourcedefinitions" {
            self.crd_changed(st, &obj, kind);
        }
        obj
    }

    fn crd_changed(&self, st: &mut State, crd: &Value, kind: &'static str) {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if kind == "DELETED" {
            st.registry.remove(&group, &plural);
            let doomed: Vec<(Key, Value)> = st
                .objects
                .iter()
                .filter(|(k, _)| k.group == group && k.plural == plural)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (k, v) in doomed {
                self.commit(st, k, v, "DELETED");
            }
        } else if let Ok(rt) = from_crd(crd) {
            st.registry.upsert(rt);
        }
    }

    /// Get one object.
    pub fn get(&self, t: &Target, name: &str) -> Result<Value, ApiError> {
        let st = self.lock();
        let mut key = t.key(name);
        if !st.objects.contains_key(&key) && t.rt.plural == "events" {
            // the same Event pool through the other Event API
            key.group = if t.rt.group.is_empty() {
                "events.k8s.io".into()
            } else {
                String::new()
            };
        }
        st.objects
            .get(&key)
            .map(|v| t.present(v.clone()))
            .ok_or_else(|| t.not_found(name))
    }

    /// List matching objects and the collection's resourceVersion.
    pub fn list(&self, t: &Target, f: &Filter) -> (Vec<Value>, u64) {
        let st = self.lock();
        let items = st
            .objects
            .iter()
            .filter(|(k, v)| f.matches(t, &k.group, &k.plural, &k.namespace, v))
            .map(|(_, v)| t.present(v.clone()))
            .collect();
        (items, st.rv)
    }

    /// Subscribe a watch. `rv` None/""/"0" (or `send_initial`) starts with synthetic ADDED events
    /// for the current objects; a numeric rv replays history after it, or fails with 410 Gone
    /// when that version has left the history window.
    pub fn watch(
        &self,
        t: &Target,
        rv: Option<&str>,
        send_initial: bool,
        f: &Filter,
    ) -> Result<WatchStart, ApiError> {
        let st = self.lock();
        let rx = self.tx.subscribe();
        let from = match rv {
            None | Some("") | Some("0") => None,
            Some(s) => Some(
                s.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
            ),
        };
        let initial = match from {
            Some(n) if !send_initial => {
                if n < st.history_floor {
                    return Err(ApiError::gone(n, st.history_floor + 1));
                }
                st.history
                    .iter()
                    .filter(|e| e.rv > n && f.event_kind(t, e).is_some())
                    .cloned()
                    .collect()
            }
            _ => st
                .objects
                .iter()
                .filter(|(k, v)| f.matches(t, &k.group, &k.plural, &k.namespace, v))
                .map(|(k, v)| {
                    Arc::new(WatchEvent {
                        rv: meta_str(v, "resourceVersion")
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(st.rv),
                        kind: "ADDED",
                        group: k.group.clone(),
                        plural: k.plural.clone(),
                        namespace: k.namespace.clone(),
                        object: v.clone(),
                        prev: None,
                    })
                })
                .collect(),
        };
        Ok(WatchStart {
            initial,
            start_rv: st.rv,
            rx,
        })
    }

    /// Delete by key: removes at once without finalizers, else sets deletionTimestamp.
    pub(crate) fn delete_key(&self, st: &mut State, key: &Key) -> Result<Value, ApiError> {
        let Some(mut obj) = st.objects.get(key).cloned() else {
            return Err(ApiError::not_found(
                &key.plural,
                &key.group,
                &key.plural,
                &key.name,
            ));
        };
        let is_ns = key.group.is_empty() && key.plural == "namespaces";
        let has_finalizers = obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if is_ns || has_finalizers {
            if obj.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(obj);
            }
            let m = meta_mut(&mut obj);
            m.insert("deletionTimestamp".into(), json!(now_rfc3339()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            if is_ns {
                obj["status"] = json!({"phase": "Terminating"});
            }
            let out = self.commit(st, key.clone(), obj, "MODIFIED");
            self.gc_wake.notify_one();
            return Ok(out);
        }
        Ok(self.commit(st, key.clone(), obj, "DELETED"))
    }
}
