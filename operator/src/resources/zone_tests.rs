use super::*;
use bindy_crds::model::RecordData;
use bindy_crds::{Bind9InstanceSpec, Bind9InstanceStatus, DNSZoneSpec, SelectorSource, SoaRecord};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

fn zone(name: &str, origin: &str, app: &str) -> DNSZone {
    let mut z = DNSZone::new(
        name,
        DNSZoneSpec {
            zone_name: origin.into(),
            soa_record: SoaRecord {
                primary_ns: format!("ns1.{origin}."),
                admin_email: format!("hostmaster@{origin}"),
                serial: None,
                refresh: 3600,
                retry: 600,
                expire: 604_800,
                negative_ttl: 300,
            },
            ttl: 300,
            cluster_ref: Some("prod".into()),
            name_servers: vec![],
            records_from: vec![SelectorSource {
                selector: LabelSelector {
                    match_labels: Some([("app".to_string(), app.to_string())].into()),
                    match_expressions: None,
                },
            }],
            bind9_instances_from: None,
        },
    );
    z.metadata.namespace = Some("dns".into());
    z
}

fn entry(
    kind: &'static str,
    name: &str,
    owner: &str,
    t: RecordType,
    app: &str,
    created: &str,
) -> RecordEntry {
    let data = match t {
        RecordType::Cname => RecordData::Cname {
            target: "x.example.org.".into(),
        },
        _ => RecordData::A("192.0.2.1".parse().unwrap()),
    };
    RecordEntry {
        kind,
        namespace: "dns".into(),
        name: name.into(),
        labels: [("app".to_string(), app.to_string())].into(),
        created: created.into(),
        set: RecordSet {
            name: owner.into(),
            record_type: t,
            ttl: None,
            data: vec![data],
        },
        zone_ref: None,
        deleting: false,
        ready: false,
    }
}

#[test]
fn selection_claims_matching_releases_unmatched_and_never_steals() {
    let z = zone("example", "example.com", "web");
    let fresh = entry("ARecord", "www", "www", RecordType::A, "web", "1");
    let mut released = entry("ARecord", "old", "old", RecordType::A, "db", "1");
    released.zone_ref = Some(zone_ref_of(&z));
    let mut stolen = entry("ARecord", "other", "o", RecordType::A, "web", "1");
    stolen.zone_ref = Some(ZoneRef::new("dns", "another", "example.org."));
    let outside = entry(
        "ARecord",
        "out",
        "www.example.net.",
        RecordType::A,
        "web",
        "1",
    );
    let mut elsewhere = entry("ARecord", "ns2", "www", RecordType::A, "web", "1");
    elsewhere.namespace = "other".into();
    let all = [&fresh, &released, &stolen, &outside, &elsewhere];
    let sel = select(&z, &all);
    assert_eq!(sel.to_claim, vec![fresh.key()]);
    assert_eq!(sel.selected, vec![fresh.key()]);
    assert_eq!(sel.to_release, vec![released.key()]);
    assert_eq!(sel.out_of_zone, vec![outside.key()]);
}

#[test]
fn duplicate_rrsets_and_cname_beside_data_lose_to_the_oldest() {
    let a1 = entry(
        "ARecord",
        "a1",
        "www",
        RecordType::A,
        "web",
        "2026-01-01T00:00:00Z",
    );
    let a2 = entry(
        "ARecord",
        "a2",
        "www.example.com.",
        RecordType::A,
        "web",
        "2026-01-02T00:00:00Z",
    );
    let c = entry(
        "CNAMERecord",
        "c",
        "WWW",
        RecordType::Cname,
        "web",
        "2026-01-03T00:00:00Z",
    );
    let ok = entry(
        "ARecord",
        "api",
        "api",
        RecordType::A,
        "web",
        "2026-01-01T00:00:00Z",
    );
    let lost = conflicts("example.com.", &[&a2, &c, &a1, &ok]);
    assert_eq!(lost.len(), 2);
    assert!(lost[&a2.key()].contains("already claimed by ARecord/a1"));
    assert!(lost[&c.key()].contains("CNAME cannot coexist"));

    // An older CNAME wins over data added later.
    let c_old = entry(
        "CNAMERecord",
        "c",
        "mail",
        RecordType::Cname,
        "web",
        "2026-01-01T00:00:00Z",
    );
    let a_new = entry(
        "ARecord",
        "m",
        "mail",
        RecordType::A,
        "web",
        "2026-01-05T00:00:00Z",
    );
    let lost = conflicts("example.com.", &[&a_new, &c_old]);
    assert_eq!(lost.keys().collect::<Vec<_>>(), vec![&a_new.key()]);
}

fn instance(name: &str, cluster: Option<&str>, role: ServerRole, ips: &[&str]) -> Bind9Instance {
    let mut i = Bind9Instance::new(
        name,
        Bind9InstanceSpec {
            cluster_ref: cluster.map(str::to_string),
            role,
            replicas: 1,
            ..Default::default()
        },
    );
    i.metadata.namespace = Some("dns".into());
    i.metadata.labels = Some([("site".to_string(), name.to_string())].into());
    i.status = Some(Bind9InstanceStatus {
        pod_ips: ips.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    });
    i
}

#[test]
fn instances_come_from_cluster_and_selectors_and_ips_by_role() {
    let mut z = zone("example", "example.com", "web");
    z.spec.bind9_instances_from = Some(vec![SelectorSource {
        selector: LabelSelector {
            match_labels: Some([("site".to_string(), "edge".to_string())].into()),
            match_expressions: None,
        },
    }]);
    let p = instance(
        "prod-primary-0",
        Some("prod"),
        ServerRole::Primary,
        &["10.0.0.1"],
    );
    let s = instance(
        "prod-secondary-0",
        Some("prod"),
        ServerRole::Secondary,
        &["10.0.0.3", "10.0.0.2"],
    );
    let edge = instance("edge", None, ServerRole::Secondary, &["10.0.0.2"]);
    let unrelated = instance("lab", Some("lab"), ServerRole::Primary, &["10.9.9.9"]);
    let all = [&unrelated, &s, &edge, &p];
    let chosen = instances_for_zone(&z, &all);
    let names: Vec<_> = chosen.iter().map(|i| i.name_any()).collect();
    assert_eq!(names, ["edge", "prod-primary-0", "prod-secondary-0"]);
    assert_eq!(
        pod_ips(&chosen, ServerRole::Secondary),
        ["10.0.0.2", "10.0.0.3"]
    );
    assert_eq!(pod_ips(&chosen, ServerRole::Primary), ["10.0.0.1"]);
}

#[test]
fn skeleton_defaults_ns_to_the_soa_primary() {
    let z = zone("example", "Example.com", "web");
    assert!(crate::bind9::zonefile::render(&skeleton(&z, 7, None)).is_err());
    let d = skeleton(&z, 7, Some("127.0.1.1".parse().unwrap()));
    assert_eq!(d.origin, "example.com.");
    assert_eq!(d.soa.serial, 7);
    assert_eq!(d.name_servers.len(), 1);
    assert_eq!(d.name_servers[0].hostname, "ns1.Example.com.");
    let text = crate::bind9::zonefile::render(&d).unwrap();
    assert!(text.contains("SOA"));
    assert!(text.contains("127.0.1.1"));
}
