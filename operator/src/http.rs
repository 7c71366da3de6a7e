//! `/healthz`, `/readyz` and `/metrics` over HTTP/1 (hyper).
//!
//! `/healthz` answers while the process runs; `/readyz` once the operator's caches are synced
//! (standby replicas are ready too: they serve probes and wait for the lease); `/metrics` is
//! the Prometheus text format of [`crate::metrics::Metrics`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// State the probe endpoints read.
#[derive(Clone)]
pub struct Probes {
    pub ready: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
}

fn respond(probes: &Probes, path: &str) -> Response<Full<Bytes>> {
    let (code, ctype, body) = match path {
        "/healthz" | "/livez" => (StatusCode::OK, "text/plain", "ok".to_string()),
        "/readyz" if probes.ready.load(Ordering::Relaxed) => {
            (StatusCode::OK, "text/plain", "ok".to_string())
        }
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "caches not synced".to_string(),
        ),
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            probes.metrics.encode(),
        ),
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found".to_string()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = code;
    if let Ok(v) = ctype.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Binds `addr` and returns the bound address and the serving future.
pub async fn serve(
    addr: SocketAddr,
    probes: Probes,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Runtime(format!("binding {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Runtime(e.to_string()))?;
    let fut = async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let probes = probes.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let resp = respond(&probes, req.uri().path());
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    };
    Ok((local, fut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_answer_by_path_and_readiness() {
        let p = Probes {
            ready: Arc::new(AtomicBool::new(false)),
            metrics: Arc::new(Metrics::new()),
        };
        assert_eq!(respond(&p, "/healthz").status(), StatusCode::OK);
        assert_eq!(
            respond(&p, "/readyz").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        p.ready.store(true, Ordering::Relaxed);
        assert_eq!(respond(&p, "/readyz").status(), StatusCode::OK);
        assert_eq!(respond(&p, "/metrics").status(), StatusCode::OK);
        assert_eq!(respond(&p, "/nope").status(), StatusCode::NOT_FOUND);
    }
}
