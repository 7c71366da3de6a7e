//! Custom-resource validation against a CRD's `openAPIV3Schema`, the way the API server does it:
//! defaulting, pruning of unknown fields, schema validation (via the `jsonschema` crate, after
//! translating Kubernetes' OpenAPI dialect to JSON Schema draft 4) and CEL
//! `x-kubernetes-validations` rules (via the `cel` crate).
//!
//! CEL: rules are compiled and run with `self` (and `oldSelf` on updates when the old object has
//! the field). A rule that evaluates to `false` is a 422. A rule that does not compile, or fails at
//! run time (for instance because it calls one of the Kubernetes-specific CEL libraries such as
//! `quantity()`, `url()`, `ip()` that the `cel` crate does not have), is NOT enforced: it is
//! logged with `tracing::warn!` and skipped. Transition rules (using `oldSelf`) are skipped on
//! create, as in the real server. `messageExpression` is not evaluated (`message` is used).

use serde_json::{json, Map, Value};

use crate::error::FieldError;

/// A compiled CRD version schema.
pub struct Validator {
    schema: Value,
    compiled: jsonschema::Validator,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator").finish_non_exhaustive()
    }
}

/// Translate Kubernetes' structural-schema dialect into JSON Schema draft 4.
fn to_json_schema(s: &Value) -> Value {
    let Some(obj) = s.as_object() else {
        return s.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "x-kubernetes-validations" | "nullable" | "default" => {}
            k if k.starts_with("x-kubernetes-") => {}
            "properties" | "patternProperties" | "definitions" => {
                let m: Map<String, Value> = v
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), to_json_schema(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Object(m));
            }
            "items" | "additionalProperties" | "not" if v.is_object() => {
                out.insert(k.clone(), to_json_schema(v));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let a: Vec<Value> = v
                    .as_array()
                    .map(|a| a.iter().map(to_json_schema).collect())
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Array(a));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        out.remove("type");
        out.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if obj.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), json!([t, "null"]));
        }
        if let Some(Value::Array(e)) = out.get_mut("enum") {
            e.push(Value::Null);
        }
    }
    Value::Object(out)
}

/// JSON pointer (`/spec/servers/0/port`) to the API server's field notation (`spec.servers[0].port`).
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::Object(_) => "\"object\"".into(),
        Value::Array(_) => "\"array\"".into(),
        other => other.to_string(),
    }
}

impl Validator {
    /// Compile a CRD version's `openAPIV3Schema`.
    pub fn new(schema: &Value) -> Result<Self, String> {
        let compiled = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&to_json_schema(schema))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            schema: schema.clone(),
            compiled,
        })
    }

    /// Apply schema defaults and prune unknown fields (not `apiVersion`/`kind`/`metadata`).
    pub fn prepare(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            let meta = m.remove("metadata");
            let api = m.remove("apiVersion");
            let kind = m.remove("kind");
            prepare_node(&self.schema, obj);
            if let Some(m) = obj.as_object_mut() {
                for (k, v) in [("metadata", meta), ("apiVersion", api), ("kind", kind)] {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
            }
        }
    }

    /// Validate an object (and, on updates, CEL transition rules against the old object).
    pub fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs: Vec<FieldError> = self
            .compiled
            .iter_errors(obj)
            .filter(|e| !e.instance_path().as_str().starts_with("/metadata"))
            .map(|e| translate(&e))
            .collect();
        cel_walk(&self.schema, obj, old, "", &mut errs);
        errs
    }
}

fn translate(e: &jsonschema::ValidationError<'_>) -> FieldError {
    use jsonschema::error::ValidationErrorKind as K;
    let path = field_path(e.instance_path().as_str());
    let inst = e.instance();
    match e.kind() {
        K::Required { property } => FieldError {
            field: join(&path, property.as_str().unwrap_or_default()),
            reason: "FieldValueRequired",
            detail: "Required value".into(),
        },
        K::Enum { options } => {
            let opts: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(Value::to_string).collect())
                .unwrap_or_default();
            FieldError {
                field: path,
                reason: "FieldValueNotSupported",
                detail: format!(
                    "Unsupported value: {}: supported values: {}",
                    short(inst),
                    opts.join(", ")
                ),
            }
        }
        K::Pattern { pattern } => FieldError {
            detail: format!(
                "Invalid value: {}: {path} in body should match '{pattern}'",
                short(inst)
            ),
            field: path,
            reason: "FieldValueInvalid",
        },
        K::Type { .. } => FieldError {
            detail: format!("Invalid value: {}: {path} in body {e}", short(inst)),
            field: path,
            reason: "FieldValueTypeInvalid",
        },
        _ => FieldError {
            detail: format!("Invalid value: {}: {path} in body: {e}", short(inst)),
            field: path,
            reason: "FieldValueInvalid",
        },
    }
}

fn preserves_unknown(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || schema.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true))
}

fn prepare_node(schema: &Value, v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, s) in props {
                    if !m.contains_key(k) {
                        if let Some(d) = s.get("default") {
                            m.insert(k.clone(), d.clone());
                        }
                    }
                }
                if !preserves_unknown(schema) && schema.get("additionalProperties").is_none() {
                    m.retain(|k, _| props.contains_key(k));
                }
                for (k, child) in m.iter_mut() {
                    if let Some(s) = props.get(k) {
                        prepare_node(s, child);
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in m.values_mut() {
                    prepare_node(ap, child);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for child in a {
                    prepare_node(items, child);
                }
            }
        }
        _ => {}
    }
}

fn eval_rule(rule: &str, this: &Value, old: Option<&Value>) -> Option<bool> {
    let program = match cel::Program::compile(rule) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(rule, error = %e, "CEL rule not enforced by the test double (compile)");
            return None;
        }
    };
    let mut ctx = cel::Context::default();
    if ctx.add_variable("self", this.clone()).is_err() {
        return None;
    }
    if let Some(o) = old {
        if ctx.add_variable("oldSelf", o.clone()).is_err() {
            return None;
        }
    }
    match program.execute(&ctx) {
        Ok(cel::Value::Bool(b)) => Some(b),
        Ok(other) => {
            tracing::warn!(rule, ?other, "CEL rule returned a non-bool; not enforced");
            None
        }
        Err(e) => {
            tracing::warn!(rule, error = %e, "CEL rule not enforced by the test double (runtime)");
            None
        }
    }
}

fn cel_walk(
    schema: &Value,
    v: &Value,
    old: Option<&Value>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    if let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for r in rules {
            let Some(rule) = r.get("rule").and_then(Value::as_str) else {
                continue;
            };
            let transition = rule.contains("oldSelf");
            let optional = r.get("optionalOldSelf") == Some(&Value::Bool(true));
            if transition && old.is_none() && !optional {
                continue;
            }
            if eval_rule(rule, v, if transition { old } else { None }) == Some(false) {
                let field = match r.get("fieldPath").and_then(Value::as_str) {
                    Some(fp) => format!("{path}{fp}"),
                    None => path.to_string(),
                };
                let msg = r
                    .get("message")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .unwrap_or_else(|| format!("failed rule: {rule}"));
                errs.push(FieldError {
                    field,
                    reason: "FieldValueInvalid",
                    detail: format!("Invalid value: {}: {msg}", short(v)),
                });
            }
        }
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let ap = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in m {
                if path.is_empty() && k == "metadata" {
                    continue;
                }
                let s = props.and_then(|p| p.get(k)).or(ap);
                if let Some(s) = s {
                    let o = old.and_then(|o| o.get(k));
                    cel_walk(s, child, o, &join(path, k), errs);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for (i, child) in a.iter().enumerate() {
                    cel_walk(items, child, None, &format!("{path}[{i}]"), errs);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object",
            "required": ["zoneName"],
            "x-kubernetes-validations": [
                {"rule": "self.ttl >= 60", "message": "ttl must be at least 60"},
                {"rule": "self.zoneName == oldSelf.zoneName", "message": "zoneName is immutable"}],
            "properties": {
                "zoneName": {"type": "string", "pattern": "^[a-z.]+$", "maxLength": 20},
                "ttl": {"type": "integer", "minimum": 1, "maximum": 86400, "default": 3600},
                "role": {"type": "string", "enum": ["primary", "secondary"]},
                "addr": {"type": "string", "format": "ipv4"},
                "note": {"type": "string", "nullable": true},
                "port": {"x-kubernetes-int-or-string": true}}}}})
    }

    fn errs(spec: Value, old: Option<Value>) -> Vec<FieldError> {
        let v = Validator::new(&schema()).unwrap();
        let mut obj =
            json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec});
        v.prepare(&mut obj);
        let old = old.map(|s| json!({"spec": s}));
        v.validate(&obj, old.as_ref())
    }

    #[test]
    fn schema_rules_name_the_field() {
        assert!(errs(
            json!({"zoneName": "example.com", "note": null, "port": "dns"}),
            None
        )
        .is_empty());
        let e = errs(json!({}), None);
        assert_eq!(e[0].field, "spec.zoneName");
        assert_eq!(e[0].reason, "FieldValueRequired");
        let e = errs(json!({"zoneName": "Bad_Zone"}), None);
        assert_eq!(e[0].field, "spec.zoneName");
        assert!(e[0].detail.contains("should match"), "{}", e[0].detail);
        let e = errs(json!({"zoneName": "a", "role": "tertiary"}), None);
        assert_eq!(e[0].reason, "FieldValueNotSupported");
        let e = errs(json!({"zoneName": "a", "ttl": 0}), None);
        assert!(e.iter().any(|e| e.field == "spec.ttl"));
        let e = errs(json!({"zoneName": "a", "addr": "300.1.1.1"}), None);
        assert_eq!(e[0].field, "spec.addr");
        let e = errs(json!({"zoneName": "a", "ttl": "x"}), None);
        assert_eq!(e[0].reason, "FieldValueTypeInvalid");
        let e = errs(json!({"zoneName": "aaaaaaaaaaaaaaaaaaaaaaaaaa"}), None);
        assert_eq!(e[0].field, "spec.zoneName");
    }

    #[test]
    fn defaults_and_pruning() {
        let v = Validator::new(&schema()).unwrap();
        let mut obj = json!({"metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {"zoneName": "a", "bogus": 1}, "extra": 2});
        v.prepare(&mut obj);
        assert_eq!(obj["spec"]["ttl"], 3600);
        assert!(obj["spec"].get("bogus").is_none());
        assert!(obj.get("extra").is_none());
        assert_eq!(obj["metadata"]["labels"]["x"], "y");
    }

    #[test]
    fn cel_rules_and_transition_rules() {
        let e = errs(json!({"zoneName": "a", "ttl": 30}), None);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].detail.contains("ttl must be at least 60"));
        assert_eq!(e[0].field, "spec");
        // transition rule: only on update
        let e = errs(json!({"zoneName": "b"}), Some(json!({"zoneName": "a"})));
        assert!(e.iter().any(|e| e.detail.contains("immutable")), "{e:?}");
        assert!(errs(json!({"zoneName": "a"}), Some(json!({"zoneName": "a"}))).is_empty());
    }

    #[test]
    fn field_paths() {
        assert_eq!(field_path("/spec/servers/0/port"), "spec.servers[0].port");
        assert_eq!(field_path(""), "");
    }
}
