//! Measurements (run on demand, not a timed test):
//! `cargo test -p bindy-tests --test operator_bench -- --ignored --nocapture`
//!
//! 1. Record create → answer: ARecords created one after another through the API; for each,
//!    the time until the primary, then the BIND9 secondary, answer it (TCP queries every
//!    millisecond). p50/p99 over `BENCH_RECORDS` (default 100).
//! 2. Scale: `BENCH_ZONES` zones × `BENCH_PER_ZONE` records (created 32 at a time through the
//!    API) on one primary + one secondary: time until every zone and record is Ready, reconcile
//!    duration average per controller (the operator's own `bindy_reconcile_duration_seconds`)
//!    and the operator's memory.
//!
//! The operator runs as a child process (the `bindy` binary next to this test's directory, so
//! `cargo build -p bindy-operator --bin bindy` first) against the API-server double's
//! kubeconfig: its RSS (`VmRSS`, peak `VmHWM`) is the operator's alone, not the double's or
//! the node agent's. Without the binary it runs in-process and the RSS printed is the whole
//! test process (an upper bound).

mod operator_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bindy_crds::{ARecord, Bind9Cluster, Bind9Instance, DNSZone};
use kube::api::{Api, PostParams};
use operator_support::*;

const T: Duration = Duration::from_secs(60);

/// `VmRSS` and `VmHWM` (peak) of a process, in MiB.
fn rss_mib(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The operator under measurement: the `bindy` binary as a child process, or in-process.
enum Op {
    Child {
        child: std::process::Child,
        metrics: SocketAddr,
        log: std::path::PathBuf,
    },
    InProcess(Operator),
}

impl Op {
    async fn start(bed: &Bed) -> Op {
        if std::env::var("BENCH_IN_PROCESS").is_ok() {
            println!("BENCH operator in-process (RSS printed = double + agent + operator)");
            return Op::InProcess(bed.operator("bench", None));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let metrics: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log_path = bed.root.path().join("operator.log");
        let log = std::fs::File::create(&log_path).expect("log");
        let exe = std::env::current_exe().expect("test binary");
        let child = std::process::Command::new(exe)
            .args(["--ignored", "--exact", "operator_child", "--nocapture"])
            .env("BENCH_CHILD_API", bed.double.url())
            .env("BENCH_CHILD_METRICS", metrics.to_string())
            .env("BENCH_CHILD_BOOTSTRAP", &bed.settings.bootstrap_file)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("operator child starts");
        println!("BENCH operator = child process (pid {})", child.id());
        // Ready when it serves its metrics.
        let up = eventually(T, || async {
            tokio::net::TcpStream::connect(metrics)
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        let op = Op::Child {
            child,
            metrics,
            log: log_path,
        };
        assert!(up.is_some(), "operator child serves /metrics");
        op
    }

    async fn metrics_text(&self) -> String {
        match self {
            Op::InProcess(op) => op.metrics.encode(),
            Op::Child { metrics, .. } => {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(Ok(mut s)) = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::net::TcpStream::connect(metrics),
                )
                .await
                else {
                    return String::new();
                };
                let req = "GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
                if s.write_all(req.as_bytes()).await.is_err() {
                    return String::new();
                }
                let mut out = String::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out)).await;
                out
            }
        }
    }

    /// CPU seconds (user + system) the operator process used so far (child only).
    fn cpu_secs(&self) -> Option<f64> {
        let Op::Child { child, .. } = self else {
            return None;
        };
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).ok()?;
        // Fields after the command name (which may hold spaces): state is field 3, utime 14.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    /// (RSS, peak RSS) in MiB and what they cover.
    fn rss(&self) -> (f64, f64, &'static str) {
        match self {
            Op::InProcess(_) => {
                let (r, p) = rss_mib("self");
                (r, p, "test process: double + agent + operator")
            }
            Op::Child { child, .. } => {
                let (r, p) = rss_mib(&child.id().to_string());
                (r, p, "operator process alone")
            }
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        if let Op::Child { child, log, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!(
                    "operator log (last 40 lines):\n{}",
                    lines[lines.len().saturating_sub(40)..].join("\n")
                );
            }
        }
    }
}

/// Creates every object in `objs`, `parallel` requests in flight (the client side of a burst).
async fn create_all<K>(api: Api<K>, objs: Vec<serde_json::Value>, parallel: usize)
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for v in objs {
        while set.len() >= parallel {
            set.join_next().await.expect("task").expect("create");
        }
        let api = api.clone();
        set.spawn(async move {
            let obj: K = serde_json::from_value(v).expect("object JSON");
            api.create(&PostParams::default(), &obj)
                .await
                .expect("create");
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("create");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn record_latency_and_scale() {
    if !tools_present() {
        eprintln!("SKIP: named/dig not installed");
        return;
    }
    let bed = Bed::start(true).await;
    let op = Op::start(&bed).await;
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

    let n = env_usize("BENCH_RECORDS", 100);
    let mut lat = record_latencies(
        &bed,
        &[("primary", primary), ("secondary", secondary)],
        n,
        T,
    )
    .await;
    let [on_p, on_s] = &mut lat[..] else {
        unreachable!("one series per server")
    };
    println!(
        "BENCH record create -> answer over {n} records: primary p50 {:?} p99 {:?}; BIND9 secondary p50 {:?} p99 {:?}",
        pct(on_p, 0.5),
        pct(on_p, 0.99),
        pct(on_s, 0.5),
        pct(on_s, 0.99)
    );

    // Scale: many zones, many records, created in parallel bursts.
    let zones_n = env_usize("BENCH_ZONES", 100);
    let per = env_usize("BENCH_PER_ZONE", 10);
    let t0 = Instant::now();
    let zone_objs = (0..zones_n)
        .map(|z| {
            zone(
                &format!("z{z}"),
                &format!("z{z}.example.org"),
                "prod",
                &format!("z{z}"),
            )
        })
        .collect();
    let record_objs = (0..zones_n)
        .flat_map(|z| {
            (0..per).map(move |r| {
                a_record(
                    &format!("z{z}-r{r}"),
                    &format!("r{r}"),
                    "203.0.113.7",
                    &format!("z{z}"),
                )
            })
        })
        .collect();
    create_all(bed.api::<DNSZone>(), zone_objs, 32).await;
    create_all(bed.api::<ARecord>(), record_objs, 32).await;
    let created = t0.elapsed();
    let recs = bed.api::<ARecord>();
    let total = n + zones_n * per;
    // Polled once a second: a list of 10 000 records is itself work for the double.
    let deadline = Duration::from_secs(env_usize("BENCH_DEADLINE_SECS", 1200) as u64);
    let mut done = None;
    let mut peak = 0.0f64;
    while t0.elapsed() < deadline {
        let (rss, _, _) = op.rss();
        peak = peak.max(rss);
        let ready_recs = recs
            .list(&Default::default())
            .await
            .map(|l| {
                l.items
                    .iter()
                    .filter(|r| is_ready(&serde_json::to_value(r).unwrap()))
                    .count()
            })
            .unwrap_or(0);
        let ready_zones = zones
            .list(&Default::default())
            .await
            .map(|l| {
                l.items
                    .iter()
                    .filter(|z| is_ready(&serde_json::to_value(z).unwrap()))
                    .count()
            })
            .unwrap_or(0);
        if ready_recs == total && ready_zones == zones_n + 1 {
            done = Some(t0.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let elapsed = t0.elapsed();
    let text = op.metrics_text().await;
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
    let (rss, hwm, what) = op.rss();
    let cpu = op
        .cpu_secs()
        .map(|c| {
            format!(
                "operator CPU {c:.1} s in all ({:.2} ms per reconcile); ",
                c * 1000.0 / (zc + rc + ic).max(1.0)
            )
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "BENCH scale: {zones_n} zones + {} records created in {created:?}, all Ready: {} after {elapsed:?}; reconcile avg zone {za:.2} ms ({zc} runs), record {ra:.2} ms ({rc} runs), instance {ia:.2} ms ({ic} runs); {cpu}RSS {rss:.0} MiB now, {peak:.0} MiB max sampled, {hwm:.0} MiB peak ({what}); loadavg {}",
        zones_n * per,
        done.is_some(),
        load.trim()
    );
    assert!(done.is_some(), "every zone and record Ready");
}

/// The operator alone in this process (started by `record_latency_and_scale` as its child, so
/// its RSS is the operator's): the same `run_operator` the `bindy` binary runs, against the
/// parent's API-server double, with `/metrics` on `BENCH_CHILD_METRICS`.
///
/// Not the `bindy` binary itself: it panics before connecting (kube's `rustls-tls` feature
/// picks no rustls crypto provider and `main` installs none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process of record_latency_and_scale"]
async fn operator_child() {
    let Ok(api) = std::env::var("BENCH_CHILD_API") else {
        println!("operator_child is started by record_latency_and_scale (BENCH_CHILD_API unset)");
        return;
    };
    let metrics_addr: SocketAddr = std::env::var("BENCH_CHILD_METRICS")
        .expect("BENCH_CHILD_METRICS")
        .parse()
        .expect("metrics address");
    bindy_operator::telemetry::init(bindy_operator::telemetry::LogFormat::Text, "warn");
    // The double's client helper installs the rustls crypto provider process-wide; the
    // throwaway double is dropped at once.
    drop(
        bindy_kube_double::ApiServerDouble::start()
            .await
            .expect("double")
            .client()
            .expect("provider"),
    );
    let mut cfg = kube::Config::new(api.parse().expect("API URL"));
    cfg.default_namespace = "default".into();
    let client = kube::Client::try_from(cfg).expect("client");
    let metrics = std::sync::Arc::new(bindy_operator::metrics::Metrics::new());
    let (_, http) = bindy_operator::http::serve(
        metrics_addr,
        bindy_operator::http::Probes {
            ready: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
            metrics: metrics.clone(),
        },
    )
    .await
    .expect("metrics endpoint");
    tokio::spawn(http);
    let settings = bindy_operator::resources::instance::Settings {
        bootstrap_file: std::env::var("BENCH_CHILD_BOOTSTRAP").expect("BENCH_CHILD_BOOTSTRAP"),
        ..Default::default()
    };
    // Runs until the parent kills this process.
    bindy_operator::reconcile::run_operator(
        client,
        settings,
        metrics,
        "bench-child".into(),
        None,
        std::future::pending(),
    )
    .await
    .expect("operator runs");
}
