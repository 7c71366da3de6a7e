//! The seed's flows end to end: API-server TEST DOUBLE + node agent running real `named` + the
//! operator in-process. Zone creation, record addition (time from create to `dig` answering on
//! the primary and on the secondary, printed), conflicts, record removal, and the zone-transfer
//! configuration when a secondary's IP changes.

mod operator_support;

use std::time::{Duration, Instant};

use bindy_crds::{ARecord, Bind9Cluster, Bind9Instance, DNSZone};
use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use operator_support::*;

const T: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_records_and_secondary_ip_change() {
    if !tools_present() {
        eprintln!("SKIP: named/dig not installed");
        return;
    }
    let bed = Bed::start(true).await;
    let op = bed.operator("op-a", None);
    let _c: Bind9Cluster = bed.create(cluster("prod", 1, 1)).await;
    let insts = bed.api::<Bind9Instance>();
    let Some(p) = wait_for(&insts, "prod-primary-0", T, |v| {
        is_ready(v) && pod_ip(v).is_some()
    })
    .await
    else {
        let i = insts.get_opt("prod-primary-0").await.unwrap();
        let pods = bed.api::<Pod>().list(&Default::default()).await.unwrap();
        panic!(
            "managed primary not Ready with a pod IP: {i:#?}\npods: {:#?}",
            pods.items
                .iter()
                .map(|p| (p.metadata.name.clone(), p.status.clone()))
                .collect::<Vec<_>>()
        );
    };
    let s = wait_for(&insts, "prod-secondary-0", T, |v| {
        is_ready(v) && pod_ip(v).is_some()
    })
    .await
    .expect("managed secondary Ready with a pod IP");
    let (pip, _) = (pod_ip(&p).unwrap(), pod_ip(&s).unwrap());

    // Zone creation: rndc addzone + UPDATE on the primary, catalog → secondary.
    let t0 = Instant::now();
    let _z: DNSZone = bed
        .create(zone("example", "example.com", "prod", "web"))
        .await;
    let zones = bed.api::<DNSZone>();
    let zv = wait_for(&zones, "example", T, is_ready)
        .await
        .expect("zone Ready");
    assert_eq!(
        zv["status"]["instances"],
        serde_json::json!(["prod-primary-0", "prod-secondary-0"])
    );
    let soa = eventually(T, || async {
        let a = dig(&pip, "example.com", "SOA")?;
        a.first()
            .filter(|l| l.starts_with("ns1.example.com."))
            .cloned()
    })
    .await
    .expect("primary serves the zone's SOA");
    let zone_primary = t0.elapsed();
    if eventually(T, || async {
        let ip = pod_ip(&serde_json::to_value(insts.get("prod-secondary-0").await.ok()?).ok()?)?;
        let a = dig(&ip, "example.com", "SOA")?;
        a.first()
            .is_some_and(|l| l.starts_with("ns1.example.com."))
            .then_some(())
    })
    .await
    .is_none()
    {
        let cm = bed
            .api::<k8s_openapi::api::core::v1::ConfigMap>()
            .get("prod-secondary-0-config")
            .await
            .unwrap();
        let s = insts.get("prod-secondary-0").await.unwrap();
        panic!(
            "secondary did not provision the zone from the catalog (primary: {soa})\nsecondary SOA: {:?}\nsecondary: {:?}\nconf: {}\ncatalog on primary: {:?}\ncatalog on secondary: {:?}",
            dig(&pod_ip(&serde_json::to_value(&s).unwrap()).unwrap_or_default(), "example.com", "SOA"),
            s.status,
            cm.data.unwrap()["named.conf"],
            dig(&pip, "catalog.bindy.local", "SOA"),
            dig(&pod_ip(&serde_json::to_value(&s).unwrap()).unwrap_or_default(), "catalog.bindy.local", "SOA"),
        );
    }
    // The secondary restarted once when its primaries' IPs reached its named.conf.
    let s = wait_for(&insts, "prod-secondary-0", T, |v| {
        is_ready(v) && pod_ip(v).is_some()
    })
    .await
    .unwrap();
    let sip = pod_ip(&s).unwrap();
    wait_for(&zones, "example", T, |v| {
        v["status"]["secondaryIps"] == serde_json::json!([sip])
    })
    .await
    .expect("zone status lists the secondary's IP");
    // The zone (no records yet, so all of them ready) got one `rndc retransfer` on the BIND9
    // secondary: retried until the secondary had learnt the zone from the catalog.
    let retransfers = eventually(T, || async {
        let n = bind_ops(&op.metrics, "retransfer", "ok");
        (n >= 1).then_some(n)
    })
    .await
    .expect("rndc retransfer ran on the secondary");
    println!(
        "zone creation: primary {:?}, secondary {:?}",
        zone_primary,
        t0.elapsed()
    );

    // Record addition: create → dig answers on primary and secondary.
    // (A catalog NOTIFY may have met the secondary before it loaded the catalog: NOTAUTH.)
    let notify_errors = bind_ops(&op.metrics, "notify", "error");
    let t0 = Instant::now();
    let _r: ARecord = bed
        .create(a_record("www", "www", "192.0.2.10", "web"))
        .await;
    eventually(T, || async {
        (dig(&pip, "www.example.com", "A")? == ["192.0.2.10"]).then_some(())
    })
    .await
    .expect("primary answers www");
    let on_primary = t0.elapsed();
    eventually(T, || async {
        (dig(&sip, "www.example.com", "A")? == ["192.0.2.10"]).then_some(())
    })
    .await
    .expect("secondary answers www");
    let on_secondary = t0.elapsed();
    println!("record create -> dig answer: primary {on_primary:?}, secondary {on_secondary:?}");
    let recs = bed.api::<ARecord>();
    let rv = wait_for(&recs, "www", T, is_ready)
        .await
        .expect("record Ready");
    assert_eq!(
        condition(&rv, "Ready").unwrap()["reason"],
        "RecordAvailable"
    );
    assert_eq!(rv["status"]["zoneRef"]["name"], "example");
    assert_eq!(rv["status"]["fqdn"], "www.example.com.");
    // The operator's own NOTIFY for the record (signed with the transfer key, from an address
    // that is no primary) was accepted by the BIND9 secondary.
    assert!(
        bind_ops(&op.metrics, "notify", "ok") > 0,
        "operator NOTIFY sent"
    );
    assert_eq!(
        bind_ops(&op.metrics, "notify", "error"),
        notify_errors,
        "the secondary refused the operator's NOTIFY for the record"
    );

    // A second object claiming www/A loses with a clear condition; the RRset is untouched.
    let _dup: ARecord = bed
        .create(a_record("www-dup", "www", "192.0.2.99", "web"))
        .await;
    let dv = wait_for(&recs, "www-dup", T, |v| {
        condition(v, "Ready").is_some_and(|c| c["reason"] == "Conflict")
    })
    .await
    .expect("duplicate gets a Conflict condition");
    assert!(condition(&dv, "Ready").unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("ARecord/www"));
    assert_eq!(dig(&pip, "www.example.com", "A").unwrap(), ["192.0.2.10"]);

    // Deleting the winner removes its RRset; the loser then takes the name over.
    recs.delete("www", &DeleteParams::default()).await.unwrap();
    eventually(T, || async {
        (dig(&pip, "www.example.com", "A")? == ["192.0.2.99"]).then_some(())
    })
    .await
    .expect("after the winner is deleted, the other record is published");
    // The winner's finalizer ran: the object is gone (polled, not waited out).
    let gone = eventually(T, || async {
        matches!(recs.get_opt("www").await, Ok(None)).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the deleted winner is still present after {T:?}"
    );

    // Secondary IP change: the pod is recreated on a new loopback IP; the zone's
    // secondaryIps, the primary's also-notify and the catalog follow.
    let pods = bed.api::<Pod>();
    pods.delete("prod-secondary-0-0", &DeleteParams::default())
        .await
        .unwrap();
    let s2 = wait_for(&insts, "prod-secondary-0", T, |v| {
        is_ready(v) && pod_ip(v).is_some_and(|ip| ip != sip)
    })
    .await
    .expect("secondary back on a new IP");
    let sip2 = pod_ip(&s2).unwrap();
    wait_for(&zones, "example", T, |v| {
        v["status"]["secondaryIps"] == serde_json::json!([sip2])
    })
    .await
    .expect("zone status follows the new secondary IP");
    // The re-created secondary (a new pod, so a new member of the zone's secondaries) gets its
    // own retransfer and serves the records it missed while it was away.
    eventually(T, || async {
        (bind_ops(&op.metrics, "retransfer", "ok") > retransfers).then_some(())
    })
    .await
    .expect("rndc retransfer ran on the re-created secondary");
    eventually(T, || async {
        (dig(&sip2, "www.example.com", "A")? == ["192.0.2.99"]).then_some(())
    })
    .await
    .expect("the re-created secondary serves the zone's records");
    let t0 = Instant::now();
    let _api: ARecord = bed
        .create(a_record("api", "api", "192.0.2.30", "web"))
        .await;
    eventually(T, || async {
        (dig(&sip2, "api.example.com", "A")? == ["192.0.2.30"]).then_some(())
    })
    .await
    .expect("a new record reaches the re-created secondary");
    println!(
        "record create -> answer on the re-created secondary: {:?}",
        t0.elapsed()
    );
}

/// `bindy_bind_operations_total{op, result}` from the operator's metrics.
fn bind_ops(m: &bindy_operator::metrics::Metrics, op: &str, result: &str) -> u64 {
    let prefix = format!("bindy_bind_operations_total{{op=\"{op}\",result=\"{result}\"}}");
    m.encode()
        .lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
