//! `bindy-demo` (the README's demo, `scripts/demo.sh`) against a real `named`: the shipped
//! `deploy/examples/` go through the operator's BIND9 layer and every record kind is served;
//! a second apply writes nothing; a change lands; the generated named.conf passes
//! `named-checkconf`. dnsd's side of the demo is covered by dnsd's own secondary tests.

mod deploy_support;

use std::path::Path;
use std::process::{Command, Output};

use bindy_tests::named::{require_tools, NamedBuilder};
use deploy_support::root;

fn demo(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_bindy-demo"))
        .args(args)
        .output()
        .expect("run bindy-demo");
    println!(
        "$ bindy-demo {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The shipped example records with www's first address replaced (the demo's "change").
fn records_with_www(www: &str) -> String {
    let examples = std::fs::read_to_string(root().join("deploy/examples/records.yaml")).unwrap();
    assert!(examples.contains("- 192.0.2.10\n"), "www's address moved");
    examples.replace("- 192.0.2.10\n", &format!("- {www}\n"))
}

#[test]
fn demo_applies_the_examples_to_real_named_idempotently() {
    if !require_tools(&["named", "named-checkconf", "named-checkzone"]) {
        return;
    }
    let ns = NamedBuilder::new().start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, rndc_key) = (d.join("tsig.key"), d.join("rndc.key"));
    ns.tsig().write_key_file(&key).unwrap();
    ns.rndc_key().write_key_file(&rndc_key).unwrap();
    let s = |p: &Path| p.display().to_string();
    let (primary, rndc) = (ns.addr().to_string(), ns.rndc_addr().to_string());

    // The generated named.conf is accepted by BIND.
    let conf = demo(&[
        "named-conf",
        "--dir",
        &s(d),
        "--listen",
        "127.0.0.1:15399",
        "--rndc",
        "127.0.0.1:15999",
        "--key",
        &s(&key),
        "--rndc-key",
        &s(&rndc_key),
    ]);
    assert!(conf.status.success());
    std::fs::write(d.join("named.conf"), &conf.stdout).unwrap();
    let check = Command::new("named-checkconf")
        .arg(d.join("named.conf"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let apply = |records: &Path| {
        let examples = root().join("deploy/examples");
        demo(&[
            "apply",
            "--examples",
            &s(&examples),
            "--records",
            &s(records),
            "--dir",
            &s(d),
            "--primary",
            &primary,
            "--rndc",
            &rndc,
            "--key",
            &s(&key),
            "--rndc-key",
            &s(&rndc_key),
        ])
    };
    // The shipped examples as they are: BIND accepts every record (an MX whose in-zone
    // target has no address would be refused).
    let records = root().join("deploy/examples/records.yaml");
    let first = apply(&records);
    assert!(first.status.success(), "{}", ns.log_tail(30));
    assert!(String::from_utf8_lossy(&first.stdout).contains("10 RRsets written"));

    let dig = |name: &str, t: &str| {
        let mut v = ns.dig_short(name, t).unwrap();
        v.sort();
        v
    };
    assert_eq!(dig("www.example.com", "A"), ["192.0.2.10", "192.0.2.11"]);
    assert_eq!(dig("www.example.com", "AAAA"), ["2001:db8::10"]);
    assert_eq!(dig("blog.example.com", "CNAME"), ["www.example.com."]);
    assert_eq!(dig("example.com", "MX"), ["10 mail.example.com."]);
    assert_eq!(dig("example.com", "TXT"), ["\"v=spf1 mx -all\""]);
    assert_eq!(dig("example.com", "CAA"), ["0 issue \"letsencrypt.org\""]);
    assert_eq!(
        dig("_sip._tcp.example.com", "SRV"),
        ["10 60 5060 sip.example.com."]
    );
    assert_eq!(
        dig("ns1.example.com", "A"),
        ["192.0.2.53"],
        "glue from nameServers"
    );
    let axfr = ns.axfr("example.com").unwrap();
    assert!(
        axfr.lines().any(|l| l.starts_with("dev.example.com.")
            && l.contains("NS")
            && l.ends_with("ns1.dev.example.net.")),
        "{axfr}"
    );
    assert_eq!(dig("mail.example.com", "A"), ["192.0.2.25"]);
    assert_eq!(dig("sip.example.com", "A"), ["192.0.2.26"]);
    // The zone as BIND serves it passes named-checkzone without integrity warnings (MX/SRV
    // targets without addresses, CNAME and other data, ...).
    let zone_file = d.join("transferred.zone");
    let zone_text: Vec<&str> = axfr
        .lines()
        .filter(|l| l.split_whitespace().nth(3) != Some("TSIG"))
        .collect();
    std::fs::write(&zone_file, zone_text.join("\n") + "\n").unwrap();
    let check = Command::new("named-checkzone")
        .args(["-i", "full", "example.com"])
        .arg(&zone_file)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert_eq!(
        report
            .lines()
            .filter(|l| !l.contains("loaded serial") && *l != "OK")
            .count(),
        0,
        "{report}"
    );

    // Same manifests again: nothing written. A changed record: exactly one RRset.
    let again = apply(&records);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 RRsets written, 10 already"));
    let changed_records = d.join("records.yaml");
    std::fs::write(&changed_records, records_with_www("192.0.2.99")).unwrap();
    let changed = apply(&changed_records);
    assert!(changed.status.success());
    assert!(String::from_utf8_lossy(&changed.stdout).contains("1 RRsets written, 9 already"));
    assert_eq!(dig("www.example.com", "A"), ["192.0.2.11", "192.0.2.99"]);
}
