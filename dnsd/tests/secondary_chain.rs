//! Chain: BIND9 primary → dnsd → BIND9 secondary, TSIG all the way. dnsd serves AXFR to the
//! BIND secondary, then NOTIFY + IXFR after an UPDATE; the end of the chain answers exactly
//! like the primary.

mod secondary_support;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use bindy_tests::named::{alloc_loopback_ip, free_port, NamedBuilder};
use dnsd::rtype;
use secondary_support::*;

const QUERIES: &[(&str, &str)] = &[
    ("chain.test", "SOA"),
    ("chain.test", "NS"),
    ("www.chain.test", "A"),
    ("mail.chain.test", "MX"),
    ("txt.chain.test", "TXT"),
    ("api.chain.test", "A"),
    ("api.chain.test", "AAAA"),
    ("gone.chain.test", "A"),
];

fn answers(ns: &bindy_tests::named::Named) -> Vec<Vec<String>> {
    QUERIES
        .iter()
        .map(|(n, t)| ns.dig_short(n, t).expect("dig"))
        .collect()
}

/// The zone's records as a set (dig's AXFR text, whitespace-normalised).
fn axfr_set(ns: &bindy_tests::named::Named) -> BTreeSet<String> {
    ns.axfr("chain.test")
        .expect("AXFR")
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty() && !l.contains("TSIG"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn bind_primary_to_dnsd_to_bind_secondary() {
    if !tools_present() {
        return;
    }
    let addr = dnsd_addr();
    let sec_ip = alloc_loopback_ip();
    let sec_addr = SocketAddr::from((sec_ip, free_port(sec_ip)));
    let mut text = zone_text("chain.test", 1, 3600, 600, 86400);
    text.push_str("gone IN A 192.0.2.99\n");
    let primary = NamedBuilder::new()
        .primary_zone("chain.test", &text)
        .also_notify(addr)
        .options("max-ixfr-ratio unlimited;")
        .start()
        .expect("primary named");
    let dir = tempdir();
    let d = Dnsd::start(
        addr,
        &dir.path().join("dnsd.log"),
        &[
            "--secondary".into(),
            format!("chain.test={}", primary.addr()),
            "--tsig-key".into(),
            primary.paths().tsig_key_file().display().to_string(),
            "--notify".into(),
            sec_addr.to_string(),
            "--notify-source".into(),
            addr.ip().to_string(),
        ],
    );
    d.wait("dnsd has the zone", 10, || {
        !d.answer("www.chain.test.", rtype::A).is_empty()
    });
    let secondary = NamedBuilder::new()
        .ip(sec_ip)
        .port(sec_addr.port())
        .tsig(primary.tsig().clone())
        .secondary_zone("chain.test", addr)
        .start()
        .expect("secondary named");
    d.wait("BIND secondary transferred from dnsd", 15, || {
        secondary
            .dig_short("www.chain.test", "A")
            .is_ok_and(|a| a == ["192.0.2.80"])
    });
    assert_eq!(answers(&secondary), answers(&primary));
    assert_eq!(axfr_set(&secondary), axfr_set(&primary));

    // An UPDATE travels primary → (NOTIFY, IXFR) → dnsd → (NOTIFY, IXFR) → BIND secondary.
    primary
        .nsupdate(
            "update add api.chain.test. 60 A 192.0.2.7\n\
             update add api.chain.test. 60 AAAA 2001:db8::7\n\
             update delete gone.chain.test. A",
        )
        .expect("nsupdate");
    d.wait("update reached the end of the chain", 15, || {
        secondary
            .dig_short("api.chain.test", "AAAA")
            .is_ok_and(|a| a == ["2001:db8::7"])
            && secondary
                .dig_short("gone.chain.test", "A")
                .is_ok_and(|a| a.is_empty())
    });
    assert_eq!(answers(&secondary), answers(&primary));
    assert_eq!(axfr_set(&secondary), axfr_set(&primary));
    let log = d.log_text();
    assert!(
        log.contains("serving AXFR"),
        "dnsd served the first transfer"
    );
    assert!(
        log.contains("serving IXFR"),
        "dnsd answered the BIND secondary's IXFR from its history:\n{log}"
    );
}
