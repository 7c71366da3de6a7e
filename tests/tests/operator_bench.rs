//! Measurements (run on demand, not a timed test):
//! `cargo test -p bindy-tests --test operator_bench -- --ignored --nocapture`
//!
//! 1. Record create → answer: ARecords created one after another through the API; for each,
//!    the time until the primary, then the BIND9 secondary, answer it (TCP queries every
//!    millisecond). p50/p99 over `BENCH_RECORDS` (default 100).
//! 2. Scale: `BENCH_ZONES` zones × `BENCH_PER_ZONE` records on one primary; reconcile duration
//!    average per controller (from the operator's own metrics) and the test process's RSS
//!    (API-server double + node agent + operator together: an upper bound for the operator).

mod operator_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bindy_crds::{ARecord, Bind9Cluster, Bind9Instance, DNSZone, RecordType};
use bindy_operator::bind9::update::Updater;
use bindy_operator::bind9::wire::DnsConnection;
use operator_support::*;

const T: Duration = Duration::from_secs(60);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn answers(server: SocketAddr, owner: &str) -> bool {
    let Ok(mut conn) = DnsConnection::connect(server, None, Duration::from_secs(1)).await else {
        return false;
    };
    matches!(
        Updater::query(&mut conn, "example.com", owner, RecordType::A).await,
        Ok(Some(_))
    )
}

async fn wait_answer(server: SocketAddr, owner: &str, t0: Instant) -> Duration {
    while t0.elapsed() < T {
        if answers(server, owner).await {
            return t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{owner} not answered by {server} within {T:?}");
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn record_latency_and_scale() {
    if !tools_present() {
        eprintln!("SKIP: named/dig not installed");
        return;
    }
    let bed = Bed::start(true).await;
    let op = bed.operator("bench", None);
    let _c: Bind9Cluster = bed.create(cluster("prod", 1, 1)).await;
    let _z: DNSZone = bed
        .create(zone("example", "example.com", "prod", "web"))
        .await;
    let insts = bed.api::<Bind9Instance>();
    let zones = bed.api::<DNSZone>();
    wait_for(&zones, "example", T, |v| {
        is_ready(v)
            && v["status"]["secondaryIps"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
    })
    .await
    .expect("zone Ready with a secondary");
    let p = wait_for(&insts, "prod-primary-0", T, |v| pod_ip(v).is_some())
        .await
        .unwrap();
    let primary: SocketAddr = format!("{}:53", pod_ip(&p).unwrap()).parse().unwrap();
    // The secondary restarts once when its primaries reach its named.conf: wait until its
    // current pod serves the zone (learned from the catalog).
    let sip = eventually(T, || async {
        let ip = pod_ip(&serde_json::to_value(insts.get("prod-secondary-0").await.ok()?).ok()?)?;
        let a = dig(&ip, "example.com", "SOA")?;
        (!a.is_empty()).then_some(ip)
    })
    .await
    .expect("secondary serves the zone");
    let secondary: SocketAddr = format!("{sip}:53").parse().unwrap();

    let n = env("BENCH_RECORDS", 100);
    let (mut on_p, mut on_s) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let owner = format!("b{i}");
        let t0 = Instant::now();
        let _r: ARecord = bed
            .create(a_record(
                &owner,
                &owner,
                &format!("198.51.100.{}", i % 250 + 1),
                "web",
            ))
            .await;
        on_p.push(wait_answer(primary, &owner, t0).await);
        on_s.push(wait_answer(secondary, &owner, t0).await);
    }
    println!(
        "BENCH record create -> answer over {n} records: primary p50 {:?} p99 {:?}; BIND9 secondary p50 {:?} p99 {:?}",
        pct(&mut on_p, 0.5),
        pct(&mut on_p, 0.99),
        pct(&mut on_s, 0.5),
        pct(&mut on_s, 0.99)
    );

    // Scale: many zones, many records.
    let zones_n = env("BENCH_ZONES", 100);
    let per = env("BENCH_PER_ZONE", 10);
    let t0 = Instant::now();
    for z in 0..zones_n {
        let app = format!("z{z}");
        let _z: DNSZone = bed
            .create(zone(&app, &format!("z{z}.example.org"), "prod", &app))
            .await;
        for r in 0..per {
            let _r: ARecord = bed
                .create(a_record(
                    &format!("z{z}-r{r}"),
                    &format!("r{r}"),
                    "203.0.113.7",
                    &app,
                ))
                .await;
        }
    }
    let recs = bed.api::<ARecord>();
    let total = n + zones_n * per;
    let done = eventually(Duration::from_secs(600), || async {
        let items = recs.list(&Default::default()).await.ok()?.items;
        let ready = items
            .iter()
            .filter(|r| is_ready(&serde_json::to_value(r).unwrap()))
            .count();
        (ready == total).then_some(())
    })
    .await;
    let elapsed = t0.elapsed();
    let text = op.metrics.encode();
    let avg = |ctrl: &str| {
        let get = |suffix: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with(&format!(
                        "bindy_reconcile_duration_seconds_{suffix}{{controller=\"{ctrl}\"}}"
                    ))
                })
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let (sum, count) = (get("sum"), get("count"));
        (
            count,
            if count > 0.0 {
                sum / count * 1000.0
            } else {
                0.0
            },
        )
    };
    let (zc, za) = avg("zone");
    let (rc, ra) = avg("record");
    let (ic, ia) = avg("instance");
    println!(
        "BENCH scale: {zones_n} zones + {} records all Ready: {} in {elapsed:?}; reconcile avg zone {za:.2} ms ({zc} runs), record {ra:.2} ms ({rc} runs), instance {ia:.2} ms ({ic} runs); process RSS {:.0} MiB (double + agent + operator)",
        zones_n * per,
        done.is_some(),
        rss_mib()
    );
    assert!(done.is_some(), "every record Ready");
}
