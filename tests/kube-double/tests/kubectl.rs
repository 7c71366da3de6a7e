//! The real `kubectl` (v1.32, on PATH) against the API-server test double: apply a CRD and a
//! custom resource from files, get (table and JSON), describe, re-apply a change, delete.
//! Fails when kubectl is missing and CI=true; otherwise skips with a printed reason.

mod common;

use std::path::Path;

use common::kubectl::Kubectl;
use serde_json::Value;

const WIDGET: &str = "apiVersion: test.bindy.io/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: default\nspec:\n  zone: example.com\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_get_describe_delete() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    let crd = k.path("crd.yaml");
    std::fs::write(&crd, serde_yaml::to_string(&common::widget_crd()).unwrap()).unwrap();
    let cr = k.path("w1.yaml");
    std::fs::write(&cr, WIDGET).unwrap();

    let out = k.apply_ok(&crd, &[]).await;
    assert!(out.contains("widgets.test.bindy.io created"), "{out}");
    let out = k
        .ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=10s",
            "crd/widgets.test.bindy.io",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");
    let out = k.apply_ok(&cr, &[]).await;
    assert!(out.contains("widget.test.bindy.io/w1 created"), "{out}");

    let out = k.ok(&["get", "widgets"]).await;
    assert!(
        out.contains("ZONE") && out.contains("w1") && out.contains("example.com"),
        "{out}"
    );
    let out = k.ok(&["get", "wdg", "w1", "-o", "json"]).await;
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["spec"]["ttl"], 3600,
        "server-side default visible to kubectl"
    );

    // re-apply with a change: kubectl computes a merge patch from last-applied
    std::fs::write(&cr, WIDGET.replace("example.com", "example.org")).unwrap();
    let out = k.apply_ok(&cr, &[]).await;
    assert!(out.contains("configured"), "{out}");
    let out = k
        .ok(&[
            "get",
            "widget",
            "w1",
            "-o",
            "jsonpath={.spec.zone} {.metadata.generation}",
        ])
        .await;
    assert_eq!(out.trim(), "example.org 2");

    // an invalid object is rejected with the field named
    std::fs::write(&cr, WIDGET.replace("example.com", "Bad_Zone")).unwrap();
    let out = k.apply(&cr, &[]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("spec.zone"),
        "422 names the field"
    );

    // an Event published by kube-runtime's Recorder (events.k8s.io) shows in `describe`
    let client = k.double.client().unwrap();
    let w: kube::api::DynamicObject =
        kube::api::Api::namespaced_with(client.clone(), "default", &common::widget_ar())
            .get("w1")
            .await
            .unwrap();
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        kind: Some("Widget".into()),
        api_version: Some("test.bindy.io/v1".into()),
        name: Some("w1".into()),
        namespace: Some("default".into()),
        uid: w.metadata.uid.clone(),
        ..Default::default()
    };
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let reporter = Reporter {
        controller: "bindy-test".into(),
        instance: None,
    };
    let ev = Event {
        type_: EventType::Normal,
        reason: "ZoneLoaded".into(),
        note: Some("serial 7 served".into()),
        action: "Load".into(),
        secondary: None,
    };
    Recorder::new(client, reporter)
        .publish(&ev, &reference)
        .await
        .unwrap();

    let out = k.ok(&["describe", "widget", "w1"]).await;
    assert!(
        out.contains("Name:") && out.contains("w1") && out.contains("example.org"),
        "{out}"
    );
    assert!(
        out.contains("ZoneLoaded") && out.contains("serial 7 served"),
        "event in describe: {out}"
    );

    let out = k.ok(&["delete", "widget", "w1"]).await;
    assert!(out.contains("deleted"), "{out}");
    let out = k.run(&["get", "widget", "w1"]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NotFound")
            || String::from_utf8_lossy(&out.stderr).contains("not found")
    );

    // a built-in kind: kubectl sends a strategic merge patch on the second apply
    let cm = k.path("cm.yaml");
    let cm_yaml =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\ndata:\n  a: \"1\"\n  b: \"2\"\n";
    std::fs::write(&cm, cm_yaml).unwrap();
    k.apply_ok(&cm, &[]).await;
    std::fs::write(&cm, cm_yaml.replace("  b: \"2\"\n", "")).unwrap();
    k.apply_ok(&cm, &[]).await;
    let ssa = k.apply_ok(&cm, &["--server-side"]).await;
    assert!(ssa.contains("serverside-applied"), "{ssa}");
    let out = k.ok(&["get", "cm", "conf", "-o", "jsonpath={.data}"]).await;
    assert_eq!(
        out.trim(),
        r#"{"a":"1"}"#,
        "key removed by the second apply"
    );

    // a StatefulSet re-applied with a new image: the container list is merged by name
    let sts = k.path("sts.yaml");
    let sts_yaml = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: dns\nspec:\n  serviceName: dns\n  \
        selector:\n    matchLabels:\n      app: dns\n  template:\n    metadata:\n      labels:\n        app: dns\n    \
        spec:\n      containers:\n      - name: bind9\n        image: bind9:9.18\n        args: [\"-g\"]\n";
    std::fs::write(&sts, sts_yaml).unwrap();
    k.apply_ok(&sts, &[]).await;
    std::fs::write(&sts, sts_yaml.replace("bind9:9.18", "bind9:9.20")).unwrap();
    k.apply_ok(&sts, &[]).await;
    let out = k.ok(&["get", "sts", "dns", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].args[0]} {.metadata.generation}"]).await;
    assert_eq!(out.trim(), "bind9:9.20 -g 2");

    let out = k.delete_ok(&crd, &[]).await;
    assert!(out.contains("deleted"), "{out}");
}

/// The team's generated CRDs and examples, applied, listed, described and deleted by kubectl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_deploy_crds_and_examples() {
    let Some(k) = Kubectl::start().await else {
        return;
    };
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let (crds, examples) = (deploy.join("crds"), deploy.join("examples"));
    k.apply_ok(&crds, &[]).await;
    let out = k.ok(&["get", "crds"]).await;
    assert!(out.contains("dnszones.bindy.firestoned.io"), "{out}");
    let out = k.apply_ok(&examples, &[]).await;
    assert!(out.contains("created"), "{out}");
    let out = k.ok(&["get", "dnszones", "-A"]).await;
    assert!(out.contains("ZONE"), "{out}");
    let out = k.ok(&["get", "bindy", "-A"]).await;
    assert!(!out.trim().is_empty(), "category 'bindy' lists objects");
    // the CRDs' CEL rules are enforced: a transition rule and a cross-field rule
    let kr = &k;
    let patch = |p: &'static str| async move {
        kr.run(&[
            "patch",
            "dnszone",
            "example-com",
            "--type",
            "merge",
            "-p",
            p,
        ])
        .await
    };
    let out = patch(r#"{"spec":{"zoneName":"other.com"}}"#).await;
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("zoneName is immutable")
    );
    let out = patch(r#"{"spec":{"soaRecord":{"retry":999999}}}"#).await;
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("retry must be less than refresh")
    );
    let out = k.ok(&["describe", "dnszones", "-A"]).await;
    assert!(out.contains("Zone Name:"), "{out}");
    k.delete_ok(&examples, &[]).await;
    k.delete_ok(&crds, &["--ignore-not-found"]).await;
}

/// `kubectl get -w` (watch with Table rows) sees an object created while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let Some(k) = Kubectl::start().await else {
        return;
    };
    let mut child = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&k.kubeconfig)
        .args(["get", "configmaps", "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(k.double.client().unwrap(), "default");
    let created = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        let mut made = false;
        loop {
            if !made {
                // kubectl prints it from its initial list or from the watch, whichever comes first
                let c =
                    serde_json::from_value(serde_json::json!({"metadata": {"name": "watched"}}))
                        .unwrap();
                made = cms.create(&Default::default(), &c).await.is_ok();
            }
            match tokio::time::timeout(std::time::Duration::from_millis(500), lines.next_line())
                .await
            {
                Ok(Ok(Some(l))) if l.contains("watched") => return l,
                Ok(Ok(None)) => panic!("kubectl get -w ended"),
                _ => {}
            }
        }
    })
    .await
    .expect("kubectl get -w printed the new ConfigMap");
    assert!(created.contains("ADDED"), "{created}");
    child.kill().await.unwrap();
}
