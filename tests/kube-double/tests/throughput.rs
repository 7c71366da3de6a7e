//! Rough numbers for the API-server test double (printed; bounds are generous so the test only
//! catches pathological regressions such as a lock held across I/O): sequential creates,
//! concurrent patches, a 1000-object list, and watch delivery latency.

use std::time::{Duration, Instant};

use bindy_kube_double::ApiServerDouble;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_and_watch_latency() {
    let d = ApiServerDouble::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    const N: usize = 1000;
    let t = Instant::now();
    for i in 0..N {
        let c: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("c{i}")}, "data": {"k": "v"}}),
        )
        .unwrap();
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    let creates = N as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let cms = cms.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..N / 4 {
                let name = format!("c{}", w * (N / 4) + i);
                cms.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"k": "w"}})),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let patches = N as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    let list = cms.list(&ListParams::default()).await.unwrap();
    let list_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(list.items.len(), N);

    let rv = list.metadata.resource_version.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    let mut lat = Vec::new();
    for i in 0..100 {
        let t = Instant::now();
        cms.patch(
            "c0",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": i.to_string()}})),
        )
        .await
        .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
                .await
                .unwrap()
                .unwrap()
            {
                Some(WatchEvent::Modified(_)) => break,
                Some(_) => continue,
                None => panic!("watch closed"),
            }
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    let p50 = lat[50].as_secs_f64() * 1e3;
    let p99 = lat[99].as_secs_f64() * 1e3;
    println!(
        "kube-double (debug build): {creates:.0} creates/s sequential, {patches:.0} patches/s (4 clients), \
         list of {N} in {list_ms:.1} ms, patch->watch event p50 {p50:.2} ms p99 {p99:.2} ms"
    );
    assert!(
        creates > 50.0 && patches > 50.0,
        "pathologically slow: {creates:.0} creates/s, {patches:.0} patches/s"
    );
    assert!(p99 < 500.0, "watch delivery p99 {p99:.1} ms");
}
