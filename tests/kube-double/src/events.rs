//! One pool of Events seen through both APIs, as on a real cluster: an `events.k8s.io/v1`
//! Event (what kube-runtime's `Recorder` writes) is listed, watched and read through core/v1
//! (what `kubectl describe` asks for) and the other way round, with the field mapping of the
//! real server's conversion (`regarding` <-> `involvedObject`, `note` <-> `message`,
//! `deprecated*` <-> the old timestamps and count). Writes stay with the API they came from:
//! an object is updated or deleted through the group that created it.

use serde_json::{json, Map, Value};

/// Whether `group` is one of the two Event groups.
pub fn is_event_group(group: &str, plural: &str) -> bool {
    plural == "events" && (group.is_empty() || group == "events.k8s.io")
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<&Value>) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        m.insert(k.into(), v.clone());
    }
}

/// Convert a stored Event to the view of `target_group` ("" or "events.k8s.io").
pub fn convert(obj: &Value, target_group: &str) -> Value {
    let stored_core = obj.get("apiVersion").and_then(Value::as_str) == Some("v1");
    let want_core = target_group.is_empty();
    if stored_core == want_core {
        return obj.clone();
    }
    let g = |k: &str| obj.get(k);
    let mut m = Map::new();
    put(&mut m, "metadata", g("metadata"));
    for k in [
        "reason",
        "type",
        "action",
        "related",
        "eventTime",
        "series",
        "reportingInstance",
    ] {
        put(&mut m, k, g(k));
    }
    if want_core {
        m.insert("apiVersion".into(), json!("v1"));
        put(&mut m, "involvedObject", g("regarding"));
        put(&mut m, "message", g("note"));
        put(&mut m, "reportingComponent", g("reportingController"));
        let source = g("deprecatedSource")
            .cloned()
            .or_else(|| g("reportingController").map(|c| json!({"component": c})));
        put(&mut m, "source", source.as_ref());
        let last = g("deprecatedLastTimestamp")
            .or_else(|| obj.pointer("/series/lastObservedTime"))
            .or(g("eventTime"));
        put(&mut m, "lastTimestamp", last);
        put(
            &mut m,
            "firstTimestamp",
            g("deprecatedFirstTimestamp").or(g("eventTime")),
        );
        let count = g("deprecatedCount")
            .cloned()
            .or_else(|| obj.pointer("/series/count").cloned())
            .unwrap_or(json!(1));
        m.insert("count".into(), count);
    } else {
        m.insert("apiVersion".into(), json!("events.k8s.io/v1"));
        put(&mut m, "regarding", g("involvedObject"));
        put(&mut m, "note", g("message"));
        let controller = g("reportingComponent").or_else(|| obj.pointer("/source/component"));
        put(&mut m, "reportingController", controller);
        put(&mut m, "deprecatedSource", g("source"));
        put(&mut m, "deprecatedFirstTimestamp", g("firstTimestamp"));
        put(&mut m, "deprecatedLastTimestamp", g("lastTimestamp"));
        put(&mut m, "deprecatedCount", g("count"));
    }
    m.insert("kind".into(), json!("Event"));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_fields() {
        let new = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "DNSZone", "name": "z"}, "note": "loaded", "reason": "Loaded", "type": "Normal",
            "reportingController": "bindy", "eventTime": "2026-01-01T00:00:00.000000Z", "action": "Reconcile"});
        let core = convert(&new, "");
        assert_eq!(core["involvedObject"]["name"], "z");
        assert_eq!(core["message"], "loaded");
        assert_eq!(core["source"]["component"], "bindy");
        assert_eq!(core["count"], 1);
        assert_eq!(core["lastTimestamp"], "2026-01-01T00:00:00.000000Z");
        let back = convert(&core, "events.k8s.io");
        assert_eq!(back["regarding"], new["regarding"]);
        assert_eq!(back["note"], "loaded");
        assert_eq!(convert(&new, "events.k8s.io"), new);
    }
}
