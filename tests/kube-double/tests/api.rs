//! CRUD, conflicts, status split, generation, finalizers, GC, selectors and CRD validation,
//! all through an unmodified `kube::Client` against the API-server test double.

mod common;

use std::time::Duration;

use bindy_kube_double::ApiServerDouble;
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name,
        "labels": labels.iter().cloned().collect::<std::collections::BTreeMap<_, _>>()},
        "data": {"k": "v"}}))
    .unwrap()
}

struct ApiErr {
    code: u16,
    reason: String,
    message: String,
}

fn api_err(e: kube::Error) -> ApiErr {
    match e {
        kube::Error::Api(s) => ApiErr {
            code: s.code,
            reason: s.reason.clone(),
            message: s.message.clone(),
        },
        other => panic!("expected API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crud_conflict_and_status_bodies() {
    let d = ApiServerDouble::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    let pp = PostParams::default();
    let a = cms.create(&pp, &cm("a", &[])).await.unwrap();
    let rv1 = a.metadata.resource_version.clone().unwrap();
    assert!(a.metadata.uid.is_some());
    let e = api_err(cms.create(&pp, &cm("a", &[])).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, "configmaps \"a\" already exists");
    let e = api_err(cms.get("nope").await.unwrap_err());
    assert_eq!(
        (e.code, e.reason.as_str(), e.message.as_str()),
        (404, "NotFound", "configmaps \"nope\" not found")
    );

    // replace with the current version works, then the stale version conflicts
    let mut b = a.clone();
    b.data = Some([("k".to_string(), "v2".to_string())].into());
    let b2 = cms.replace("a", &pp, &b).await.unwrap();
    assert_ne!(b2.metadata.resource_version.as_deref(), Some(rv1.as_str()));
    let e = api_err(cms.replace("a", &pp, &b).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(e.message.contains("the object has been modified"));

    // a no-op patch does not bump the resourceVersion
    let same = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "v2"}})),
        )
        .await
        .unwrap();
    assert_eq!(same.metadata.resource_version, b2.metadata.resource_version);
    // JSON patch
    let p: json_patch_ops::Ops = json_patch_ops::ops();
    let j = cms
        .patch("a", &PatchParams::default(), &Patch::Json::<()>(p))
        .await
        .unwrap();
    assert_eq!(j.data.unwrap()["j"], "x");
    // server-side apply: owned field dropped by the same manager goes away
    let ssa = PatchParams::apply("test-mgr");
    cms.patch("s", &ssa, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": {"x": "1", "y": "2"}}))).await.unwrap();
    let s = cms.patch("s", &ssa, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": {"x": "3"}}))).await.unwrap();
    assert_eq!(s.data.unwrap(), [("x".to_string(), "3".to_string())].into());

    // namespaces must exist
    let other: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "missing");
    let e = api_err(other.create(&pp, &cm("a", &[])).await.unwrap_err());
    assert_eq!(
        (e.code, e.message.as_str()),
        (404, "namespaces \"missing\" not found")
    );
}

mod json_patch_ops {
    pub type Ops = json_patch::Patch;
    pub fn ops() -> Ops {
        serde_json::from_value(serde_json::json!([{"op": "add", "path": "/data/j", "value": "x"}]))
            .unwrap()
    }
}

#[tokio::test]
async fn crd_validation_status_split_and_generation() {
    let d = ApiServerDouble::start().await.unwrap();
    let client = d.client().unwrap();
    install_widget_crd(&client).await;
    let ws: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &widget_ar());
    let pp = PostParams::default();
    let w = ws.create(&pp, &widget("w1", "example.com")).await.unwrap();
    assert_eq!(w.data["spec"]["ttl"], 3600, "schema default applied");
    assert_eq!(w.metadata.generation, Some(1));

    let mut bad = widget("w2", "Bad_Zone!");
    let e = api_err(ws.create(&pp, &bad).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(
        e.message
            .starts_with("Widget.test.bindy.io \"w2\" is invalid: spec.zone: Invalid value"),
        "{}",
        e.message
    );
    bad.data["spec"] = json!({"zone": "ok", "role": "tertiary"});
    let e = api_err(ws.create(&pp, &bad).await.unwrap_err());
    assert!(
        e.message.contains("spec.role: Unsupported value"),
        "{}",
        e.message
    );
    bad.data["spec"] = json!({"zone": "ok", "ttl": 5});
    let e = api_err(ws.create(&pp, &bad).await.unwrap_err());
    assert!(
        e.message.contains("ttl must be at least 60"),
        "CEL rule enforced: {}",
        e.message
    );
    bad.data["spec"] = json!({});
    let e = api_err(ws.create(&pp, &bad).await.unwrap_err());
    assert!(
        e.message.contains("spec.zone: Required value"),
        "{}",
        e.message
    );

    // status via the main resource is ignored; via /status it lands and leaves generation alone
    let p = ws
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .unwrap();
    assert!(p.data.get("status").is_none());
    let s = ws
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}, "spec": {"zone": "ignored"}})),
        )
        .await
        .unwrap();
    assert_eq!(s.data["status"]["ready"], true);
    assert_eq!(s.data["spec"]["zone"], "example.com");
    assert_eq!(s.metadata.generation, Some(1));
    // label change: no generation bump; spec change: bump
    let l = ws
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(l.metadata.generation, Some(1));
    let g = ws
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"zone": "example.org"}})),
        )
        .await
        .unwrap();
    assert_eq!(g.metadata.generation, Some(2));
    assert_eq!(g.data["status"]["ready"], true);
}

#[tokio::test]
async fn finalizers_hold_deletion() {
    let d = ApiServerDouble::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    let mut c = cm("f", &[]);
    c.metadata.finalizers = Some(vec!["bindy.io/cleanup".into()]);
    cms.create(&PostParams::default(), &c).await.unwrap();
    cms.delete("f", &DeleteParams::default()).await.unwrap();
    let held = cms.get("f").await.unwrap();
    assert!(
        held.metadata.deletion_timestamp.is_some(),
        "deletionTimestamp set, object kept"
    );
    // adding a finalizer while deleting is forbidden
    let e = cms
        .patch(
            "f",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["bindy.io/cleanup", "x/y"]}})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_err(e).code, 422);
    cms.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(
        api_err(cms.get("f").await.unwrap_err()).code,
        404,
        "gone once finalizers are cleared"
    );
}

#[tokio::test]
async fn owner_reference_gc_and_namespace_deletion() {
    let d = ApiServerDouble::start().await.unwrap();
    let client = d.client().unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "t1"}})).unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "t1");
    let owner = cms
        .create(&PostParams::default(), &cm("owner", &[]))
        .await
        .unwrap();
    let mut child = cm("child", &[]);
    child.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "owner".into(),
            uid: owner.metadata.uid.clone().unwrap(),
            ..Default::default()
        },
    ]);
    cms.create(&PostParams::default(), &child).await.unwrap();
    cms.create(&PostParams::default(), &cm("bystander", &[]))
        .await
        .unwrap();
    cms.delete("owner", &DeleteParams::default()).await.unwrap();
    let gone = eventually(Duration::from_secs(5), || async {
        cms.get_opt("child").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "child garbage-collected");
    assert!(cms.get_opt("bystander").await.unwrap().is_some());
    nss.delete("t1", &DeleteParams::default()).await.unwrap();
    let gone = eventually(Duration::from_secs(5), || async {
        nss.get_opt("t1").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "namespace emptied then removed");
    assert!(d
        .store()
        .list(
            &d.store()
                .target("", "v1", "configmaps", Some("t1".into()))
                .unwrap(),
            &Default::default()
        )
        .0
        .is_empty());
}

#[tokio::test]
async fn label_and_field_selectors_on_list() {
    let d = ApiServerDouble::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    let pp = PostParams::default();
    cms.create(&pp, &cm("p1", &[("role", "primary"), ("app", "bind")]))
        .await
        .unwrap();
    cms.create(&pp, &cm("s1", &[("role", "secondary"), ("app", "bind")]))
        .await
        .unwrap();
    cms.create(&pp, &cm("x1", &[("app", "other")]))
        .await
        .unwrap();
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("role=primary"))
                .await
                .unwrap()
        ),
        ["p1"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("app=bind,role!=primary"))
                .await
                .unwrap()
        ),
        ["s1"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("role in (primary,secondary)"))
                .await
                .unwrap()
        ),
        ["p1", "s1"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("role notin (primary),app"))
                .await
                .unwrap()
        ),
        ["s1", "x1"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().labels("!role"))
                .await
                .unwrap()
        ),
        ["x1"]
    );
    assert_eq!(
        names(
            cms.list(&ListParams::default().fields("metadata.name=s1"))
                .await
                .unwrap()
        ),
        ["s1"]
    );
    let all: Api<ConfigMap> = Api::all(d.client().unwrap());
    assert_eq!(
        names(
            all.list(&ListParams::default().fields("metadata.namespace=default,metadata.name!=s1"))
                .await
                .unwrap()
        ),
        ["p1", "x1"]
    );
}

#[tokio::test]
async fn recorder_events_are_visible_through_core_v1() {
    use k8s_openapi::api::core::v1::{Event, ObjectReference};
    use kube::runtime::events::{Event as REvent, EventType, Recorder, Reporter};
    let d = ApiServerDouble::start().await.unwrap();
    let client = d.client().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let c = cms
        .create(&PostParams::default(), &cm("zone-conf", &[]))
        .await
        .unwrap();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "bindy-test".into(),
            instance: None,
        },
    );
    let reference = ObjectReference {
        kind: Some("ConfigMap".into()),
        api_version: Some("v1".into()),
        name: c.metadata.name.clone(),
        namespace: Some("default".into()),
        uid: c.metadata.uid.clone(),
        ..Default::default()
    };
    let ev = REvent {
        type_: EventType::Normal,
        reason: "Reloaded".into(),
        note: Some("zone reloaded".into()),
        action: "Reload".into(),
        secondary: None,
    };
    recorder.publish(&ev, &reference).await.unwrap();
    recorder.publish(&ev, &reference).await.unwrap(); // series: merge patch on events.k8s.io
    let core: Api<Event> = Api::namespaced(client.clone(), "default");
    let sel = format!(
        "involvedObject.name=zone-conf,involvedObject.uid={}",
        c.metadata.uid.unwrap()
    );
    let list = core
        .list(&ListParams::default().fields(&sel))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1, "one event, seen through core/v1");
    let e = &list.items[0];
    assert_eq!(
        (e.reason.as_deref(), e.message.as_deref(), e.count),
        (Some("Reloaded"), Some("zone reloaded"), Some(2))
    );
    assert_eq!(
        core.get(&e.metadata.name.clone().unwrap())
            .await
            .unwrap()
            .reason
            .as_deref(),
        Some("Reloaded")
    );
}

#[tokio::test]
async fn server_side_apply_of_spec_and_status_by_one_manager() {
    let d = ApiServerDouble::start().await.unwrap();
    let client = d.client().unwrap();
    install_widget_crd(&client).await;
    let ws: Api<DynamicObject> = Api::namespaced_with(client, "default", &widget_ar());
    let pp = PatchParams::apply("bindy").force();
    let body = |spec: serde_json::Value| {
        Patch::Apply(
            json!({"apiVersion": "test.bindy.io/v1", "kind": "Widget", "metadata": {"name": "a"}, "spec": spec}),
        )
    };
    let created = ws
        .patch(
            "a",
            &pp,
            &body(json!({"zone": "a.example", "role": "primary"})),
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let st = |s: serde_json::Value| {
        Patch::Apply(json!({"apiVersion": "test.bindy.io/v1", "kind": "Widget", "status": s}))
    };
    ws.patch_status("a", &pp, &st(json!({"phase": "Ready", "serial": 1})))
        .await
        .unwrap();
    let s = ws
        .patch_status("a", &pp, &st(json!({"phase": "Ready"})))
        .await
        .unwrap();
    assert_eq!(
        s.data["status"],
        json!({"phase": "Ready"}),
        "field dropped from the status apply removed"
    );
    let a = ws
        .patch("a", &pp, &body(json!({"zone": "a.example"})))
        .await
        .unwrap();
    assert!(
        a.data["spec"].get("role").is_none(),
        "field dropped from the spec apply removed"
    );
    assert_eq!(
        a.data["status"]["phase"], "Ready",
        "status untouched by the spec apply"
    );
    assert_eq!(a.metadata.generation, Some(2));
}

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
    let gone = eventually(Duration::from_secs(5), || async {
        cms.get_opt("fg-owner")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(gone.is_some(), "owner removed once the child is gone");

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
