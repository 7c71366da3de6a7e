//! More API semantics of the test double through `kube::Client`: Secrets, deletion
//! propagation, name/label validation, pagination, manifests loading, apply conflicts between
//! managers, discovery and dryRun.

mod common;

use std::time::Duration;

use bindy_kube_double::ApiServerDouble;
use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn secret_string_data_becomes_data() {
    use k8s_openapi::api::core::v1::Secret;
    let d = ApiServerDouble::start().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(d.client().unwrap(), "default");
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "k"}, "stringData": {"tsig.key": "secret"}}),
    )
    .unwrap();
    let s = secrets.create(&PostParams::default(), &s).await.unwrap();
    assert!(s.string_data.is_none());
    assert_eq!(s.data.unwrap()["tsig.key"].0, b"secret");
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
}

#[tokio::test]
async fn foreground_and_orphan_propagation() {
    let d = ApiServerDouble::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    let pp = PostParams::default();
    let owned_by = |o: &ConfigMap, name: &str, finalizer: bool| {
        let mut c = cm(name, &[]);
        c.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: o.metadata.name.clone().unwrap(),
                uid: o.metadata.uid.clone().unwrap(),
                ..Default::default()
            },
        ]);
        if finalizer {
            c.metadata.finalizers = Some(vec!["test/hold".into()]);
        }
        c
    };
    // foreground: the owner stays (deletionTimestamp, foregroundDeletion) until the child is gone
    let owner = cms.create(&pp, &cm("fg-owner", &[])).await.unwrap();
    cms.create(&pp, &owned_by(&owner, "fg-child", true))
        .await
        .unwrap();
    cms.delete("fg-owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let held = eventually(Duration::from_secs(5), || async {
        let c = cms.get_opt("fg-child").await.unwrap()?;
        c.metadata.deletion_timestamp.is_some().then_some(())
    })
    .await;
    assert!(held.is_some(), "child being deleted");
    let o = cms.get("fg-owner").await.unwrap();
    assert!(
        o.metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_string()),
        "owner waits for its dependents"
    );
    cms.patch(
        "fg-child",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    let gone = gone_within(&cms, "fg-owner", Duration::from_secs(5)).await;
    assert!(gone, "owner removed once the child is gone");

    // orphan: the child stays and loses its ownerReference
    let owner = cms.create(&pp, &cm("or-owner", &[])).await.unwrap();
    cms.create(&pp, &owned_by(&owner, "or-child", false))
        .await
        .unwrap();
    cms.delete("or-owner", &DeleteParams::orphan())
        .await
        .unwrap();
    assert!(cms.get_opt("or-owner").await.unwrap().is_none());
    d.store().gc_pass();
    let child = cms.get("or-child").await.unwrap();
    assert!(child
        .metadata
        .owner_references
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn names_and_labels_are_validated() {
    use k8s_openapi::api::core::v1::Service;
    let d = ApiServerDouble::start().await.unwrap();
    let svcs: Api<Service> = Api::namespaced(d.client().unwrap(), "default");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "example.com"}, "spec": {"ports": [{"port": 53}]}}),
    )
    .unwrap();
    let e = api_err(svcs.create(&PostParams::default(), &svc).await.unwrap_err());
    assert_eq!(e.code, 422);
    assert!(
        e.message
            .contains("metadata.name: Invalid value: \"example.com\": a DNS-1035 label"),
        "{}",
        e.message
    );
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    let long = "z".repeat(64);
    let e = api_err(
        cms.create(
            &PostParams::default(),
            &cm("ok.example.com", &[("zone", long.as_str())]),
        )
        .await
        .unwrap_err(),
    );
    assert!(e.message.contains("metadata.labels"), "{}", e.message);
}

#[tokio::test]
async fn list_pagination() {
    let d = ApiServerDouble::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    for i in 0..7 {
        cms.create(&PostParams::default(), &cm(&format!("p{i}"), &[]))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = cms.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.into_iter().map(|c| c.metadata.name.unwrap()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..7).map(|i| format!("p{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn apply_manifests_loads_deploy_crds_and_examples() {
    let d = ApiServerDouble::start().await.unwrap();
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let crds = d.apply_manifests(&deploy.join("crds")).unwrap();
    assert!(
        crds.iter()
            .any(|c| c == "customresourcedefinition/dnszones.bindy.firestoned.io"),
        "{crds:?}"
    );
    let operator = d.apply_manifests(&deploy.join("operator")).unwrap();
    assert!(
        operator.iter().any(|o| o.starts_with("clusterrole/")),
        "{operator:?}"
    );
    assert!(
        operator.iter().any(|o| o.starts_with("deployment/")),
        "{operator:?}"
    );
    let dnsd = d.apply_manifests(&deploy.join("dnsd")).unwrap();
    assert!(
        dnsd.iter().any(|o| o.starts_with("statefulset/")),
        "{dnsd:?}"
    );
    let examples = d.apply_manifests(&deploy.join("examples")).unwrap();
    assert!(
        examples.iter().any(|e| e.starts_with("dnszone/")),
        "{examples:?}"
    );
    let zones: Api<DynamicObject> = Api::namespaced_with(
        d.client().unwrap(),
        "default",
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("bindy.firestoned.io", "v1beta1", "DNSZone"),
            "dnszones",
        ),
    );
    assert!(!zones
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn apply_conflicts_between_managers() {
    use k8s_openapi::api::coordination::v1::Lease;
    let d = ApiServerDouble::start().await.unwrap();
    let leases: Api<Lease> = Api::namespaced(d.client().unwrap(), "default");
    let lock = |holder: &str| {
        Patch::Apply(
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "bindy-leader"}, "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15}}),
        )
    };
    leases
        .patch("bindy-leader", &PatchParams::apply("pod-a"), &lock("pod-a"))
        .await
        .unwrap();
    let e = api_err(
        leases
            .patch("bindy-leader", &PatchParams::apply("pod-b"), &lock("pod-b"))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message
            .contains("conflict with \"pod-a\": .spec.holderIdentity"),
        "{}",
        e.message
    );
    // the same values are no conflict; force takes over
    leases.patch("bindy-leader", &PatchParams::apply("pod-b"), &Patch::Apply(json!({"apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease", "metadata": {"name": "bindy-leader"}, "spec": {"leaseDurationSeconds": 15}}))).await.unwrap();
    let l = leases
        .patch(
            "bindy-leader",
            &PatchParams::apply("pod-b").force(),
            &lock("pod-b"),
        )
        .await
        .unwrap();
    assert_eq!(l.spec.unwrap().holder_identity.as_deref(), Some("pod-b"));
    let e = api_err(
        leases
            .patch("bindy-leader", &PatchParams::apply("pod-a"), &lock("pod-a"))
            .await
            .unwrap_err(),
    );
    assert!(
        e.message.contains("conflict with \"pod-b\""),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn kube_discovery_sees_builtin_and_custom_groups() {
    let d = ApiServerDouble::start().await.unwrap();
    let client = d.client().unwrap();
    install_widget_crd(&client).await;
    let discovery = kube::Discovery::new(client).run().await.unwrap();
    assert!(discovery.has_group("apps"));
    assert!(discovery.has_group("coordination.k8s.io"));
    let (ar, caps) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "test.bindy.io",
            "v1",
            "Widget",
        ))
        .expect("custom resource discovered");
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural == "widgets/status" || s.plural == "status"),
        "{:?}",
        caps.subresources
            .iter()
            .map(|(s, _)| s.plural.clone())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn dry_run_validates_without_persisting() {
    let d = ApiServerDouble::start().await.unwrap();
    let client = d.client().unwrap();
    install_widget_crd(&client).await;
    let ws: Api<DynamicObject> = Api::namespaced_with(client, "default", &widget_ar());
    let rv = d.store().resource_version();
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let w = ws
        .create(&dry, &widget("dry", "example.com"))
        .await
        .unwrap();
    assert_eq!(
        w.data["spec"]["ttl"], 3600,
        "defaulted as a real create would be"
    );
    assert!(ws.get_opt("dry").await.unwrap().is_none(), "not persisted");
    assert_eq!(d.store().resource_version(), rv);
    let e = api_err(
        ws.create(&dry, &widget("dry", "Bad_Zone"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422, "dry run still validates");
}
