//! DNS over TCP per RFC 7766: two-byte length framing, any number of queries per connection
//! (answered in order), an idle timeout, and a cap on open connections (a connection over
//! the cap is closed at once, §6.2.2).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::timeout;

use crate::answer::Engine;
use crate::metrics::Counters;
use crate::zone::Store;

/// TCP limits.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    /// Close a connection idle for this long (RFC 7766 §6.2.3 suggests seconds).
    pub idle: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// Accept connections until `stop` changes.
pub async fn serve(
    listener: TcpListener,
    store: Arc<Store>,
    counters: Arc<Counters>,
    limits: TcpLimits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => match r {
                Ok((sock, peer)) => {
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        tracing::debug!(%peer, "TCP connection limit reached, closing");
                        drop(sock);
                        continue;
                    };
                    let (store, counters) = (store.clone(), counters.clone());
                    tokio::spawn(async move {
                        connection(sock, store, counters, limits.idle).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // e.g. EMFILE: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn connection(
    mut sock: TcpStream,
    store: Arc<Store>,
    counters: Arc<Counters>,
    idle: Duration,
) {
    let _ = sock.set_nodelay(true);
    let mut engine = Engine::new();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut frame = Vec::new();
    loop {
        let mut len = [0u8; 2];
        if !matches!(timeout(idle, sock.read_exact(&mut len)).await, Ok(Ok(_))) {
            break;
        }
        buf.resize(u16::from_be_bytes(len) as usize, 0);
        if !matches!(timeout(idle, sock.read_exact(&mut buf)).await, Ok(Ok(_))) {
            break;
        }
        // NOTIFY, AXFR/IXFR and expired zones go to the secondary side.
        if let Some(open) = crate::secondary::hooks::tcp(&buf, &mut sock, &store).await {
            if !open {
                break;
            }
            continue;
        }
        let rc = {
            let snap = store.load();
            engine.answer(&buf, &snap, true, &mut out)
        };
        counters.count(true, rc);
        if rc.is_none() {
            break;
        }
        frame.clear();
        frame.extend_from_slice(&(out.len() as u16).to_be_bytes());
        frame.extend_from_slice(&out);
        if !matches!(timeout(idle, sock.write_all(&frame)).await, Ok(Ok(_))) {
            break;
        }
    }
}
