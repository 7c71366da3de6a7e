//! The CEL rules in the generated CRDs and their Rust mirrors (`validate()`) give the same
//! verdict on generated input, so the operator's own checks mean what the API server enforces.
//! CEL runs client-side through kube-cel, on the rules as written into the CRDs.

mod common;

use std::sync::LazyLock;

use bindy_crds::DnsRecord;
use common::schema_of;
use proptest::prelude::*;
use serde_json::{json, Value};

static SCHEMAS: LazyLock<Vec<(&'static str, kube_cel::CompiledSchema)>> = LazyLock::new(|| {
    ["DNSZone", "Bind9Instance", "CNAMERecord", "NSRecord"]
        .into_iter()
        .map(|k| {
            let compiled = kube_cel::compile_schema(&schema_of(k));
            assert!(
                !compiled.has_errors(),
                "{k}: CEL rules do not compile: {:?}",
                compiled.compilation_errors()
            );
            (k, compiled)
        })
        .collect()
});

fn cel_accepts(doc: &Value) -> bool {
    let kind = doc["kind"].as_str().expect("kind");
    let schema = &SCHEMAS
        .iter()
        .find(|(k, _)| *k == kind)
        .expect("compiled")
        .1;
    kube_cel::Validator::new()
        .validate_compiled(schema, doc, None)
        .is_ok()
}

fn zone(
    refresh: u32,
    retry: Option<u32>,
    expire: Option<u32>,
    cluster: bool,
    selector: bool,
) -> Value {
    let mut soa = json!({"primaryNs": "ns1.example.com.", "adminEmail": "hostmaster@example.com", "refresh": refresh});
    if let Some(r) = retry {
        soa["retry"] = json!(r);
    }
    if let Some(e) = expire {
        soa["expire"] = json!(e);
    }
    let mut spec = json!({"zoneName": "example.com", "soaRecord": soa});
    if cluster {
        spec["clusterRef"] = json!("example");
    }
    if selector {
        spec["bind9InstancesFrom"] = json!([{"selector": {"matchLabels": {"a": "b"}}}]);
    }
    json!({"apiVersion": "bindy.firestoned.io/v1beta1", "kind": "DNSZone", "metadata": {"name": "z"}, "spec": spec})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn zone_rules_agree(refresh in 1u32..20_000, retry in proptest::option::of(1u32..20_000),
                        expire in proptest::option::of(1u32..20_000), cluster: bool, selector: bool) {
        let doc = zone(refresh, retry, expire, cluster, selector);
        let rust = serde_json::from_value::<bindy_crds::DNSZone>(doc.clone()).expect("parses").spec.validate();
        prop_assert_eq!(cel_accepts(&doc), rust.is_ok(), "{} -> {:?}", doc, rust);
    }

    #[test]
    fn instance_rules_agree(secondary: bool, server in proptest::option::of(prop::sample::select(vec!["bind9", "dnsd"])), primaries: bool) {
        let mut spec = json!({"role": if secondary { "secondary" } else { "primary" }});
        if let Some(s) = &server {
            spec["server"] = json!(s);
        }
        if primaries {
            spec["primaryServers"] = json!(["192.0.2.1"]);
        }
        let doc = json!({"apiVersion": "bindy.firestoned.io/v1beta1", "kind": "Bind9Instance", "metadata": {"name": "i"}, "spec": spec});
        let rust = serde_json::from_value::<bindy_crds::Bind9Instance>(doc.clone()).expect("parses").spec.validate();
        prop_assert_eq!(cel_accepts(&doc), rust.is_ok(), "{} -> {:?}", doc, rust);
    }

    #[test]
    fn apex_rules_agree(name in prop::sample::select(vec!["@", "www", "a.b", "*", "@x"])) {
        let cname = json!({"apiVersion": "bindy.firestoned.io/v1beta1", "kind": "CNAMERecord", "metadata": {"name": "c"},
                           "spec": {"name": name, "target": "www.example.com."}});
        let rec: bindy_crds::CNAMERecord = serde_json::from_value(cname.clone()).expect("parses");
        // The Rust check also covers the name syntax ("@x"), which the schema's pattern does.
        prop_assert_eq!(cel_accepts(&cname), name != "@");
        prop_assert_eq!(rec.validate().is_ok(), name != "@" && name != "@x");
        let ns = json!({"apiVersion": "bindy.firestoned.io/v1beta1", "kind": "NSRecord", "metadata": {"name": "n"},
                        "spec": {"name": name, "nameserver": "ns1.example.net."}});
        prop_assert_eq!(cel_accepts(&ns), name != "@");
    }
}

#[test]
fn defaults_are_applied_before_the_rules_like_the_api_server_does() {
    // retry defaults to 600: with refresh 300 the defaulted object breaks "retry < refresh".
    assert!(!cel_accepts(&zone(300, None, None, true, false)));
    assert!(cel_accepts(&zone(3600, None, None, true, false)));
    // expire defaults to 604800: refresh above it is refused.
    assert!(!cel_accepts(&zone(700_000, Some(600), None, true, false)));
}

/// Every schema node carrying CEL rules, with its path.
fn rule_nodes<'a>(path: String, node: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    if node.get("x-kubernetes-validations").is_some() {
        out.push((path.clone(), node));
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            rule_nodes(format!("{path}.{k}"), v, out);
        }
    }
    if let Some(items) = node.get("items") {
        rule_nodes(format!("{path}[]"), items, out);
    }
}

#[test]
fn every_cel_rule_compiles_stays_in_scope_and_within_the_cost_budget() {
    let mut rules = 0;
    for (kind, _) in common::crds_by_kind() {
        let schema = schema_of(&kind);
        let mut nodes = Vec::new();
        rule_nodes(kind.clone(), &schema, &mut nodes);
        for (path, node) in nodes {
            let compiled = kube_cel::compile_schema(node);
            assert!(
                !compiled.has_errors(),
                "{path}: {:?}",
                compiled.compilation_errors()
            );
            for r in node["x-kubernetes-validations"].as_array().expect("list") {
                let rule = r["rule"].as_str().expect("rule");
                assert!(
                    r["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{path}: rule {rule} has no message"
                );
                let warnings =
                    kube_cel::analyze_rule(rule, &compiled, kube_cel::ScopeContext::CrdValidation);
                assert!(warnings.is_empty(), "{path}: {rule}: {warnings:?}");
                rules += 1;
            }
        }
    }
    assert_eq!(
        rules, 9,
        "rules: DNSZone 4, Bind9Instance 3, CNAMERecord 1, NSRecord 1"
    );
}

#[test]
fn zone_name_and_instance_role_are_immutable() {
    let validator = kube_cel::Validator::new();
    let old = zone(3600, None, None, true, false);
    let mut renamed = old.clone();
    renamed["spec"]["zoneName"] = json!("example.org");
    let mut retimed = old.clone();
    retimed["spec"]["soaRecord"]["refresh"] = json!(7200);
    let schema = schema_of("DNSZone");
    let err = validator
        .validate(&schema, &renamed, Some(&old))
        .expect_err("rename refused");
    assert!(
        err.as_slice()
            .iter()
            .any(|e| e.message.contains("zoneName is immutable")),
        "{err:?}"
    );
    assert!(
        validator.validate(&schema, &retimed, Some(&old)).is_ok(),
        "other fields may change"
    );
    assert!(
        validator.validate(&schema, &renamed, None).is_ok(),
        "no transition rule on create"
    );

    let inst = |role: &str| {
        json!({"apiVersion": "bindy.firestoned.io/v1beta1", "kind": "Bind9Instance",
                                    "metadata": {"name": "i"}, "spec": {"role": role}})
    };
    let schema = schema_of("Bind9Instance");
    assert!(validator
        .validate(&schema, &inst("secondary"), Some(&inst("primary")))
        .is_err());
    assert!(validator
        .validate(&schema, &inst("primary"), Some(&inst("primary")))
        .is_ok());
}
