//! The node agent: plays kubelet (and the StatefulSet controller) for Bindy's workloads.
//!
//! It polls the API (through an ordinary `kube::Client`, so it exercises the double like any
//! controller) every `interval` for StatefulSets matching `selector`, and for each desired pod
//! `<sts>-<ordinal>`: creates the Pod object (owned by the StatefulSet, so the double's GC
//! removes it with its owner), gives it a unique loopback IP, materialises its volumes, starts
//! each container through the first [`Runtime`] that handles it, and reports `Ready` once the
//! processes are up. A process that dies turns the pod not-ready and is restarted
//! (`restartCount` grows). Scale-down, StatefulSet deletion or pod deletion stop the processes;
//! a deleted pod is recreated on the next pass; a changed StatefulSet generation recreates its
//! pods. ConfigMap/Secret changes reach the pod's folder after `configmap_sync_delay` (the
//! kubelet's sync period), or at once when the pod's annotations change (as an update to the
//! pod object makes the kubelet sync it).
//!
//! Not modelled: Deployments, init containers, probes from the pod spec (readiness is the
//! runtime's own check), resource limits, pod-management policy and rolling-update ordering
//! (pods start one after another in one pass), PVC objects (claims are host folders).

pub mod command;
pub mod env;
pub mod named;
pub mod runtime;
pub mod volumes;

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bindy_tests::named::{alloc_loopback_ip, LoopbackAlias};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaimVolumeSource, Pod, Volume};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
pub use runtime::{ContainerLaunch, Process, Runtime};
use volumes::ProjectedVolume;

/// Node agent settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Folder for pod volumes and persistent claims.
    pub root: PathBuf,
    /// Label selector of the StatefulSets to run.
    pub selector: String,
    /// Delay before a ConfigMap/Secret change reaches a running pod's folder.
    pub configmap_sync_delay: Duration,
    /// Poll interval.
    pub interval: Duration,
    /// Text replacements applied to container args and ConfigMap volume files, `{POD_IP}` in
    /// the replacement standing for the pod's IP. All pods share the host's network, so a
    /// wildcard listen address would collide between pods: the default turns `0.0.0.0:` and
    /// `[::]:` (address with a port) into `<pod IP>:`, leaving CIDRs like `0.0.0.0/0` alone.
    pub wildcard_rewrites: Vec<(String, String)>,
}

fn rewrite(s: &str, rules: &[(String, String)]) -> String {
    rules
        .iter()
        .fold(s.to_string(), |acc, (from, to)| acc.replace(from, to))
}

impl AgentConfig {
    /// Defaults: Bindy's workloads (`app.kubernetes.io/part-of=bindy`), 3 s sync delay, 200 ms polls.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            selector: "app.kubernetes.io/part-of=bindy".into(),
            configmap_sync_delay: Duration::from_secs(3),
            interval: Duration::from_millis(200),
            wildcard_rewrites: vec![
                ("0.0.0.0:".into(), "{POD_IP}:".into()),
                ("[::]:".into(), "{POD_IP}:".into()),
            ],
        }
    }
}

struct Container {
    launch: ContainerLaunch,
    runtime: Option<Arc<dyn Runtime>>,
    process: Option<Box<dyn Process>>,
    restarts: u32,
    /// Why the last start failed or the process ended (shown in the container status).
    last_error: Option<String>,
    /// Consecutive failed starts, for the back-off (0.5 s doubling up to 10 s).
    failures: u32,
    next_start: Instant,
    started_at: Instant,
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500 * (1u64 << failures.min(5))).min(Duration::from_secs(10))
}

struct RunningPod {
    uid: String,
    generation: i64,
    ip: Ipv4Addr,
    _alias: LoopbackAlias,
    containers: Vec<Container>,
    projected: Vec<ProjectedVolume>,
    pending: BTreeMap<usize, (String, Instant)>,
    annotations: BTreeMap<String, String>,
    ready: bool,
    started: String,
    /// When `ready` last changed (the conditions' lastTransitionTime).
    transition: String,
}

impl RunningPod {
    fn set_ready(&mut self, ready: bool) {
        if ready != self.ready {
            self.ready = ready;
            self.transition = crate::store::now_rfc3339();
        }
    }

    fn all_up(&self) -> bool {
        self.containers
            .iter()
            .all(|c| c.runtime.is_none() || c.process.is_some())
    }
}

/// A running node agent; stops its pods' processes when dropped.
pub struct NodeAgent {
    task: JoinHandle<()>,
}

impl NodeAgent {
    /// Start polling with the given runtimes (first match wins per container).
    pub fn start(client: Client, runtimes: Vec<Arc<dyn Runtime>>, cfg: AgentConfig) -> Self {
        let task = tokio::spawn(async move {
            let mut pods: BTreeMap<(String, String), RunningPod> = BTreeMap::new();
            loop {
                if let Err(e) = tick(&client, &runtimes, &cfg, &mut pods).await {
                    tracing::warn!(error = %e, "kube-double node agent pass failed");
                }
                tokio::time::sleep(cfg.interval).await;
            }
        });
        Self { task }
    }
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        // Dropping the task's state drops every Process (the named fixture kills on drop).
        self.task.abort();
    }
}

fn api_err(e: kube::Error) -> Error {
    Error::Api(e.to_string())
}

async fn stop_containers(containers: &mut [Container]) {
    for c in containers {
        if let Some(mut p) = c.process.take() {
            let _ = tokio::task::spawn_blocking(move || p.stop()).await;
        }
    }
}

async fn tick(
    client: &Client,
    runtimes: &[Arc<dyn Runtime>],
    cfg: &AgentConfig,
    pods: &mut BTreeMap<(String, String), RunningPod>,
) -> Result<()> {
    let sts_api: Api<StatefulSet> = Api::all(client.clone());
    let list = sts_api
        .list(&ListParams::default().labels(&cfg.selector))
        .await
        .map_err(api_err)?;
    let mut desired: BTreeMap<(String, String), (StatefulSet, i32)> = BTreeMap::new();
    for sts in &list.items {
        if sts.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let replicas = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        for i in 0..replicas {
            let key = (
                sts.namespace().unwrap_or_default(),
                format!("{}-{i}", sts.name_any()),
            );
            desired.insert(key, (sts.clone(), i));
        }
    }
    // Stop pods no longer desired (scale-down, StatefulSet gone).
    let gone: Vec<(String, String)> = pods
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect();
    for key in gone {
        if let Some(mut rp) = pods.remove(&key) {
            stop_containers(&mut rp.containers).await;
            let api: Api<Pod> = Api::namespaced(client.clone(), &key.0);
            let _ = api.delete(&key.1, &DeleteParams::default()).await;
        }
    }
    for (key, (sts, ordinal)) in &desired {
        let api: Api<Pod> = Api::namespaced(client.clone(), &key.0);
        let generation = sts.metadata.generation.unwrap_or(0);
        if let Some(rp) = pods.get_mut(key) {
            let current = api.get_opt(&key.1).await.map_err(api_err)?;
            let keep = current
                .as_ref()
                .is_some_and(|p| p.metadata.uid.as_deref() == Some(rp.uid.as_str()))
                && rp.generation == generation;
            if !keep {
                if let Some(mut rp) = pods.remove(key) {
                    stop_containers(&mut rp.containers).await;
                }
                if current.is_some() {
                    let _ = api.delete(&key.1, &DeleteParams::default()).await;
                }
                continue;
            }
            if let Some(pod) = current {
                supervise(client, &api, cfg, rp, &pod).await?;
            }
            continue;
        }
        match launch(client, &api, runtimes, cfg, sts, *ordinal, &key.1).await {
            Ok(rp) => {
                pods.insert(key.clone(), rp);
            }
            Err(e) => {
                tracing::warn!(pod = %key.1, error = %e, "kube-double node agent could not start pod")
            }
        }
    }
    for sts in &list.items {
        let ns = sts.namespace().unwrap_or_default();
        let prefix = format!("{}-", sts.name_any());
        let (count, ready) = pods
            .iter()
            .filter(|((n, p), _)| *n == ns && p.starts_with(&prefix))
            .fold((0, 0), |(c, r), (_, v)| (c + 1, r + usize::from(v.ready)));
        let status = json!({"status": {"replicas": count, "readyReplicas": ready, "availableReplicas": ready,
            "currentReplicas": count, "updatedReplicas": count, "observedGeneration": sts.metadata.generation}});
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
        let _ = api
            .patch_status(
                &sts.name_any(),
                &PatchParams::default(),
                &Patch::Merge(status),
            )
            .await;
    }
    Ok(())
}

fn pod_from_template(sts: &StatefulSet, ordinal: i32, name: &str) -> Result<Pod> {
    let spec = sts
        .spec
        .as_ref()
        .ok_or_else(|| Error::Runtime("statefulset without spec".into()))?;
    let tpl = &spec.template;
    let mut labels = tpl
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert("statefulset.kubernetes.io/pod-name".into(), name.into());
    labels.insert("apps.kubernetes.io/pod-index".into(), ordinal.to_string());
    labels.insert(
        "controller-revision-hash".into(),
        format!(
            "{}-{}",
            sts.name_any(),
            sts.metadata.generation.unwrap_or(0)
        ),
    );
    let mut pod_spec = tpl.spec.clone().unwrap_or_default();
    pod_spec.hostname = Some(name.into());
    pod_spec.subdomain = spec.service_name.clone();
    let mut vols = pod_spec.volumes.take().unwrap_or_default();
    for t in spec.volume_claim_templates.clone().unwrap_or_default() {
        let tname = t.metadata.name.unwrap_or_default();
        vols.push(Volume {
            name: tname.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: format!("{tname}-{name}"),
                read_only: None,
            }),
            ..Default::default()
        });
    }
    pod_spec.volumes = Some(vols);
    let mut pod = Pod {
        spec: Some(pod_spec),
        ..Default::default()
    };
    pod.metadata.name = Some(name.into());
    pod.metadata.namespace = sts.namespace();
    pod.metadata.labels = Some(labels);
    pod.metadata.annotations = tpl.metadata.as_ref().and_then(|m| m.annotations.clone());
    pod.metadata.owner_references = sts.controller_owner_ref(&()).map(|r| vec![r]);
    Ok(pod)
}

async fn set_status(api: &Api<Pod>, name: &str, rp: &RunningPod) {
    let now = &rp.transition;
    let ready = if rp.ready { "True" } else { "False" };
    let statuses: Vec<serde_json::Value> = rp.containers.iter().map(|c| {
        let up = c.runtime.is_none() || c.process.is_some();
        json!({"name": c.launch.container.name, "image": c.launch.container.image, "imageID": "", "ready": rp.ready && up,
            "restartCount": c.restarts, "started": up,
            "state": if up { json!({"running": {"startedAt": rp.started}}) }
                else { json!({"waiting": {"reason": "CrashLoopBackOff", "message": c.last_error}}) }})
    }).collect();
    let status = json!({"status": {"phase": "Running", "podIP": rp.ip.to_string(), "podIPs": [{"ip": rp.ip.to_string()}],
        "hostIP": "127.0.0.1", "startTime": rp.started, "containerStatuses": statuses,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": rp.started},
            {"type": "Initialized", "status": "True", "lastTransitionTime": rp.started},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": now},
            {"type": "Ready", "status": ready, "lastTransitionTime": now}]}});
    if let Err(e) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
    {
        tracing::warn!(pod = name, error = %e, "kube-double node agent could not update pod status");
    }
}

async fn launch(
    client: &Client,
    api: &Api<Pod>,
    runtimes: &[Arc<dyn Runtime>],
    cfg: &AgentConfig,
    sts: &StatefulSet,
    ordinal: i32,
    name: &str,
) -> Result<RunningPod> {
    let pod = match api.get_opt(name).await.map_err(api_err)? {
        Some(p) => p,
        None => api
            .create(
                &PostParams::default(),
                &pod_from_template(sts, ordinal, name)?,
            )
            .await
            .map_err(api_err)?,
    };
    let ns = pod.namespace().unwrap_or_default();
    let ip = alloc_loopback_ip();
    let rewrites: Vec<(String, String)> = cfg
        .wildcard_rewrites
        .iter()
        .map(|(from, to)| (from.clone(), to.replace("{POD_IP}", &ip.to_string())))
        .collect();
    let alias = LoopbackAlias::acquire(ip).map_err(|e| Error::Runtime(e.to_string()))?;
    let pod_dir = cfg.root.join("pods").join(&ns).join(name);
    let (dirs, projected) =
        volumes::materialise(client, &pod, &pod_dir, &cfg.root.join("claims"), &rewrites).await?;
    let mut containers = Vec::new();
    for c in pod
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default()
    {
        let mounts = c
            .volume_mounts
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let base = dirs.get(&m.name)?;
                let host = match m.sub_path.as_deref() {
                    Some(s) if !s.is_empty() => base.join(s),
                    _ => base.clone(),
                };
                Some((m.mount_path, host))
            })
            .collect();
        let scratch = pod_dir.join("containers").join(&c.name);
        std::fs::create_dir_all(&scratch)?;
        let runtime = runtimes.iter().find(|r| r.handles(&c)).cloned();
        let env = env::resolve(client, &ns, name, &ip.to_string(), &c).await?;
        let mut c = c;
        for list in [&mut c.command, &mut c.args] {
            if let Some(l) = list.as_mut() {
                l.iter_mut().for_each(|a| *a = rewrite(a, &rewrites));
            }
        }
        let launch = ContainerLaunch {
            namespace: ns.clone(),
            pod: name.into(),
            ip,
            container: c,
            mounts,
            scratch,
            env,
        };
        containers.push(Container {
            launch,
            runtime,
            process: None,
            restarts: 0,
            last_error: None,
            failures: 0,
            next_start: Instant::now(),
            started_at: Instant::now(),
        });
    }
    let mut rp = RunningPod {
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        generation: sts.metadata.generation.unwrap_or(0),
        ip,
        _alias: alias,
        containers,
        projected,
        pending: BTreeMap::new(),
        annotations: pod.metadata.annotations.clone().unwrap_or_default(),
        ready: false,
        started: crate::store::now_rfc3339(),
        transition: crate::store::now_rfc3339(),
    };
    set_status(api, name, &rp).await;
    start_missing(&mut rp).await;
    let up = rp.all_up();
    rp.set_ready(up);
    set_status(api, name, &rp).await;
    Ok(rp)
}

/// Start every handled container that has no process; true when all are up.
async fn start_missing(rp: &mut RunningPod) {
    for c in &mut rp.containers {
        if c.process.is_some() {
            continue;
        }
        let Some(rt) = c.runtime.clone() else {
            continue;
        };
        if Instant::now() < c.next_start {
            continue;
        }
        let launch = c.launch.clone();
        let err = match tokio::task::spawn_blocking(move || rt.start(&launch)).await {
            Ok(Ok(p)) => {
                c.process = Some(p);
                c.started_at = Instant::now();
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("start task failed: {e}"),
        };
        tracing::warn!(pod = %c.launch.pod, container = %c.launch.container.name, error = %err, "container failed to start");
        c.last_error = Some(err);
        c.failures += 1;
        c.next_start = Instant::now() + backoff(c.failures);
    }
}

async fn supervise(
    client: &Client,
    api: &Api<Pod>,
    cfg: &AgentConfig,
    rp: &mut RunningPod,
    pod: &Pod,
) -> Result<()> {
    let name = pod.name_any();
    // Liveness: a dead process makes the pod not ready, then it is restarted.
    let mut died = false;
    for c in &mut rp.containers {
        if let Some(p) = c.process.as_mut() {
            if !p.is_alive() {
                c.last_error = Some(p.exit_reason().unwrap_or_else(|| "process exited".into()));
                c.process = None;
                c.restarts += 1;
                // like the kubelet's CrashLoopBackOff: quick exits back off, a long run resets
                c.failures = if c.started_at.elapsed() < Duration::from_secs(10) {
                    c.failures + 1
                } else {
                    1
                };
                c.next_start = Instant::now() + backoff(c.failures);
                died = true;
            }
        }
    }
    if died {
        rp.set_ready(false);
        set_status(api, &name, rp).await;
    }
    let now = Instant::now();
    let due = rp
        .containers
        .iter()
        .any(|c| c.runtime.is_some() && c.process.is_none() && now >= c.next_start);
    if due {
        start_missing(rp).await;
        let up = rp.all_up();
        rp.set_ready(up);
        set_status(api, &name, rp).await;
    }
    // Projected volumes: changes land after the sync delay, or at once on a pod update.
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    let poked = annotations != rp.annotations;
    rp.annotations = annotations;
    let ns = pod.namespace().unwrap_or_default();
    let mut seen = HashSet::new();
    let mut wrote = false;
    for (i, v) in rp.projected.iter_mut().enumerate() {
        let Some((rv, files)) = v.fetch(client, &ns).await? else {
            continue;
        };
        if v.written_rv.as_deref() == Some(rv.as_str()) {
            continue;
        }
        seen.insert(i);
        let since = match rp.pending.get(&i) {
            Some((prv, t)) if *prv == rv => *t,
            _ => {
                rp.pending.insert(i, (rv.clone(), Instant::now()));
                Instant::now()
            }
        };
        if poked || since.elapsed() >= cfg.configmap_sync_delay {
            v.write(rv, &files)?;
            rp.pending.remove(&i);
            wrote = true;
        }
    }
    rp.pending.retain(|i, _| seen.contains(i));
    if wrote {
        for p in rp.containers.iter_mut().filter_map(|c| c.process.as_mut()) {
            p.files_changed();
        }
    }
    Ok(())
}
