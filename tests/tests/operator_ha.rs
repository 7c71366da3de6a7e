//! Operator availability flows with real `named` behind the API-server TEST DOUBLE:
//! leader failover (two replicas on one Lease, the leader crashes, the standby takes over and a
//! new record still lands) and a restart in the middle of a burst of records (the new replica
//! converges: every record published exactly once, none lost).

mod operator_support;

use std::time::{Duration, Instant};

use bindy_crds::{ARecord, Bind9Cluster, Bind9Instance, DNSZone};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use operator_support::*;

const T: Duration = Duration::from_secs(40);

async fn primary_ip(bed: &Bed) -> String {
    let insts = bed.api::<Bind9Instance>();
    let p = wait_for(&insts, "prod-primary-0", T, |v| {
        is_ready(v) && pod_ip(v).is_some()
    })
    .await
    .expect("primary Ready");
    pod_ip(&p).unwrap()
}

async fn holder(bed: &Bed) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(bed.client.clone(), "default");
    leases
        .get_opt("bindy-leader")
        .await
        .ok()??
        .spec?
        .holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_keeps_records_flowing() {
    if !tools_present() {
        eprintln!("SKIP: named/dig not installed");
        return;
    }
    let bed = Bed::start(true).await;
    // A short lease keeps the test fast; the binary's default is 15 s.
    let lease = 4;
    let a = bed.operator("op-a", Some(lease));
    let b = bed.operator("op-b", Some(lease));
    let _c: Bind9Cluster = bed.create(cluster("prod", 1, 0)).await;
    let _z: DNSZone = bed
        .create(zone("example", "example.com", "prod", "web"))
        .await;
    let pip = primary_ip(&bed).await;
    let _r: ARecord = bed.create(a_record("one", "one", "192.0.2.1", "web")).await;
    eventually(T, || async {
        (dig(&pip, "one.example.com", "A")? == ["192.0.2.1"]).then_some(())
    })
    .await
    .expect("first record served");
    let leader = holder(&bed).await.expect("a leader holds the lease");
    let (dead, standby) = if leader == a.identity {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert_eq!(dead.metrics.leader.get(), 1);
    assert_eq!(standby.metrics.leader.get(), 0);

    dead.kill();
    let t0 = Instant::now();
    let _r2: ARecord = bed.create(a_record("two", "two", "192.0.2.2", "web")).await;
    eventually(Duration::from_secs(lease * 3 + 20), || async {
        (dig(&pip, "two.example.com", "A")? == ["192.0.2.2"]).then_some(())
    })
    .await
    .expect("record created after the leader died is served");
    let took = t0.elapsed();
    println!("leader killed -> new record served by the standby: {took:?} (lease {lease} s)");
    assert_eq!(
        holder(&bed).await.as_deref(),
        Some(standby.identity.as_str())
    );
    assert_eq!(standby.metrics.leader.get(), 1);
    assert!(
        took < Duration::from_secs(lease * 2 + 10),
        "takeover within about the lease time: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_burst_converges_without_loss_or_duplicates() {
    if !tools_present() {
        eprintln!("SKIP: named/dig not installed");
        return;
    }
    let bed = Bed::start(true).await;
    let first = bed.operator("op-1", None);
    let _c: Bind9Cluster = bed.create(cluster("prod", 1, 0)).await;
    let _z: DNSZone = bed
        .create(zone("example", "example.com", "prod", "web"))
        .await;
    let pip = primary_ip(&bed).await;
    wait_for(&bed.api::<DNSZone>(), "example", T, is_ready)
        .await
        .expect("zone Ready");
    const N: usize = 20;
    let recs = bed.api::<ARecord>();
    for i in 0..N {
        let _r: ARecord = bed
            .create(a_record(
                &format!("r{i}"),
                &format!("r{i}"),
                &format!("192.0.2.{}", i + 1),
                "web",
            ))
            .await;
    }
    // Crash once a few records are in, while others are in flight.
    let some = eventually(T, || async {
        let ready = recs
            .list(&Default::default())
            .await
            .ok()?
            .items
            .iter()
            .filter(|r| is_ready(&serde_json::to_value(r).unwrap()))
            .count();
        (ready >= 3).then_some(ready)
    })
    .await
    .expect("some records Ready before the crash");
    first.kill();
    println!("operator killed with {some}/{N} records Ready");
    let _second = bed.operator("op-2", None);
    let all = eventually(Duration::from_secs(60), || async {
        let items = recs.list(&Default::default()).await.ok()?.items;
        items
            .iter()
            .all(|r| is_ready(&serde_json::to_value(r).unwrap()))
            .then_some(items.len())
    })
    .await;
    assert_eq!(all, Some(N), "every record Ready after the restart");
    for i in 0..N {
        let got = dig(&pip, &format!("r{i}.example.com"), "A").unwrap();
        assert_eq!(
            got,
            [format!("192.0.2.{}", i + 1)],
            "r{i} published exactly once"
        );
    }
    let z = wait_for(&bed.api::<DNSZone>(), "example", T, |v| {
        v["status"]["recordCount"] == N
    })
    .await;
    assert!(z.is_some(), "zone counts all {N} records");
}
