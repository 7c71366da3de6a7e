//! Label and field selectors, parsed from the query-string syntax kube-rs and kubectl send.
//!
//! Hand-written because no maintained crate parses Kubernetes selector strings on the server
//! side (kube-rs only builds them). Supported: labels `k`, `!k`, `k=v`, `k==v`, `k!=v`,
//! `k in (a,b)`, `k notin (a,b)`; fields `path=v`, `path==v`, `path!=v` where `path` is any
//! dotted path into the object (`metadata.name`, `involvedObject.uid`, `spec.nodeName`, ...).

use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Exists(String),
    NotExists(String),
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed label selector (all requirements must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

/// A parsed field selector (all requirements must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<Req>);

/// Split on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(rest: &str, sel: &str) -> Result<Vec<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| ApiError::bad_request(format!("unable to parse requirement: {sel}")))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn parse_label_req(part: &str) -> Result<Req, ApiError> {
    if let Some(k) = part.strip_prefix('!') {
        return Ok(Req::NotExists(k.trim().to_string()));
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Req::NotEq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(Req::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(Req::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, rest)) = part.split_once(" notin ") {
        return Ok(Req::NotIn(k.trim().into(), parse_set(rest, part)?));
    }
    if let Some((k, rest)) = part.split_once(" in ") {
        return Ok(Req::In(k.trim().into(), parse_set(rest, part)?));
    }
    let k = part.trim();
    if k.is_empty() || k.contains(' ') || k.contains('(') {
        return Err(ApiError::bad_request(format!(
            "unable to parse requirement: {part}"
        )));
    }
    Ok(Req::Exists(k.into()))
}

impl LabelSelector {
    /// Parse a `labelSelector` query value.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        split_top(s)
            .into_iter()
            .map(parse_label_req)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
        })
    }
}

/// The string form of the value at a dotted path (missing fields read as "").
fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl FieldSelector {
    /// Parse a `fieldSelector` query value.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let r = if let Some((k, v)) = part.split_once("!=") {
                Req::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            reqs.push(r);
        }
        Ok(Self(reqs))
    }

    /// Whether the object satisfies the selector.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => field_value(obj, k) == *v,
            Req::NotEq(k, v) => field_value(obj, k) != *v,
            _ => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns1",
            "labels": {"app": "bind", "tier": "primary", "part-of": "bindy"}},
            "spec": {"replicas": 3}})
    }

    #[test]
    fn label_operators() {
        let o = obj();
        let t = |s: &str| LabelSelector::parse(s).unwrap().matches(&o);
        assert!(t("app=bind"));
        assert!(t("app==bind,tier=primary"));
        assert!(!t("app=dnsd"));
        assert!(t("app!=dnsd"));
        assert!(!t("app!=bind"));
        assert!(t("tier in (primary, secondary)"));
        assert!(!t("tier in (secondary)"));
        assert!(t("tier notin (secondary)"));
        assert!(t("missing notin (x)"));
        assert!(!t("tier notin (primary)"));
        assert!(t("part-of"));
        assert!(!t("!part-of"));
        assert!(t("!missing"));
        assert!(t(""));
        assert!(t("app=bind,tier in (primary,x),!missing"));
        assert!(LabelSelector::parse("tier in primary").is_err());
    }

    #[test]
    fn field_selectors() {
        let o = obj();
        let t = |s: &str| FieldSelector::parse(s).unwrap().matches(&o);
        assert!(t("metadata.name=a"));
        assert!(t("metadata.name=a,metadata.namespace=ns1"));
        assert!(!t("metadata.namespace=ns2"));
        assert!(t("metadata.namespace!=ns2"));
        assert!(t("spec.replicas=3"));
        assert!(t("spec.nodeName="));
        assert!(FieldSelector::parse("metadata.name").is_err());
    }
}
