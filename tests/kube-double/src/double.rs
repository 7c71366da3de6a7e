//! The handle tests hold: starts the HTTP server and the garbage collector, hands out
//! `kube::Client`s and kubeconfig files, shuts everything down on drop.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::Result;
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
        });
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
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
            shutdown,
            tasks: vec![accept, gc],
        })
    }

    /// Base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
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
