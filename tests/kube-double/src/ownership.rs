//! Field ownership for server-side apply, simplified from the real server's managedFields:
//! each leaf field (maps are walked, lists are atomic leaves) remembers the manager that last
//! set it, by apply or by an ordinary write (`fieldManager` query parameter, else "unknown").
//! An apply without `force` that would change a field owned by another manager fails with
//! 409 Conflict naming the fields; with `force` it takes them over. This is what
//! kube-lease-manager's soft lock relies on. Ownership is not exposed as `managedFields`.

use std::collections::BTreeMap;

use serde_json::Value;

/// Server-managed metadata that no manager owns.
const SYSTEM: &[&str] = &[
    "/apiVersion",
    "/kind",
    "/metadata/name",
    "/metadata/namespace",
    "/metadata/resourceVersion",
    "/metadata/uid",
    "/metadata/generation",
    "/metadata/creationTimestamp",
    "/metadata/managedFields",
    "/metadata/deletionTimestamp",
    "/metadata/deletionGracePeriodSeconds",
    "/metadata/selfLink",
];

fn walk(prefix: String, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                let seg = k.replace('~', "~0").replace('/', "~1");
                walk(format!("{prefix}/{seg}"), c, out);
            }
        }
        _ => {
            if !prefix.is_empty() && !SYSTEM.contains(&prefix.as_str()) {
                out.insert(prefix, v.clone());
            }
        }
    }
}

/// Leaf fields of an object, keyed by JSON pointer.
pub fn leaves(v: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    walk(String::new(), v, &mut out);
    out
}

/// Record a successful write by `manager`: fields it applied (or, for ordinary writes, fields
/// whose value changed) become its; fields that disappeared lose their owner.
pub fn record(
    owners: &mut BTreeMap<String, String>,
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    applied: Option<&Value>,
) {
    let now = leaves(new);
    owners.retain(|p, _| now.contains_key(p));
    match applied {
        Some(a) => {
            for p in leaves(a).into_keys().filter(|p| now.contains_key(p)) {
                owners.insert(p, manager.to_string());
            }
        }
        None => {
            let before = old.map(leaves).unwrap_or_default();
            for (p, v) in now {
                if before.get(&p) != Some(&v) {
                    owners.insert(p, manager.to_string());
                }
            }
        }
    }
}

/// Fields an apply by `manager` would change that another manager owns: `(path, owner)`.
pub fn conflicts(
    owners: &BTreeMap<String, String>,
    current: &Value,
    applied: &Value,
    manager: &str,
) -> Vec<(String, String)> {
    let cur = leaves(current);
    leaves(applied)
        .into_iter()
        .filter_map(|(p, v)| {
            let owner = owners.get(&p)?;
            (owner != manager && cur.get(&p) != Some(&v)).then(|| (p, owner.clone()))
        })
        .collect()
}

/// The real server's wording: `Apply failed with 1 conflict: conflict with "a": .spec.x`.
pub fn message(conflicts: &[(String, String)]) -> String {
    let n = conflicts.len();
    let list: Vec<String> = conflicts
        .iter()
        .map(|(p, o)| {
            format!(
                "conflict with \"{o}\": {}",
                p.replace('/', ".").replace("~1", "/").replace("~0", "~")
            )
        })
        .collect();
    format!(
        "Apply failed with {n} conflict{}: {}",
        if n == 1 { "" } else { "s" },
        list.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owners_and_conflicts() {
        let mut owners = BTreeMap::new();
        let v1 = json!({"metadata": {"name": "l", "labels": {"app.kubernetes.io/name": "x"}}, "spec": {"holder": "a", "ttl": 15}});
        record(
            &mut owners,
            None,
            &v1,
            "a",
            Some(&json!({"spec": {"holder": "a", "ttl": 15}})),
        );
        assert_eq!(owners.get("/spec/holder").map(String::as_str), Some("a"));
        assert!(!owners.contains_key("/metadata/name"));
        // b applying a different holder conflicts; the same value does not
        let c = conflicts(&owners, &v1, &json!({"spec": {"holder": "b"}}), "b");
        assert_eq!(c, [("/spec/holder".to_string(), "a".to_string())]);
        assert_eq!(
            message(&c),
            "Apply failed with 1 conflict: conflict with \"a\": .spec.holder"
        );
        assert!(conflicts(&owners, &v1, &json!({"spec": {"holder": "a"}}), "b").is_empty());
        // an ordinary write by b takes the fields it changed
        let v2 = json!({"metadata": {"name": "l"}, "spec": {"holder": "a", "ttl": 30}});
        record(&mut owners, Some(&v1), &v2, "b", None);
        assert_eq!(owners.get("/spec/ttl").map(String::as_str), Some("b"));
        assert_eq!(owners.get("/spec/holder").map(String::as_str), Some("a"));
        assert!(!owners.keys().any(|k| k.starts_with("/metadata/labels")));
    }
}
