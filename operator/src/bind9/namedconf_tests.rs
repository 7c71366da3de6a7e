use std::net::{Ipv4Addr, SocketAddr};

use super::*;
use crate::bind9::testutil::{checkconf, have};
use crate::bind9::zonefile;
use crate::bind9::{NameServer, Soa, ZoneData};

fn keys() -> (TsigKey, TsigKey) {
    (
        TsigKey::generate("bindy-operator"),
        TsigKey::generate("bindy-rndc"),
    )
}

fn primary_conf(dir: &str) -> NamedConf {
    let (op, rndc) = keys();
    let mut c = NamedConf::new(dir);
    c.listen_on = vec![Ipv4Addr::new(127, 0, 0, 1).into()];
    c.port = 5353;
    c.allow_transfer = vec![Acl::Key(op.name.clone())];
    c.also_notify = vec![SocketAddr::from(([127, 0, 0, 2], 5353))];
    c.controls = Some(Controls {
        listen: SocketAddr::from(([127, 0, 0, 1], 9953)),
        allow: vec![Acl::Prefix("127.0.0.0/8".into())],
        key: rndc.name.clone(),
    });
    c.zones.push(ZoneConfig::Primary(PrimaryZone {
        name: "example.com.".into(),
        file: format!("{dir}/ro/example.com.db"),
        journal: Some(format!("{dir}/example.com.jnl")),
        allow_update: vec![Acl::Key(op.name.clone())],
        allow_transfer: vec![Acl::Key(op.name.clone())],
        also_notify: vec![SocketAddr::from(([127, 0, 0, 3], 53))],
        notify_key: Some(op.name.clone()),
    }));
    c.keys = vec![op, rndc];
    c
}

#[test]
fn primary_conf_has_safe_defaults_and_passes_named_checkconf() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    std::fs::create_dir(dir.path().join("ro")).unwrap();
    let zone = ZoneData {
        origin: "example.com".into(),
        ttl: 300,
        soa: Soa {
            primary_ns: "ns1.example.com".into(),
            admin_email: "admin@example.com".into(),
            ..Soa::default()
        },
        name_servers: vec![NameServer {
            hostname: "ns1.example.com".into(),
            ipv4: Some(Ipv4Addr::LOCALHOST),
            ipv6: None,
        }],
        records: vec![],
    };
    std::fs::write(
        dir.path().join("ro/example.com.db"),
        zonefile::render(&zone).unwrap(),
    )
    .unwrap();
    let text = primary_conf(d).render().unwrap();
    for needle in [
        "recursion no;",
        "notify-delay 0;",
        "allow-new-zones yes;",
        "listen-on port 5353 { 127.0.0.1; };",
        "allow-transfer { key \"bindy-operator\"; };",
        &format!("journal \"{d}/example.com.jnl\";"),
        "also-notify { 127.0.0.3 port 53 key \"bindy-operator\"; };",
        "keys { \"bindy-rndc\"; };",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    if have("named-checkconf") {
        checkconf(&text, true).unwrap();
    }
}

#[test]
fn secondary_conf_with_catalog_passes_named_checkconf() {
    let (op, rndc) = keys();
    let primary = SocketAddr::from(([127, 0, 0, 1], 5353));
    let mut c = NamedConf::new("/var/cache/bind");
    c.allow_notify = vec![Acl::Key(op.name.clone())];
    c.controls = Some(Controls {
        listen: SocketAddr::from(([127, 0, 0, 1], 953)),
        allow: vec![Acl::Any],
        key: rndc.name.clone(),
    });
    c.zones.push(ZoneConfig::Secondary(SecondaryZone {
        name: "example.org".into(),
        file: "/var/cache/bind/example.org.db".into(),
        journal: None,
        primaries: vec![primary],
        transfer_key: Some(op.name.clone()),
        allow_notify: vec![Acl::Key(op.name.clone())],
        allow_transfer: vec![],
    }));
    c.catalogs.push(CatalogConsumer {
        catalog: "catalog.bindy.local".into(),
        primaries: vec![primary],
        transfer_key: Some(op.name.clone()),
        allow_notify: vec![],
        zone_directory: Some("/var/cache/bind/catalog".into()),
    });
    c.keys = vec![op, rndc];
    let text = c.render().unwrap();
    assert!(
        text.contains("primaries { 127.0.0.1 port 5353 key \"bindy-operator\"; };"),
        "{text}"
    );
    assert!(
        text.contains("zone \"catalog.bindy.local\" default-primaries"),
        "{text}"
    );
    assert!(
        text.contains("zone \"catalog.bindy.local\" { type secondary;"),
        "{text}"
    );
    assert!(
        text.contains("allow-notify { key \"bindy-operator\"; };"),
        "{text}"
    );
    if have("named-checkconf") {
        checkconf(&text, false).unwrap();
    }
}

#[test]
fn zone_bodies_are_what_rndc_addzone_takes() {
    let z = ZoneConfig::Primary(PrimaryZone {
        name: "Example.COM.".into(),
        file: "/z/example.com.db".into(),
        journal: Some("/j/example.com.jnl".into()),
        allow_update: vec![Acl::Key("k".into())],
        allow_transfer: vec![],
        also_notify: vec![],
        notify_key: None,
    });
    assert_eq!(z.conf_name().unwrap(), "example.com");
    assert_eq!(
        z.body().unwrap(),
        "{ type primary; file \"/z/example.com.db\"; journal \"/j/example.com.jnl\"; \
         allow-update { key \"k\"; }; notify yes; }"
    );
}

#[test]
fn bad_values_are_rejected_before_bind_sees_them() {
    let mut c = primary_conf("/tmp/x");
    c.allow_query = vec![Acl::Prefix("10.0.0.0/33".into())];
    assert!(c.render().is_err());
    let mut c = primary_conf("/tmp/\"x");
    c.zones.clear();
    assert!(c.render().is_err());
    let mut c = primary_conf("/tmp/x");
    c.controls.as_mut().unwrap().key = "nope".into();
    assert!(c.render().unwrap_err().to_string().contains("controls key"));
    let mut c = primary_conf("/tmp/x");
    c.keys[0].name = "bad key".into();
    assert!(c.render().is_err());
}
