//! Bind9Cluster controller: keeps the managed instances as the spec says (create, scale down,
//! recreate when deleted: self-healing), deletes every instance of the cluster before the
//! cluster goes (finalizer: the seed's cascade deletion flow), aggregates instance status.

use std::sync::Arc;

use bindy_crds::{Bind9Cluster, Bind9Instance};
use futures::StreamExt;
use kube::api::{Api, DeleteParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::ResourceExt;

use super::{apply, error_policy, instrumented, patch_status, RESYNC};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::resources::cluster::{aggregate_status, desired_instances, surplus_instances};
use crate::resources::FINALIZER_CLUSTER;

/// Runs the controller until `stop` resolves.
pub async fn run(
    ctx: Arc<Context>,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    Controller::new(
        Api::<Bind9Cluster>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<Bind9Instance>::all(client.clone()),
        watcher::Config::default(),
    )
    // Hand-made members (clusterRef without owner reference) count in the status too.
    .watches(
        Api::<Bind9Instance>::all(client),
        watcher::Config::default(),
        |i| {
            let ns = i.namespace()?;
            i.spec
                .cluster_ref
                .as_ref()
                .map(|c| ObjectRef::new(c).within(&ns))
        },
    )
    .graceful_shutdown_on(stop)
    .run(reconcile, error_policy, ctx)
    .for_each(|_| async {})
    .await;
}

async fn reconcile(cluster: Arc<Bind9Cluster>, ctx: Arc<Context>) -> Result<Action> {
    let c = cluster.clone();
    instrumented("cluster", c.as_ref(), &ctx.clone(), async move {
        let ns = cluster.namespace().unwrap_or_default();
        let api: Api<Bind9Cluster> = Api::namespaced(ctx.client.clone(), &ns);
        super::with_finalizer(
            &api,
            FINALIZER_CLUSTER,
            cluster,
            |c| {
                let ctx = ctx.clone();
                async move { apply_cluster(&c, &ctx).await }
            },
            |c| {
                let ctx = ctx.clone();
                async move { cleanup(&c, &ctx).await }
            },
        )
        .await
    })
    .await
}

fn members(ctx: &Context, cluster: &Bind9Cluster) -> Vec<Arc<Bind9Instance>> {
    let ns = cluster.namespace();
    let name = cluster.name_any();
    ctx.stores
        .instances
        .state()
        .into_iter()
        .filter(|i| i.namespace() == ns && i.spec.cluster_ref.as_deref() == Some(name.as_str()))
        .collect()
}

async fn apply_cluster(cluster: &Bind9Cluster, ctx: &Context) -> Result<Action> {
    let ns = cluster.namespace().unwrap_or_default();
    let inst_api: Api<Bind9Instance> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = members(ctx, cluster);
    let existing_names: Vec<String> = existing.iter().map(|i| i.name_any()).collect();
    for want in desired_instances(cluster)? {
        let name = want.name_any();
        let recreated = !existing_names.contains(&name);
        apply(&inst_api, &want).await?;
        if recreated {
            ctx.event(
                cluster,
                false,
                "InstanceCreated",
                format!("created managed instance {name}"),
            )
            .await;
        }
    }
    let refs: Vec<&Bind9Instance> = existing.iter().map(|i| i.as_ref()).collect();
    for name in surplus_instances(cluster, &refs)? {
        match inst_api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {
                ctx.event(
                    cluster,
                    false,
                    "InstanceDeleted",
                    format!("scaled down: deleted {name}"),
                )
                .await
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    let members = members(ctx, cluster);
    let refs: Vec<&Bind9Instance> = members.iter().map(|i| i.as_ref()).collect();
    let status = aggregate_status(cluster, &refs, cluster.status.as_ref());
    if cluster.status.as_ref() != Some(&status) {
        let api: Api<Bind9Cluster> = Api::namespaced(ctx.client.clone(), &ns);
        patch_status(
            &api,
            &cluster.name_any(),
            serde_json::to_value(&status).map_err(|e| Error::Runtime(e.to_string()))?,
        )
        .await?;
    }
    Ok(Action::requeue(RESYNC))
}

/// Deletes every instance with this `clusterRef`; keeps failing (so the finalizer stays) until
/// they are all gone.
async fn cleanup(cluster: &Bind9Cluster, ctx: &Context) -> Result<Action> {
    let ns = cluster.namespace().unwrap_or_default();
    let name = cluster.name_any();
    let api: Api<Bind9Instance> = Api::namespaced(ctx.client.clone(), &ns);
    // Read the API, not the cache: the finalizer must not go while an instance still exists.
    let remaining: Vec<Bind9Instance> = api
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|i| i.spec.cluster_ref.as_deref() == Some(name.as_str()))
        .collect();
    if remaining.is_empty() {
        ctx.event(
            cluster,
            false,
            "ClusterDeleted",
            "all instances deleted".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    for i in &remaining {
        if i.metadata.deletion_timestamp.is_none() {
            match api.delete(&i.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Err(Error::Waiting(format!(
        "{} instance(s) of cluster {name} still being deleted",
        remaining.len()
    )))
}
