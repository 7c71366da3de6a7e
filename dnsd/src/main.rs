//! `dnsd`: serve zones from master files.
//!
//! `dnsd --listen 127.0.0.1:5353 --zone example.com=example.com.zone [--workers N]
//! [--metrics 127.0.0.1:9153]` or `dnsd --config dnsd.toml`. SIGHUP reloads the zone
//! files (a file that fails to load keeps its previous version serving); SIGTERM or
//! SIGINT stops gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use dnsd::config::{Config, ZoneConfig};
use dnsd::server::Server;
use dnsd::zone::{load_file, Store, ZoneSet};

#[derive(Parser, Debug)]
#[command(name = "dnsd", version, about = "Bindy's authoritative DNS server")]
struct Args {
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to serve UDP and TCP on (repeatable).
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// Zone to serve: NAME=PATH to a master file (repeatable).
    #[arg(long, value_name = "NAME=PATH")]
    zone: Vec<String>,
    /// UDP worker threads per listen address (default: number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Prometheus /metrics endpoint address.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
    /// Secondary mode: --secondary, --catalog, --tsig-key, --state-dir, --notify, --allow-transfer.
    #[command(flatten)]
    secondary: dnsd::secondary::SecondaryArgs,
}

fn load_all(zones: &[ZoneConfig], previous: Option<&ZoneSet>) -> Result<ZoneSet, String> {
    let mut set = ZoneSet::default();
    let mut failed = Vec::new();
    for z in zones {
        match load_file(&z.name, &z.file) {
            Ok(zone) => {
                tracing::info!(zone = %zone.name(), serial = zone.serial, records = zone.records, "zone loaded");
                set.insert(Arc::new(zone));
            }
            Err(e) => {
                tracing::error!(zone = %z.name, error = %e, "zone rejected");
                let key = dnsd::name::from_text(&z.name, Some(dnsd::name::ROOT))
                    .map(|n| dnsd::name::lower(&n));
                match (previous, key) {
                    (Some(prev), Ok(k)) if prev.get(&k).is_some() => {
                        tracing::warn!(zone = %z.name, "keeping the previous version");
                        if let Some(old) = prev.get(&k) {
                            set.insert(old.clone());
                        }
                    }
                    _ => failed.push(e.to_string()),
                }
            }
        }
    }
    // Parsing leaves much freed heap behind; hand it back to the OS (glibc keeps it otherwise).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; no pointers are invalidated.
    unsafe {
        libc::malloc_trim(0);
    }
    if failed.is_empty() {
        Ok(set)
    } else {
        Err(failed.join("; "))
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if args.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dnsd: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(mut args: Args) -> Result<(), String> {
    let mut cfg = match &args.config {
        Some(p) => Config::from_file(p).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    cfg.listen.extend(args.listen.iter().copied());
    for z in &args.zone {
        cfg.zones
            .push(Config::parse_zone_flag(z).map_err(|e| e.to_string())?);
    }
    if args.workers.is_some() {
        cfg.workers = args.workers;
    }
    if args.metrics.is_some() {
        cfg.metrics = args.metrics;
    }
    args.secondary.merge_file(cfg.secondary.as_ref());
    if cfg.zones.is_empty() && args.secondary.is_empty() {
        return Err("no zones configured (--zone NAME=PATH or [[zone]] in --config)".into());
    }
    let set = load_all(&cfg.zones, None)?;
    let store = Arc::new(Store::new(set));
    // Stored secondary zones are published before the server answers its first query.
    let secondary = args
        .secondary
        .start(store.clone())
        .map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // Install the signal handlers before announcing the addresses: a SIGHUP that arrived
    // before them would kill the process (default action) instead of reloading.
    let (mut term, mut int, mut hup) = {
        use tokio::signal::unix::{signal, SignalKind};
        let _rt = rt.enter();
        let (Ok(term), Ok(int), Ok(hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            return Err("cannot install signal handlers".to_string());
        };
        (term, int, hup)
    };
    let server = Server::start(&cfg.server_options(), store.clone()).map_err(|e| e.to_string())?;
    for a in server.addrs() {
        println!("dnsd listening on {a} (udp+tcp)");
    }
    if let Some(m) = server.metrics_addr() {
        println!("dnsd metrics on http://{m}/metrics");
    }
    rt.block_on(async {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading zones");
                    let prev = store.snapshot();
                    if let Ok(mut set) = load_all(&cfg.zones, Some(&prev)) {
                        dnsd::secondary::keep_followed(&mut set, &prev);
                        store.publish(set);
                    }
                }
            }
        }
    });
    tracing::info!("shutting down");
    server.shutdown();
    drop(secondary);
    Ok(())
}
