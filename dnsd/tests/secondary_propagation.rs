//! Propagation latency, a measurement rather than a test (`#[ignore]`; run it with
//! `benches/propagation.sh`, which builds in release mode).
//!
//! A BIND9 primary (`notify-delay 0`, NOTIFY to dnsd) and dnsd as its secondary on
//! loopback. Each round changes one A record with nsupdate; the clock starts when the
//! UPDATE has been answered and stops when dnsd answers the new value. Two ways:
//! (a) only BIND's own NOTIFY; (b) the updater also sends a NOTIFY straight to dnsd right
//! after the UPDATE (from the primary's address, as the operator will). Prints p50/p90/p99/
//! max per mode; the only assertions are that every change arrived and the last serial is
//! the primary's (coalesced NOTIFYs must not lose the latest version).
//!
//! `PROP_N` sets the rounds per mode (default 200), `PROP_RECORDS` adds records to the zone
//! (default 0).

mod secondary_support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use bindy_tests::named::{Named, NamedBuilder};
use dnsd::inspect::{query, summarize};
use dnsd::rtype;
use dnsd::secondary::msg;
use secondary_support::*;

fn seen(sock: &UdpSocket, id: u16, want: &str) -> bool {
    let q = query(id, "v.prop.test.", rtype::A, false, Some(1232));
    if sock.send(&q).is_err() {
        return false;
    }
    let mut buf = [0u8; 1500];
    // Bounded: a few stale answers at most, each read waits at most 200 ms.
    for _ in 0..4 {
        let Ok(n) = sock.recv(&mut buf) else {
            return false;
        };
        if n >= 2 && buf[..2] == id.to_be_bytes() {
            return summarize(&buf[..n])
                .is_some_and(|s| s.answer.iter().any(|a| a.ends_with(want)));
        }
    }
    false
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

fn run(ns: &Named, dnsd: SocketAddr, n: usize, first: usize, notify: bool) -> Vec<f64> {
    let poll = UdpSocket::bind("127.0.0.1:0").expect("udp");
    poll.connect(dnsd).expect("connect");
    poll.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let updater = UdpSocket::bind((ns.ip(), 0)).expect("udp on the primary's address");
    let zone = dnsd::name::from_text("prop.test.", None).expect("name");
    let mut lat = Vec::with_capacity(n);
    for i in first..first + n {
        let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        let val = format!(" A {ip}");
        ns.nsupdate(&format!(
            "update delete v.prop.test. A\nupdate add v.prop.test. 60 A {ip}"
        ))
        .expect("nsupdate");
        let t0 = Instant::now();
        if notify {
            let q = msg::query(i as u16, msg::OP_NOTIFY, true, &zone, rtype::SOA);
            updater.send_to(&q, dnsd).expect("NOTIFY");
        }
        let deadline = t0 + Duration::from_secs(10);
        let mut id = 0u16;
        loop {
            id = id.wrapping_add(1);
            if seen(&poll, id, &val) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {i}: change not served within 10 s"
            );
            std::thread::sleep(Duration::from_micros(300));
        }
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    lat
}

fn report(name: &str, mut lat: Vec<f64>) {
    lat.sort_by(f64::total_cmp);
    println!(
        "{name}: n={} p50={:.1} ms p90={:.1} ms p99={:.1} ms max={:.1} ms",
        lat.len(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.90),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
}

#[test]
#[ignore = "measurement: run benches/propagation.sh"]
fn propagation_latency() {
    if !tools_present() {
        return;
    }
    let n: usize = env_or("PROP_N", 200);
    let addr = dnsd_addr();
    let extra: u32 = env_or("PROP_RECORDS", 0);
    let mut text = plain_zone("prop.test");
    text.push_str("v IN A 192.0.2.1\n");
    push_hosts(&mut text, extra);
    println!("zone of {} records", extra + 7);
    let ns = NamedBuilder::new()
        .primary_zone("prop.test", &text)
        .also_notify(addr)
        .start_timeout(Duration::from_secs(120))
        .start()
        .expect("named");
    let dir = tempdir();
    let d = Dnsd::follow(addr, dir.path(), &ns, Follow::Zone("prop.test"), &[]);
    d.wait("initial transfer", 10, || {
        !d.answer("v.prop.test.", rtype::A).is_empty()
    });
    let b = run(&ns, addr, n, 0, true);
    let a = run(&ns, addr, n, n, false);
    report("(a) BIND's NOTIFY only", a);
    report("(b) updater's NOTIFY", b);
    let serial = ns.soa_serial("prop.test").expect("dig").expect("serial");
    d.wait("last serial", 10, || {
        d.metric("dnsd_secondary_serial{zone=\"prop.test.\"}") == Some(serial as f64)
    });
    for kind in ["ixfr", "axfr"] {
        println!(
            "transfers {kind}: {:?}",
            d.metric(&format!(
                "dnsd_secondary_transfers_total{{zone=\"prop.test.\",kind=\"{kind}\",result=\"ok\"}}"
            ))
        );
    }
}

fn wait_served(server: SocketAddr, name: &str, secs: u64) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if ask(server, name, rtype::A).is_some_and(|s| !s.answer.is_empty()) {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
#[ignore = "measurement: run benches/propagation.sh axfr"]
fn axfr_1m_time_to_serve_and_rss() {
    if !tools_present() {
        return;
    }
    let n: u32 = env_or("AXFR_N", 1_000_000);
    let mut text = plain_zone("big.test");
    push_hosts(&mut text, n);
    let last = format!("h{}.big.test.", n - 1);
    let ns = NamedBuilder::new()
        .primary_zone("big.test", &text)
        .start_timeout(Duration::from_secs(300))
        .start()
        .expect("named");
    drop(text);
    let dir = tempdir();
    let addr = dnsd_addr();
    let t0 = Instant::now();
    let d = Dnsd::follow(addr, dir.path(), &ns, Follow::Zone("big.test"), &[]);
    let took = wait_served(addr, &last, 300).expect("dnsd served the zone");
    let started = t0.elapsed() - took;
    let (rss, hwm) = rss_mib(d.pid().expect("pid"));
    let log = d.log_text();
    if let Some(l) = log.lines().find(|l| l.contains("new version")) {
        println!("dnsd log: {l}");
    }
    println!(
        "dnsd: {n} records served {:.2} s after start (start {:.2} s), RSS {rss:.0} MiB, peak {hwm:.0} MiB",
        took.as_secs_f64(),
        started.as_secs_f64()
    );
    drop(d);
    let knotd = bindy_tests::named::find_tool("knotd");
    if knotd.is_none() {
        println!("knotd not installed: no comparison");
    }
    if let Some(knotd) = knotd {
        let kdir = tempdir();
        let t0 = Instant::now();
        let kaddr = dnsd_addr();
        let knot = Knot::start(&knotd, kdir.path(), kaddr, ns.addr(), ns.tsig(), "big.test");
        let took = wait_served(kaddr, &last, 300);
        let (rss, hwm) = rss_mib(knot.pid());
        drop(knot);
        let took = took.expect("knot served the zone");
        println!(
            "knot: {n} records served {:.2} s after start ({:.2} s incl. start), RSS {rss:.0} MiB, peak {hwm:.0} MiB",
            took.as_secs_f64(),
            t0.elapsed().as_secs_f64()
        );
    }
}

#[test]
#[ignore = "measurement: run benches/propagation.sh delta"]
fn ixfr_delta_apply_cost() {
    use dnsd::secondary::{delta, Delta};
    use dnsd::zonefile::Record;
    let n: u32 = env_or("AXFR_N", 1_000_000);
    let origin = dnsd::name::from_text("big.test.", None).expect("name");
    let rec = |name: &str, t: u16, rdata: Vec<u8>| Record {
        name: dnsd::name::from_text(name, Some(&origin)).expect("name"),
        rtype: t,
        class: 1,
        ttl: 300,
        rdata,
    };
    let soa = |serial: u32| {
        let mut rd = dnsd::name::from_text("ns1.big.test.", None).expect("name");
        rd.extend(dnsd::name::from_text("hostmaster.big.test.", None).expect("name"));
        for v in [serial, 3600, 600, 86400, 60] {
            rd.extend_from_slice(&v.to_be_bytes());
        }
        rec("@", rtype::SOA, rd)
    };
    let mut recs = vec![
        soa(1),
        rec(
            "@",
            rtype::NS,
            dnsd::name::from_text("ns1.big.test.", None).expect("name"),
        ),
    ];
    for i in 0..n {
        recs.push(rec(
            &format!("h{i}"),
            rtype::A,
            vec![10, (i >> 16) as u8, (i >> 8) as u8, i as u8],
        ));
    }
    let t = Instant::now();
    let base = dnsd::zone::Zone::from_records(&origin, recs).expect("zone");
    println!(
        "built a {n}-record zone in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let mut z = base.clone();
    let t = Instant::now();
    let mut idx = delta::ChildIndex::build(&base);
    println!(
        "child index (built at the first IXFR after an AXFR): {:.0} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    let rounds = 1000;
    let t = Instant::now();
    for s in 1..=rounds {
        let d = Delta {
            from: s,
            to: s + 1,
            old_soa: soa(s),
            soa: soa(s + 1),
            del: vec![rec(
                &format!("h{s}"),
                rtype::A,
                vec![10, 0, (s >> 8) as u8, s as u8],
            )],
            add: vec![rec(&format!("new{s}"), rtype::A, vec![192, 0, 2, 1])],
        };
        z = delta::apply(&z, &[d], &mut idx).expect("apply");
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    println!("IXFR delta (1 name deleted, 1 added) on {n} records: {per:.0} µs per apply");
    assert_eq!(z.serial, rounds + 1);
    assert!(z
        .nodes
        .get(&dnsd::name::lower(
            &dnsd::name::from_text("new7.big.test.", None).expect("name")
        ))
        .is_some());
}
