//! CRUD, conflicts, status split, generation, finalizers, GC, selectors and CRD validation,
//! all through an unmodified `kube::Client` against the API-server test double.

mod common;

use std::time::Duration;

use bindy_kube_double::ApiServerDouble;
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

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
    let gone = gone_within(&cms, "child", Duration::from_secs(5)).await;
    assert!(gone, "child garbage-collected");
    assert!(cms.get_opt("bystander").await.unwrap().is_some());
    nss.delete("t1", &DeleteParams::default()).await.unwrap();
    let gone = gone_within(&nss, "t1", Duration::from_secs(5)).await;
    assert!(gone, "namespace emptied then removed");
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
