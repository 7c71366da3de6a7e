//! Shared setup for the `bind9_*` tests: real `named` instances configured by the operator's
//! own generators (`bindy_operator::bind9::namedconf` / `zonefile`), so every test also proves
//! that the generated files run in BIND.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bindy_operator::bind9::namedconf::{
    Acl, CatalogConsumer, Controls, NamedConf, PrimaryZone, SecondaryZone, ZoneConfig,
};
use bindy_operator::bind9::{
    zonefile, NameServer, RecordData, RecordSet, Soa, TsigAlgorithm, TsigKey, ZoneData,
};
use bindy_tests::named::{self, Named, NamedBuilder, NamedPaths};

/// True when named and friends are installed (panics under CI when they are not).
pub fn have_bind() -> bool {
    named::require_tools(&["named", "rndc", "dig", "named-checkconf"])
}

/// The fixture's TSIG key as the operator's type.
pub fn op_key(k: &named::TsigKey) -> TsigKey {
    TsigKey::new(
        k.name.clone(),
        TsigAlgorithm::parse(&k.algorithm).expect("fixture algorithm"),
        k.secret.clone(),
    )
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A minimal zone whose NS is `ns1.<zone>` with glue `ns_ip`.
pub fn zone_data(origin: &str, ns_ip: Ipv4Addr, records: Vec<RecordSet>) -> ZoneData {
    ZoneData {
        origin: origin.into(),
        ttl: 300,
        soa: Soa {
            primary_ns: format!("ns1.{origin}"),
            admin_email: format!("hostmaster@{origin}"),
            serial: 1,
            refresh: 60,
            retry: 10,
            expire: 3600,
            negative_ttl: 30,
        },
        name_servers: vec![NameServer {
            hostname: format!("ns1.{origin}"),
            ipv4: Some(ns_ip),
            ipv6: None,
        }],
        records,
    }
}

pub fn rrset(name: &str, data: Vec<RecordData>) -> RecordSet {
    RecordSet {
        name: name.into(),
        record_type: data[0].record_type(),
        ttl: None,
        data,
    }
}

/// Options shared by primaries and secondaries: state in the fixture's dir, listen on its
/// loopback address only, fixture keys, rndc on its control port.
pub fn base_conf(p: &NamedPaths) -> NamedConf {
    let op = op_key(&p.tsig);
    let rndc = op_key(&p.rndc_key);
    let mut c = NamedConf::new(p.dir.to_string_lossy().to_string());
    c.listen_on = vec![IpAddr::V4(p.ip)];
    c.port = p.port;
    c.source_address = Some(IpAddr::V4(p.ip));
    c.allow_transfer = vec![Acl::Key(op.name.clone())];
    c.allow_notify = vec![Acl::Key(op.name.clone())];
    c.controls = Some(Controls {
        listen: SocketAddr::from((p.ip, p.rndc_port)),
        allow: vec![Acl::Prefix("127.0.0.0/8".into())],
        key: rndc.name.clone(),
    });
    c.keys = vec![op, rndc];
    // Measurement knob (benches/bind9_changes.sh): BIND's notify/serial-query rate limits.
    if let Some(rate) = std::env::var("BIND9_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        c.notify_rate = rate;
        c.serial_query_rate = rate;
    }
    c
}

/// The primary zone statement the operator generates (file in zones/, journal in journal/).
pub fn primary_zone(p: &NamedPaths, zone: &str) -> ZoneConfig {
    let k = p.tsig.name.clone();
    ZoneConfig::Primary(PrimaryZone {
        name: zone.into(),
        file: p.zone_file(zone).to_string_lossy().to_string(),
        journal: Some(p.journal_file(zone).to_string_lossy().to_string()),
        allow_update: vec![Acl::Key(k.clone())],
        allow_transfer: vec![Acl::Key(k)],
        also_notify: vec![],
        notify_key: None,
    })
}

/// A primary serving `zones` (zone files written by the operator's generator), plus an
/// optional catalog zone (written empty-but-valid by the caller via `extra`).
pub fn start_primary(zones: &[&str], extra: Vec<(String, String)>) -> Named {
    start_primary_with(NamedBuilder::new(), zones, extra)
}

/// [`start_primary`] from a builder (to choose keys).
pub fn start_primary_with(b: NamedBuilder, zones: &[&str], extra: Vec<(String, String)>) -> Named {
    let zones: Vec<String> = zones.iter().map(|z| z.to_string()).collect();
    b.custom_conf(move |p| {
        let mut c = base_conf(p);
        for z in &zones {
            let text = zonefile::render(&zone_data(z, p.ip, vec![])).expect("zone renders");
            std::fs::write(p.zone_file(z), text).expect("write zone");
            c.zones.push(primary_zone(p, z));
        }
        for (z, text) in &extra {
            std::fs::write(p.zone_file(z), text).expect("write zone");
            c.zones.push(primary_zone(p, z));
        }
        c.render().expect("named.conf renders")
    })
    .start()
    .expect("primary named starts")
}

/// A secondary for `zones` pulling from `primary` with its TSIG key; with `catalog`, it also
/// consumes that catalog zone.
pub fn start_secondary(primary: &Named, zones: &[&str], catalog: Option<&str>) -> Named {
    let zones: Vec<String> = zones.iter().map(|z| z.to_string()).collect();
    let catalog = catalog.map(str::to_string);
    let paddr = primary.addr();
    NamedBuilder::new()
        .tsig(primary.tsig().clone())
        .custom_conf(move |p| {
            let mut c = base_conf(p);
            let k = p.tsig.name.clone();
            for z in &zones {
                c.zones.push(ZoneConfig::Secondary(SecondaryZone {
                    name: z.clone(),
                    file: p.zone_file(z).to_string_lossy().to_string(),
                    journal: Some(p.journal_file(z).to_string_lossy().to_string()),
                    primaries: vec![paddr],
                    transfer_key: Some(k.clone()),
                    allow_notify: vec![],
                    allow_transfer: vec![],
                }));
            }
            if let Some(cat) = &catalog {
                c.catalogs.push(CatalogConsumer {
                    catalog: cat.clone(),
                    primaries: vec![paddr],
                    transfer_key: Some(k.clone()),
                    allow_notify: vec![],
                    zone_directory: Some(p.zones_dir.to_string_lossy().to_string()),
                });
            }
            c.render().expect("named.conf renders")
        })
        .start()
        .expect("secondary named starts")
}

/// dig output (answer + authority) for `name type` on `ns`.
pub fn dig_all(ns: &Named, name: &str, rtype: &str) -> String {
    ns.dig(&["+noall", "+answer", "+authority", name, rtype])
        .unwrap_or_default()
}

/// Waits until `ns` answers `name type` with output containing every `needle`.
pub fn wait_for(ns: &Named, name: &str, rtype: &str, needles: &[&str], timeout: Duration) {
    let res = named::wait_until(&format!("{name} {rtype} on {}", ns.addr()), timeout, || {
        let out = dig_all(ns, name, rtype);
        needles.iter().all(|n| out.contains(n))
    });
    if let Err(e) = res {
        panic!(
            "{e}\nlast answer:\n{}\nlog tail:\n{}",
            dig_all(ns, name, rtype),
            ns.log_tail(30)
        );
    }
}

/// Waits until `ns` has no `type` data at `name` (answer section empty).
pub fn wait_gone(ns: &Named, name: &str, rtype: &str, timeout: Duration) {
    let res = named::wait_until(
        &format!("{name} {rtype} gone on {}", ns.addr()),
        timeout,
        || {
            ns.dig(&["+noall", "+answer", name, rtype])
                .map(|o| o.trim().is_empty())
                .unwrap_or(false)
        },
    );
    if let Err(e) = res {
        panic!("{e}\nlog tail:\n{}", ns.log_tail(30));
    }
}
