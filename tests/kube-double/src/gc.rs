//! The garbage collector (the kube-controller-manager's job in a real cluster) and deletion
//! propagation: background (dependents removed after the owner), foreground (the owner waits,
//! with the `foregroundDeletion` finalizer, until its dependents are gone) and orphan
//! (dependents lose their ownerReference to the owner and stay).

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::store::{meta_mut, meta_str, now_rfc3339, Key, State, Store};

const FOREGROUND: &str = "foregroundDeletion";

fn owner_uids(v: &Value) -> Vec<&str> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

fn dependents(st: &State, uid: &str) -> Vec<Key> {
    st.objects
        .iter()
        .filter(|(_, v)| owner_uids(v).contains(&uid))
        .map(|(k, _)| k.clone())
        .collect()
}

impl Store {
    /// One garbage-collection pass (the kube-controller-manager's job): delete objects all of
    /// whose ownerReferences point at uids that no longer exist, empty terminating namespaces
    /// and remove them once empty. Returns how many objects it acted on.
    pub fn gc_pass(&self) -> usize {
        let mut st = self.lock();
        let mut n = self.foreground_pass(&mut st);
        let uids: HashSet<String> = st
            .objects
            .values()
            .filter_map(|v| meta_str(v, "uid").map(String::from))
            .collect();
        let terminating: HashSet<String> = st
            .objects
            .iter()
            .filter(|(k, v)| {
                k.plural == "namespaces"
                    && k.group.is_empty()
                    && v.pointer("/metadata/deletionTimestamp").is_some()
            })
            .map(|(k, _)| k.name.clone())
            .collect();
        let victims: Vec<Key> = st
            .objects
            .iter()
            .filter(|(k, v)| {
                if v.pointer("/metadata/deletionTimestamp").is_some() {
                    return false;
                }
                let orphan = v
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        !refs.is_empty()
                            && refs.iter().all(|r| {
                                r.get("uid")
                                    .and_then(Value::as_str)
                                    .is_none_or(|u| !uids.contains(u))
                            })
                    });
                orphan || (!k.namespace.is_empty() && terminating.contains(&k.namespace))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in victims {
            if self.delete_key(&mut st, &key).is_ok() {
                n += 1;
            }
        }
        for ns in terminating {
            if !st.objects.keys().any(|k| k.namespace == ns) {
                let key = Key {
                    group: String::new(),
                    plural: "namespaces".into(),
                    namespace: String::new(),
                    name: ns,
                };
                if let Some(obj) = st.objects.get(&key).cloned() {
                    self.commit(&mut st, key, obj, "DELETED");
                    n += 1;
                }
            }
        }
        n
    }

    /// Owners being deleted in the foreground: delete their dependents; once none is left,
    /// drop the `foregroundDeletion` finalizer (which removes the owner if it was the last).
    fn foreground_pass(&self, st: &mut State) -> usize {
        let owners: Vec<(Key, String)> = st
            .objects
            .iter()
            .filter(|(_, v)| {
                v.pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|f| f.iter().any(|x| x == FOREGROUND))
            })
            .filter_map(|(k, v)| meta_str(v, "uid").map(|u| (k.clone(), u.to_string())))
            .collect();
        let mut n = 0;
        for (key, uid) in owners {
            let deps = dependents(st, &uid);
            if deps.is_empty() {
                if let Some(mut obj) = st.objects.get(&key).cloned() {
                    if let Some(f) = obj
                        .pointer_mut("/metadata/finalizers")
                        .and_then(Value::as_array_mut)
                    {
                        f.retain(|x| x != FOREGROUND);
                    }
                    let last = obj
                        .pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .is_none_or(|f| f.is_empty());
                    self.commit(st, key, obj, if last { "DELETED" } else { "MODIFIED" });
                    n += 1;
                }
                continue;
            }
            for d in deps {
                let deleting = st
                    .objects
                    .get(&d)
                    .is_some_and(|v| v.pointer("/metadata/deletionTimestamp").is_some());
                if !deleting && self.delete_key(st, &d).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }

    /// Delete with a propagation policy (`Background` is the default).
    pub(crate) fn delete_with_policy(
        &self,
        st: &mut State,
        key: &Key,
        policy: Option<&str>,
    ) -> Result<Value, ApiError> {
        let Some(obj) = st.objects.get(key).cloned() else {
            return Err(ApiError::not_found(
                &key.plural,
                &key.group,
                &key.plural,
                &key.name,
            ));
        };
        let uid = meta_str(&obj, "uid").unwrap_or_default().to_string();
        match policy {
            Some("Orphan") => {
                for d in dependents(st, &uid) {
                    if let Some(mut dep) = st.objects.get(&d).cloned() {
                        if let Some(refs) = dep
                            .pointer_mut("/metadata/ownerReferences")
                            .and_then(Value::as_array_mut)
                        {
                            refs.retain(|r| {
                                r.get("uid").and_then(Value::as_str) != Some(uid.as_str())
                            });
                        }
                        self.commit(st, d, dep, "MODIFIED");
                    }
                }
                self.delete_key(st, key)
            }
            Some("Foreground") if !dependents(st, &uid).is_empty() => {
                let mut obj = obj;
                if obj.pointer("/metadata/deletionTimestamp").is_none() {
                    let m = meta_mut(&mut obj);
                    m.insert("deletionTimestamp".into(), json!(now_rfc3339()));
                    m.insert("deletionGracePeriodSeconds".into(), json!(0));
                }
                let m = meta_mut(&mut obj);
                let f = m.entry("finalizers").or_insert_with(|| json!([]));
                if let Some(f) = f.as_array_mut() {
                    if !f.iter().any(|x| x == FOREGROUND) {
                        f.push(json!(FOREGROUND));
                    }
                }
                let out = self.commit(st, key.clone(), obj, "MODIFIED");
                self.gc_wake.notify_one();
                Ok(out)
            }
            _ => self.delete_key(st, key),
        }
    }
}
