//! Writes: create, replace, the three patch kinds plus server-side apply, delete.
//!
//! Semantics follow the real API server where controllers depend on them: optimistic
//! concurrency (409 on a stale resourceVersion), the status subresource split, generation bumped
//! on spec (non-metadata, non-status) change only, no-op writes not bumping the version,
//! finalizers holding deletion, CRD schema defaulting/pruning/validation (422 naming the field).
//! Server-side apply, simplified: each manager's previous applied configuration is remembered,
//! fields it dropped are removed, the rest is deep-merged (maps recursively, lists replaced
//! atomically); leaf-field ownership and apply conflicts are in `ownership`; `managedFields` is
//! not written into objects.

use rand::Rng;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::patch::{deep_merge, remove_stale, strategic_merge};
use crate::store::{meta_mut, meta_str, now_rfc3339, State, Store, Target};

/// Patch content types.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/strategic-merge-patch+json`, simplified (see `strategic_merge`).
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply) by a field manager.
    Apply(String),
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn uid() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn without_meta_status(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
    }
    c
}

fn comparable(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    if let Some(m) = c.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    c
}

/// What the real server does to every write of some built-in kinds: a Secret's `stringData`
/// is merged into `data` (base64) and dropped, its `type` defaults to `Opaque`.
fn normalise(t: &Target, obj: &mut Value) {
    use base64::Engine as _;
    if !(t.rt.group.is_empty() && t.rt.plural == "secrets") {
        return;
    }
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(sd)) = m.remove("stringData") {
        let data = m.entry("data").or_insert_with(|| json!({}));
        if let Some(d) = data.as_object_mut() {
            for (k, v) in sd {
                let raw = v.as_str().unwrap_or_default().as_bytes().to_vec();
                d.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(raw)),
                );
            }
        }
    }
    m.entry("type").or_insert_with(|| json!("Opaque"));
}

fn validate(t: &Target, name: &str, obj: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    let errs = crate::names::check(&t.rt.group, &t.rt.plural, obj);
    if !errs.is_empty() {
        return Err(ApiError::invalid(
            &t.rt.kind_group(),
            name,
            &t.rt.group,
            &t.rt.kind,
            &errs,
        ));
    }
    if let Some(v) = t.rt.validator(&t.version) {
        v.prepare(obj);
        let errs = v.validate(obj, old);
        if !errs.is_empty() {
            return Err(ApiError::invalid(
                &t.rt.kind_group(),
                name,
                &t.rt.group,
                &t.rt.kind,
                &errs,
            ));
        }
    }
    Ok(())
}

impl Store {
    /// Create an object (POST).
    pub fn create(&self, t: &Target, mut body: Value) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        let mut st = self.lock();
        let rt = &t.rt;
        let meta = meta_mut(&mut body);
        let name = match (
            meta.get("name").and_then(Value::as_str),
            meta.get("generateName").and_then(Value::as_str),
        ) {
            (Some(n), _) if !n.is_empty() => n.to_string(),
            (_, Some(g)) => format!("{g}{}", random_suffix()),
            _ => {
                return Err(ApiError::invalid(
                    &rt.kind_group(),
                    "",
                    &rt.group,
                    &rt.kind,
                    &[crate::error::FieldError {
                        field: "metadata.name".into(),
                        reason: "FieldValueRequired",
                        detail: "Required value: name or generateName is required".into(),
                    }],
                ))
            }
        };
        meta.insert("name".into(), json!(name));
        let mut t = t.clone();
        if rt.namespaced {
            let body_ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .map(String::from);
            let ns = match (&t.namespace, body_ns) {
                (Some(u), Some(b)) if *u != b => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                (Some(u), _) => u.clone(),
                (None, Some(b)) => b,
                (None, None) => "default".into(),
            };
            meta.insert("namespace".into(), json!(ns));
            let ns_key = crate::store::Key {
                group: String::new(),
                plural: "namespaces".into(),
                namespace: String::new(),
                name: ns.clone(),
            };
            match st.objects.get(&ns_key) {
                None => return Err(ApiError::not_found("namespaces", "", "namespaces", &ns)),
                Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
                    return Err(ApiError::forbidden(format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        rt.qualified()
                    )))
                }
                _ => {}
            }
            t.namespace = Some(ns);
        } else {
            meta.remove("namespace");
        }
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(k);
        }
        meta.insert("uid".into(), json!(uid()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        meta.insert("generation".into(), json!(1));
        let key = t.key(&name);
        if st.objects.contains_key(&key) {
            return Err(ApiError::already_exists(
                &rt.qualified(),
                &rt.group,
                &rt.plural,
                &name,
            ));
        }
        if rt.has_status {
            if let Some(m) = body.as_object_mut() {
                m.remove("status");
            }
        }
        self.defaults_on_create(&mut st, &t, &mut body)?;
        normalise(&t, &mut body);
        validate(&t, &name, &mut body, None)?;
        let body = t.stamp(body);
        let stored = self.commit(&mut st, key.clone(), body, "ADDED");
        let manager = t.field_manager.clone().unwrap_or_else(|| "unknown".into());
        let owners = st.owners.entry(key).or_default();
        crate::ownership::record(owners, None, &stored, &manager, None);
        Ok(t.present(stored))
    }

    fn defaults_on_create(
        &self,
        st: &mut State,
        t: &Target,
        body: &mut Value,
    ) -> Result<(), ApiError> {
        match (t.rt.group.as_str(), t.rt.plural.as_str()) {
            ("", "namespaces") => body["status"] = json!({"phase": "Active"}),
            ("", "pods") => body["status"] = json!({"phase": "Pending"}),
            ("", "services") => {
                let ip = body
                    .pointer("/spec/clusterIP")
                    .and_then(Value::as_str)
                    .map(String::from);
                if ip.is_none() && body.get("spec").is_some_and(Value::is_object) {
                    let n = st.rv + 10;
                    body["spec"]["clusterIP"] =
                        json!(format!("10.96.{}.{}", (n / 250) % 250, n % 250 + 1));
                }
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let rt = crate::resources::from_crd(body).map_err(|e| {
                    let name = meta_str(body, "name").unwrap_or_default().to_string();
                    ApiError::invalid(
                        &t.rt.kind_group(),
                        &name,
                        &t.rt.group,
                        &t.rt.kind,
                        &[crate::error::FieldError {
                            field: e.split(':').next().unwrap_or_default().to_string(),
                            reason: "FieldValueInvalid",
                            detail: e.split_once(": ").map(|x| x.1).unwrap_or(&e).to_string(),
                        }],
                    )
                })?;
                let now = now_rfc3339();
                body["status"] = json!({
                    "acceptedNames": body.pointer("/spec/names").cloned().unwrap_or(json!({})),
                    "storedVersions": [rt.versions[0]],
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now}]
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// The common update path of PUT and PATCH: `new` is the full desired object.
    fn write_update(
        &self,
        st: &mut State,
        t: &Target,
        name: &str,
        old: Value,
        mut new: Value,
        status: bool,
    ) -> Result<Value, ApiError> {
        let rt = &t.rt;
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        if let Some(rv) = meta_str(&new, "resourceVersion") {
            if Some(rv) != meta_str(&old, "resourceVersion") {
                return Err(ApiError::conflict(
                    &rt.qualified(),
                    &rt.group,
                    &rt.plural,
                    name,
                ));
            }
        }
        if let Some(n) = meta_str(&new, "name") {
            if n != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
        }
        if rt.has_status {
            let (mut base, from) = if status {
                (old.clone(), &new)
            } else {
                (new.clone(), &old)
            };
            match from.get("status") {
                Some(s) => base["status"] = s.clone(),
                None => {
                    if let Some(m) = base.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            new = base;
        }
        let old_meta = old.get("metadata").cloned().unwrap_or(json!({}));
        let m = meta_mut(&mut new);
        for k in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match old_meta.get(k) {
                Some(v) => m.insert(k.into(), v.clone()),
                None => m.remove(k),
            };
        }
        if old_meta.get("deletionTimestamp").is_some() {
            let had: Vec<&Value> = old_meta
                .get("finalizers")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            let added = m
                .get("finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|f| !had.contains(&f)));
            if added {
                return Err(ApiError::invalid(&rt.kind_group(), name, &rt.group, &rt.kind, &[crate::error::FieldError {
                    field: "metadata.finalizers".into(),
                    reason: "FieldValueForbidden",
                    detail: "Forbidden: no new finalizers can be added if the object is being deleted".into(),
                }]));
            }
        }
        if rt.group == "apiextensions.k8s.io" {
            if let Err(e) = crate::resources::from_crd(&new) {
                return Err(ApiError::invalid(
                    &rt.kind_group(),
                    name,
                    &rt.group,
                    &rt.kind,
                    &[crate::error::FieldError {
                        field: e.split(':').next().unwrap_or_default().to_string(),
                        reason: "FieldValueInvalid",
                        detail: e,
                    }],
                ));
            }
        }
        normalise(t, &mut new);
        validate(t, name, &mut new, Some(&old))?;
        if without_meta_status(&new) != without_meta_status(&old) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            meta_mut(&mut new).insert("generation".into(), json!(g));
        }
        let new = t.stamp(new);
        if comparable(&new) == comparable(&old) {
            return Ok(t.present(old));
        }
        let key = t.key(name);
        let finalizers_empty = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
        let is_ns = rt.group.is_empty() && rt.plural == "namespaces";
        if new.pointer("/metadata/deletionTimestamp").is_some() && finalizers_empty && !is_ns {
            return Ok(t.present(self.commit(st, key, new, "DELETED")));
        }
        Ok(t.present(self.commit(st, key, new, "MODIFIED")))
    }

    /// Replace an object (PUT), or its status when `status`.
    pub fn replace(
        &self,
        t: &Target,
        name: &str,
        body: Value,
        status: bool,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let old = st
            .objects
            .get(&t.key(name))
            .cloned()
            .ok_or_else(|| t.not_found(name))?;
        let out = self.write_update(&mut st, t, name, old.clone(), body, status)?;
        self.record_owners(&mut st, t, name, &old, None);
        Ok(out)
    }

    /// Ownership bookkeeping after a successful write of `name` (see `ownership`).
    fn record_owners(
        &self,
        st: &mut State,
        t: &Target,
        name: &str,
        old: &Value,
        applied: Option<&Value>,
    ) {
        let key = t.key(name);
        let Some(new) = st.objects.get(&key).cloned() else {
            return;
        };
        let manager = t.field_manager.clone().unwrap_or_else(|| "unknown".into());
        let owners = st.owners.entry(key).or_default();
        crate::ownership::record(owners, Some(old), &new, &manager, applied);
    }

    /// Patch an object (or its status). Server-side apply creates a missing object.
    pub fn patch(
        &self,
        t: &Target,
        name: &str,
        kind: &PatchKind,
        body: Value,
        status: bool,
    ) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let key = t.key(name);
        // A manager's applied configurations of the object and of its status are separate.
        let kind = &match kind {
            PatchKind::Apply(m) if status => PatchKind::Apply(format!("{m}/status")),
            other => other.clone(),
        };
        let Some(old) = st.objects.get(&key).cloned() else {
            if let (PatchKind::Apply(mgr), false) = (kind, status) {
                let mut body = body;
                meta_mut(&mut body).insert("name".into(), json!(name));
                drop(st);
                let created = self.create(t, body.clone())?;
                self.lock().applied.insert((key, mgr.clone()), body);
                return Ok(created);
            }
            return Err(t.not_found(name));
        };
        let mut new = old.clone();
        match kind {
            PatchKind::Merge => json_patch::merge(&mut new, &body),
            PatchKind::Strategic => strategic_merge(&mut new, &body),
            PatchKind::Json => {
                let ops: json_patch::Patch = serde_json::from_value(body.clone())
                    .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
                json_patch::patch(&mut new, &ops).map_err(|e| {
                    ApiError::bad_request(format!(
                        "the server rejected our request due to an error in our request: {e}"
                    ))
                })?;
            }
            PatchKind::Apply(mgr) => {
                let manager = t.field_manager.clone().unwrap_or_else(|| "default".into());
                if !t.force {
                    let owners = st.owners.get(&key).cloned().unwrap_or_default();
                    let c = crate::ownership::conflicts(&owners, &old, &body, &manager);
                    if !c.is_empty() {
                        return Err(ApiError::apply_conflict(crate::ownership::message(&c)));
                    }
                }
                if let Some(prev) = st.applied.get(&(key.clone(), mgr.clone())) {
                    remove_stale(&mut new, prev, &body, true);
                }
                deep_merge(&mut new, &body);
            }
        }
        let out = self.write_update(&mut st, t, name, old.clone(), new, status)?;
        let applied = matches!(kind, PatchKind::Apply(_)).then_some(&body);
        self.record_owners(&mut st, t, name, &old, applied);
        if let PatchKind::Apply(mgr) = kind {
            st.applied.insert((key, mgr.clone()), body);
        }
        Ok(out)
    }

    /// Delete an object (DELETE), honouring `preconditions` in the DeleteOptions body.
    pub fn delete(&self, t: &Target, name: &str, opts: &Value) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let key = t.key(name);
        let obj = st.objects.get(&key).ok_or_else(|| t.not_found(name))?;
        if let Some(p) = opts.get("preconditions") {
            for (field, meta) in [("uid", "uid"), ("resourceVersion", "resourceVersion")] {
                if let Some(want) = p.get(field).and_then(Value::as_str) {
                    if meta_str(obj, meta) != Some(want) {
                        return Err(ApiError::conflict(
                            &t.rt.qualified(),
                            &t.rt.group,
                            &t.rt.plural,
                            name,
                        ));
                    }
                }
            }
        }
        let policy = opts.get("propagationPolicy").and_then(Value::as_str);
        self.delete_with_policy(&mut st, &key, policy)
            .map(|v| t.present(v))
    }

    /// Delete every object a collection request matches (DELETE on a collection).
    pub fn delete_collection(&self, t: &Target, f: &crate::store::Filter) -> Vec<Value> {
        let mut st = self.lock();
        let keys: Vec<crate::store::Key> = st
            .objects
            .iter()
            .filter(|(k, v)| f.matches(t, &k.group, &k.plural, &k.namespace, v))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter()
            .filter_map(|k| self.delete_key(&mut st, k).ok())
            .map(|v| t.present(v))
            .collect()
    }
}
