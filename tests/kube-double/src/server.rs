//! HTTP front of the test double: routing, discovery, JSON bodies, streaming watches.
//! Plain HTTP/1.1 on 127.0.0.1 (no TLS, no authentication: anyone on loopback is admin).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{Filter, Store, Target};
use crate::write::PatchKind;

pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Shared by all connections of one double.
pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) addr: String,
    pub(crate) bookmark_interval: Duration,
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
    /// Node-agent root whose `pods/<ns>/<pod>/containers/<c>/log` files serve `pods/log`.
    pub(crate) pod_logs: std::sync::Mutex<Option<std::path::PathBuf>>,
}

/// `GET .../pods/{name}/log[?container=c&tailLines=n]` from the node agent's log files.
fn pod_log(
    sh: &Shared,
    ns: &str,
    pod: &str,
    q: &HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let root = sh
        .pod_logs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let dir = root
        .map(|r| r.join("pods").join(ns).join(pod).join("containers"))
        .ok_or_else(|| {
            ApiError::bad_request("no node agent logs configured (ApiServerDouble::serve_pod_logs)")
        })?;
    let container = match q.get("container") {
        Some(c) => c.clone(),
        None => std::fs::read_dir(&dir)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .ok_or_else(|| ApiError::not_found("pods", "", "pods", pod))?,
    };
    let text = std::fs::read_to_string(dir.join(&container).join("log")).map_err(|_| {
        ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{pod}\" has no log"
        ))
    })?;
    let text = match q.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n") + "\n"
        }
        None => text,
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from(text)).boxed_unsync())
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)).boxed_unsync())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed_unsync()))
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_status())
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn truthy(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

/// Entry point for every request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(error_response(&ApiError::bad_request(format!(
                "reading body: {e}"
            ))))
        }
    };
    tracing::debug!(%method, %path, ?query, "kube-double request");
    let resp = route(&shared, &method, &path, &query, &accept, &ctype, &body).await;
    Ok(resp.unwrap_or_else(|e| error_response(&e)))
}

async fn route(
    sh: &Arc<Shared>,
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    accept: &str,
    ctype: &str,
    body: &Bytes,
) -> Result<Response<Body>, ApiError> {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let reg = sh.store.registry();
    let (group, version, rest) = match parts.as_slice() {
        ["version"] => {
            return Ok(json_response(
                200,
                &json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-bindy-test-double",
                "gitCommit": "test-double", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "none", "compiler": "none", "platform": "linux/amd64"}),
            ))
        }
        ["healthz"] | ["livez"] | ["readyz"] => {
            return Ok(Response::new(
                Full::new(Bytes::from_static(b"ok")).boxed_unsync(),
            ))
        }
        ["api"] => return Ok(json_response(200, &reg.api_versions(&sh.addr))),
        ["apis"] => return Ok(json_response(200, &reg.api_group_list())),
        ["api", v] => {
            return reg
                .resource_list("", v)
                .map(|d| json_response(200, &d))
                .ok_or_else(|| ApiError::no_route(path))
        }
        ["apis", g] => {
            return reg
                .api_group(g)
                .map(|d| json_response(200, &d))
                .ok_or_else(|| ApiError::no_route(path))
        }
        ["apis", g, v] => {
            return reg
                .resource_list(g, v)
                .map(|d| json_response(200, &d))
                .ok_or_else(|| ApiError::no_route(path))
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::no_route(path)),
    };
    // namespaces/{ns}/{resource}/... vs cluster-scoped {resource}/...
    let (ns, plural, name, sub) = match rest {
        ["namespaces", ns, res, tail @ ..] if *res != "status" && *res != "finalize" => (
            Some(ns.to_string()),
            *res,
            tail.first().copied(),
            tail.get(1).copied(),
        ),
        [res, tail @ ..] => (None, *res, tail.first().copied(), tail.get(1).copied()),
        [] => return Err(ApiError::no_route(path)),
    };
    let t = sh
        .store
        .target(group, version, plural, ns)
        .ok_or_else(|| ApiError::no_route(path))?;
    if t.rt.namespaced && t.namespace.is_none() && name.is_some() {
        return Err(ApiError::no_route(path));
    }
    if let (Some("log"), Some(n), true) =
        (sub, name, t.rt.group.is_empty() && t.rt.plural == "pods")
    {
        return pod_log(sh, t.namespace.as_deref().unwrap_or("default"), n, q);
    }
    let status = match sub {
        None => false,
        Some("status") if t.rt.has_status => true,
        Some(_) => return Err(ApiError::no_route(path)),
    };
    let filter = || -> Result<Filter, ApiError> {
        Ok(Filter {
            labels: LabelSelector::parse(
                q.get("labelSelector")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?,
            fields: FieldSelector::parse(
                q.get("fieldSelector")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )?,
        })
    };
    let parse_body = || -> Result<Value, ApiError> {
        if ctype.contains("yaml") {
            serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid YAML body: {e}")))
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
        }
    };
    let table = accept.contains("as=Table");
    let mut t = t;
    t.metadata_only = !table && accept.contains("as=PartialObjectMetadata");
    t.field_manager = q.get("fieldManager").cloned();
    t.force = truthy(q, "force");
    let list_kind = |t: &Target| {
        if t.metadata_only {
            (
                "PartialObjectMetadataList".to_string(),
                "meta.k8s.io/v1".to_string(),
            )
        } else {
            (format!("{}List", t.rt.kind), t.rt.api_version(&t.version))
        }
    };
    // dryRun=All: writes go to a scratch copy of the store
    let scratch;
    let store = if q.contains_key("dryRun") && *method != Method::GET {
        scratch = sh.store.scratch_copy();
        &scratch
    } else {
        &sh.store
    };
    match (method.clone(), name) {
        (Method::GET, None) if truthy(q, "watch") => watch(sh, &t, q, filter()?, table),
        (Method::GET, Some(n)) if truthy(q, "watch") => {
            let mut f = filter()?;
            f.fields = FieldSelector::parse(&format!("metadata.name={n}"))?;
            watch(sh, &t, q, f, table)
        }
        (Method::GET, None) => {
            let (items, rv) = store.list(&t, &filter()?);
            if table {
                return Ok(json_response(200, &crate::table::table(&t, &items, rv)));
            }
            let (kind, api_version) = list_kind(&t);
            let (items, cont, remaining) = paginate(items, q)?;
            let mut meta = json!({"resourceVersion": rv.to_string()});
            if let Some(c) = cont {
                meta["continue"] = json!(c);
                meta["remainingItemCount"] = json!(remaining);
            }
            Ok(json_response(
                200,
                &json!({"kind": kind, "apiVersion": api_version, "metadata": meta, "items": items}),
            ))
        }
        (Method::POST, None) => Ok(json_response(201, &store.create(&t, parse_body()?)?)),
        (Method::DELETE, None) => {
            let items = store.delete_collection(&t, &filter()?);
            let (kind, api_version) = list_kind(&t);
            Ok(json_response(
                200,
                &json!({"kind": kind, "apiVersion": api_version,
                "metadata": {"resourceVersion": store.resource_version().to_string()}, "items": items}),
            ))
        }
        (Method::GET, Some(n)) => {
            let obj = store.get(&t, n)?;
            if table {
                return Ok(json_response(
                    200,
                    &crate::table::table(&t, &[obj], store.resource_version()),
                ));
            }
            Ok(json_response(200, &obj))
        }
        (Method::PUT, Some(n)) => Ok(json_response(
            200,
            &store.replace(&t, n, parse_body()?, status)?,
        )),
        (Method::PATCH, Some(n)) => {
            let ct = ctype.split(';').next().unwrap_or_default().trim();
            let kind = match ct {
                "application/merge-patch+json" => PatchKind::Merge,
                "application/json-patch+json" => PatchKind::Json,
                "application/strategic-merge-patch+json" => PatchKind::Strategic,
                "application/apply-patch+yaml" | "application/apply-patch+json" => {
                    PatchKind::Apply(
                        q.get("fieldManager")
                            .cloned()
                            .unwrap_or_else(|| "default".into()),
                    )
                }
                other => return Err(ApiError::unsupported_media_type(other)),
            };
            Ok(json_response(
                200,
                &store.patch(&t, n, &kind, parse_body()?, status)?,
            ))
        }
        (Method::DELETE, Some(n)) => {
            let opts = if body.is_empty() {
                json!({})
            } else {
                parse_body()?
            };
            Ok(json_response(200, &store.delete(&t, n, &opts)?))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn ns_name(v: &Value) -> (String, String) {
    let m = |k: &str| {
        v.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (m("namespace"), m("name"))
}

/// `limit`/`continue`: pages in storage order; the token is the last returned `namespace/name`.
/// Unlike the real server, later pages come from the current state, not a snapshot.
fn paginate(
    items: Vec<Value>,
    q: &HashMap<String, String>,
) -> Result<(Vec<Value>, Option<String>, usize), ApiError> {
    let start = match q.get("continue").filter(|c| !c.is_empty()) {
        None => 0,
        Some(token) => {
            let (ns, name) = token
                .split_once('/')
                .ok_or_else(|| ApiError::bad_request(format!("invalid continue token {token}")))?;
            let after = (ns.to_string(), name.to_string());
            items
                .iter()
                .position(|v| ns_name(v) > after)
                .unwrap_or(items.len())
        }
    };
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let total = items.len();
    let mut page: Vec<Value> = items.into_iter().skip(start).collect();
    match limit {
        Some(l) if page.len() > l => {
            page.truncate(l);
            let (ns, name) = page.last().map(ns_name).unwrap_or_default();
            let remaining = total - start - l;
            Ok((page, Some(format!("{ns}/{name}")), remaining))
        }
        _ => Ok((page, None, 0)),
    }
}

fn event_line(kind: &str, object: Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn bookmark(t: &Target, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    event_line(
        "BOOKMARK",
        json!({"kind": t.rt.kind, "apiVersion": t.rt.api_version(&t.version), "metadata": meta}),
    )
}

/// Start a streaming watch: one JSON event per line over a chunked response.
fn watch(
    sh: &Arc<Shared>,
    t: &Target,
    q: &HashMap<String, String>,
    f: Filter,
    table: bool,
) -> Result<Response<Body>, ApiError> {
    // `kubectl get -w` asks for Tables: each event then carries a one-row Table
    let view = move |t: &Target, obj: &Value, rv: u64| {
        let obj = t.present(obj.clone());
        if table {
            crate::table::table(t, &[obj], rv)
        } else {
            obj
        }
    };
    let send_initial = truthy(q, "sendInitialEvents");
    let bookmarks = truthy(q, "allowWatchBookmarks");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let (mut tx, rx) = futures::channel::mpsc::channel::<Bytes>(256);
    let body = StreamBody::new(rx.map(|b| Ok::<_, Infallible>(Frame::data(b)))).boxed_unsync();
    let response = Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(body)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let start = match sh.store.watch(
        t,
        q.get("resourceVersion").map(String::as_str),
        send_initial,
        &f,
    ) {
        Ok(s) => s,
        Err(e) if e.code == 410 => {
            let line = event_line("ERROR", e.to_status());
            tokio::spawn(async move {
                let _ = tx.send(line).await;
            });
            return Ok(response);
        }
        Err(e) => return Err(e),
    };
    let t = t.clone();
    let interval = sh.bookmark_interval;
    let mut shutdown = sh.shutdown.clone();
    tokio::spawn(async move {
        let mut rx = start.rx;
        let mut last_rv = start.start_rv;
        for ev in &start.initial {
            let kind = f.event_kind(&t, ev).unwrap_or(ev.kind);
            if tx
                .send(event_line(kind, view(&t, &ev.object, ev.rv)))
                .await
                .is_err()
            {
                return;
            }
        }
        if send_initial && tx.send(bookmark(&t, last_rv, true)).await.is_err() {
            return;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        last_rv = ev.rv;
                        if let Some(kind) = f.event_kind(&t, &ev) {
                            if tx.send(event_line(kind, view(&t, &ev.object, ev.rv))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(_) => return,
                },
                _ = tick.tick(), if bookmarks => {
                    if tx.send(bookmark(&t, last_rv, false)).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                _ = shutdown.changed() => return,
            }
        }
    });
    Ok(response)
}
