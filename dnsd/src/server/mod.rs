//! The network side: [`Server::start`] binds UDP and TCP on every listen address, runs one
//! UDP worker thread per core and address, and a small tokio runtime (one thread) for TCP
//! and the metrics endpoint. All of it reads the same [`Store`].

pub mod http;
pub mod tcp;
pub mod udp;

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::zone::Store;

pub use tcp::TcpLimits;

/// What to serve on.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// UDP and TCP on each (port 0 picks a free port, the same for UDP and TCP).
    pub listen: Vec<SocketAddr>,
    /// UDP worker threads per address.
    pub workers: usize,
    /// TCP limits.
    pub tcp: TcpLimits,
    /// Prometheus endpoint.
    pub metrics: Option<SocketAddr>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 53))],
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tcp: TcpLimits::default(),
            metrics: None,
        }
    }
}

/// A running server.
pub struct Server {
    stop: Arc<AtomicBool>,
    stop_tx: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
    addrs: Vec<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    metrics: Arc<Metrics>,
}

fn tcp_listener(addr: SocketAddr) -> std::io::Result<StdTcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&addr.into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Bind UDP (first worker) and TCP on the same port; with port 0, retry until both fit.
fn bind_pair(addr: SocketAddr) -> Result<(std::net::UdpSocket, StdTcpListener, SocketAddr)> {
    let err = |source| Error::Socket { addr, source };
    let tries = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let udp = udp::bind(addr).map_err(err)?;
        let actual = udp.local_addr().map_err(err)?;
        match tcp_listener(actual) {
            Ok(tcp) => return Ok((udp, tcp, actual)),
            Err(e) => last = Some(e),
        }
    }
    Err(err(last.unwrap_or_else(|| std::io::Error::other("no port"))))
}

impl Server {
    /// Bind everything and start serving `store`.
    pub fn start(opts: &ServerOptions, store: Arc<Store>) -> Result<Server> {
        let metrics = Arc::new(Metrics::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut threads = Vec::new();
        let mut addrs = Vec::new();
        let mut tcps = Vec::new();
        let workers = opts.workers.max(1);
        let mut udps = Vec::new();
        for &a in &opts.listen {
            let (first, tcp, actual) = bind_pair(a)?;
            udps.push(first);
            for _ in 1..workers {
                udps.push(udp::bind(actual).map_err(|source| Error::Socket {
                    addr: actual,
                    source,
                })?);
            }
            tcps.push(tcp);
            addrs.push(actual);
        }
        let metrics_listener = match opts.metrics {
            Some(m) => {
                let l = tcp_listener(m).map_err(|source| Error::Socket { addr: m, source })?;
                Some(l)
            }
            None => None,
        };
        let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
        for (i, sock) in udps.into_iter().enumerate() {
            let (store, counters, stop) = (store.clone(), metrics.worker(), stop.clone());
            let h = std::thread::Builder::new()
                .name(format!("dnsd-udp-{i}"))
                .spawn(move || udp::run_worker(sock, store, counters, stop))
                .map_err(|e| Error::Config(format!("spawning a worker: {e}")))?;
            threads.push(h);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("tokio runtime: {e}")))?;
        let tcp_counters = metrics.worker();
        let (m2, s2, limits) = (metrics.clone(), store.clone(), opts.tcp);
        let h = std::thread::Builder::new()
            .name("dnsd-tcp".into())
            .spawn(move || {
                rt.block_on(async move {
                    let mut tasks = Vec::new();
                    for l in tcps {
                        match tokio::net::TcpListener::from_std(l) {
                            Ok(l) => tasks.push(tokio::spawn(tcp::serve(
                                l,
                                s2.clone(),
                                tcp_counters.clone(),
                                limits,
                                stop_rx.clone(),
                            ))),
                            Err(e) => tracing::error!(error = %e, "TCP listener"),
                        }
                    }
                    if let Some(l) = metrics_listener {
                        match tokio::net::TcpListener::from_std(l) {
                            Ok(l) => tasks.push(tokio::spawn(http::serve(
                                l,
                                m2,
                                s2.clone(),
                                stop_rx.clone(),
                            ))),
                            Err(e) => tracing::error!(error = %e, "metrics listener"),
                        }
                    }
                    for t in tasks {
                        let _ = t.await;
                    }
                });
            })
            .map_err(|e| Error::Config(format!("spawning the TCP thread: {e}")))?;
        threads.push(h);
        tracing::info!(addrs = ?addrs, workers, metrics = ?metrics_addr, "dnsd serving");
        Ok(Server {
            stop,
            stop_tx,
            threads,
            addrs,
            metrics_addr,
            metrics,
        })
    }

    /// The bound addresses (UDP and TCP share each).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The metrics endpoint's address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Stop serving and wait for the threads (UDP workers notice within 100 ms).
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.stop_tx.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_all();
    }
}
