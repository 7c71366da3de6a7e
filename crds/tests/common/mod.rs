//! Helpers shared by the integration tests: loading manifests, validating them the way the API
//! server would (OpenAPI schema with `jsonschema`, CEL rules with `kube-cel`), and typed round
//! trips through the Rust types.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use bindy_crds::{
    AAAARecord, ARecord, Bind9Cluster, Bind9Instance, CAARecord, CNAMERecord, DNSZone, DnsRecord,
    MXRecord, NSRecord, RecordSet, SRVRecord, TXTRecord,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every YAML document of a file, as JSON values, with the file name for messages.
pub fn load_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            let v: serde_yaml::Value = serde::Deserialize::deserialize(d)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::to_value(v).expect("YAML maps to JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// `*.yaml` files directly in `dir`, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Generated CRDs by kind.
pub fn crds_by_kind() -> BTreeMap<String, CustomResourceDefinition> {
    bindy_crds::generate::crds()
        .expect("CRDs generate")
        .into_iter()
        .map(|c| (c.spec.names.kind.clone(), c))
        .collect()
}

/// Served-version openAPIV3Schema per kind, generated once per test binary.
static SCHEMAS: LazyLock<BTreeMap<String, Value>> = LazyLock::new(|| {
    crds_by_kind()
        .into_iter()
        .map(|(kind, crd)| {
            let v = crd
                .spec
                .versions
                .iter()
                .find(|v| v.name == "v1beta1")
                .expect("v1beta1");
            let schema = v
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("schema");
            (kind, serde_json::to_value(schema).expect("schema to JSON"))
        })
        .collect()
});

/// The served version's openAPIV3Schema of a kind.
pub fn schema_of(kind: &str) -> Value {
    SCHEMAS
        .get(kind)
        .unwrap_or_else(|| panic!("unknown kind {kind}"))
        .clone()
}

/// OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a `null` member of `type`.
fn openapi_to_jsonschema(node: &mut Value) {
    match node {
        Value::Object(map) => {
            if map.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(t)) = map.get("type").cloned() {
                    map.insert("type".into(), serde_json::json!([t, "null"]));
                }
            }
            map.values_mut().for_each(openapi_to_jsonschema);
        }
        Value::Array(a) => a.iter_mut().for_each(openapi_to_jsonschema),
        _ => {}
    }
}

/// Errors from validating `doc` against its kind's OpenAPI schema (patterns, formats, ranges,
/// enums, required fields), as the API server's schema validation would report them.
pub fn schema_errors(doc: &Value) -> Vec<String> {
    let kind = doc["kind"].as_str().expect("kind");
    let mut schema = schema_of(kind);
    openapi_to_jsonschema(&mut schema);
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("generated schema compiles as JSON Schema");
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Errors from the kind's CEL `x-kubernetes-validations` rules, evaluated client-side by
/// kube-cel after schema defaults are applied (the API server's order).
pub fn cel_errors(doc: &Value) -> Vec<String> {
    let kind = doc["kind"].as_str().expect("kind");
    let schema = schema_of(kind);
    match kube_cel::Validator::new().validate(&schema, doc, None) {
        Ok(()) => vec![],
        Err(errs) => errs.as_slice().iter().map(|e| e.to_string()).collect(),
    }
}

/// Every error the API server would raise for `doc` (schema, then CEL).
pub fn all_errors(doc: &Value) -> Vec<String> {
    let mut e = schema_errors(doc);
    e.extend(cel_errors(doc));
    e
}

fn typed<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    doc: &Value,
) -> Result<Value, String> {
    let t: T = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
    let out = serde_json::to_value(&t).map_err(|e| e.to_string())?;
    let back: T = serde_json::from_value(out.clone()).map_err(|e| e.to_string())?;
    if back != t {
        return Err(format!("round trip changed the object: {t:?} vs {back:?}"));
    }
    Ok(out)
}

/// Parses `doc` into its Rust type, serialises it back, and checks the result re-parses to the
/// same value. Returns the re-serialised JSON.
pub fn typed_round_trip(doc: &Value) -> Result<Value, String> {
    match doc["kind"].as_str().unwrap_or_default() {
        "Bind9Cluster" => typed::<Bind9Cluster>(doc),
        "Bind9Instance" => typed::<Bind9Instance>(doc),
        "DNSZone" => typed::<DNSZone>(doc),
        "ARecord" => typed::<ARecord>(doc),
        "AAAARecord" => typed::<AAAARecord>(doc),
        "CNAMERecord" => typed::<CNAMERecord>(doc),
        "MXRecord" => typed::<MXRecord>(doc),
        "TXTRecord" => typed::<TXTRecord>(doc),
        "NSRecord" => typed::<NSRecord>(doc),
        "SRVRecord" => typed::<SRVRecord>(doc),
        "CAARecord" => typed::<CAARecord>(doc),
        other => Err(format!("unknown kind {other:?}")),
    }
}

/// Paths in `original` whose value is missing or different in `out`: fields the Rust types
/// dropped or rewrote (a misspelt field would vanish silently otherwise).
pub fn lost_fields(original: &Value, out: &Value, path: &str, lost: &mut Vec<String>) {
    match (original, out) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => lost_fields(v, w, &format!("{path}.{k}"), lost),
                    None => lost.push(format!("{path}.{k}")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                lost_fields(v, w, &format!("{path}[{i}]"), lost);
            }
        }
        (a, b) if a == b => {}
        (a, b) => lost.push(format!("{path}: {a} became {b}")),
    }
}

/// The `DnsRecord` view of a record document.
pub fn record_set_of(doc: &Value) -> Option<RecordSet> {
    fn rs<T: DnsRecord>(doc: &Value) -> Option<RecordSet> {
        serde_json::from_value::<T>(doc.clone())
            .ok()
            .map(|r| r.record_set())
    }
    match doc["kind"].as_str()? {
        "ARecord" => rs::<ARecord>(doc),
        "AAAARecord" => rs::<AAAARecord>(doc),
        "CNAMERecord" => rs::<CNAMERecord>(doc),
        "MXRecord" => rs::<MXRecord>(doc),
        "TXTRecord" => rs::<TXTRecord>(doc),
        "NSRecord" => rs::<NSRecord>(doc),
        "SRVRecord" => rs::<SRVRecord>(doc),
        "CAARecord" => rs::<CAARecord>(doc),
        _ => None,
    }
}
