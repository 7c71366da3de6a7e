//! The `/metrics` (Prometheus), `/health` (liveness) and `/ready` (readiness) endpoints.
//!
//! Hand-written on tokio: two fixed GET paths, one request per connection, bounded in size
//! and time. An HTTP framework (hyper/axum) would add a large dependency tree for that.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::timeout;

use crate::metrics::Metrics;
use crate::zone::Store;

/// Serve until `stop` changes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    store: Arc<Store>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => {
                let Ok((mut sock, _)) = r else { continue };
                let (metrics, store) = (metrics.clone(), store.clone());
                tokio::spawn(async move {
                    let mut req = vec![0u8; 2048];
                    let mut got = 0;
                    // Bounded: at most 2 KiB and 5 s for the request head.
                    while got < req.len() && !req[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                        match timeout(Duration::from_secs(5), sock.read(&mut req[got..])).await {
                            Ok(Ok(n)) if n > 0 => got += n,
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&req[..got]);
                    let path = head.split_whitespace().nth(1).unwrap_or("");
                    let (status, body) = match path {
                        "/metrics" => {
                            let snap = store.snapshot();
                            let mut zones: Vec<(String, u32)> = snap.iter().map(|z| (z.name(), z.serial)).collect();
                            zones.sort();
                            ("200 OK", metrics.render(&zones) + &crate::secondary::hooks::metrics_text())
                        }
                        // Liveness: this thread answers, so the process serves.
                        "/health" => ("200 OK", "ok\n".to_string()),
                        "/ready" => crate::secondary::hooks::readiness()
                            .unwrap_or(("200 OK", "ok\n".to_string())),
                        _ => ("404 Not Found", "not found\n".to_string()),
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = timeout(Duration::from_secs(5), sock.write_all(resp.as_bytes())).await;
                });
            }
        }
    }
}
