//! Patch algorithms that no crate provides in the Kubernetes flavour: a simplified strategic
//! merge patch and the two halves of the simplified server-side apply. (JSON merge patch and
//! JSON patch come from the `json-patch` crate.)

use serde_json::{json, Value};

/// Keys that identify list items in strategic merge patches of built-in kinds
/// (containers/volumes/env/volumeMounts by name, ports by containerPort, conditions by type,
/// ownerReferences by uid).
const MERGE_KEYS: &[&str] = &["name", "containerPort", "type", "uid", "mountPath", "ip"];

fn merge_key(items: &[Value]) -> Option<&'static str> {
    MERGE_KEYS
        .iter()
        .copied()
        .find(|k| !items.is_empty() && items.iter().all(|i| i.get(k).is_some()))
}

/// A strategic merge patch, simplified: maps merge recursively (`null` deletes), lists of
/// objects merge by the first merge key all patch items have (`$patch: delete` items remove),
/// other lists are replaced; `$setElementOrder`, `$retainKeys` and
/// `$deleteFromPrimitiveList` directives are ignored.
pub(crate) fn strategic_merge(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut v = patch.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("$patch");
        }
        *target = v;
        return;
    }
    if !target.is_object() {
        *target = json!({});
    }
    let Some(t) = target.as_object_mut() else {
        return;
    };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(_) => strategic_merge(t.entry(k.clone()).or_insert(Value::Null), v),
            Value::Array(items) if items.iter().all(Value::is_object) => {
                let Some(key) = merge_key(items) else {
                    t.insert(k.clone(), v.clone());
                    continue;
                };
                let list = t.entry(k.clone()).or_insert_with(|| json!([]));
                if !list.is_array() {
                    *list = json!([]);
                }
                let Some(list) = list.as_array_mut() else {
                    continue;
                };
                for item in items {
                    let id = &item[key];
                    let pos = list.iter().position(|x| &x[key] == id);
                    let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (pos, delete) {
                        (Some(i), true) => {
                            list.remove(i);
                        }
                        (Some(i), false) => strategic_merge(&mut list[i], item),
                        (None, false) => {
                            let mut fresh = Value::Null;
                            strategic_merge(&mut fresh, item);
                            list.push(fresh);
                        }
                        (None, true) => {}
                    }
                }
            }
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Remove from `target` the fields that `prev` (the manager's last applied config) had and
/// `cur` (its new one) no longer has.
pub(crate) fn remove_stale(target: &mut Value, prev: &Value, cur: &Value, top: bool) {
    let (Some(p), Some(t)) = (prev.as_object(), target.as_object_mut()) else {
        return;
    };
    for (k, pv) in p {
        if top && (k == "apiVersion" || k == "kind") {
            continue;
        }
        match cur.get(k) {
            None => {
                t.remove(k);
            }
            Some(cv) if pv.is_object() && cv.is_object() => {
                if let Some(tv) = t.get_mut(k) {
                    remove_stale(tv, pv, cv, false);
                }
            }
            _ => {}
        }
    }
}

pub(crate) fn deep_merge(target: &mut Value, src: &Value) {
    match (target.as_object_mut(), src.as_object()) {
        (Some(t), Some(s)) => {
            for (k, v) in s {
                match t.get_mut(k) {
                    Some(tv) if tv.is_object() && v.is_object() => deep_merge(tv, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = src.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategic_merge_by_key() {
        let mut sts = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "bind9", "image": "bind9:9.18", "args": ["-g"]},
            {"name": "exporter", "image": "exp:1"}]}}, "replicas": 1}});
        let patch = json!({"spec": {"replicas": 2, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "bind9"}, {"name": "exporter"}],
            "containers": [{"name": "bind9", "image": "bind9:9.20"}, {"name": "exporter", "$patch": "delete"}]}}}});
        strategic_merge(&mut sts, &patch);
        assert_eq!(sts["spec"]["replicas"], 2);
        let c = sts["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0],
            json!({"name": "bind9", "image": "bind9:9.20", "args": ["-g"]})
        );
        let mut cm = json!({"data": {"a": "1", "b": "2"}});
        strategic_merge(&mut cm, &json!({"data": {"b": null, "c": "3"}}));
        assert_eq!(cm, json!({"data": {"a": "1", "c": "3"}}));
    }
}
