//! Measurement, not a timed test (ignored by default; run `benches/bind9_changes.sh`):
//! record changes pushed to a real BIND9 primary, batched vs one UPDATE per change, the
//! latency of one change (send → visible on the primary), and propagation to a BIND9
//! secondary with the operator's NOTIFY vs BIND's own.

#[path = "bind9_common.rs"]
mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bindy_operator::bind9::namedconf::{PrimaryZone, ZoneConfig};
use bindy_operator::bind9::notify::notify_one;
use bindy_operator::bind9::rndc::RndcClient;
use bindy_operator::bind9::update::{Change, Updater};
use bindy_operator::bind9::wire::DnsConnection;
use bindy_operator::bind9::{RecordData, RecordType, TsigKey};
use common::*;

fn n_changes(n: usize, tag: u8) -> Vec<Change> {
    (0..n)
        .map(|i| Change::Replace {
            set: rrset(
                &format!("r{i}"),
                vec![RecordData::A(Ipv4Addr::new(
                    10,
                    tag,
                    (i / 256) as u8,
                    (i % 256) as u8,
                ))],
            ),
            default_ttl: 300,
        })
        .collect()
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn poll_until(conn: &mut DnsConnection, zone: &str, want: Ipv4Addr, limit: Duration) -> bool {
    let t0 = Instant::now();
    // Bounded by `limit`; one TCP query per round trip (~0.1 ms on loopback).
    while t0.elapsed() < limit {
        if let Ok(Some(s)) = Updater::query(conn, zone, "www", RecordType::A).await {
            if s.rdata.iter().any(|r| r.to_string() == want.to_string()) {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    false
}

/// `rounds` changes of www.lat.bench (A = `net`.i), each timed from the UPDATE until the
/// secondary answers it; with `notify_key`, the operator's NOTIFY follows each UPDATE at once
/// (otherwise the secondary waits for BIND's own). `gap` pauses between rounds.
async fn propagation_rounds(
    up: &Updater,
    secondary: std::net::SocketAddr,
    notify_key: Option<&TsigKey>,
    net: [u8; 3],
    rounds: usize,
    gap: Duration,
) -> Vec<Duration> {
    let mut q = DnsConnection::connect(secondary, None, Duration::from_secs(2))
        .await
        .unwrap();
    let mut lat = Vec::with_capacity(rounds);
    for i in 0..rounds {
        tokio::time::sleep(gap).await;
        let ip = Ipv4Addr::new(net[0], net[1], net[2], i as u8 + 1);
        let t0 = Instant::now();
        up.replace("lat.bench", &rrset("www", vec![RecordData::A(ip)]), 300)
            .await
            .unwrap();
        if let Some(key) = notify_key {
            notify_one(secondary, "lat.bench", Some(key), Duration::from_secs(2))
                .await
                .unwrap();
        }
        assert!(poll_until(&mut q, "lat.bench", ip, Duration::from_secs(10)).await);
        lat.push(t0.elapsed());
    }
    lat
}

#[test]
#[ignore = "measurement: run benches/bind9_changes.sh"]
fn bind9_change_throughput_and_latency() {
    if !have_bind() {
        return;
    }
    let n: usize = std::env::var("BIND9_BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let zones = ["one.bench", "batch.bench", "idem.bench", "lat.bench"];
    let primary = start_primary(&zones, vec![]);
    let secondary = start_secondary(&primary, &["lat.bench"], None);
    wait_for(
        &secondary,
        "lat.bench",
        "SOA",
        &["hostmaster"],
        Duration::from_secs(10),
    );
    let key = op_key(primary.tsig());
    let up = Updater::new(primary.addr(), Some(key.clone())).with_timeout(Duration::from_secs(30));
    let rt = rt();

    let t0 = Instant::now();
    let one = rt
        .block_on(up.apply_one_by_one("one.bench", &n_changes(n, 1)))
        .unwrap();
    let t_one = t0.elapsed();
    let t0 = Instant::now();
    let batch = rt
        .block_on(up.apply_blind("batch.bench", &n_changes(n, 2)))
        .unwrap();
    let t_batch = t0.elapsed();
    let t0 = Instant::now();
    let idem1 = rt
        .block_on(up.apply("idem.bench", &n_changes(n, 3)))
        .unwrap();
    let t_idem1 = t0.elapsed();
    let t0 = Instant::now();
    let idem2 = rt
        .block_on(up.apply("idem.bench", &n_changes(n, 3)))
        .unwrap();
    let t_idem2 = t0.elapsed();
    assert_eq!(
        (one.applied, batch.applied, idem1.applied, idem2.unchanged),
        (n, n, n, n)
    );
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("BENCH changes={n}");
    println!(
        "BENCH one-per-message: {} msgs, {:.0} changes/s ({:?})",
        one.messages,
        rate(t_one),
        t_one
    );
    println!(
        "BENCH batched (blind): {} msgs, {:.0} changes/s ({:?})",
        batch.messages,
        rate(t_batch),
        t_batch
    );
    println!(
        "BENCH batched+read-first (all new): {} msgs, {:.0} changes/s ({:?})",
        idem1.messages,
        rate(t_idem1),
        t_idem1
    );
    println!(
        "BENCH read-first, nothing to do: {} msgs, {:.0} checks/s ({:?})",
        idem2.messages,
        rate(t_idem2),
        t_idem2
    );

    // One change: UPDATE sent → answered (BIND applies before answering) → seen by a query.
    let rounds = 200;
    let mut lat = Vec::with_capacity(rounds);
    let mut answered = Vec::with_capacity(rounds);
    rt.block_on(async {
        let mut q = DnsConnection::connect(primary.addr(), None, Duration::from_secs(2))
            .await
            .unwrap();
        for i in 0..rounds {
            let ip = Ipv4Addr::new(192, 0, 2, (i % 250) as u8 + 1);
            let set = rrset("www", vec![RecordData::A(ip)]);
            let t0 = Instant::now();
            up.replace("lat.bench", &set, 300).await.unwrap();
            answered.push(t0.elapsed());
            assert!(poll_until(&mut q, "lat.bench", ip, Duration::from_secs(2)).await);
            lat.push(t0.elapsed());
        }
    });
    println!(
        "BENCH one change (replace incl. read-first, new connection): answered p50 {:?} p99 {:?}; visible on primary p50 {:?} p99 {:?}",
        pct(&mut answered, 0.5), pct(&mut answered, 0.99), pct(&mut lat, 0.5), pct(&mut lat, 0.99)
    );

    // Propagation to the BIND9 secondary: operator NOTIFY right after the UPDATE ...
    let rounds = 30;
    // Pause between propagation rounds (measurement knob: BIND's rate limiters go idle after
    // a tick with nothing queued, and the first event after idle is not delayed).
    let gap = Duration::from_millis(
        std::env::var("BIND9_BENCH_GAP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    let mut fast = rt.block_on(propagation_rounds(
        &up,
        secondary.addr(),
        Some(&key),
        [198, 51, 100],
        rounds,
        gap,
    ));
    // ... versus BIND's own NOTIFY (also-notify added by rndc modzone, notify-delay 0).
    let p = primary.paths();
    let z = match primary_zone(p, "lat.bench") {
        ZoneConfig::Primary(z) => z,
        ZoneConfig::Secondary(_) => unreachable!(),
    };
    let modded = ZoneConfig::Primary(PrimaryZone {
        also_notify: vec![secondary.addr()],
        notify_key: Some(key.name.clone()),
        ..z
    });
    let rndc = RndcClient::new(primary.rndc_addr(), op_key(primary.rndc_key()));
    rt.block_on(rndc.modzone("lat.bench", &modded.body().unwrap()))
        .unwrap();
    let mut slow = rt.block_on(propagation_rounds(
        &up,
        secondary.addr(),
        None,
        [203, 0, 113],
        rounds,
        gap,
    ));
    println!(
        "BENCH visible on BIND secondary: operator NOTIFY p50 {:?} p99 {:?}; BIND's own NOTIFY p50 {:?} p99 {:?} ({rounds} rounds each)",
        pct(&mut fast, 0.5), pct(&mut fast, 0.99), pct(&mut slow, 0.5), pct(&mut slow, 0.99)
    );
}
