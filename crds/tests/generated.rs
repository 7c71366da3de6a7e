//! The committed manifests and reference match the types, and the generated CRDs are what the
//! API server accepts: structural schemas, both versions, kubectl names and columns.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

#[test]
fn committed_files_match_the_types() {
    let root = repo_root();
    let mut stale = Vec::new();
    for (rel, want) in bindy_crds::generate::files().expect("generate") {
        let have = std::fs::read_to_string(root.join(&rel)).unwrap_or_default();
        if have != want {
            stale.push(rel);
        }
    }
    assert!(
        stale.is_empty(),
        "generated files are out of date: {stale:?}; run `cargo run -p bindy-crds --bin crdgen` and commit the result"
    );
}

#[test]
fn all_yaml_holds_every_crd_file() {
    let root = repo_root();
    let all = load_docs(&root.join("deploy/crds/all.yaml"));
    let names: BTreeSet<String> = all
        .iter()
        .map(|d| {
            d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(names.len(), 11);
    for crd in crds_by_kind().values() {
        let file = root.join(format!("deploy/crds/{}.yaml", crd.spec.names.plural));
        let docs = load_docs(&file);
        assert_eq!(docs.len(), 1, "{}", file.display());
        assert!(
            all.contains(&docs[0]),
            "{} differs from its all.yaml copy",
            file.display()
        );
    }
}

/// Kubernetes' structural-schema rules, plus our own stricter ones (no `$ref`, no
/// preserve-unknown-fields, only formats the API server knows).
fn check_structural(path: &str, node: &Value, problems: &mut Vec<String>) {
    let Some(map) = node.as_object() else { return };
    const FORMATS: [&str; 7] = [
        "int32",
        "int64",
        "date-time",
        "ipv4",
        "ipv6",
        "cidr",
        "byte",
    ];
    for key in [
        "$ref",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "x-kubernetes-preserve-unknown-fields",
        "definitions",
        "$defs",
    ] {
        if map.contains_key(key) {
            problems.push(format!("{path}: has {key}"));
        }
    }
    let int_or_string = map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if !int_or_string && !path.is_empty() && !map.contains_key("type") {
        problems.push(format!("{path}: no type"));
    }
    if let Some(f) = map.get("format").and_then(Value::as_str) {
        if !FORMATS.contains(&f) {
            problems.push(format!("{path}: format {f} unknown to the API server"));
        }
    }
    if map.contains_key("properties") && map.contains_key("additionalProperties") {
        problems.push(format!(
            "{path}: properties and additionalProperties together"
        ));
    }
    if map.get("type").and_then(Value::as_str) == Some("array") && !map.contains_key("items") {
        problems.push(format!("{path}: array without items"));
    }
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            check_structural(&format!("{path}.{k}"), v, problems);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get(key).filter(|c| c.is_object()) {
            check_structural(&format!("{path}.{key}"), child, problems);
        }
    }
}

#[test]
fn schemas_are_structural() {
    for (kind, crd) in crds_by_kind() {
        for v in &crd.spec.versions {
            let schema = serde_json::to_value(
                v.schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref())
                    .expect("schema"),
            )
            .expect("json");
            assert_eq!(schema["type"], "object", "{kind}");
            let mut problems = Vec::new();
            check_structural("", &schema, &mut problems);
            assert!(problems.is_empty(), "{kind} {}: {problems:?}", v.name);
        }
    }
}

#[test]
fn every_crd_serves_v1beta1_and_lists_a_deprecated_unserved_v1alpha1() {
    for (kind, crd) in crds_by_kind() {
        assert_eq!(crd.spec.group, "bindy.firestoned.io");
        assert_eq!(crd.spec.scope, "Namespaced");
        let v: Vec<_> = crd
            .spec
            .versions
            .iter()
            .map(|v| {
                (
                    v.name.as_str(),
                    v.served,
                    v.storage,
                    v.deprecated.unwrap_or(false),
                )
            })
            .collect();
        assert_eq!(
            v,
            vec![
                ("v1beta1", true, true, false),
                ("v1alpha1", false, false, true)
            ],
            "{kind}"
        );
        assert_eq!(
            crd.spec.versions[0].schema, crd.spec.versions[1].schema,
            "{kind}: same schema in both versions"
        );
        assert!(
            crd.spec.versions[0]
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{kind}: status subresource"
        );
    }
}

#[test]
fn kubectl_names_and_columns() {
    // Built-in short names and resources we must not shadow.
    let builtin: BTreeSet<&str> = [
        "ns", "no", "po", "svc", "cm", "ep", "sa", "pv", "pvc", "rs", "rc", "ds", "deploy", "sts",
        "ing", "netpol", "pdb", "crd", "cs", "ev", "hpa", "limits", "quota", "sc", "csr", "pc",
        "ds", "all",
    ]
    .into();
    let mut seen = BTreeSet::new();
    for (kind, crd) in crds_by_kind() {
        let names = &crd.spec.names;
        assert_eq!(
            names.categories.as_deref(),
            Some(&["bindy".to_string()][..]),
            "{kind}"
        );
        let shorts = names.short_names.clone().unwrap_or_default();
        assert!(!shorts.is_empty(), "{kind}: no short name");
        for s in shorts {
            assert!(
                !builtin.contains(s.as_str()),
                "{kind}: short name {s} shadows a built-in"
            );
            assert!(seen.insert(s.clone()), "{kind}: short name {s} used twice");
        }
        let cols: Vec<String> = crd.spec.versions[0]
            .additional_printer_columns
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert!(
            cols.contains(&"Ready".to_string()) && cols.last().map(String::as_str) == Some("Age"),
            "{kind}: {cols:?}"
        );
        if kind.ends_with("Record") {
            assert_eq!(
                cols[..2],
                ["Name".to_string(), "Zone".to_string()],
                "{kind}"
            );
            assert_eq!(cols.len(), 5, "{kind}: name, zone, data, ready, age");
        }
    }
    let zone = &crds_by_kind()["DNSZone"];
    let cols: Vec<String> = zone.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(cols, ["Zone", "Ready", "Records", "Serial", "Age"]);
}

#[test]
fn conditions_merge_by_type_under_server_side_apply() {
    for (kind, _) in crds_by_kind() {
        let s = schema_of(&kind);
        let c = &s["properties"]["status"]["properties"]["conditions"];
        assert_eq!(c["x-kubernetes-list-type"], "map", "{kind}");
        assert_eq!(
            c["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"]),
            "{kind}"
        );
        assert!(
            c["items"]["required"]
                .as_array()
                .is_some_and(|r| r.contains(&"type".into())),
            "{kind}: map key must be required"
        );
    }
}

#[test]
fn unsigned_fields_are_bounded_so_the_operator_can_always_parse_what_is_stored() {
    let s = schema_of("SRVRecord");
    assert_eq!(
        s["properties"]["spec"]["properties"]["port"]["maximum"].as_f64(),
        Some(65535.0)
    );
    let s = schema_of("CAARecord");
    assert_eq!(
        s["properties"]["spec"]["properties"]["flags"]["maximum"].as_f64(),
        Some(255.0)
    );
    let s = schema_of("DNSZone");
    assert_eq!(
        s["properties"]["spec"]["properties"]["soaRecord"]["properties"]["serial"]["maximum"]
            .as_f64(),
        Some(4294967295.0)
    );
    let a = schema_of("ARecord");
    assert_eq!(
        a["properties"]["spec"]["properties"]["ipv4Addresses"]["items"]["format"],
        "ipv4"
    );
}

#[test]
fn crdgen_binary_writes_exactly_the_generated_files() {
    let dir = std::env::temp_dir().join(format!("bindy-crdgen-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crdgen"))
        .arg(&dir)
        .output()
        .expect("run crdgen");
    assert!(
        out.status.success(),
        "crdgen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = bindy_crds::generate::files().expect("generate");
    assert_eq!(files.len(), 13, "11 CRDs, all.yaml, the reference");
    for (rel, want) in files {
        let have = std::fs::read_to_string(dir.join(&rel)).unwrap_or_default();
        assert_eq!(have, want, "{rel}");
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}
