//! The operator-managed dnsd secondary tier end to end: API-server TEST DOUBLE + node agent
//! running real `named` (the cluster's BIND9 primary) and the real `dnsd` binary (a
//! `Bind9Instance` with `role: secondary, server: dnsd`) + the operator in-process.
//!
//! Checked: the generated dnsd config (catalog, the primary's pod IP, TSIG key file from the
//! instance's own Secret and never in the ConfigMap, state dir, metrics/probes), the client
//! Service (53 → the pods' DNS port), the zone's `secondaryIps` (so the primary's also-notify /
//! allow-transfer) include the dnsd pod, a DNSZone + ARecord answered by the dnsd pod (create →
//! answer latency printed), a second record arriving, and a restarted dnsd pod serving the
//! zone from its volume. The `#[ignore]`d measurement gives p50/p99 of record create → dnsd
//! answer: `cargo test -p bindy-tests --test operator_dnsd -- --ignored --nocapture`.
//!
//! Needs `named`, `dig` and the `dnsd` binary next to the test executable (`cargo build -p
//! dnsd` or `--workspace`, as CI does) or named by BINDY_DNSD_BIN.

mod operator_support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bindy_crds::{ARecord, Bind9Cluster, Bind9Instance, DNSZone};
use bindy_kube_double::agent::command::{CommandRuntime, Readiness};
use bindy_kube_double::agent::named::NamedRuntime;
use bindy_kube_double::agent::{AgentConfig, NodeAgent, Runtime};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::DeleteParams;
use operator_support::*;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(40);

fn dnsd_bin() -> Option<PathBuf> {
    workspace_bin("dnsd", "BINDY_DNSD_BIN")
}

/// The bed with named AND dnsd runtimes, or None (outside CI) when a tool is missing.
async fn start() -> Option<(Bed, NodeAgent)> {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let tools = tools_present();
    let Some(dnsd) = dnsd_bin().filter(|_| tools) else {
        assert!(
            !ci,
            "named, dig and the dnsd binary (cargo build --workspace) are required in CI"
        );
        eprintln!("SKIP: named/dig or the dnsd binary missing (cargo build -p dnsd)");
        return None;
    };
    let bed = Bed::start(false).await;
    let mut rt = CommandRuntime::new("dnsd", "firestoned/dnsd", Some(dnsd));
    rt.readiness = Readiness::Dns(bed.settings.dns_port);
    let runtimes: Vec<Arc<dyn Runtime>> = vec![Arc::new(rt), Arc::new(NamedRuntime::default())];
    let mut cfg = AgentConfig::new(bed.root.path().join("node"));
    cfg.configmap_sync_delay = Duration::from_secs(1);
    let agent = NodeAgent::start(bed.client.clone(), runtimes, cfg);
    Some((bed, agent))
}

fn dnsd_instance(name: &str, cluster: &str) -> Value {
    json!({
        "apiVersion": "bindy.firestoned.io/v1beta1", "kind": "Bind9Instance",
        "metadata": {"name": name},
        "spec": {"clusterRef": cluster, "role": "secondary", "server": "dnsd", "replicas": 1}
    })
}

/// The cluster (1 BIND9 primary), the dnsd instance and the zone, all Ready; returns the
/// primary's and the dnsd pod's IPs.
async fn tier_with_zone(bed: &Bed) -> (String, String) {
    let _c: Bind9Cluster = bed.create(cluster("prod", 1, 0)).await;
    let _d: Bind9Instance = bed.create(dnsd_instance("edge", "prod")).await;
    let insts = bed.api::<Bind9Instance>();
    let p = wait_for(&insts, "prod-primary-0", T, |v| {
        is_ready(v) && pod_ip(v).is_some()
    })
    .await
    .expect("primary Ready with a pod IP");
    let pip = pod_ip(&p).unwrap();
    let d = wait_for(&insts, "edge", T, |v| is_ready(v) && pod_ip(v).is_some()).await;
    let Some(d) = d else {
        let i = insts.get_opt("edge").await.unwrap();
        let pods = bed.api::<Pod>().list(&Default::default()).await.unwrap();
        panic!(
            "dnsd instance not Ready: {:#?}\npods: {:#?}",
            i.map(|i| i.status),
            pods.items
                .iter()
                .map(|p| (p.metadata.name.clone(), p.status.clone()))
                .collect::<Vec<_>>()
        );
    };
    let dip = pod_ip(&d).unwrap();
    let _z: DNSZone = bed
        .create(zone("example", "example.com", "prod", "web"))
        .await;
    let zones = bed.api::<DNSZone>();
    let zv = wait_for(&zones, "example", T, |v| {
        is_ready(v) && v["status"]["secondaryIps"] == json!([dip.clone()])
    })
    .await;
    assert!(
        zv.is_some(),
        "zone Ready with the dnsd pod in secondaryIps (also-notify/allow-transfer): {:?}",
        zones.get("example").await.ok().map(|z| z.status)
    );
    (pip, dip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsd_tier_follows_the_cluster_and_answers_records() {
    let Some((bed, _agent)) = start().await else {
        return;
    };
    let _op = bed.operator("op-dnsd", None);
    let t0 = Instant::now();
    let (pip, dip) = tier_with_zone(&bed).await;

    // Generated configuration: catalog + the primary's pod IP, paths as flags, keys apart.
    let cm = bed.api::<ConfigMap>().get("edge-config").await.unwrap();
    let toml = cm.data.unwrap()["dnsd.toml"].clone();
    assert!(toml.contains("name = \"catalog.bindy.local\""), "{toml}");
    assert!(
        toml.contains(&format!("primaries = [\"{pip}:53\"]")),
        "{toml}"
    );
    assert!(toml.contains("key = \"bindy-transfer\""), "{toml}");
    let secret = bed.api::<Secret>().get("edge-dnsd-tsig").await.unwrap();
    let keyfile = String::from_utf8(secret.data.unwrap()["tsig.key"].0.clone()).unwrap();
    assert!(
        keyfile.starts_with("key \"bindy-transfer\""),
        "transfer key first"
    );
    assert!(!keyfile.contains("bindy-rndc"), "no rndc key in dnsd pods");
    let cluster_keys = bed
        .api::<Secret>()
        .get("prod-bindy-keys")
        .await
        .unwrap()
        .data
        .unwrap();
    let transfer = String::from_utf8(cluster_keys["bindy-transfer.secret"].0.clone()).unwrap();
    assert!(keyfile.contains(&transfer));
    assert!(!toml.contains(&transfer), "no secret in the ConfigMap");
    let sts = bed
        .api::<k8s_openapi::api::apps::v1::StatefulSet>()
        .get("edge")
        .await
        .unwrap();
    let c = &sts.spec.unwrap().template.spec.unwrap().containers[0];
    let args = c.args.clone().unwrap().join(" ");
    assert!(
        args.contains("--state-dir /var/lib/dnsd") && args.contains("--tsig-key"),
        "{args}"
    );
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(probe_path(&c.readiness_probe).as_deref(), Some("/ready"));
    assert_eq!(probe_path(&c.liveness_probe).as_deref(), Some("/health"));
    let svc = bed.api::<Service>().get("edge").await.unwrap();
    let ports = svc.spec.unwrap().ports.unwrap();
    assert!(ports.iter().all(|p| p.port == 53) && ports.len() == 2);

    // The zone reaches dnsd through the catalog.
    let dns: SocketAddr = format!("{dip}:53").parse().unwrap();
    let soa = eventually(T, || async {
        let a = dig(&dip, "example.com", "SOA")?;
        a.first()
            .filter(|l| l.starts_with("ns1.example.com."))
            .cloned()
    })
    .await;
    assert!(
        soa.is_some(),
        "dnsd serves the zone learned from the catalog"
    );
    println!(
        "cluster + dnsd tier + zone served by dnsd: {:?}",
        t0.elapsed()
    );

    // Records: create → dnsd answers.
    let t0 = Instant::now();
    let _r: ARecord = bed
        .create(a_record("www", "www", "192.0.2.10", "web"))
        .await;
    let first = wait_answer(dns, "www", t0, T)
        .await
        .expect("dnsd answers www");
    assert_eq!(
        dig(&dip, "www.example.com", "A").unwrap(),
        ["192.0.2.10"],
        "dig against the dnsd pod"
    );
    let t0 = Instant::now();
    let _r: ARecord = bed
        .create(a_record("api", "api", "192.0.2.30", "web"))
        .await;
    let second = wait_answer(dns, "api", t0, T)
        .await
        .expect("a second record reaches dnsd");
    println!("record create -> dnsd answer: first {first:?}, second {second:?}");
    // The operator's own NOTIFY (from its pod, signed with its key) is accepted, none refused.
    let metrics = http_get(&format!("{dip}:9153"), "/metrics").unwrap_or_default();
    let count = |zone: &str, result: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with("dnsd_secondary_notify_total{"))
            .filter(|l| {
                l.contains(&format!("\"{zone}")) && l.contains(&format!("result=\"{result}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(
        count("example.com", "accepted") >= 2.0 && count("catalog.bindy.local", "accepted") >= 1.0,
        "NOTIFYs accepted for the zone and the catalog:\n{metrics}"
    );
    assert_eq!(count("example.com", "refused"), 0.0, "{metrics}");
    let ready = http_get(&format!("{dip}:9153"), "/ready").unwrap_or_default();
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");

    // Restart: the new pod (new IP) serves the zone from its volume, and follows again.
    let pods = bed.api::<Pod>();
    pods.delete("edge-0", &DeleteParams::default())
        .await
        .unwrap();
    let insts = bed.api::<Bind9Instance>();
    let d2 = wait_for(&insts, "edge", T, |v| {
        is_ready(v) && pod_ip(v).is_some_and(|ip| ip != dip)
    })
    .await
    .expect("dnsd pod back on a new IP");
    let dip2 = pod_ip(&d2).unwrap();
    let dns2: SocketAddr = format!("{dip2}:53").parse().unwrap();
    assert!(
        answers(dns2, "api").await,
        "the restarted pod answers from its state dir as soon as it is ready"
    );
    let t0 = Instant::now();
    let _r: ARecord = bed
        .create(a_record("mail", "mail", "192.0.2.25", "web"))
        .await;
    let third = wait_answer(dns2, "mail", t0, T)
        .await
        .expect("a record reaches the restarted dnsd pod");
    println!("record create -> answer on the restarted dnsd pod: {third:?}");
}

/// A primary pod moving to a new IP: the BIND9 secondary follows without a restart (`rndc
/// reconfig`, same pod), the dnsd tier by a roll; a record created afterwards reaches both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_ip_change_reaches_bind9_and_dnsd_secondaries() {
    let Some((bed, _agent)) = start().await else {
        return;
    };
    let _op = bed.operator("op-dnsd-move", None);
    let _c: Bind9Cluster = bed.create(cluster("prod", 1, 1)).await;
    let _d: Bind9Instance = bed.create(dnsd_instance("edge", "prod")).await;
    let insts = bed.api::<Bind9Instance>();
    let ready_ip = |name: &'static str| {
        let insts = insts.clone();
        async move {
            let v = wait_for(&insts, name, T, |v| is_ready(v) && pod_ip(v).is_some())
                .await
                .unwrap_or_else(|| panic!("{name} Ready with a pod IP"));
            pod_ip(&v).unwrap()
        }
    };
    let pip = ready_ip("prod-primary-0").await;
    ready_ip("prod-secondary-0").await;
    ready_ip("edge").await;
    let _z: DNSZone = bed
        .create(zone("example", "example.com", "prod", "web"))
        .await;
    let _r: ARecord = bed
        .create(a_record("www", "www", "192.0.2.10", "web"))
        .await;
    // Both tiers serve the record (each pod's current IP read from its instance).
    let serves = |inst: &'static str, owner: &'static str| {
        let insts = insts.clone();
        async move {
            eventually(T, || async {
                let v = serde_json::to_value(insts.get(inst).await.ok()?).ok()?;
                let ip = pod_ip(&v)?;
                let addr: SocketAddr = format!("{ip}:53").parse().ok()?;
                answers(addr, owner).await.then_some(ip)
            })
            .await
        }
    };
    let sip = serves("prod-secondary-0", "www")
        .await
        .expect("BIND9 secondary answers www");
    serves("edge", "www").await.expect("dnsd answers www");
    let pods = bed.api::<Pod>();
    let uid = |p: Pod| p.metadata.uid.unwrap_or_default();
    let secondary_uid = uid(pods.get("prod-secondary-0-0").await.unwrap());
    let stss = bed.api::<k8s_openapi::api::apps::v1::StatefulSet>();
    let sts_before = stss.get("prod-secondary-0").await.unwrap();
    let cm_before = bed
        .api::<ConfigMap>()
        .get("prod-secondary-0-config")
        .await
        .unwrap();

    // The primary pod is recreated on a new IP.
    pods.delete("prod-primary-0-0", &DeleteParams::default())
        .await
        .unwrap();
    let t0 = Instant::now();
    let moved = wait_for(&insts, "prod-primary-0", T, |v| {
        is_ready(v) && pod_ip(v).is_some_and(|ip| ip != pip)
    })
    .await
    .expect("primary back on a new IP");
    let pip2 = pod_ip(&moved).unwrap();
    let cm = eventually(T, || async {
        let cm = bed
            .api::<ConfigMap>()
            .get("prod-secondary-0-config")
            .await
            .ok()?;
        let conf = cm.data?.get("named.conf")?.clone();
        conf.contains(&format!("{pip2} port 53")).then_some(conf)
    })
    .await;
    assert!(
        cm.is_some(),
        "the secondary's named.conf names the new primary"
    );
    let _r: ARecord = bed
        .create(a_record("api", "api", "192.0.2.30", "web"))
        .await;
    let on_bind = serves("prod-secondary-0", "api")
        .await
        .expect("a record created after the move reaches the BIND9 secondary");
    let bind_t = t0.elapsed();
    serves("edge", "api")
        .await
        .expect("a record created after the move reaches the dnsd tier");
    let dnsd_t = t0.elapsed();
    let sts_after = stss.get("prod-secondary-0").await.unwrap();
    let cm_after = bed
        .api::<ConfigMap>()
        .get("prod-secondary-0-config")
        .await
        .unwrap();
    assert_eq!(
        on_bind,
        sip,
        "the BIND9 secondary kept its pod (and IP)\nbefore: {:?} {:?}\nafter: {:?} {:?}\n{}\n{}",
        sts_before.metadata.generation,
        sts_before.spec.as_ref().unwrap().template.metadata,
        sts_after.metadata.generation,
        sts_after.spec.as_ref().unwrap().template.metadata,
        cm_before.data.unwrap()["named.conf"],
        cm_after.data.unwrap()["named.conf"],
    );
    assert_eq!(
        uid(pods.get("prod-secondary-0-0").await.unwrap()),
        secondary_uid,
        "the BIND9 secondary was not restarted for the new primary IP"
    );
    println!("primary moved -> new record served: BIND9 secondary {bind_t:?}, dnsd {dnsd_t:?}");
}

/// A plain HTTP/1.1 GET (bounded by 2 s), the whole response as text.
fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr: SocketAddr = addr.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run with --ignored --nocapture"]
async fn record_create_to_dnsd_answer_latency() {
    let Some((bed, _agent)) = start().await else {
        return;
    };
    let _op = bed.operator("op-dnsd-bench", None);
    let (pip, dip) = tier_with_zone(&bed).await;
    let primary: SocketAddr = format!("{pip}:53").parse().unwrap();
    let dns: SocketAddr = format!("{dip}:53").parse().unwrap();
    eventually(T, || async {
        dig(&dip, "example.com", "SOA").filter(|a| !a.is_empty())
    })
    .await
    .expect("dnsd serves the zone");
    let n = env_usize("BENCH_RECORDS", 100);
    let mut lat = record_latencies(&bed, &[("primary", primary), ("dnsd pod", dns)], n, T).await;
    let [on_p, on_d] = &mut lat[..] else {
        unreachable!("one series per server")
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "record create -> answer over {n} records: primary p50 {:?} p99 {:?}; dnsd p50 {:?} p99 {:?} (loadavg {})",
        pct(on_p, 0.5),
        pct(on_p, 0.99),
        pct(on_d, 0.5),
        pct(on_d, 0.99),
        load.trim()
    );
    assert_eq!(on_d.len(), n);
}
