//! Manifests the API server must reject, one rule each (`crds/tests/bad/*.yaml`). Each file
//! says which layer rejects it (`# by: schema` or `# by: cel`) and a piece of the expected
//! error (`# expect: ...`). A CEL case must pass the schema, so the rule itself is shown to
//! do the work.

mod common;

use common::*;

struct Case {
    file: String,
    by: String,
    expect: String,
    doc: serde_json::Value,
}

fn cases() -> Vec<Case> {
    let dir = repo_root().join("crds/tests/bad");
    let files = yaml_files(&dir);
    assert!(
        files.len() >= 20,
        "expected the bad examples in {}",
        dir.display()
    );
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            let header = |key: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
                    .unwrap_or_else(|| panic!("{}: no '# {key}:' header", f.display()))
                    .to_string()
            };
            let mut docs = load_docs(f);
            assert_eq!(docs.len(), 1, "{}: one document per file", f.display());
            Case {
                file: f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                by: header("by"),
                expect: header("expect"),
                doc: docs.remove(0),
            }
        })
        .collect()
}

#[test]
fn every_bad_example_is_rejected_by_the_layer_it_names() {
    let mut checked = 0;
    for c in cases() {
        let schema = schema_errors(&c.doc);
        let cel = cel_errors(&c.doc);
        let errors = match c.by.as_str() {
            "schema" => &schema,
            "cel" => {
                assert!(
                    schema.is_empty(),
                    "{}: a CEL case must pass the schema, got {schema:?}",
                    c.file
                );
                &cel
            }
            other => panic!("{}: unknown layer {other}", c.file),
        };
        assert!(
            !errors.is_empty(),
            "{}: accepted, but must be rejected by {}",
            c.file,
            c.by
        );
        assert!(
            errors.iter().any(|e| e.contains(&c.expect)),
            "{}: expected an error containing {:?}, got {errors:?}",
            c.file,
            c.expect
        );
        checked += 1;
    }
    assert!(checked >= 20);
}

/// The Rust-side validation of a document: typed parse, then the kind's `validate`.
fn rust_verdict(doc: &serde_json::Value) -> Result<(), String> {
    use bindy_crds::DnsRecord;
    fn rec<T: DnsRecord>(doc: &serde_json::Value) -> Result<(), String> {
        let r: T = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
        r.validate().map_err(|e| e.to_string())
    }
    match doc["kind"].as_str().unwrap_or_default() {
        "ARecord" => rec::<bindy_crds::ARecord>(doc),
        "AAAARecord" => rec::<bindy_crds::AAAARecord>(doc),
        "CNAMERecord" => rec::<bindy_crds::CNAMERecord>(doc),
        "MXRecord" => rec::<bindy_crds::MXRecord>(doc),
        "TXTRecord" => rec::<bindy_crds::TXTRecord>(doc),
        "NSRecord" => rec::<bindy_crds::NSRecord>(doc),
        "SRVRecord" => rec::<bindy_crds::SRVRecord>(doc),
        "CAARecord" => rec::<bindy_crds::CAARecord>(doc),
        "DNSZone" => serde_json::from_value::<bindy_crds::DNSZone>(doc.clone())
            .map_err(|e| e.to_string())?
            .spec
            .validate()
            .map_err(|e| e.to_string()),
        "Bind9Instance" => serde_json::from_value::<bindy_crds::Bind9Instance>(doc.clone())
            .map_err(|e| e.to_string())?
            .spec
            .validate()
            .map_err(|e| e.to_string()),
        // No cross-field rules: parsing is the whole check.
        "Bind9Cluster" => serde_json::from_value::<bindy_crds::Bind9Cluster>(doc.clone())
            .map(drop)
            .map_err(|e| e.to_string()),
        other => Err(format!("no Rust validation for {other}")),
    }
}

#[test]
fn the_rust_side_agrees_with_the_cel_rules_and_rejects_bad_records() {
    // CEL rules: the Rust predicate gives the same verdict (and message) as the rule.
    for c in cases().into_iter().filter(|c| c.by == "cel") {
        let err = rust_verdict(&c.doc).expect_err(&c.file);
        assert!(
            err.contains(&c.expect),
            "{}: Rust says {err:?}, CEL says {:?}",
            c.file,
            c.expect
        );
    }
    // Schema rules on records: the operator must never publish what the API server refuses,
    // so either the typed parse or DnsRecord::validate rejects it.
    for c in cases().into_iter().filter(|c| {
        c.by == "schema"
            && c.doc["kind"]
                .as_str()
                .unwrap_or_default()
                .ends_with("Record")
    }) {
        assert!(
            rust_verdict(&c.doc).is_err(),
            "{}: schema rejects it but the Rust side accepts it",
            c.file
        );
    }
    // And every good example passes the Rust side.
    for f in yaml_files(&repo_root().join("deploy/examples")) {
        for doc in load_docs(&f) {
            if doc["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("bindy.firestoned.io/"))
            {
                assert_eq!(rust_verdict(&doc), Ok(()), "{}", f.display());
            }
        }
    }
}
