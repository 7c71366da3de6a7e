//! The resource types the double serves: built-in kinds plus those defined by stored CRDs,
//! and the discovery documents (`/api`, `/apis`, `/apis/{g}/{v}`) derived from them.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::validation::Validator;

/// One served resource type (one group/plural, possibly several versions).
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group, "" for core.
    pub group: String,
    /// Served versions, storage version first.
    pub versions: Vec<String>,
    /// Plural resource name (`pods`).
    pub plural: String,
    /// Singular name (`pod`).
    pub singular: String,
    /// Kind (`Pod`).
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// kubectl short names.
    pub short_names: Vec<String>,
    /// Categories (`all`, ...).
    pub categories: Vec<String>,
    /// Whether a `/status` subresource exists (and so `.status` is split from the main resource).
    pub has_status: bool,
    /// Per-version schema validator (custom resources only).
    pub validators: Vec<(String, Arc<Validator>)>,
    /// Per-version additionalPrinterColumns (custom resources only).
    pub printer_columns: Vec<(String, Vec<Value>)>,
}

impl ResourceType {
    fn builtin(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
        short: &[&str],
        has_status: bool,
    ) -> Self {
        Self {
            group: group.into(),
            versions: vec![version.into()],
            plural: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced,
            short_names: short.iter().map(|s| s.to_string()).collect(),
            categories: Vec::new(),
            has_status,
            validators: Vec::new(),
            printer_columns: Vec::new(),
        }
    }

    /// `apiVersion` string for a version of this type.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// `pods` or `statefulsets.apps`: how the real server names the resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Pod` or `StatefulSet.apps`: used in 422 messages.
    pub fn kind_group(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Validator for a version, if the type has a schema.
    pub fn validator(&self, version: &str) -> Option<&Arc<Validator>> {
        self.validators
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, s)| s)
    }

    /// Printer columns for a version.
    pub fn columns(&self, version: &str) -> &[Value] {
        self.printer_columns
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, c)| c.as_slice())
            .unwrap_or(&[])
    }

    fn api_resource(&self) -> Vec<Value> {
        let verbs = json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ]);
        let mut main = json!({
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "verbs": verbs,
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            main["categories"] = json!(self.categories);
        }
        let mut out = vec![main];
        if self.has_status {
            out.push(json!({"name": format!("{}/status", self.plural), "singularName": "",
                "namespaced": self.namespaced, "kind": self.kind, "verbs": ["get", "patch", "update"]}));
        }
        out
    }
}

/// (group, version, plural, kind, namespaced, short names, has /status)
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    bool,
);

#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    ("", "v1", "namespaces", "Namespace", false, &["ns"], true),
    ("", "v1", "pods", "Pod", true, &["po"], true),
    ("", "v1", "services", "Service", true, &["svc"], true),
    ("", "v1", "configmaps", "ConfigMap", true, &["cm"], false),
    ("", "v1", "secrets", "Secret", true, &[], false),
    ("", "v1", "events", "Event", true, &["ev"], false),
    ("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"], false),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, &["pvc"], true),
    ("events.k8s.io", "v1", "events", "Event", true, &["ev"], false),
    ("apps", "v1", "statefulsets", "StatefulSet", true, &["sts"], true),
    ("apps", "v1", "deployments", "Deployment", true, &["deploy"], true),
    ("coordination.k8s.io", "v1", "leases", "Lease", true, &[], false),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, &["crd", "crds"], true),
    // stored, not enforced: so that `kubectl apply -f deploy/` works
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", true, &[], false),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true, &[], false),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, &[], false),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false, &[], false),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, &["pdb"], true),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, &["netpol"], false),
];

/// All built-in kinds the double serves.
pub fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|(g, v, plural, kind, namespaced, short, status)| {
            ResourceType::builtin(g, v, plural, kind, *namespaced, short, *status)
        })
        .collect()
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Build a resource type from a CRD object (apiextensions.k8s.io/v1).
pub fn from_crd(crd: &Value) -> Result<ResourceType, String> {
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let group = spec["group"].as_str().ok_or("spec.group: Required value")?;
    let names = &spec["names"];
    let plural = names["plural"]
        .as_str()
        .ok_or("spec.names.plural: Required value")?;
    let kind = names["kind"]
        .as_str()
        .ok_or("spec.names.kind: Required value")?;
    let expected = format!("{plural}.{group}");
    if crd.pointer("/metadata/name").and_then(Value::as_str) != Some(expected.as_str()) {
        return Err(format!(
            "metadata.name: Invalid value: must be spec.names.plural+\".\"+spec.group ({expected})"
        ));
    }
    let namespaced = spec["scope"].as_str().unwrap_or("Namespaced") == "Namespaced";
    let mut versions = Vec::new();
    let mut validators = Vec::new();
    let mut printer_columns = Vec::new();
    let mut has_status = false;
    let vs = spec["versions"]
        .as_array()
        .ok_or("spec.versions: Required value")?;
    for v in vs {
        let name = v["name"]
            .as_str()
            .ok_or("spec.versions[].name: Required value")?;
        if !v["served"].as_bool().unwrap_or(false) {
            continue;
        }
        if v["storage"].as_bool().unwrap_or(false) {
            versions.insert(0, name.to_string());
        } else {
            versions.push(name.to_string());
        }
        if v.pointer("/subresources/status").is_some() {
            has_status = true;
        }
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
            let val = Validator::new(schema).map_err(|e| {
                format!("spec.versions[{name}].schema.openAPIV3Schema: Invalid value: {e}")
            })?;
            validators.push((name.to_string(), Arc::new(val)));
        }
        if let Some(cols) = v["additionalPrinterColumns"].as_array() {
            printer_columns.push((name.to_string(), cols.clone()));
        }
    }
    if versions.is_empty() {
        return Err(
            "spec.versions: Invalid value: must have exactly one version marked as storage version"
                .into(),
        );
    }
    Ok(ResourceType {
        group: group.into(),
        versions,
        plural: plural.into(),
        singular: names["singular"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| kind.to_lowercase()),
        kind: kind.into(),
        namespaced,
        short_names: str_list(names.get("shortNames")),
        categories: str_list(names.get("categories")),
        has_status,
        validators,
        printer_columns,
    })
}

/// The set of served types: built-ins plus CRD-defined ones.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<Arc<ResourceType>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            types: builtins().into_iter().map(Arc::new).collect(),
        }
    }
}

impl Registry {
    /// Find the type serving `group/version` + `plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| {
                t.group == group && t.plural == plural && t.versions.iter().any(|v| v == version)
            })
            .cloned()
    }

    /// Find by group and plural regardless of version.
    pub fn find_any(&self, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.plural == plural)
            .cloned()
    }

    /// Find by apiVersion + kind (used for ownerReferences and events).
    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind && t.versions.iter().any(|v| v == version))
            .cloned()
    }

    /// Add or replace a CRD-defined type.
    pub fn upsert(&mut self, t: ResourceType) {
        self.types
            .retain(|x| !(x.group == t.group && x.plural == t.plural));
        self.types.push(Arc::new(t));
    }

    /// Remove a CRD-defined type.
    pub fn remove(&mut self, group: &str, plural: &str) {
        self.types
            .retain(|x| !(x.group == group && x.plural == plural));
    }

    /// `/api`
    pub fn api_versions(&self, server: &str) -> Value {
        json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]})
    }

    fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            let entry = match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some(e) => e,
                None => {
                    out.push((t.group.clone(), Vec::new()));
                    let last = out.len() - 1;
                    &mut out[last]
                }
            };
            for v in &t.versions {
                if !entry.1.contains(v) {
                    entry.1.push(v.clone());
                }
            }
        }
        out
    }

    fn group_doc(group: &str, versions: &[String]) -> Value {
        let vs: Vec<Value> = versions
            .iter()
            .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
            .collect();
        json!({"name": group, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
    }

    /// `/apis`
    pub fn api_group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .iter()
            .map(|(g, v)| Self::group_doc(g, v))
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `/apis/{group}`
    pub fn api_group(&self, group: &str) -> Option<Value> {
        self.groups()
            .iter()
            .find(|(g, _)| g == group)
            .map(|(g, v)| {
                let mut d = Self::group_doc(g, v);
                d["kind"] = json!("APIGroup");
                d["apiVersion"] = json!("v1");
                d
            })
    }

    /// `/api/v1` or `/apis/{group}/{version}`
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let types: Vec<&Arc<ResourceType>> = self
            .types
            .iter()
            .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
            .collect();
        if types.is_empty() {
            return None;
        }
        let resources: Vec<Value> = types.iter().flat_map(|t| t.api_resource()).collect();
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        )
    }
}
