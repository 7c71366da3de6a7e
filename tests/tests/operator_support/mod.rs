//! Shared set-up of the operator's end-to-end tests: the API-server TEST DOUBLE with Bindy's
//! CRDs, the node agent running real `named` for the StatefulSets the operator creates, and the
//! operator itself in-process (the same `run_operator` the `bindy` binary runs).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bindy_crds::{ARecord, RecordType};
use bindy_kube_double::agent::named::NamedRuntime;
use bindy_kube_double::agent::{AgentConfig, NodeAgent, Runtime};
use bindy_kube_double::ApiServerDouble;
use bindy_operator::bind9::update::Updater;
use bindy_operator::bind9::wire::DnsConnection;
use bindy_operator::leader::LeaseSettings;
use bindy_operator::metrics::Metrics;
use bindy_operator::reconcile::run_operator;
use bindy_operator::resources::instance::Settings;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::Client;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Poll `f` until it returns Some or `deadline` passes (20 ms between tries).
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

/// True when named/dig/rndc exist; in CI their absence fails the test.
pub fn tools_present() -> bool {
    let ok = bindy_tests::named::require_tools(&["named", "dig"]);
    assert!(
        ok || std::env::var("CI").as_deref() != Ok("true"),
        "named and dig are required in CI"
    );
    ok
}

/// The test bed: double (+ node agent) with the CRDs installed.
pub struct Bed {
    pub double: ApiServerDouble,
    pub client: Client,
    pub root: tempfile::TempDir,
    pub settings: Settings,
    agent: Option<NodeAgent>,
}

impl Bed {
    pub async fn start(with_agent: bool) -> Bed {
        bindy_operator::telemetry::init(
            bindy_operator::telemetry::LogFormat::Text,
            "warn,bindy_operator=info",
        );
        let double = ApiServerDouble::start().await.expect("double starts");
        let client = double.client().expect("client");
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in bindy_crds::generate::crds().expect("CRDs generate") {
            crds.create(&PostParams::default(), &crd)
                .await
                .expect("CRD created");
        }
        let root = tempfile::tempdir().expect("tempdir");
        // rndc addzone arguments reach named unmapped: the bootstrap file must exist at the
        // path the operator names, so the test bed gives it a host path.
        let bootstrap = root.path().join("bootstrap.db");
        std::fs::write(&bootstrap, bindy_operator::bind9::zonefile::BOOTSTRAP).expect("bootstrap");
        let settings = Settings {
            bootstrap_file: bootstrap.display().to_string(),
            ..Settings::default()
        };
        let agent = with_agent.then(|| {
            let mut cfg = AgentConfig::new(root.path().join("node"));
            cfg.configmap_sync_delay = Duration::from_secs(1);
            let runtimes: Vec<Arc<dyn Runtime>> = vec![Arc::new(NamedRuntime::default())];
            NodeAgent::start(client.clone(), runtimes, cfg)
        });
        Bed {
            double,
            client,
            root,
            settings,
            agent,
        }
    }

    /// Starts an operator replica in-process; `lease_secs` turns on leader election.
    pub fn operator(&self, identity: &str, lease_secs: Option<u64>) -> Operator {
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let metrics = Arc::new(Metrics::new());
        let lease = lease_secs.map(|d| LeaseSettings {
            name: "bindy-leader".into(),
            namespace: "default".into(),
            identity: identity.into(),
            duration_secs: d,
            grace_secs: 1,
        });
        let task = tokio::spawn(run_operator(
            self.client.clone(),
            self.settings.clone(),
            metrics.clone(),
            identity.into(),
            lease,
            async move {
                let _ = rx.wait_for(|v| *v).await;
            },
        ));
        Operator {
            identity: identity.into(),
            task,
            stop: tx,
            metrics,
        }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), "default")
    }

    /// Creates any object given as JSON (typed by `K`).
    pub async fn create<K>(&self, v: Value) -> K
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        <K as kube::Resource>::DynamicType: Default,
    {
        let obj: K = serde_json::from_value(v).expect("object JSON");
        self.api::<K>()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create")
    }
}

/// One in-process operator replica.
pub struct Operator {
    pub identity: String,
    pub task: tokio::task::JoinHandle<bindy_operator::Result<()>>,
    stop: tokio::sync::watch::Sender<bool>,
    pub metrics: Arc<Metrics>,
}

impl Operator {
    /// A crash: the task is dropped mid-flight, nothing is released (the lease runs out).
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

/// `dig +short` against `ip:53` (empty on NXDOMAIN/NODATA, None when dig fails).
pub fn dig(ip: &str, name: &str, rtype: &str) -> Option<Vec<String>> {
    let out = std::process::Command::new("dig")
        .args([
            &format!("@{ip}"),
            "-p",
            "53",
            name,
            rtype,
            "+short",
            "+time=1",
            "+tries=1",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

/// `status.conditions[type=Ready].status == "True"` on any object (as JSON).
pub fn is_ready(v: &Value) -> bool {
    condition(v, "Ready").is_some_and(|c| c["status"] == "True")
}

/// The condition of `type_`, if any.
pub fn condition(v: &Value, type_: &str) -> Option<Value> {
    v["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

/// Waits until the object `name` of `K` satisfies `pred` (JSON view); returns it.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    deadline: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Option<Value>
where
    K: kube::Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    eventually(deadline, || async {
        let o = api.get_opt(name).await.ok()??;
        let v = serde_json::to_value(&o).ok()?;
        pred(&v).then_some(v)
    })
    .await
}

pub fn cluster(name: &str, primaries: i32, secondaries: i32) -> Value {
    serde_json::json!({
        "apiVersion": "bindy.firestoned.io/v1beta1", "kind": "Bind9Cluster",
        "metadata": {"name": name},
        "spec": {"version": "9.18", "primary": {"replicas": primaries},
                 "secondary": {"replicas": secondaries}}
    })
}

pub fn zone(name: &str, origin: &str, cluster: &str, app: &str) -> Value {
    serde_json::json!({
        "apiVersion": "bindy.firestoned.io/v1beta1", "kind": "DNSZone",
        "metadata": {"name": name},
        "spec": {"zoneName": origin, "clusterRef": cluster, "ttl": 60,
                 "soaRecord": {"primaryNs": format!("ns1.{origin}."), "adminEmail": format!("hostmaster@{origin}"),
                               "refresh": 3600, "retry": 600, "expire": 604800, "negativeTtl": 60},
                 "recordsFrom": [{"selector": {"matchLabels": {"app": app}}}]}
    })
}

pub fn a_record(name: &str, owner: &str, ip: &str, app: &str) -> Value {
    serde_json::json!({
        "apiVersion": "bindy.firestoned.io/v1beta1", "kind": "ARecord",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"name": owner, "ipv4Addresses": [ip]}
    })
}

/// The first pod IP of an instance's status.
pub fn pod_ip(instance: &Value) -> Option<String> {
    instance["status"]["podIps"][0].as_str().map(str::to_string)
}

/// Does `server` answer `owner`.example.com A (TCP, one query)?
pub async fn answers(server: SocketAddr, owner: &str) -> bool {
    let Ok(mut conn) = DnsConnection::connect(server, None, Duration::from_secs(1)).await else {
        return false;
    };
    matches!(
        Updater::query(&mut conn, "example.com", owner, RecordType::A).await,
        Ok(Some(_))
    )
}

/// Time from `t0` until `server` answers `owner` (polled every millisecond, bounded by
/// `deadline`).
pub async fn wait_answer(
    server: SocketAddr,
    owner: &str,
    t0: Instant,
    deadline: Duration,
) -> Option<Duration> {
    while t0.elapsed() < deadline {
        if answers(server, owner).await {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// The `p` quantile (0..=1) of `v` (sorted in place).
pub fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// A `usize` from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Creates `n` ARecords `b{i}` one after another and measures, for each, the time from its
/// create to an answer by each of `servers` (role, address); one series per server.
pub async fn record_latencies(
    bed: &Bed,
    servers: &[(&str, SocketAddr)],
    n: usize,
    deadline: Duration,
) -> Vec<Vec<Duration>> {
    let mut series = vec![Vec::with_capacity(n); servers.len()];
    for i in 0..n {
        let owner = format!("b{i}");
        let t0 = Instant::now();
        let _r: ARecord = bed
            .create(a_record(
                &owner,
                &owner,
                &format!("198.51.100.{}", i % 250 + 1),
                "web",
            ))
            .await;
        for ((role, server), s) in servers.iter().zip(series.iter_mut()) {
            let took = wait_answer(*server, &owner, t0, deadline).await;
            s.push(took.unwrap_or_else(|| {
                panic!("{owner} not answered by the {role} {server} within {deadline:?}")
            }));
        }
    }
    series
}

/// A workspace binary beside the test's own (`target/<profile>/NAME`, built by
/// `cargo build --workspace`), or the path in `env_var`.
pub fn workspace_bin(name: &str, env_var: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env_var) {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join(name);
    p.exists().then_some(p)
}
