//! RFC 2136 updates and operator NOTIFY against a real BIND9 primary and BIND9 secondary.

#[path = "bind9_common.rs"]
mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bindy_operator::bind9::notify::{apply_and_notify, notify_all};
use bindy_operator::bind9::update::{Change, Updater};
use bindy_operator::bind9::wire::DnsConnection;
use bindy_operator::bind9::{serial, RecordData, RecordType, TsigAlgorithm, TsigKey};
use common::*;

const ZONE: &str = "example.com";
const WAIT: Duration = Duration::from_secs(10);

fn first_values() -> Vec<(RecordData, &'static str, &'static str)> {
    vec![
        (
            RecordData::A(Ipv4Addr::new(192, 0, 2, 1)),
            "www",
            "192.0.2.1",
        ),
        (
            RecordData::Aaaa("2001:db8::1".parse().unwrap()),
            "www",
            "2001:db8::1",
        ),
        (
            RecordData::Cname {
                target: "target.example.net".into(),
            },
            "alias",
            "target.example.net.",
        ),
        (
            RecordData::Mx {
                preference: 10,
                exchange: "mail.example.net".into(),
            },
            "@",
            "10 mail.example.net.",
        ),
        (
            RecordData::Txt {
                strings: vec!["hello \"world\"".into()],
            },
            "txt",
            "\"hello \\\"world\\\"\"",
        ),
        (
            RecordData::Ns {
                nameserver: "ns.example.net".into(),
            },
            "sub",
            "ns.example.net.",
        ),
        (
            RecordData::Srv {
                priority: 1,
                weight: 5,
                port: 5060,
                target: "sip.example.net".into(),
            },
            "_sip._tcp",
            "1 5 5060 sip.example.net.",
        ),
        (
            RecordData::Caa {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into(),
            },
            "@",
            "0 issue \"letsencrypt.org\"",
        ),
    ]
}

fn second_values() -> Vec<(RecordData, &'static str, &'static str)> {
    vec![
        (
            RecordData::A(Ipv4Addr::new(192, 0, 2, 2)),
            "www",
            "192.0.2.2",
        ),
        (
            RecordData::Aaaa("2001:db8::2".parse().unwrap()),
            "www",
            "2001:db8::2",
        ),
        (
            RecordData::Cname {
                target: "other.example.net".into(),
            },
            "alias",
            "other.example.net.",
        ),
        (
            RecordData::Mx {
                preference: 20,
                exchange: "mx2.example.net".into(),
            },
            "@",
            "20 mx2.example.net.",
        ),
        (
            RecordData::Txt {
                strings: vec!["z".repeat(300)],
            },
            "txt",
            "zzz\" \"zzz",
        ),
        (
            RecordData::Ns {
                nameserver: "ns2.example.net".into(),
            },
            "sub",
            "ns2.example.net.",
        ),
        (
            RecordData::Srv {
                priority: 2,
                weight: 0,
                port: 5061,
                target: "sip2.example.net".into(),
            },
            "_sip._tcp",
            "2 0 5061 sip2.example.net.",
        ),
        (
            RecordData::Caa {
                flags: 128,
                tag: "iodef".into(),
                value: "mailto:sec@example.com".into(),
            },
            "@",
            "128 iodef \"mailto:sec@example.com\"",
        ),
    ]
}

fn changes(values: &[(RecordData, &str, &str)]) -> Vec<Change> {
    values
        .iter()
        .map(|(d, name, _)| Change::Replace {
            set: rrset(name, vec![d.clone()]),
            default_ttl: 300,
        })
        .collect()
}

fn fqdn(name: &str) -> String {
    if name == "@" {
        format!("{ZONE}.")
    } else {
        format!("{name}.{ZONE}.")
    }
}

#[test]
fn all_eight_kinds_add_replace_delete_reach_the_secondary() {
    if !have_bind() {
        return;
    }
    let primary = start_primary(&[ZONE], vec![]);
    let secondary = start_secondary(&primary, &[ZONE], None);
    wait_for(&secondary, ZONE, "SOA", &["hostmaster"], WAIT);
    let key = op_key(primary.tsig());
    let up = Updater::new(primary.addr(), Some(key.clone()));
    let rt = rt();
    let notify = |rt: &tokio::runtime::Runtime| {
        let res = rt.block_on(notify_all(
            &[secondary.addr()],
            ZONE,
            Some(&key),
            Duration::from_secs(2),
        ));
        for (s, r) in res {
            r.unwrap_or_else(|e| panic!("NOTIFY to {s}: {e}"));
        }
    };

    for (round, values) in [first_values(), second_values()].into_iter().enumerate() {
        let p = rt
            .block_on(apply_and_notify(
                &up,
                ZONE,
                &changes(&values),
                &[secondary.addr()],
                Some(&key),
            ))
            .unwrap();
        let out = &p.outcome;
        assert_eq!(
            (out.applied, out.messages),
            (8, 1),
            "round {round}: one batched UPDATE"
        );
        assert_eq!(p.notified.len(), 1);
        assert!(p.notified[0].1.is_ok(), "{:?}", p.notified);
        for (d, name, text) in &values {
            wait_for(
                &secondary,
                &fqdn(name),
                d.record_type().as_str(),
                &[text],
                WAIT,
            );
        }
        // Idempotent: the same desired state again writes nothing.
        let again = rt.block_on(up.apply(ZONE, &changes(&values))).unwrap();
        assert_eq!((again.applied, again.unchanged, again.messages), (0, 8, 0));
    }
    // Replace left exactly the new values: the first round's are gone.
    assert!(!dig_all(&primary, "www.example.com.", "A").contains("192.0.2.1\n"));

    let deletes: Vec<Change> = second_values()
        .iter()
        .map(|(d, name, _)| Change::Delete {
            name: name.to_string(),
            record_type: d.record_type(),
        })
        .collect();
    let out = rt.block_on(up.apply(ZONE, &deletes)).unwrap();
    assert_eq!(out.applied, 8);
    notify(&rt);
    for (d, name, _) in second_values() {
        if d.record_type() == RecordType::Ns {
            continue; // checked below: a removed delegation answers from the apex SOA
        }
        wait_gone(&secondary, &fqdn(name), d.record_type().as_str(), WAIT);
    }
    let out = dig_all(&secondary, "sub.example.com.", "NS");
    assert!(!out.contains("ns2.example.net"), "{out}");
    let again = rt.block_on(up.apply(ZONE, &deletes)).unwrap();
    assert_eq!((again.applied, again.unchanged), (0, 8));
}

#[test]
fn replace_is_atomic_under_a_concurrent_query_loop() {
    if !have_bind() {
        return;
    }
    let primary = start_primary(&[ZONE], vec![]);
    let key = op_key(primary.tsig());
    let up = Updater::new(primary.addr(), Some(key));
    let rt = rt();
    let set = |i: u8| {
        rrset(
            "www",
            vec![
                RecordData::A(Ipv4Addr::new(10, 0, i, 1)),
                RecordData::A(Ipv4Addr::new(10, 0, i, 2)),
            ],
        )
    };
    rt.block_on(up.replace(ZONE, &set(0), 300)).unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let (answered, missing) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let server = primary.addr();
    let q = {
        let (done, answered, missing) = (done.clone(), answered.clone(), missing.clone());
        rt.spawn(async move {
            let mut conn = DnsConnection::connect(server, None, Duration::from_secs(2))
                .await
                .unwrap();
            // Bounded: at most 100 000 queries or until the writer is done.
            for _ in 0..100_000 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                match Updater::query(&mut conn, ZONE, "www", RecordType::A)
                    .await
                    .unwrap()
                {
                    Some(s) if s.rdata.len() == 2 => answered.fetch_add(1, Ordering::Relaxed),
                    _ => missing.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    for i in 1..=60u8 {
        let out = rt.block_on(up.replace(ZONE, &set(i), 300)).unwrap();
        assert_eq!(out.applied, 1);
    }
    done.store(true, Ordering::Relaxed);
    rt.block_on(q).unwrap();
    let (a, m) = (
        answered.load(Ordering::Relaxed),
        missing.load(Ordering::Relaxed),
    );
    println!(
        "atomic replace: {a} complete answers, {m} NXDOMAIN/NODATA/partial during 60 replaces"
    );
    assert!(a > 100, "the query loop ran concurrently ({a} answers)");
    assert_eq!(
        m, 0,
        "a replace must never expose a missing or partial RRset"
    );
}

#[test]
fn bad_rdata_wrong_key_and_dead_primary_are_clear_errors() {
    if !have_bind() {
        return;
    }
    let mut primary = start_primary(&[ZONE], vec![]);
    let key = op_key(primary.tsig());
    let rt = rt();
    let up = Updater::new(primary.addr(), Some(key.clone()));
    let serial_before = rt
        .block_on(serial::current(
            primary.addr(),
            ZONE,
            Duration::from_secs(2),
        ))
        .unwrap();

    // BIND's check-names refuses an A record whose owner is not a host name: alone, that is a
    // clear error and the zone is unchanged.
    let bad = rrset("bad_host", vec![RecordData::A(Ipv4Addr::LOCALHOST)]);
    let err = rt.block_on(up.replace(ZONE, &bad, 60)).unwrap_err();
    assert_eq!(err.rcode(), Some("REFUSED"), "{err}");
    assert!(err.to_string().contains("rdata rejected"), "{err}");
    let serial_after = rt
        .block_on(serial::current(
            primary.addr(),
            ZONE,
            Duration::from_secs(2),
        ))
        .unwrap();
    assert_eq!(serial_before, serial_after, "zone unchanged");
    // In a batch, the refused change is isolated and reported; the valid one is applied.
    let batch = vec![
        Change::Replace {
            set: rrset("ok", vec![RecordData::A(Ipv4Addr::LOCALHOST)]),
            default_ttl: 60,
        },
        Change::Replace {
            set: bad.clone(),
            default_ttl: 60,
        },
    ];
    let out = rt.block_on(up.apply(ZONE, &batch)).unwrap();
    assert_eq!(
        (out.applied, out.failed.len(), out.messages),
        (1, 1, 3),
        "{out:?}"
    );
    assert_eq!(out.failed[0].owner, "bad_host.example.com.");
    assert_eq!(out.failed[0].error.rcode(), Some("REFUSED"));
    wait_for(&primary, "ok.example.com.", "A", &["127.0.0.1"], WAIT);
    let answer = primary
        .dig(&["+noall", "+answer", "bad_host.example.com.", "A"])
        .unwrap();
    assert!(answer.trim().is_empty(), "{answer}");

    // A CNAME at the name: BIND would silently ignore the add; the prerequisite makes it loud.
    rt.block_on(up.replace(
        ZONE,
        &rrset(
            "alias",
            vec![RecordData::Cname {
                target: "x.example.net".into(),
            }],
        ),
        60,
    ))
    .unwrap();
    let err = rt
        .block_on(up.replace(
            ZONE,
            &rrset("alias", vec![RecordData::A(Ipv4Addr::LOCALHOST)]),
            60,
        ))
        .unwrap_err();
    assert_eq!(err.rcode(), Some("YXRRSET"), "{err}");
    assert!(err.to_string().contains("CNAME"), "{err}");

    // Wrong secret under the right key name → NOTAUTH with TSIG BADSIG; unknown key → BADKEY.
    let wrong = TsigKey::new(
        key.name.clone(),
        TsigAlgorithm::HmacSha256,
        TsigKey::generate("x").secret,
    );
    let set = rrset("www", vec![RecordData::A(Ipv4Addr::LOCALHOST)]);
    let err = rt
        .block_on(Updater::new(primary.addr(), Some(wrong)).replace(ZONE, &set, 60))
        .unwrap_err();
    assert_eq!(err.rcode(), Some("NOTAUTH"), "{err}");
    assert!(err.to_string().contains("BADSIG"), "{err}");
    let unknown = TsigKey::generate("nobody-knows-me");
    let err = rt
        .block_on(Updater::new(primary.addr(), Some(unknown)).replace(ZONE, &set, 60))
        .unwrap_err();
    assert_eq!(err.rcode(), Some("NOTAUTH"), "{err}");
    assert!(err.to_string().contains("BADKEY"), "{err}");
    // Unsigned → REFUSED by allow-update { key ...; }.
    let err = rt
        .block_on(Updater::new(primary.addr(), None).replace(ZONE, &set, 60))
        .unwrap_err();
    assert_eq!(err.rcode(), Some("REFUSED"), "{err}");

    // A server that accepts TCP but never answers: Timeout within the bound.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_addr: SocketAddr = hole.local_addr().unwrap();
    let t0 = Instant::now();
    let err = rt
        .block_on(
            Updater::new(hole_addr, Some(key.clone()))
                .with_timeout(Duration::from_millis(500))
                .replace(ZONE, &set, 60),
        )
        .unwrap_err();
    assert!(
        matches!(err, bindy_operator::Error::Timeout { .. }),
        "{err}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "bounded: {:?}",
        t0.elapsed()
    );
    // A connection that timed out mid-exchange is not reused (its framing is unknown).
    let again = rt.block_on(async {
        let mut c = DnsConnection::connect(hole_addr, None, Duration::from_millis(200)).await?;
        let first = Updater::query(&mut c, ZONE, "www", RecordType::A).await;
        assert!(
            matches!(first, Err(bindy_operator::Error::Timeout { .. })),
            "{first:?}"
        );
        Updater::query(&mut c, ZONE, "www", RecordType::A).await
    });
    assert!(
        matches!(&again, Err(bindy_operator::Error::Io { .. }))
            && format!("{again:?}").contains("unusable"),
        "{again:?}"
    );
    drop(hole);

    // Primary down: a transient error within the bound, and nothing applied after restart.
    primary.stop();
    let t0 = Instant::now();
    let err = rt
        .block_on(
            Updater::new(primary.addr(), Some(key.clone()))
                .with_timeout(Duration::from_secs(1))
                .replace(ZONE, &set, 60),
        )
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "bounded: {:?}",
        t0.elapsed()
    );
    primary.restart().unwrap();
    let answer = primary
        .dig(&["+noall", "+answer", "www.example.com.", "A"])
        .unwrap();
    assert!(answer.trim().is_empty(), "{answer}");
}

#[test]
fn serials_never_go_backwards_across_primary_restarts() {
    if !have_bind() {
        return;
    }
    let mut primary = start_primary(&[ZONE], vec![]);
    let secondary = start_secondary(&primary, &[ZONE], None);
    let key = op_key(primary.tsig());
    let rt = rt();
    let t = Duration::from_secs(2);
    let up = Updater::new(primary.addr(), Some(key.clone()));
    for i in 1..=4u8 {
        let www = rrset("www", vec![RecordData::A(Ipv4Addr::new(192, 0, 2, i))]);
        rt.block_on(up.replace(ZONE, &www, 300)).unwrap();
    }
    rt.block_on(notify_all(&[secondary.addr()], ZONE, Some(&key), t));
    wait_for(&secondary, "www.example.com.", "A", &["192.0.2.4"], WAIT);
    let on_secondary = rt
        .block_on(serial::current(secondary.addr(), ZONE, t))
        .unwrap()
        .unwrap();
    assert_eq!(on_secondary, 5, "bootstrap serial 1 + 4 UPDATEs");

    // Why the bootstrap file is never rewritten under a live journal: BIND refuses the zone.
    primary.kill();
    let p = primary.paths().clone();
    let mut data = zone_data(ZONE, p.ip, vec![]);
    data.soa.serial = serial::next(Some(on_secondary), 1);
    std::fs::write(
        p.zone_file(ZONE),
        bindy_operator::bind9::zonefile::render(&data).unwrap(),
    )
    .unwrap();
    primary.restart().unwrap();
    assert_eq!(
        rt.block_on(serial::current(primary.addr(), ZONE, t))
            .unwrap(),
        None
    );
    assert!(
        primary.log().contains("journal out of sync"),
        "{}",
        primary.log_tail(10)
    );

    // The primary lost its journal and reloads the bootstrap (serial 1): it is now behind
    // the secondary, which would ignore every change. The operator raises the serial above
    // what the secondaries serve, re-applies the desired records, and they follow again.
    primary.kill();
    std::fs::remove_file(p.journal_file(ZONE)).unwrap();
    data.soa.serial = 1;
    std::fs::write(
        p.zone_file(ZONE),
        bindy_operator::bind9::zonefile::render(&data).unwrap(),
    )
    .unwrap();
    primary.restart().unwrap();
    assert_eq!(
        rt.block_on(serial::current(primary.addr(), ZONE, t))
            .unwrap(),
        Some(1)
    );
    let floor = serial::next(Some(on_secondary), 0);
    let now = rt
        .block_on(serial::ensure_at_least(
            primary.addr(),
            &key,
            ZONE,
            floor,
            t,
        ))
        .unwrap();
    assert_eq!(now, 6);
    assert_eq!(
        rt.block_on(serial::ensure_at_least(primary.addr(), &key, ZONE, 3, t))
            .unwrap(),
        6
    );
    let www = rrset("www", vec![RecordData::A(Ipv4Addr::new(192, 0, 2, 99))]);
    rt.block_on(up.replace(ZONE, &www, 300)).unwrap();
    rt.block_on(notify_all(&[secondary.addr()], ZONE, Some(&key), t));
    wait_for(&secondary, "www.example.com.", "A", &["192.0.2.99"], WAIT);
    let s2 = rt
        .block_on(serial::current(secondary.addr(), ZONE, t))
        .unwrap()
        .unwrap();
    assert!(
        serial::is_newer(s2, on_secondary),
        "{s2} after {on_secondary}"
    );
}

#[test]
fn large_changes_are_split_to_fit_the_wire() {
    if !have_bind() {
        return;
    }
    let primary = start_primary(&[ZONE], vec![]);
    let key = op_key(primary.tsig());
    let up = Updater::new(primary.addr(), Some(key));
    let rt = rt();
    let n = 600;
    let big: Vec<Change> = (0..n)
        .map(|i| Change::Replace {
            set: rrset(
                &format!("t{i}"),
                vec![RecordData::Txt {
                    strings: vec![format!("{i:04}{}", "x".repeat(246))],
                }],
            ),
            default_ttl: 60,
        })
        .collect();
    let out = rt.block_on(up.apply_blind(ZONE, &big)).unwrap();
    assert_eq!(out.applied, n);
    assert!(
        out.messages >= 3,
        "~180 KB of changes need several 64 KiB messages: {out:?}"
    );
    for i in [0, n / 2, n - 1] {
        wait_for(
            &primary,
            &format!("t{i}.example.com."),
            "TXT",
            &[&format!("{i:04}xxx")],
            WAIT,
        );
    }
    let again = rt.block_on(up.apply(ZONE, &big)).unwrap();
    assert_eq!((again.unchanged, again.messages), (n, 0));

    // One RRset larger than a DNS message cannot be sent at all: a clear error, nothing sent.
    let huge = rrset(
        "huge",
        vec![RecordData::Txt {
            strings: vec!["h".repeat(255); 300],
        }],
    );
    let err = rt.block_on(up.replace(ZONE, &huge, 60)).unwrap_err();
    assert!(
        err.to_string().contains("more than a DNS message holds"),
        "{err}"
    );
    let answer = primary
        .dig(&["+noall", "+answer", "huge.example.com.", "TXT"])
        .unwrap();
    assert!(answer.trim().is_empty(), "{answer}");
}

#[test]
fn compare_and_swap_detects_a_concurrent_writer() {
    if !have_bind() {
        return;
    }
    let primary = start_primary(&[ZONE], vec![]);
    let key = op_key(primary.tsig());
    let up = Updater::new(primary.addr(), Some(key));
    let rt = rt();
    let a = |o: u8| rrset("cas", vec![RecordData::A(Ipv4Addr::new(192, 0, 2, o))]);
    // Expected absent, and it is: applied.
    rt.block_on(up.replace_if(ZONE, &a(1), 60, None)).unwrap();
    let seen = rt.block_on(async {
        let mut c = up.connect().await.unwrap();
        Updater::query(&mut c, ZONE, "cas", RecordType::A)
            .await
            .unwrap()
    });
    // Someone else writes in between.
    primary
        .nsupdate("update delete cas.example.com. A\nupdate add cas.example.com. 60 A 192.0.2.77")
        .unwrap();
    let err = rt
        .block_on(up.replace_if(ZONE, &a(2), 60, seen.as_ref()))
        .unwrap_err();
    assert_eq!(err.rcode(), Some("NXRRSET"), "{err}");
    assert!(
        err.to_string().contains("changed since it was read"),
        "{err}"
    );
    wait_for(&primary, "cas.example.com.", "A", &["192.0.2.77"], WAIT);
    // Expected absent, but it exists: YXRRSET.
    let err = rt
        .block_on(up.replace_if(ZONE, &a(3), 60, None))
        .unwrap_err();
    assert_eq!(err.rcode(), Some("YXRRSET"), "{err}");
}
