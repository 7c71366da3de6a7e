//! The handle tests hold: starts the HTTP server and the garbage collector, hands out
//! `kube::Client`s and kubeconfig files, shuts everything down on drop.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::server::{handle, Shared};
use crate::store::Store;

/// Tunables of the double.
#[derive(Debug, Clone)]
pub struct DoubleConfig {
    /// Number of events kept for watch resumption; older resourceVersions get 410 Gone.
    pub history_window: usize,
    /// Interval of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// Period of the garbage collector's pass (it also runs right after each deletion).
    pub gc_interval: Duration,
}

impl Default for DoubleConfig {
    fn default() -> Self {
        Self {
            history_window: 10_000,
            bookmark_interval: Duration::from_secs(2),
            gc_interval: Duration::from_millis(500),
        }
    }
}

/// A running Kubernetes API-server TEST DOUBLE on `http://127.0.0.1:<port>`.
pub struct ApiServerDouble {
    url: String,
    store: Arc<Store>,
    shared: Arc<Shared>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ApiServerDouble {
    /// Start with default settings.
    pub async fn start() -> Result<Self> {
        Self::start_with(DoubleConfig::default()).await
    }

    /// Start with explicit settings.
    pub async fn start_with(cfg: DoubleConfig) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let store = Store::new(cfg.history_window);
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            store: store.clone(),
            addr: addr.to_string(),
            bookmark_interval: cfg.bookmark_interval,
            shutdown: shutdown_rx.clone(),
            pod_logs: std::sync::Mutex::new(None),
        });
        let shared_handle = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // e.g. out of file descriptors: back off instead of spinning
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let gc_store = store.clone();
        let mut gc_shutdown = shutdown_rx;
        let gc = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = gc_store.gc_wake.notified() => {}
                    _ = tokio::time::sleep(cfg.gc_interval) => {}
                    _ = gc_shutdown.changed() => return,
                }
                while gc_store.gc_pass() > 0 {}
            }
        });
        Ok(Self {
            url: format!("http://{addr}"),
            store,
            shared: shared_handle,
            shutdown,
            tasks: vec![accept, gc],
        })
    }

    /// Base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serve `pods/{name}/log` (`kubectl logs`) from a node agent's root folder.
    pub fn serve_pod_logs(&self, agent_root: &Path) {
        *self
            .shared
            .pod_logs
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(agent_root.to_path_buf());
    }

    /// Direct access to the storage (for assertions that bypass HTTP).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A `kube::Client` for this double, default namespace `default`.
    pub fn client(&self) -> Result<kube::Client> {
        // kube's `rustls-tls` feature picks no crypto provider; the client needs one even for
        // plain http. Installing fails harmlessly when one is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut cfg = kube::Config::new(self.url.parse::<http::Uri>()?);
        cfg.default_namespace = "default".into();
        Ok(kube::Client::try_from(cfg)?)
    }

    /// Create (or replace) every object of the YAML manifests at `path` (a file or a folder
    /// of `.yaml`/`.yml` files, multi-document allowed) straight into the store, Namespaces and
    /// CRDs first, then in file order (Kustomization files are skipped): what
    /// `kubectl apply -k` does, without kubectl. Returns `kind/name` per object.
    pub fn apply_manifests(&self, path: &Path) -> Result<Vec<String>> {
        let mut files: Vec<std::path::PathBuf> = if path.is_dir() {
            std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect()
        } else {
            vec![path.to_path_buf()]
        };
        files.sort();
        let mut docs = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f)?;
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let v: serde_json::Value = serde::Deserialize::deserialize(doc)
                    .map_err(|e| Error::Api(format!("{}: {e}", f.display())))?;
                // kustomize's own files are instructions, not objects
                if v.is_null() || v["kind"] == "Kustomization" {
                    continue;
                }
                docs.push(v);
            }
        }
        // like kustomize: namespaces and CRDs before what lives in them
        docs.sort_by_key(|v| match v["kind"].as_str() {
            Some("Namespace") => 0,
            Some("CustomResourceDefinition") => 1,
            _ => 2,
        });
        docs.into_iter().map(|v| self.apply_value(v)).collect()
    }

    fn apply_value(&self, v: serde_json::Value) -> Result<String> {
        let api_version = v["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = v["kind"].as_str().unwrap_or_default().to_string();
        let name = v
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        let rt = self
            .store
            .registry()
            .find_kind(&api_version, &kind)
            .ok_or_else(|| Error::Api(format!("no resource serves {api_version} {kind}")))?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let ns = v
            .pointer("/metadata/namespace")
            .and_then(|n| n.as_str())
            .map(String::from)
            .or_else(|| rt.namespaced.then(|| "default".to_string()));
        let t = self
            .store
            .target(group, version, &rt.plural, ns)
            .ok_or_else(|| Error::Api(format!("no resource serves {api_version} {kind}")))?;
        let result = match self.store.get(&t, &name) {
            Ok(_) => self.store.replace(&t, &name, v, false),
            Err(_) => self.store.create(&t, v),
        };
        result.map_err(|e| Error::Api(e.to_string()))?;
        Ok(format!("{}/{name}", kind.to_lowercase()))
    }

    /// The kubeconfig text pointing at this double (context `kube-double`).
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-double\n  cluster:\n    server: {}\n\
             users:\n- name: kube-double\n  user: {{}}\ncontexts:\n- name: kube-double\n  context:\n    \
             cluster: kube-double\n    user: kube-double\n    namespace: default\ncurrent-context: kube-double\n",
            self.url
        )
    }

    /// Write the kubeconfig to `path` (for `kubectl --kubeconfig` or `KUBECONFIG`).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.kubeconfig())?;
        Ok(())
    }
}

impl Drop for ApiServerDouble {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
