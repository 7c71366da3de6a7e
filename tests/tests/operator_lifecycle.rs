//! Bind9Cluster flows on the API-server TEST DOUBLE (no node agent needed): managed instances
//! with the seed's labels, children with owner references, drift repair, self-healing, scale
//! down and cascade deletion through the cluster's finalizer.

mod operator_support;

use std::time::Duration;

use bindy_crds::{Bind9Cluster, Bind9Instance};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::ResourceExt;
use operator_support::*;
use serde_json::json;

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_instances_self_heal_scale_and_cascade() {
    let bed = Bed::start(false).await;
    let _op = bed.operator("op-a", None);
    let _c: Bind9Cluster = bed.create(cluster("prod", 2, 1)).await;
    let insts = bed.api::<Bind9Instance>();
    for (name, role) in [
        ("prod-primary-0", "primary"),
        ("prod-primary-1", "primary"),
        ("prod-secondary-0", "secondary"),
    ] {
        let v = wait_for(&insts, name, T, |_| true)
            .await
            .unwrap_or_else(|| panic!("{name} created"));
        let l = &v["metadata"]["labels"];
        assert_eq!(l["bindy.firestoned.io/managed-by"], "Bind9Cluster");
        assert_eq!(l["bindy.firestoned.io/cluster"], "prod");
        assert_eq!(l["bindy.firestoned.io/role"], role);
        assert_eq!(v["spec"]["clusterRef"], "prod");
        assert_eq!(v["metadata"]["ownerReferences"][0]["kind"], "Bind9Cluster");
    }

    // Children of an instance: StatefulSet, two Services, ConfigMap, the cluster's key Secret.
    let stss = bed.api::<StatefulSet>();
    let sts = wait_for(&stss, "prod-primary-0", T, |_| true)
        .await
        .expect("StatefulSet");
    assert_eq!(
        sts["metadata"]["ownerReferences"][0]["kind"],
        "Bind9Instance"
    );
    assert_eq!(
        sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
    assert!(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data");
    let svcs = bed.api::<Service>();
    assert!(wait_for(&svcs, "prod-primary-0", T, |_| true)
        .await
        .is_some());
    let h = wait_for(&svcs, "prod-primary-0-headless", T, |_| true)
        .await
        .unwrap();
    assert_eq!(h["spec"]["clusterIP"], "None");
    let cm = wait_for(&bed.api::<ConfigMap>(), "prod-primary-0-config", T, |_| {
        true
    })
    .await
    .unwrap();
    assert!(cm["data"]["named.conf"]
        .as_str()
        .unwrap()
        .contains("include"));
    let secret = wait_for(&bed.api::<Secret>(), "prod-bindy-keys", T, |_| true)
        .await
        .expect("key Secret generated");
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["kind"],
        "Bind9Cluster"
    );

    // Drift: a hand edit of the StatefulSet is reverted.
    stss.patch(
        "prod-primary-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    wait_for(&stss, "prod-primary-0", T, |v| v["spec"]["replicas"] == 1)
        .await
        .expect("StatefulSet drift repaired");

    // Self-healing: a deleted managed instance comes back (a new object).
    let uid = insts.get("prod-primary-1").await.unwrap().uid().unwrap();
    insts
        .delete("prod-primary-1", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(&insts, "prod-primary-1", T, |v| {
        v["metadata"]["uid"].as_str().is_some_and(|u| u != uid)
    })
    .await
    .expect("deleted managed instance recreated");

    // Scale down: surplus managed instances are deleted.
    let clusters = bed.api::<Bind9Cluster>();
    clusters
        .patch(
            "prod",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"primary": {"replicas": 1}}})),
        )
        .await
        .unwrap();
    assert!(
        eventually(T, || async {
            insts
                .get_opt("prod-primary-1")
                .await
                .ok()?
                .is_none()
                .then_some(())
        })
        .await
        .is_some(),
        "scale-down deletes prod-primary-1"
    );
    let st = wait_for(&clusters, "prod", T, |v| v["status"]["instanceCount"] == 2)
        .await
        .expect("cluster status aggregates its instances");
    assert_eq!(
        st["status"]["instances"],
        json!(["prod-primary-0", "prod-secondary-0"])
    );

    // Cascade deletion: the finalizer holds the cluster until its instances are gone.
    assert!(st["metadata"]["finalizers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "bindy.firestoned.io/cluster-instances"));
    clusters
        .delete("prod", &DeleteParams::default())
        .await
        .unwrap();
    let gone = eventually(T, || async {
        let left = insts.list(&Default::default()).await.ok()?.items.len();
        let cluster_gone = clusters.get_opt("prod").await.ok()?.is_none();
        (left == 0 && cluster_gone).then_some(())
    })
    .await;
    assert!(gone.is_some(), "instances deleted, then the cluster");
    // Children are garbage-collected through their owner references.
    let sts_gone = eventually(T, || async {
        stss.list(&Default::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    assert!(sts_gone.is_some(), "StatefulSets collected");
}
