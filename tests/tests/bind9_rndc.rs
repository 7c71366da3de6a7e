//! rndc (native async client) and RFC 9432 catalog zones against real BIND9.

#[path = "bind9_common.rs"]
mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bindy_operator::bind9::catalog::{self, Catalog};
use bindy_operator::bind9::namedconf::{Acl, PrimaryZone, SecondaryZone, ZoneConfig};
use bindy_operator::bind9::notify::notify_one;
use bindy_operator::bind9::rndc::RndcClient;
use bindy_operator::bind9::update::Updater;
use bindy_operator::bind9::{zonefile, RecordData, TsigKey};
use bindy_operator::Error;
use common::*;

const WAIT: Duration = Duration::from_secs(10);

/// Makes a file unwritable and unreplaceable by named for its lifetime: `chattr +i` when we
/// are root (permissions do not stop root), else a read-only parent directory (a rename into
/// it then fails, as on a ConfigMap mount).
struct ReadOnly {
    path: std::path::PathBuf,
    immutable: bool,
}

impl ReadOnly {
    /// None when it cannot be done here (root on a filesystem without `chattr +i`).
    fn new(path: &std::path::Path) -> Option<ReadOnly> {
        use std::os::unix::fs::PermissionsExt;
        let immutable = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        let root = std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap_or(true);
        if !immutable {
            if root {
                return None;
            }
            let dir = path.parent()?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).ok()?;
        }
        Some(ReadOnly {
            path: path.to_path_buf(),
            immutable,
        })
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.immutable {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.path)
                .status();
        } else if let Some(dir) = self.path.parent() {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn rndc_commands_drive_primary_and_secondary() {
    if !have_bind() {
        return;
    }
    let primary = start_primary(&[], vec![]);
    let secondary = start_secondary(&primary, &[], None);
    let rt = rt();
    let prndc = RndcClient::new(primary.rndc_addr(), op_key(primary.rndc_key()));
    let srndc = RndcClient::new(secondary.rndc_addr(), op_key(secondary.rndc_key()));
    let key = op_key(primary.tsig());
    let zone = "rndc.example";

    let status = rt.block_on(prndc.status()).unwrap();
    assert!(
        status.text.contains("server is up and running"),
        "{}",
        status.text
    );

    // addzone on the primary: file written by the generator, no sidecar, no restart.
    let p = primary.paths();
    let text = zonefile::render(&zone_data(zone, p.ip, vec![])).unwrap();
    std::fs::write(p.zone_file(zone), text).unwrap();
    let body = primary_zone(p, zone).body().unwrap();
    rt.block_on(prndc.addzone(zone, &body)).unwrap();
    wait_for(&primary, zone, "SOA", &["hostmaster.rndc.example."], WAIT);
    let st = rt.block_on(prndc.zonestatus(zone)).unwrap();
    assert!(st.text.contains("type: primary"), "{}", st.text);
    let dup = rt.block_on(prndc.addzone(zone, &body)).unwrap_err();
    assert!(
        matches!(dup, Error::RndcCommand { .. }) && dup.to_string().contains("already exists"),
        "{dup}"
    );

    // addzone on the secondary: it transfers the zone with TSIG.
    let s = secondary.paths();
    let sec = ZoneConfig::Secondary(SecondaryZone {
        name: zone.into(),
        file: s.zone_file(zone).to_string_lossy().to_string(),
        journal: Some(s.journal_file(zone).to_string_lossy().to_string()),
        primaries: vec![primary.addr()],
        transfer_key: Some(key.name.clone()),
        allow_notify: vec![],
        allow_transfer: vec![],
    });
    rt.block_on(srndc.addzone(zone, &sec.body().unwrap()))
        .unwrap();
    wait_for(&secondary, zone, "SOA", &["hostmaster.rndc.example."], WAIT);

    // retransfer: a change the secondary was not told about arrives on `rndc retransfer`.
    let up = Updater::new(primary.addr(), Some(key.clone()));
    let a = |o: u8| rrset("r", vec![RecordData::A(Ipv4Addr::new(192, 0, 2, o))]);
    rt.block_on(up.replace(zone, &a(1), 60)).unwrap();
    rt.block_on(srndc.retransfer(zone)).unwrap();
    wait_for(&secondary, "r.rndc.example.", "A", &["192.0.2.1"], WAIT);

    // modzone: add the secondary to also-notify; `rndc notify` then brings the next change.
    let modded = ZoneConfig::Primary(PrimaryZone {
        also_notify: vec![secondary.addr()],
        notify_key: Some(key.name.clone()),
        ..match primary_zone(p, zone) {
            ZoneConfig::Primary(z) => z,
            ZoneConfig::Secondary(_) => unreachable!(),
        }
    });
    rt.block_on(prndc.modzone(zone, &modded.body().unwrap()))
        .unwrap();
    rt.block_on(up.replace(zone, &a(2), 60)).unwrap();
    rt.block_on(prndc.notify(zone)).unwrap();
    wait_for(&secondary, "r.rndc.example.", "A", &["192.0.2.2"], WAIT);

    // delzone removes the zone on both.
    rt.block_on(srndc.delzone(zone, true)).unwrap();
    rt.block_on(prndc.delzone(zone, true)).unwrap();
    for ns in [&primary, &secondary] {
        let out = ns.dig(&[zone, "SOA"]).unwrap();
        assert!(out.contains("status: REFUSED"), "{out}");
    }
    let gone = rt.block_on(prndc.zonestatus(zone)).unwrap_err();
    assert!(gone.to_string().contains("not found"), "{gone}");

    // reload of the whole server works; a wrong control key fails fast, never hangs.
    rt.block_on(prndc.reload(None)).unwrap();
    let t0 = Instant::now();
    let bad = RndcClient::new(
        primary.rndc_addr(),
        TsigKey::generate(&primary.rndc_key().name),
    )
    .with_timeout(Duration::from_secs(3));
    let err = rt.block_on(bad.status()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Io { .. } | Error::RndcAuth { .. } | Error::BadReply { .. }
        ),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[test]
fn catalog_zone_provisions_and_removes_zones_on_the_secondary() {
    if !have_bind() {
        return;
    }
    let cat = catalog::DEFAULT_CATALOG;
    let primary = start_primary(
        &[],
        vec![(cat.to_string(), catalog::render(cat, &[], 1).unwrap())],
    );
    let secondary = start_secondary(&primary, &[], Some(cat));
    wait_for(
        &secondary,
        "version.catalog.bindy.local.",
        "TXT",
        &["\"2\""],
        WAIT,
    );
    let rt = rt();
    let key = op_key(primary.tsig());
    let prndc = RndcClient::new(primary.rndc_addr(), op_key(primary.rndc_key()));
    let catalog = Catalog::new(primary.addr(), key.clone(), cat);

    let zone = "member.example";
    let p = primary.paths();
    std::fs::write(
        p.zone_file(zone),
        zonefile::render(&zone_data(zone, p.ip, vec![])).unwrap(),
    )
    .unwrap();
    rt.block_on(prndc.addzone(zone, &primary_zone(p, zone).body().unwrap()))
        .unwrap();
    let up = Updater::new(primary.addr(), Some(key.clone()));
    rt.block_on(up.replace(
        zone,
        &rrset("www", vec![RecordData::A(Ipv4Addr::new(198, 51, 100, 7))]),
        60,
    ))
    .unwrap();

    // One UPDATE to the catalog + the operator's NOTIFY: no rndc call on the secondary.
    let t0 = Instant::now();
    assert!(rt.block_on(catalog.add_member(zone)).unwrap());
    assert!(
        !rt.block_on(catalog.add_member(zone)).unwrap(),
        "idempotent"
    );
    rt.block_on(notify_one(
        secondary.addr(),
        cat,
        Some(&key),
        Duration::from_secs(2),
    ))
    .unwrap();
    wait_for(
        &secondary,
        "www.member.example.",
        "A",
        &["198.51.100.7"],
        Duration::from_secs(20),
    );
    println!(
        "catalog: member served by the secondary {:?} after the UPDATE",
        t0.elapsed()
    );

    assert!(rt.block_on(catalog.remove_member(zone)).unwrap());
    assert!(!rt.block_on(catalog.remove_member(zone)).unwrap());
    rt.block_on(notify_one(
        secondary.addr(),
        cat,
        Some(&key),
        Duration::from_secs(2),
    ))
    .unwrap();
    let res = bindy_tests::named::wait_until(
        "secondary drops the member",
        Duration::from_secs(20),
        || {
            secondary
                .dig(&[zone, "SOA"])
                .map(|o| o.contains("status: REFUSED"))
                .unwrap_or(false)
        },
    );
    res.unwrap_or_else(|e| panic!("{e}\n{}", secondary.log_tail(30)));
}

#[test]
fn zones_created_from_the_shared_bootstrap_file_sync_propagate_and_survive_restarts() {
    if !have_bind() {
        return;
    }
    let cat = catalog::DEFAULT_CATALOG;
    let mut primary = start_primary(
        &[],
        vec![(cat.to_string(), catalog::render(cat, &[], 1).unwrap())],
    );
    let secondary = start_secondary(&primary, &[], Some(cat));
    let rt = rt();
    let key = op_key(primary.tsig());
    let prndc = RndcClient::new(primary.rndc_addr(), op_key(primary.rndc_key()));
    let up = Updater::new(primary.addr(), Some(key.clone()));
    let catalog = Catalog::new(primary.addr(), key.clone(), cat);
    let p = primary.paths().clone();
    // Mounted once per pod (read-only in Kubernetes); shared by every zone.
    let ro_dir = p.dir.join("ro");
    std::fs::create_dir(&ro_dir).unwrap();
    let bootstrap = ro_dir.join("bootstrap.db");
    std::fs::write(&bootstrap, zonefile::BOOTSTRAP).unwrap();

    let zones = ["alpha.example", "beta.example"];
    // After a restart: every zone back with the record written before it.
    let wait_for_zones = |ns: &bindy_tests::named::Named| {
        for (i, zone) in zones.iter().enumerate() {
            let ip = format!("192.0.2.{}", 10 + i);
            wait_for(ns, &format!("www.{zone}."), "A", &[&ip], WAIT);
        }
    };
    for (i, zone) in zones.iter().enumerate() {
        let body = ZoneConfig::Primary(PrimaryZone {
            name: zone.to_string(),
            file: bootstrap.to_string_lossy().to_string(),
            // One journal per zone incarnation (the reconciler uses the DNSZone uid).
            journal: Some(
                p.journal_dir
                    .join(format!("{zone}.uid{i}.jnl"))
                    .to_string_lossy()
                    .to_string(),
            ),
            allow_update: vec![Acl::Key(key.name.clone())],
            allow_transfer: vec![Acl::Key(key.name.clone())],
            also_notify: vec![],
            notify_key: None,
        })
        .body()
        .unwrap();
        rt.block_on(prndc.addzone(zone, &body)).unwrap();
        let data = zone_data(
            zone,
            p.ip,
            vec![rrset(
                "www",
                vec![RecordData::A(Ipv4Addr::new(192, 0, 2, 10 + i as u8))],
            )],
        );
        let out = rt.block_on(up.sync_zone(&data)).unwrap();
        assert_eq!(out.applied, 3, "glue, apex NS, www");
        assert_eq!(
            rt.block_on(up.sync_zone(&data)).unwrap().applied,
            0,
            "idempotent"
        );
        assert!(rt.block_on(catalog.add_member(zone)).unwrap());
    }
    rt.block_on(notify_one(
        secondary.addr(),
        cat,
        Some(&key),
        Duration::from_secs(2),
    ))
    .unwrap();
    for (i, zone) in zones.iter().enumerate() {
        let ip = format!("192.0.2.{}", 10 + i);
        wait_for(
            &secondary,
            &format!("www.{zone}."),
            "A",
            &[&ip],
            Duration::from_secs(20),
        );
        wait_for(
            &secondary,
            zone,
            "SOA",
            &[&format!("ns1.{zone}. hostmaster.{zone}.")],
            WAIT,
        );
        wait_for(&secondary, zone, "NS", &[&format!("ns1.{zone}.")], WAIT);
    }
    let out = primary
        .dig(&["+noall", "+answer", "alpha.example", "NS"])
        .unwrap();
    assert!(!out.contains("invalid."), "bootstrap NS replaced: {out}");

    // A graceful stop dumps updated zones into their file: the shared bootstrap must be
    // read-only (a ConfigMap mount is). Simulated with the immutable attribute (we run as
    // root, where permissions do not stop writes); the guard lifts it even on panic.
    match ReadOnly::new(&bootstrap) {
        Some(_ro) => {
            primary.stop();
            primary.restart().unwrap();
            wait_for_zones(&primary);
            let refused: Vec<String> = primary
                .log()
                .lines()
                .filter(|l| l.contains("bootstrap.db"))
                .map(str::to_string)
                .collect();
            println!("named on the read-only bootstrap:\n{}", refused.join("\n"));
            assert!(
                refused.iter().any(|l| l.contains("dumping master file")),
                "named tried to dump into the shared file on stop (and was refused)"
            );
        }
        None => eprintln!(
            "SKIP (part): cannot make a file read-only for root here (no chattr +i); \
             graceful stop on a read-only bootstrap not checked"
        ),
    }

    // A crash: named comes back with both zones (NZD) rolled forward from bootstrap + journal.
    primary.kill();
    primary.restart().unwrap();
    wait_for_zones(&primary);
    assert_eq!(
        std::fs::read_to_string(&bootstrap).unwrap(),
        zonefile::BOOTSTRAP,
        "never written"
    );
}

#[test]
fn sha384_and_sha512_keys_work_for_update_notify_and_rndc() {
    if !have_bind() {
        return;
    }
    let b = bindy_tests::named::NamedBuilder::new()
        .tsig(bindy_tests::named::TsigKey::with_algorithm(
            "op512",
            "hmac-sha512",
        ))
        .rndc_key(bindy_tests::named::TsigKey::with_algorithm(
            "rndc384",
            "hmac-sha384",
        ));
    let zone = "sha.example";
    let primary = start_primary_with(b, &[zone], vec![]);
    let rt = rt();
    let key = op_key(primary.tsig());
    assert_eq!(key.algorithm.as_str(), "hmac-sha512");
    let up = Updater::new(primary.addr(), Some(key.clone()));
    rt.block_on(up.replace(
        zone,
        &rrset("www", vec![RecordData::A(Ipv4Addr::new(192, 0, 2, 5))]),
        60,
    ))
    .unwrap();
    wait_for(&primary, "www.sha.example.", "A", &["192.0.2.5"], WAIT);
    let rndc = RndcClient::new(primary.rndc_addr(), op_key(primary.rndc_key()));
    let st = rt.block_on(rndc.zonestatus(zone)).unwrap();
    assert!(st.text.contains("serial: 2"), "{}", st.text);
    // The primary answers a signed NOTIFY for its own zone (and verifies our TSIG to do so).
    rt.block_on(notify_one(
        primary.addr(),
        zone,
        Some(&key),
        Duration::from_secs(2),
    ))
    .unwrap();
}
