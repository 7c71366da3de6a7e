//! Shared helpers for the test double's own tests.
#![allow(dead_code)]

pub mod kubectl;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::Client;
use serde_json::{json, Value};

/// A small CRD of our own (until the team's generated CRDs land in deploy/crds/).
pub fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.test.bindy.io"},
        "spec": {
            "group": "test.bindy.io",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Zone", "type": "string", "jsonPath": ".spec.zone"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["zone"],
                            "x-kubernetes-validations": [{"rule": "self.ttl >= 60", "message": "ttl must be at least 60"}],
                            "properties": {
                                "zone": {"type": "string", "pattern": "^[a-z0-9.-]+$"},
                                "ttl": {"type": "integer", "minimum": 1, "default": 3600},
                                "role": {"type": "string", "enum": ["primary", "secondary"]}
                            }
                        },
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }
                }}
            }]
        }
    })
}

pub fn widget_ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.bindy.io", "v1", "Widget"),
        "widgets",
    )
}

/// Create the widget CRD through the API.
pub async fn install_widget_crd(client: &Client) {
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    let crd = serde_json::from_value(widget_crd()).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
}

pub fn widget(name: &str, zone: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "test.bindy.io/v1", "kind": "Widget",
        "metadata": {"name": name}, "spec": {"zone": zone}
    }))
    .unwrap()
}

/// Poll `f` until it returns Some or the deadline passes.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    while start.elapsed() < deadline {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Polls until `name` no longer exists; false if it still does when `deadline` passes.
pub async fn gone_within<K>(api: &Api<K>, name: &str, deadline: Duration) -> bool
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(deadline, || async {
        api.get_opt(name).await.unwrap().is_none().then_some(())
    })
    .await
    .is_some()
}

/// `dig @IP -p PORT NAME A +short` (1 s, one try): the answer lines, None when dig fails.
pub fn dig_a(ip: &str, port: u16, name: &str) -> Option<String> {
    let out = std::process::Command::new("dig")
        .args([
            &format!("@{ip}"),
            "-p",
            &port.to_string(),
            name,
            "A",
            "+short",
            "+time=1",
            "+tries=1",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name,
        "labels": labels.iter().cloned().collect::<std::collections::BTreeMap<_, _>>()},
        "data": {"k": "v"}}))
    .unwrap()
}

pub struct ApiErr {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

pub fn api_err(e: kube::Error) -> ApiErr {
    match e {
        kube::Error::Api(s) => ApiErr {
            code: s.code,
            reason: s.reason.clone(),
            message: s.message.clone(),
        },
        other => panic!("expected API error, got {other:?}"),
    }
}
