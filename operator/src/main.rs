//! `bindy`: the Bindy operator binary. Flags (or env vars) choose the images, DNS/rndc ports,
//! log format, probe address and leader election.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bindy_operator::http::{serve, Probes};
use bindy_operator::leader::LeaseSettings;
use bindy_operator::metrics::Metrics;
use bindy_operator::reconcile::run_operator;
use bindy_operator::resources::instance::Settings;
use bindy_operator::telemetry::{self, LogFormat};
use bindy_operator::{Error, Result};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "bindy",
    version,
    about = "Kubernetes operator running BIND9 (and dnsd secondaries)"
)]
struct Args {
    /// BIND9 image repository (the instance's version is the tag).
    #[arg(
        long,
        env = "BINDY_BIND9_IMAGE",
        default_value = "docker.io/internetsystemsconsortium/bind9"
    )]
    bind9_image: String,
    /// dnsd image for `server: dnsd` secondaries.
    #[arg(
        long,
        env = "BINDY_DNSD_IMAGE",
        default_value = "ghcr.io/firestoned/dnsd:latest"
    )]
    dnsd_image: String,
    /// DNS port of the managed servers.
    #[arg(long, env = "BINDY_DNS_PORT", default_value_t = 53)]
    dns_port: u16,
    /// rndc port of the managed BIND9 servers.
    #[arg(long, env = "BINDY_RNDC_PORT", default_value_t = 953)]
    rndc_port: u16,
    /// Catalog zone name (RFC 9432) primaries serve and secondaries follow.
    #[arg(long, env = "BINDY_CATALOG", default_value = "catalog.bindy.local")]
    catalog: String,
    /// Bootstrap zone file path as named sees it (used in `rndc addzone`).
    #[arg(
        long,
        env = "BINDY_BOOTSTRAP_FILE",
        default_value = "/etc/bind/bootstrap.db"
    )]
    bootstrap_file: String,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "BINDY_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Log format.
    #[arg(long, env = "BINDY_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Disable leader election (single replica only).
    #[arg(long, env = "BINDY_NO_LEADER_ELECTION")]
    no_leader_election: bool,
    /// Lease name.
    #[arg(long, env = "BINDY_LEASE_NAME", default_value = "bindy-leader")]
    lease_name: String,
    /// Lease namespace (default: the pod's namespace, else `default`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Lease duration in seconds.
    #[arg(long, env = "BINDY_LEASE_SECONDS", default_value_t = 15)]
    lease_seconds: u64,
    /// This replica's identity (default: the pod name / host name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
}

fn main() {
    let args = Args::parse();
    telemetry::init(args.log_format, "info,kube_runtime=warn");
    // kube's TLS stack (rustls) panics at the first client without a process-wide crypto
    // provider; an Err only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bindy: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(args)) {
        tracing::error!(error = %e, "bindy stopped");
        std::process::exit(1);
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn run(args: Args) -> Result<()> {
    let client = kube::Client::try_default().await?;
    let identity = args.identity.clone().unwrap_or_else(|| {
        std::env::var("HOSTNAME").unwrap_or_else(|_| format!("bindy-{}", std::process::id()))
    });
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let (addr, http) = serve(
        args.http_addr,
        Probes {
            ready: ready.clone(),
            metrics: metrics.clone(),
        },
    )
    .await?;
    tokio::spawn(http);
    tracing::info!(%addr, %identity, "serving /healthz /readyz /metrics");
    client
        .apiserver_version()
        .await
        .map_err(|e| Error::Runtime(format!("API server unreachable: {e}")))?;
    ready.store(true, Ordering::Relaxed);
    let settings = Settings {
        bind9_image: args.bind9_image.clone(),
        dnsd_image: args.dnsd_image.clone(),
        dns_port: args.dns_port,
        rndc_port: args.rndc_port,
        catalog: args.catalog.clone(),
        bootstrap_file: args.bootstrap_file.clone(),
    };
    let lease = (!args.no_leader_election).then(|| LeaseSettings {
        name: args.lease_name.clone(),
        namespace: args.lease_namespace.clone(),
        identity: identity.clone(),
        duration_secs: args.lease_seconds,
        grace_secs: (args.lease_seconds / 5).clamp(1, 5),
    });
    run_operator(
        client,
        settings,
        metrics,
        identity,
        lease,
        shutdown_signal(),
    )
    .await
}
