//! dnsd as a secondary of a real BIND9 primary: initial AXFR, UPDATEs reaching dnsd by
//! NOTIFY + IXFR, deletes, TSIG failures, NOTIFY from strangers, and a 100k-record zone.

mod secondary_support;

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use bindy_tests::named::{NamedBuilder, TsigKey};
use dnsd::rtype;
use secondary_support::*;

#[test]
fn axfr_then_notify_ixfr_updates_and_deletes() {
    if !tools_present() {
        return;
    }
    let addr = dnsd_addr();
    let ns = NamedBuilder::new()
        .primary_zone("sec.test", &plain_zone("sec.test"))
        .also_notify(addr)
        // A tiny zone: without this BIND answers an IXFR bigger than the zone AXFR-style.
        .options("max-ixfr-ratio unlimited;")
        .start()
        .expect("named");
    let dir = tempdir();
    let d = Dnsd::follow(addr, dir.path(), &ns, Follow::Zone("sec.test"), &[]);
    d.wait("initial AXFR", 10, || {
        d.answer("www.sec.test.", rtype::A) == ["www.sec.test. 300 A 192.0.2.80"]
    });
    let mx = d.answer("mail.sec.test.", rtype::MX);
    assert_eq!(mx, ["mail.sec.test. 300 MX 10 ns1.sec.test."]);
    assert_eq!(
        d.metric("dnsd_secondary_transfers_total{zone=\"sec.test.\",kind=\"axfr\",result=\"ok\"}"),
        Some(1.0)
    );
    let (status, body) = d.http("/health");
    assert!(status.contains("200"), "{status} {body}");

    // UPDATE on the primary: BIND's NOTIFY brings it, by IXFR.
    ns.nsupdate("update add api.sec.test. 60 A 192.0.2.7")
        .expect("nsupdate");
    d.wait("added record via NOTIFY + IXFR", 10, || {
        d.answer("api.sec.test.", rtype::A) == ["api.sec.test. 60 A 192.0.2.7"]
    });
    let ixfr = "dnsd_secondary_transfers_total{zone=\"sec.test.\",kind=\"ixfr\",result=\"ok\"}";
    assert!(d.metric(ixfr).unwrap_or(0.0) >= 1.0, "IXFR was used");
    assert!(
        d.metric("dnsd_secondary_notify_total{zone=\"sec.test.\",result=\"accepted\"}")
            .unwrap_or(0.0)
            >= 1.0
    );

    // Deletes propagate (a whole name: NXDOMAIN; one RR of an RRset).
    ns.nsupdate("update delete api.sec.test. A\nupdate delete txt.sec.test. TXT")
        .expect("nsupdate");
    d.wait("deleted names", 10, || {
        d.rcode("api.sec.test.", rtype::A) == Some(3)
            && d.rcode("txt.sec.test.", rtype::TXT) == Some(3)
    });
    let serial = ns.soa_serial("sec.test").expect("dig").expect("serial");
    assert_eq!(
        d.metric("dnsd_secondary_serial{zone=\"sec.test.\"}"),
        Some(serial as f64)
    );
    assert!(
        d.metric("dnsd_secondary_transfers_total{zone=\"sec.test.\",kind=\"axfr\",result=\"ok\"}")
            == Some(1.0),
        "no AXFR after the first:\n{}",
        d.log_text()
    );
}

#[test]
fn wrong_key_is_refused_and_old_data_keeps_serving_and_strangers_notify_is_refused() {
    if !tools_present() {
        return;
    }
    let addr = dnsd_addr();
    let ns = NamedBuilder::new()
        .primary_zone("keys.test", &plain_zone("keys.test"))
        .start()
        .expect("named");
    let dir = tempdir();
    let state = dir.path().join("state");
    let keys = Follow::Zone("keys.test");
    let mut d = Dnsd::follow(addr, dir.path(), &ns, keys, &state_dir_flags(&state));
    d.wait("initial AXFR", 10, || {
        !d.answer("www.keys.test.", rtype::A).is_empty()
    });
    d.wait("version stored", 10, || {
        state.join("keys.test.dnsd").exists()
    });
    d.kill();

    // Same key name, other secret: the primary refuses us; the stored version still serves.
    let wrong = TsigKey::generate(&ns.tsig().name);
    let wrong_file = dir.path().join("wrong.key");
    wrong.write_key_file(&wrong_file).expect("key file");
    let mut flags = follow_flags(keys, ns.addr(), &wrong_file);
    flags.extend(state_dir_flags(&state));
    let d2 = Dnsd::start(addr, &dir.path().join("dnsd2.log"), &flags);
    assert_eq!(
        d2.answer("www.keys.test.", rtype::A),
        ["www.keys.test. 300 A 192.0.2.80"],
        "served from the state dir at once"
    );
    d2.wait("the TSIG failure is reported", 10, || {
        d2.metric("dnsd_secondary_soa_check_failures_total{zone=\"keys.test.\"}")
            .unwrap_or(0.0)
            >= 1.0
    });
    let log = d2.log_text();
    assert!(
        log.contains("NOTAUTH") && log.contains("BADSIG"),
        "error names the TSIG failure: {log}"
    );
    ns.nsupdate("update add new.keys.test. 60 A 192.0.2.9")
        .expect("nsupdate");
    assert_eq!(
        d2.rcode("new.keys.test.", rtype::A),
        Some(3),
        "no transfer with a bad key"
    );

    // A NOTIFY from an address that is not a primary is refused and changes nothing.
    let stranger = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("udp");
    stranger
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut q = dnsd::inspect::query(0x4242, "keys.test.", rtype::SOA, false, None);
    q[2] = 4 << 3 | 0x04; // opcode NOTIFY, AA
    stranger.send_to(&q, addr).expect("send");
    let mut buf = [0u8; 512];
    let n = stranger.recv(&mut buf).expect("NOTIFY answered");
    let s = dnsd::inspect::summarize(&buf[..n]).expect("response");
    assert_eq!(s.rcode, 5, "REFUSED");
    assert_eq!(
        d2.metric("dnsd_secondary_notify_total{zone=\"keys.test.\",result=\"refused\"}"),
        Some(1.0)
    );
    drop(d);
}

#[test]
fn zone_of_100k_records_transfers_and_serves() {
    if !tools_present() {
        return;
    }
    let mut text = plain_zone("big.test");
    push_hosts(&mut text, 100_000);
    let addr = dnsd_addr();
    let ns = NamedBuilder::new()
        .primary_zone("big.test", &text)
        .start_timeout(Duration::from_secs(30))
        .start()
        .expect("named");
    let dir = tempdir();
    let start = std::time::Instant::now();
    let d = Dnsd::follow(addr, dir.path(), &ns, Follow::Zone("big.test"), &[]);
    d.wait("100k-record AXFR", 40, || {
        d.answer("h99999.big.test.", rtype::A) == ["h99999.big.test. 300 A 10.1.134.159"]
    });
    eprintln!("100k-record zone served after {:?}", start.elapsed());
    assert_eq!(
        d.answer("h12345.big.test.", rtype::A),
        ["h12345.big.test. 300 A 10.0.48.57"]
    );
}

#[test]
fn notify_bursts_coalesce_and_the_latest_serial_is_served() {
    if !tools_present() {
        return;
    }
    let addr = dnsd_addr();
    let ns = NamedBuilder::new()
        .primary_zone("burst.test", &plain_zone("burst.test"))
        .options("max-ixfr-ratio unlimited;")
        .start()
        .expect("named");
    let dir = tempdir();
    let d = Dnsd::follow(addr, dir.path(), &ns, Follow::Zone("burst.test"), &[]);
    d.wait("initial AXFR", 10, || {
        !d.answer("www.burst.test.", rtype::A).is_empty()
    });
    let checks = "dnsd_secondary_soa_checks_total{zone=\"burst.test.\"}";
    let before = d.metric(checks).unwrap_or(0.0);
    // 50 NOTIFYs from the primary's address, with updates in between (BIND itself does not
    // notify dnsd here): every one is answered, far fewer SOA checks run, none is lost.
    let sock = UdpSocket::bind((ns.ip(), 0)).expect("udp on the primary's address");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let zone = dnsd::name::from_text("burst.test.", None).expect("name");
    for round in 0..5u16 {
        ns.nsupdate(&format!(
            "update add r{round}.burst.test. 60 A 192.0.2.{round}"
        ))
        .expect("nsupdate");
        for i in 0..10u16 {
            let q = dnsd::secondary::msg::query(round * 10 + i, 4, true, &zone, rtype::SOA);
            sock.send_to(&q, addr).expect("NOTIFY");
        }
    }
    let mut buf = [0u8; 512];
    for _ in 0..50 {
        let n = sock.recv(&mut buf).expect("every NOTIFY answered");
        assert_eq!(
            dnsd::inspect::summarize(&buf[..n]).map(|s| s.rcode),
            Some(0)
        );
    }
    d.wait("the last update served", 10, || {
        d.answer("r4.burst.test.", rtype::A) == ["r4.burst.test. 60 A 192.0.2.4"]
    });
    let serial = ns.soa_serial("burst.test").expect("dig").expect("serial");
    d.wait("latest serial", 10, || {
        d.metric("dnsd_secondary_serial{zone=\"burst.test.\"}") == Some(serial as f64)
    });
    let ran = d.metric(checks).unwrap_or(0.0) - before;
    assert!(
        (1.0..50.0).contains(&ran),
        "50 NOTIFYs coalesced into {ran} SOA checks"
    );
    eprintln!("50 NOTIFYs -> {ran} SOA checks");
}
