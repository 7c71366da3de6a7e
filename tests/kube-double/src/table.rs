//! `meta.k8s.io/v1` Table rendering, which `kubectl get` asks for (`Accept: ...;as=Table`).
//!
//! Columns: Name, then a CRD's additionalPrinterColumns (simple `.a.b[0].c` JSONPaths), else
//! Age. Built-in kinds get only Name and Age (the real server prints richer columns).

use serde_json::{json, Value};

use crate::store::Target;

fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    let mut rest = path.trim_start_matches('.');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[?(@.") {
            // [?(@.field=="value")]: the first list item whose field equals value
            let (cond, after) = r.split_once(")]")?;
            let (field, value) = cond.split_once("==")?;
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            cur = cur
                .as_array()?
                .iter()
                .find(|i| i.get(field).and_then(Value::as_str) == Some(value))?;
            rest = after.trim_start_matches('.');
            continue;
        }
        if let Some(r) = rest.strip_prefix('[') {
            let (idx, after) = r.split_once(']')?;
            cur = cur.get(idx.parse::<usize>().ok()?)?;
            rest = after.trim_start_matches('.');
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        cur = cur.get(&rest[..end])?;
        rest = rest[end..].trim_start_matches('.');
    }
    Some(cur)
}

/// Human age like kubectl prints it (`42s`, `5m`, `3h`, `2d`).
pub fn age(created: Option<&str>) -> String {
    let Some(ts) = created.and_then(|c| c.parse::<jiff::Timestamp>().ok()) else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - ts.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn cell(v: Option<&Value>, ty: &str) -> Value {
    match (v, ty) {
        (None | Some(Value::Null), _) => Value::Null,
        (Some(Value::String(s)), "date") => json!(age(Some(s))),
        (Some(Value::String(s)), _) => json!(s),
        (Some(other), _) => other.clone(),
    }
}

/// Render objects as a Table.
pub fn table(t: &Target, items: &[Value], rv: u64) -> Value {
    let cols = t.rt.columns(&t.version);
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for c in cols {
        let ty = c["type"].as_str().unwrap_or("string");
        defs.push(json!({"name": c["name"], "type": if ty == "date" { "string" } else { ty },
            "format": c.get("format").cloned().unwrap_or(json!("")), "description": c.get("description").cloned().unwrap_or(json!("")),
            "priority": c.get("priority").cloned().unwrap_or(json!(0))}));
    }
    if cols.is_empty() {
        defs.push(json!({"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp", "priority": 0}));
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
            for c in cols {
                let path = c["jsonPath"].as_str().unwrap_or_default();
                cells.push(cell(json_path(o, path), c["type"].as_str().unwrap_or("string")));
            }
            if cols.is_empty() {
                cells.push(json!(age(o.pointer("/metadata/creationTimestamp").and_then(Value::as_str))));
            }
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_age() {
        let o = json!({"spec": {"a": [{"b": 1}]}, "status": {"phase": "Ready"}});
        assert_eq!(json_path(&o, ".spec.a[0].b"), Some(&json!(1)));
        assert_eq!(json_path(&o, ".status.phase"), Some(&json!("Ready")));
        assert_eq!(json_path(&o, ".status.missing"), None);
        let c = json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(
            json_path(&c, r#".status.conditions[?(@.type=="Ready")].status"#),
            Some(&json!("True"))
        );
        assert_eq!(age(None), "<unknown>");
        assert!(age(Some("2020-01-01T00:00:00Z")).ends_with('d'));
    }
}
