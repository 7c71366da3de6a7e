//! Every manifest in `deploy/examples/` parses into the Rust types without losing a field,
//! passes the generated OpenAPI schema and the CEL rules, and the set is complete (a cluster, a
//! dnsd tier, a zone and one record of each of the eight kinds).

mod common;

use std::collections::BTreeSet;

use bindy_crds::{RecordData, RecordType};
use common::*;

fn example_docs() -> Vec<(String, serde_json::Value)> {
    let dir = repo_root().join("deploy/examples");
    let files = yaml_files(&dir);
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files
        .iter()
        .flat_map(|f| {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Other documents (a kustomization, a Namespace) are not ours to check here.
            load_docs(f)
                .into_iter()
                .filter(|d| {
                    d["apiVersion"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("bindy.firestoned.io/"))
                })
                .map(move |d| (name.clone(), d))
        })
        .collect()
}

#[test]
fn every_example_round_trips_through_the_rust_types_without_losing_fields() {
    let docs = example_docs();
    for (file, doc) in &docs {
        let out = typed_round_trip(doc).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut lost = Vec::new();
        lost_fields(doc, &out, "", &mut lost);
        assert!(
            lost.is_empty(),
            "{file} {}: fields not kept by the types: {lost:?}",
            doc["metadata"]["name"]
        );
    }
}

#[test]
fn every_example_passes_the_generated_schema_and_cel_rules() {
    for (file, doc) in example_docs() {
        assert_eq!(
            doc["apiVersion"], "bindy.firestoned.io/v1beta1",
            "{file}: use the served version"
        );
        let errors = all_errors(&doc);
        assert!(
            errors.is_empty(),
            "{file} {}: {errors:?}",
            doc["metadata"]["name"]
        );
    }
}

#[test]
fn the_example_set_is_complete_and_consistent() {
    let docs = example_docs();
    let kinds: BTreeSet<&str> = docs
        .iter()
        .filter_map(|(_, d)| d["kind"].as_str())
        .collect();
    for kind in [
        "Bind9Cluster",
        "Bind9Instance",
        "DNSZone",
        "ARecord",
        "AAAARecord",
        "CNAMERecord",
        "MXRecord",
        "TXTRecord",
        "NSRecord",
        "SRVRecord",
        "CAARecord",
    ] {
        assert!(kinds.contains(kind), "no {kind} example");
    }
    let servers: BTreeSet<String> = docs
        .iter()
        .filter_map(|(_, d)| match d["kind"].as_str() {
            Some("Bind9Cluster") => d["spec"]["secondary"]["server"]
                .as_str()
                .map(str::to_string),
            Some("Bind9Instance") => d["spec"]["server"].as_str().map(str::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(
        servers,
        BTreeSet::from(["bind9".to_string(), "dnsd".to_string()]),
        "a BIND9 and a dnsd secondary tier"
    );

    // The zone's selector must select every example record.
    let zone = docs
        .iter()
        .find(|(_, d)| d["kind"] == "DNSZone")
        .map(|(_, d)| d)
        .expect("zone");
    let zone_spec = serde_json::from_value::<bindy_crds::DNSZone>(zone.clone())
        .expect("zone parses")
        .spec;
    let cluster = docs
        .iter()
        .find(|(_, d)| d["kind"] == "Bind9Cluster")
        .map(|(_, d)| d)
        .expect("cluster");
    assert_eq!(zone["spec"]["clusterRef"], cluster["metadata"]["name"]);
    let mut types = BTreeSet::new();
    for (file, doc) in &docs {
        let Some(set) = record_set_of(doc) else {
            continue;
        };
        let labels = serde_json::from_value(doc["metadata"]["labels"].clone()).unwrap_or_default();
        assert!(
            zone_spec.selects_record(&labels).expect("valid selector"),
            "{file}: record {} not selected by the zone",
            doc["metadata"]["name"]
        );
        assert!(!set.data.is_empty());
        assert!(set.data.iter().all(|d| d.record_type() == set.record_type));
        types.insert(set.record_type);
    }
    assert_eq!(
        types.len(),
        RecordType::ALL.len(),
        "one record of each type"
    );
}

#[test]
fn records_convert_to_the_kind_neutral_model() {
    let docs = example_docs();
    let sets: Vec<_> = docs.iter().filter_map(|(_, d)| record_set_of(d)).collect();
    let find = |t: RecordType| {
        sets.iter()
            .find(|s| s.record_type == t)
            .expect("record of type")
    };

    let a = find(RecordType::A);
    assert_eq!((a.name.as_str(), a.ttl), ("www", Some(300)));
    assert_eq!(
        a.data,
        vec![
            RecordData::A("192.0.2.10".parse().unwrap()),
            RecordData::A("192.0.2.11".parse().unwrap())
        ]
    );
    assert_eq!(
        find(RecordType::Aaaa).ttl,
        None,
        "no ttl means the zone default"
    );
    assert_eq!(
        find(RecordType::Cname).data,
        vec![RecordData::Cname {
            target: "www.example.com.".into()
        }]
    );
    assert_eq!(
        find(RecordType::Mx).data,
        vec![RecordData::Mx {
            preference: 10,
            exchange: "mail.example.com.".into()
        }]
    );
    assert_eq!(
        find(RecordType::Txt).data,
        vec![RecordData::Txt {
            strings: vec!["v=spf1 mx -all".into()]
        }]
    );
    assert_eq!(
        find(RecordType::Ns).data,
        vec![RecordData::Ns {
            nameserver: "ns1.dev.example.net.".into()
        }]
    );
    assert_eq!(
        find(RecordType::Srv).data,
        vec![RecordData::Srv {
            priority: 10,
            weight: 60,
            port: 5060,
            target: "sip.example.com.".into()
        }]
    );
    assert_eq!(
        find(RecordType::Caa).data,
        vec![RecordData::Caa {
            flags: 0,
            tag: "issue".into(),
            value: "letsencrypt.org".into()
        }]
    );
    assert_eq!(
        bindy_crds::owner_fqdn(&find(RecordType::Srv).name, "example.com"),
        "_sip._tcp.example.com."
    );
}
