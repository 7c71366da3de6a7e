//! Leader election on a coordination.k8s.io Lease (kube-lease-manager): only the holder runs
//! the controllers; standby replicas keep serving probes and take over within the lease
//! duration (15 s by default) when the holder stops renewing.

use std::future::Future;
use std::sync::Arc;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    /// Seconds a lease stays valid after its last renewal.
    pub duration_secs: u64,
    /// Seconds before expiry at which the holder renews.
    pub grace_secs: u64,
}

/// Runs `lead(stop)` each time this replica becomes leader; `stop` resolves when leadership
/// is lost, and the next term waits until `lead` has returned. Returns when `shutdown` resolves.
pub async fn run<L, F>(
    client: Client,
    s: LeaseSettings,
    metrics: Arc<Metrics>,
    lead: L,
    shutdown: impl Future<Output = ()>,
) -> Result<()>
where
    L: Fn(futures::future::BoxFuture<'static, ()>) -> F,
    F: Future<Output = ()>,
{
    let manager = LeaseManagerBuilder::new(client, &s.name)
        .with_namespace(&s.namespace)
        .with_identity(&s.identity)
        .with_duration(s.duration_secs)
        .with_grace(s.grace_secs)
        .build()
        .await
        .map_err(|e| Error::Runtime(format!("lease manager: {e}")))?;
    let (mut rx, handle) = manager.watch().await;
    // If this future is dropped (a crash in tests, a runtime shutdown), the renewal task must
    // die with it, or the lease would be renewed by a replica that no longer works.
    let mut guard = AbortOnDrop(Some(handle));
    let work = async {
        loop {
            if rx.wait_for(|leader| *leader).await.is_err() {
                return;
            }
            tracing::info!(identity = %s.identity, lease = %s.name, "became leader");
            metrics.leader.set(1);
            let mut lost = rx.clone();
            let stop: futures::future::BoxFuture<'static, ()> = Box::pin(async move {
                let _ = lost.wait_for(|leader| !*leader).await;
            });
            lead(stop).await;
            metrics.leader.set(0);
            tracing::warn!(identity = %s.identity, "leadership lost, controllers stopped");
        }
    };
    tokio::select! {
        _ = work => {}
        _ = shutdown => {}
    }
    metrics.leader.set(0);
    // Dropping the receiver makes the manager release the lease so a standby takes over at once.
    drop(rx);
    if let Some(handle) = guard.0.take() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), handle).await;
    }
    Ok(())
}

/// Aborts the task when dropped.
pub struct AbortOnDrop<T>(pub Option<tokio::task::JoinHandle<T>>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}
