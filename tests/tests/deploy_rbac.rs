//! The operator's RBAC (`deploy/operator/rbac.yaml` + `secrets-rolebinding.yaml`) against the
//! Kubernetes API calls in `operator/src`.
//!
//! There is no request log to replay (the kube-double keeps none), so the calls are derived
//! from the source: every `Api<Kind>` / `Api::<Kind>` binding, the methods called on it
//! (`get`, `list`, `patch`, `patch_status`, `create`, `delete`, ...), and the watch helpers it
//! is passed to (`Controller::new`, `.owns`, `.watches`, `watcher`, `reflector`). Library
//! calls the scan cannot see are listed in [`library_calls`] with where they come from:
//! kube-runtime's event `Recorder` and kube-lease-manager's Lease handling. Together with the
//! seed's minimum for the custom resources ([`baseline`]) that is what RBAC must grant; it
//! must not grant resources outside that set, nor wildcards, nor Secrets cluster-wide.

mod deploy_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use deploy_support::{docs, root};
use serde_json::Value;

type Grants = BTreeMap<(String, String), BTreeSet<String>>;

/// Kind -> (API group, resource) for every kind the operator could touch.
fn kinds() -> BTreeMap<String, (String, String)> {
    let mut m: BTreeMap<String, (String, String)> = [
        ("StatefulSet", "apps", "statefulsets"),
        ("Deployment", "apps", "deployments"),
        ("Service", "", "services"),
        ("ConfigMap", "", "configmaps"),
        ("Secret", "", "secrets"),
        ("Pod", "", "pods"),
        ("Namespace", "", "namespaces"),
        ("PersistentVolumeClaim", "", "persistentvolumeclaims"),
        ("Endpoints", "", "endpoints"),
        ("EndpointSlice", "discovery.k8s.io", "endpointslices"),
        ("Event", "events.k8s.io", "events"),
        ("Lease", "coordination.k8s.io", "leases"),
        (
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
        ),
    ]
    .iter()
    .map(|(k, g, r)| (k.to_string(), (g.to_string(), r.to_string())))
    .collect();
    for d in docs(&root().join("deploy/crds/all.yaml")) {
        m.insert(
            d["spec"]["names"]["kind"].as_str().unwrap().into(),
            (
                d["spec"]["group"].as_str().unwrap().into(),
                d["spec"]["names"]["plural"].as_str().unwrap().into(),
            ),
        );
    }
    m
}

fn grant(g: &mut Grants, group: &str, resource: &str, verbs: &[&str]) {
    g.entry((group.into(), resource.into()))
        .or_default()
        .extend(verbs.iter().map(|v| v.to_string()));
}

/// The seed's minimum for the custom resources: watched, finalizers patched, status patched;
/// managed Bind9Instances created and deleted by their cluster.
fn baseline(kinds: &BTreeMap<String, (String, String)>) -> Grants {
    let mut g = Grants::new();
    for (group, res) in kinds.values().filter(|(g, _)| g == "bindy.firestoned.io") {
        grant(&mut g, group, res, &["get", "list", "watch", "patch"]);
        grant(&mut g, group, &format!("{res}/status"), &["patch"]);
    }
    grant(
        &mut g,
        "bindy.firestoned.io",
        "bind9instances",
        &["create", "delete"],
    );
    g
}

/// Calls made inside libraries, switched on by the code that uses them.
fn library_calls(src: &str, g: &mut Grants) {
    // kube-runtime 5 events::Recorder: events.k8s.io/v1 create, then patch for a series.
    if src.contains("Recorder") {
        grant(g, "events.k8s.io", "events", &["create", "patch"]);
    }
    // kube-lease-manager 0.13 (state.rs): get, create, patch; delete on release.
    if src.contains("LeaseManager") {
        grant(
            g,
            "coordination.k8s.io",
            "leases",
            &["get", "create", "patch", "delete"],
        );
    }
}

fn verbs_of_method(m: &str) -> (&'static str, &'static [&'static str]) {
    match m {
        "get" | "get_opt" | "get_metadata" | "get_metadata_opt" => ("", &["get"]),
        "list" | "list_metadata" => ("", &["list"]),
        "watch" | "watch_metadata" => ("", &["watch"]),
        "create" => ("", &["create"]),
        "patch" | "patch_metadata" => ("", &["patch"]),
        "replace" => ("", &["update"]),
        "delete" => ("", &["delete"]),
        "delete_collection" => ("", &["deletecollection"]),
        "entry" => ("", &["get", "create", "update"]),
        "get_status" => ("/status", &["get"]),
        "patch_status" => ("/status", &["patch"]),
        "replace_status" => ("/status", &["update"]),
        _ => ("", &[]),
    }
}

fn rx(s: &str) -> regex::Regex {
    regex::Regex::new(s).unwrap()
}

const WATCHERS: &str = r"(?:Controller::new|\.owns|\.watches|watcher|reflector|metadata_watcher)";

/// Generic helpers such as `async fn apply<K>(api: &Api<K>, ...)`: helper name -> verbs
/// (with subresource) of the methods they call on their `Api` parameter.
fn helpers(text: &str) -> BTreeMap<String, Vec<(&'static str, &'static [&'static str])>> {
    let head = rx(r"fn\s+(\w+)\s*<[^>]*>\s*\(\s*(\w+)\s*:\s*&Api<\w+>");
    let mut out = BTreeMap::new();
    for c in head.captures_iter(text) {
        let body_start = c.get(0).unwrap().end();
        let body_end = text[body_start..]
            .find("\nfn ")
            .or_else(|| text[body_start..].find("\npub "))
            .map_or(text.len(), |i| body_start + i);
        let body = &text[body_start..body_end];
        let call = rx(&format!(r"\b{}\s*\.\s*(\w+)\(", &c[2]));
        let mut verbs: Vec<_> = call
            .captures_iter(body)
            .map(|m| verbs_of_method(&m[1]))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        // A server-side apply that creates the object is authorized as `create` as well
        // (kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply).
        if body.contains("Patch::Apply") {
            verbs.push(("", &["create"]));
        }
        out.insert(c[1].to_string(), verbs);
    }
    out
}

/// Scans operator/src: API calls per (group, resource). A call on a variable is attributed
/// to the nearest binding of that name above it; generic `Api<K>` uses are reported (the
/// baseline covers them when K is a Bindy kind).
fn scan(kinds: &BTreeMap<String, (String, String)>) -> (Grants, Vec<String>, String) {
    let mut g = Grants::new();
    let mut notes = Vec::new();
    let mut all_src = String::new();
    let binding = rx(
        r"let\s+(?:mut\s+)?(\w+)\s*(?::\s*Api<(\w+)>)?\s*=\s*Api::(?:<(\w+)>::)?|(\w+)\s*:\s*&?Api<(\w+)>",
    );
    let inline_watch = rx(&format!(r"{WATCHERS}\(\s*Api::<(\w+)>"));
    let inline_call = rx(r"Api::<(\w+)>::\w+\([^;]*?\)\s*\.(\w+)\(");
    let mut stack = vec![root().join("operator/src")];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    let texts: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|f| {
            let t = std::fs::read_to_string(&f).unwrap();
            (f, t)
        })
        .collect();
    let mut helper_verbs = BTreeMap::new();
    for (_, t) in &texts {
        all_src.push_str(t);
        helper_verbs.extend(helpers(t));
    }
    for (f, text) in &texts {
        // (position, variable, kind)
        let mut vars: Vec<(usize, String, String)> = Vec::new();
        for c in binding.captures_iter(text) {
            let pos = c.get(0).unwrap().start();
            let (var, kind) = match (c.get(1), c.get(2), c.get(3), c.get(4), c.get(5)) {
                (Some(v), Some(k), ..) | (Some(v), None, Some(k), ..) => (v, k),
                (.., Some(v), Some(k)) => (v, k),
                _ => continue,
            };
            vars.push((pos, var.as_str().into(), kind.as_str().into()));
        }
        let kind_at = |var: &str, pos: usize| {
            vars.iter()
                .filter(|(p, v, _)| v == var && *p < pos)
                .max_by_key(|(p, ..)| *p)
                .map(|(_, _, k)| k.clone())
        };
        let mut uses: Vec<(String, &str, &[&str])> = Vec::new();
        let names: BTreeSet<&String> = vars.iter().map(|(_, v, _)| v).collect();
        for var in names {
            for c in rx(&format!(r"\b{var}\s*\.\s*(\w+)\(")).captures_iter(text) {
                let (sub, v) = verbs_of_method(&c[1]);
                if let Some(k) = kind_at(var, c.get(0).unwrap().start()) {
                    uses.push((k, sub, v));
                }
            }
            for c in rx(&format!(r"{WATCHERS}\(\s*&?{var}\b")).find_iter(text) {
                if let Some(k) = kind_at(var, c.start()) {
                    uses.push((k, "", &["list", "watch"]));
                }
            }
            for (h, verbs) in &helper_verbs {
                for c in rx(&format!(r"\b{h}\(\s*&{var}\b")).find_iter(text) {
                    if let Some(k) = kind_at(var, c.start()) {
                        uses.extend(verbs.iter().map(|(s, v)| (k.clone(), *s, *v)));
                    }
                }
            }
        }
        for (h, verbs) in &helper_verbs {
            for c in rx(&format!(r"\b{h}\(\s*&Api::<(\w+)>")).captures_iter(text) {
                uses.extend(verbs.iter().map(|(s, v)| (c[1].to_string(), *s, *v)));
            }
        }
        for c in inline_watch.captures_iter(text) {
            uses.push((c[1].to_string(), "", &["list", "watch"]));
        }
        for c in inline_call.captures_iter(text) {
            let (sub, v) = verbs_of_method(&c[2]);
            uses.push((c[1].to_string(), sub, v));
        }
        for (kind, sub, verbs) in uses {
            match kinds.get(&kind) {
                Some((group, res)) if !verbs.is_empty() => {
                    grant(&mut g, group, &format!("{res}{sub}"), verbs)
                }
                Some(_) => {}
                None => notes.push(format!("{}: generic Api<{kind}>", f.display())),
            }
        }
    }
    notes.sort();
    notes.dedup();
    (g, notes, all_src)
}

/// Rules granted to the operator's ServiceAccount: (cluster-wide, per-namespace).
fn granted() -> (Grants, Grants) {
    let dir = root().join("deploy/operator");
    let all: Vec<Value> = ["rbac.yaml", "secrets-rolebinding.yaml"]
        .iter()
        .flat_map(|f| docs(&dir.join(f)))
        .collect();
    let roles: BTreeMap<(String, String), &Value> = all
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
        .map(|d| {
            (
                (
                    d["kind"].as_str().unwrap().to_string(),
                    d["metadata"]["name"].as_str().unwrap().to_string(),
                ),
                d,
            )
        })
        .collect();
    let (mut cluster, mut namespaced) = (Grants::new(), Grants::new());
    for b in all
        .iter()
        .filter(|d| d["kind"] == "ClusterRoleBinding" || d["kind"] == "RoleBinding")
    {
        let ours = b["subjects"].as_array().unwrap().iter().any(|s| {
            s["kind"] == "ServiceAccount"
                && s["name"] == "bindy-operator"
                && s["namespace"] == "bindy-system"
        });
        assert!(
            ours,
            "binding {} is not for the operator's ServiceAccount",
            b["metadata"]["name"]
        );
        let key = (
            b["roleRef"]["kind"].as_str().unwrap().to_string(),
            b["roleRef"]["name"].as_str().unwrap().to_string(),
        );
        let role = roles
            .get(&key)
            .unwrap_or_else(|| panic!("binding to missing {key:?}"));
        let target = if b["kind"] == "ClusterRoleBinding" {
            &mut cluster
        } else {
            &mut namespaced
        };
        for r in role["rules"].as_array().unwrap() {
            let verbs: Vec<&str> = r["verbs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            for group in r["apiGroups"].as_array().unwrap() {
                for res in r["resources"].as_array().unwrap() {
                    let (group, res) = (group.as_str().unwrap(), res.as_str().unwrap());
                    assert!(
                        group != "*" && res != "*" && !verbs.contains(&"*"),
                        "wildcard in {key:?}"
                    );
                    grant(target, group, res, &verbs);
                }
            }
        }
    }
    (cluster, namespaced)
}

#[test]
fn rbac_covers_every_api_call_of_the_operator_and_no_more() {
    let kinds = kinds();
    let (scanned, notes, src) = scan(&kinds);
    let mut needed = baseline(&kinds);
    library_calls(&src, &mut needed);
    for (k, v) in &scanned {
        needed
            .entry(k.clone())
            .or_default()
            .extend(v.iter().cloned());
    }
    println!("derived from operator/src: {scanned:#?}");
    for n in &notes {
        println!("note: {n}");
    }
    let (cluster, namespaced) = granted();
    let mut any = cluster.clone();
    for (k, v) in &namespaced {
        any.entry(k.clone()).or_default().extend(v.iter().cloned());
    }

    // 1. Every call the code makes is allowed.
    let mut missing = Vec::new();
    for ((group, res), verbs) in &needed {
        let have = any
            .get(&(group.clone(), res.clone()))
            .cloned()
            .unwrap_or_default();
        let lacking: Vec<_> = verbs.difference(&have).collect();
        if !lacking.is_empty() {
            missing.push(format!("{group}/{res}: {lacking:?}"));
        }
    }
    assert!(missing.is_empty(), "RBAC lacks: {missing:#?}");

    // 2. Secrets only per namespace, never cluster-wide.
    assert!(
        !cluster.contains_key(&(String::new(), "secrets".into())),
        "Secrets must only be granted by RoleBindings in the managed namespaces"
    );

    // 3. Nothing granted (resource or verb) that neither the code nor the seed's flows
    //    use. Resources the reconcilers use per issue 7 (children, keys, pod IPs, Lease,
    //    Events) may be granted before the scan sees their code.
    let planned: BTreeSet<&str> = [
        "statefulsets",
        "services",
        "configmaps",
        "secrets",
        "pods",
        "leases",
        "events",
    ]
    .into();
    for ((group, res), verbs) in &any {
        match needed.get(&(group.clone(), res.clone())) {
            Some(used) => {
                let extra: Vec<_> = verbs.difference(used).collect();
                assert!(
                    extra.is_empty(),
                    "RBAC grants {group}/{res} {extra:?}, which operator/src never calls"
                );
            }
            None => assert!(
                planned.contains(res.as_str()),
                "RBAC grants {group}/{res}, which operator/src never uses"
            ),
        }
    }
}
