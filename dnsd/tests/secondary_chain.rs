//! Chain: BIND9 primary → dnsd → BIND9 secondary (and Knot, when installed), TSIG all the
//! way. dnsd serves AXFR to the secondaries, then NOTIFY + IXFR after an UPDATE; the ends of
//! the chain answer exactly like the primary.

mod secondary_support;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use bindy_tests::named::{alloc_loopback_ip, find_tool, free_port, NamedBuilder};
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

/// The same questions asked with dnsd's decoder (for Knot), answer sections as sets.
fn raw_answers(server: SocketAddr) -> Vec<BTreeSet<String>> {
    QUERIES
        .iter()
        .map(|(n, t)| {
            let t = rtype::from_text(t).expect("type");
            ask(server, &format!("{n}."), t)
                .map(|s| s.answer)
                .unwrap_or_default()
        })
        .collect()
}

/// The zone's records as a set (dig's AXFR text, whitespace-normalised).
fn axfr_set(ns: &bindy_tests::named::Named) -> BTreeSet<String> {
    transfer_records(&ns.axfr("chain.test").expect("AXFR"))
        .into_iter()
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
    let mut text = plain_zone("chain.test");
    text.push_str("gone IN A 192.0.2.99\n");
    let primary = NamedBuilder::new()
        .primary_zone("chain.test", &text)
        .also_notify(addr)
        .options("max-ixfr-ratio unlimited;")
        .start()
        .expect("primary named");
    let dir = tempdir();
    let knot_addr = dnsd_addr();
    let knotd = find_tool("knotd");
    if knotd.is_none() {
        eprintln!("knotd not installed: the chain is checked with BIND as dnsd's secondary only");
    }
    let mut extra = vec![
        "--notify-source".to_string(),
        addr.ip().to_string(),
        "--notify".to_string(),
        sec_addr.to_string(),
    ];
    if knotd.is_some() {
        extra.extend(["--notify".to_string(), knot_addr.to_string()]);
    }
    let d = Dnsd::follow(
        addr,
        dir.path(),
        &primary,
        Follow::Zone("chain.test"),
        &extra,
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
    let kdir = tempdir();
    let knot = knotd.as_ref().map(|k| {
        Knot::start(
            k,
            kdir.path(),
            knot_addr,
            addr,
            primary.tsig(),
            "chain.test",
        )
    });
    if knot.is_some() {
        d.wait("Knot transferred from dnsd", 15, || {
            raw_answers(knot_addr) == raw_answers(primary.addr())
        });
    }

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
    if knot.is_some() {
        let ok = bindy_tests::named::wait_until(
            "update at Knot",
            std::time::Duration::from_secs(15),
            || raw_answers(knot_addr) == raw_answers(primary.addr()),
        );
        assert!(
            ok.is_ok(),
            "the update reached Knot:\n{}\n{}",
            std::fs::read_to_string(kdir.path().join("knot.log")).unwrap_or_default(),
            d.log_text()
        );
    }
    let log = d.log_text();
    assert!(
        log.contains("serving AXFR"),
        "dnsd served the first transfer"
    );
    assert!(
        log.contains("serving IXFR"),
        "dnsd answered the BIND secondary's IXFR from its history:\n{log}"
    );

    // IXFR out, the three answers (dig from the secondary's address, signed): up to date →
    // the SOA alone; a serial in the history → the differences; an unknown one → AXFR-style.
    let ixfr = |serial: u32| -> Vec<String> {
        let key = primary.paths().tsig_key_file();
        let out = bindy_tests::named::run_tool(
            "dig",
            &[
                "-b",
                &sec_ip.to_string(),
                "-k",
                &key.display().to_string(),
                &format!("@{}", addr.ip()),
                "-p",
                &addr.port().to_string(),
                "+nocmd",
                "+nostats",
                "chain.test",
                &format!("IXFR={serial}"),
            ],
            None,
            std::time::Duration::from_secs(10),
        )
        .expect("dig IXFR");
        transfer_records(&out.stdout)
    };
    let now = ixfr(2);
    assert_eq!(now.len(), 1, "up to date: the SOA alone: {now:?}");
    assert!(now[0].contains(" SOA "));
    let diff = ixfr(1);
    assert!(
        diff.iter().any(|l| l.starts_with("api.chain.test."))
            && diff.iter().any(|l| l.starts_with("gone.chain.test."))
            && !diff.iter().any(|l| l.starts_with("www.chain.test.")),
        "differences only: {diff:?}"
    );
    let full = ixfr(0);
    assert!(
        full.iter().any(|l| l.starts_with("www.chain.test."))
            && !full.iter().any(|l| l.starts_with("gone.chain.test.")),
        "AXFR-style: {full:?}"
    );
}
