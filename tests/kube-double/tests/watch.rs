//! Watch semantics of the API-server test double: ordering and completeness under concurrent
//! writers, resumption from a resourceVersion, 410 Gone outside the history window, bookmarks,
//! selector-filtered watches, and a kube-runtime `Controller` reacting within a deadline.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bindy_kube_double::{ApiServerDouble, DoubleConfig};
use common::{eventually, gone_within};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::Resource;
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"n": "0"}}),
    )
    .unwrap()
}

fn rv_of(c: &ConfigMap) -> u64 {
    c.metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

/// Merge-patches `data.n = i` into the ConfigMap `name` (one new resourceVersion each).
async fn set_n(cms: &Api<ConfigMap>, name: &str, i: u32) {
    cms.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"n": i.to_string()}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn watch_under_concurrent_writes_is_complete_and_ordered() {
    let d = ApiServerDouble::start().await.unwrap();
    let client = d.client().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let start = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(30), &start)
        .await
        .unwrap()
        .boxed();
    const WRITERS: usize = 4;
    const WRITES: usize = 25;
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let cms = cms.clone();
        handles.push(tokio::spawn(async move {
            let name = format!("w{w}");
            cms.create(&PostParams::default(), &cm(&name, json!({})))
                .await
                .unwrap();
            for i in 1..WRITES {
                set_n(&cms, &name, i as u32).await;
            }
        }));
    }
    let mut last = 0u64;
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let total = WRITERS * WRITES;
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        let mut n = 0;
        while n < total {
            match stream.try_next().await.unwrap() {
                Some(WatchEvent::Added(c)) | Some(WatchEvent::Modified(c)) => {
                    let rv = rv_of(&c);
                    assert!(
                        rv > last,
                        "resourceVersions strictly increase: {rv} after {last}"
                    );
                    last = rv;
                    seen.entry(c.metadata.name.clone().unwrap())
                        .or_default()
                        .push(c.data.unwrap()["n"].clone());
                    n += 1;
                }
                Some(WatchEvent::Bookmark(_)) => {}
                Some(other) => panic!("unexpected event {other:?}"),
                None => panic!("watch ended early"),
            }
        }
        n
    })
    .await
    .expect("all events within the deadline");
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(got, total);
    for (name, values) in seen {
        let expected: Vec<String> = (0..WRITES).map(|i| i.to_string()).collect();
        assert_eq!(
            values, expected,
            "every write of {name} seen once, in order"
        );
    }
}

#[tokio::test]
async fn resume_gone_and_bookmarks() {
    let cfg = DoubleConfig {
        history_window: 5,
        bookmark_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let d = ApiServerDouble::start_with(cfg).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    let first = cms
        .create(&PostParams::default(), &cm("r", json!({})))
        .await
        .unwrap();
    let from = first.metadata.resource_version.clone().unwrap();
    for i in 1..4 {
        set_n(&cms, "r", i).await;
    }
    // resume inside the window: exactly the three later events
    let mut s = cms
        .watch(&WatchParams::default().timeout(1), &from)
        .await
        .unwrap()
        .boxed();
    let mut n = Vec::new();
    while let Some(ev) = s.try_next().await.unwrap() {
        if let WatchEvent::Modified(c) = ev {
            n.push(c.data.unwrap()["n"].clone());
        }
    }
    assert_eq!(n, ["1", "2", "3"]);
    // push the first version out of the window: 410 Gone as an ERROR event
    for i in 3..10 {
        set_n(&cms, "r", i).await;
    }
    let mut s = cms
        .watch(&WatchParams::default().timeout(5), &from)
        .await
        .unwrap()
        .boxed();
    match s.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
    // bookmarks carry the latest version
    let now = d.store().resource_version().to_string();
    let mut s = cms
        .watch(&WatchParams::default().timeout(5), &now)
        .await
        .unwrap()
        .boxed();
    let bm = tokio::time::timeout(Duration::from_secs(3), s.try_next())
        .await
        .unwrap()
        .unwrap();
    match bm {
        Some(WatchEvent::Bookmark(b)) => assert_eq!(b.metadata.resource_version, now),
        other => panic!("expected bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn selector_watch_and_streaming_list() {
    let d = ApiServerDouble::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    cms.create(&PostParams::default(), &cm("pre", json!({"app": "bind"})))
        .await
        .unwrap();
    // kube-runtime watcher with streaming lists (sendInitialEvents + initial-events-end bookmark)
    let cfg = watcher::Config::default()
        .labels("app=bind")
        .streaming_lists();
    let mut names = std::pin::pin!(watcher::watcher(cms.clone(), cfg).boxed());
    cms.create(&PostParams::default(), &cm("other", json!({"app": "x"})))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("post", json!({"app": "bind"})))
        .await
        .unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !(seen.contains(&"post".to_string()) && seen.contains(&"pre".to_string())) {
            match names.try_next().await.unwrap() {
                Some(watcher::Event::InitApply(c)) | Some(watcher::Event::Apply(c)) => {
                    seen.push(c.metadata.name.unwrap())
                }
                _ => {}
            }
        }
    })
    .await
    .expect("watcher delivers within the deadline");
    seen.sort();
    assert_eq!(
        seen,
        ["post", "pre"],
        "the non-matching object is filtered out"
    );
}

#[derive(Debug, thiserror::Error)]
#[error("reconcile: {0}")]
struct ReconcileError(#[from] kube::Error);

/// Reconciler: mirrors `data` of each labelled ConfigMap into `<name>-out`, owned by it.
async fn reconcile(
    src: Arc<ConfigMap>,
    api: Arc<Api<ConfigMap>>,
) -> Result<Action, ReconcileError> {
    let name = src.metadata.name.clone().unwrap_or_default();
    let oref = src.controller_owner_ref(&()).unwrap();
    let out = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("{name}-out"), "ownerReferences": [oref]}, "data": src.data});
    api.patch(
        &format!("{name}-out"),
        &PatchParams::apply("test-controller").force(),
        &Patch::Apply(out),
    )
    .await?;
    Ok(Action::await_change())
}

#[tokio::test]
async fn kube_runtime_controller_reacts_within_deadline() {
    let d = ApiServerDouble::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    let ctl = Controller::new(cms.clone(), watcher::Config::default().labels("mirror=yes"))
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(1)),
            Arc::new(cms.clone()),
        )
        .for_each(|_| async {});
    let task = tokio::spawn(ctl);
    let deadline = Duration::from_secs(5);
    cms.create(&PostParams::default(), &cm("src", json!({"mirror": "yes"})))
        .await
        .unwrap();
    let out = eventually(deadline, || async { cms.get_opt("src-out").await.unwrap() }).await;
    assert_eq!(out.expect("created").data.unwrap()["n"], "0");
    cms.patch(
        "src",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"n": "7"}})),
    )
    .await
    .unwrap();
    let updated = eventually(deadline, || async {
        cms.get_opt("src-out")
            .await
            .unwrap()
            .filter(|c| c.data.as_ref().unwrap()["n"] == "7")
    })
    .await;
    assert!(updated.is_some(), "update propagated");
    cms.delete("src", &DeleteParams::default()).await.unwrap();
    let gone = gone_within(&cms, "src-out", deadline).await;
    assert!(
        gone,
        "owned object garbage-collected after the owner's deletion"
    );
    task.abort();
}

#[tokio::test]
async fn objects_entering_and_leaving_a_selector() {
    let d = ApiServerDouble::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    let rv = cms
        .create(&PostParams::default(), &cm("m", json!({})))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut s = cms
        .watch(&WatchParams::default().labels("app=bind").timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    for labels in [
        json!({"app": "bind"}),
        json!({"app": "bind", "x": "y"}),
        json!({"app": null}),
    ] {
        cms.patch(
            "m",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": labels}})),
        )
        .await
        .unwrap();
    }
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(3), s.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(_)) => kinds.push("ADDED"),
            Some(WatchEvent::Modified(_)) => kinds.push("MODIFIED"),
            Some(WatchEvent::Deleted(_)) => kinds.push("DELETED"),
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
}

#[tokio::test]
async fn metadata_watcher_and_get_metadata() {
    let d = ApiServerDouble::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(d.client().unwrap(), "default");
    cms.create(&PostParams::default(), &cm("meta1", json!({"app": "bind"})))
        .await
        .unwrap();
    let m = cms.get_metadata("meta1").await.unwrap();
    assert_eq!(m.metadata.labels.unwrap()["app"], "bind");
    assert_eq!(
        m.types.unwrap().kind,
        "PartialObjectMetadata",
        "metadata-only answer"
    );
    let list = cms.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let mut stream = std::pin::pin!(watcher::watcher(
        Api::<kube::core::PartialObjectMeta<ConfigMap>>::namespaced(d.client().unwrap(), "default"),
        watcher::Config::default(),
    )
    .boxed());
    cms.create(&PostParams::default(), &cm("meta2", json!({})))
        .await
        .unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while seen.len() < 2 {
            match stream.try_next().await.unwrap() {
                Some(watcher::Event::InitApply(m)) | Some(watcher::Event::Apply(m)) => {
                    seen.push(m.metadata.name.unwrap())
                }
                _ => {}
            }
        }
    })
    .await
    .expect("metadata watcher delivers");
    seen.sort();
    assert_eq!(seen, ["meta1", "meta2"]);
}
