//! Bind9Cluster → its managed Bind9Instances (`{cluster}-primary-{i}`,
//! `{cluster}-secondary-{i}`), which ones to delete on scale-down, and the aggregated status.
//!
//! Managed instances carry the seed's labels (`managed-by`, `cluster`, `role`) plus the tier's
//! `labels`, a controller owner reference (so the cluster controller hears about deletions and
//! recreates them: self-healing) and leave `version`/`image`/`config` unset, so they inherit the
//! cluster's settings when the instance is rendered.

use std::collections::BTreeMap;

use bindy_crds::common::{
    is_ready, Condition, ConditionStatus, CONDITION_DEGRADED, CONDITION_PROGRESSING,
    CONDITION_READY,
};
use bindy_crds::{
    Bind9Cluster, Bind9ClusterStatus, Bind9Instance, Bind9InstanceSpec, ServerKind, ServerRole,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::{owner_ref, LABEL_CLUSTER, LABEL_MANAGED_BY, LABEL_ROLE};
use crate::error::Result;

/// Name of the `index`th managed instance of `role`.
pub fn managed_name(cluster: &str, role: ServerRole, index: i32) -> String {
    format!("{cluster}-{}-{index}", role.as_str())
}

/// The instances a cluster wants, in a stable order (primaries first).
pub fn desired_instances(cluster: &Bind9Cluster) -> Result<Vec<Bind9Instance>> {
    let name = cluster.name_any();
    let owner = owner_ref(cluster)?;
    let primary = cluster.spec.primary();
    let mut tiers = vec![(
        ServerRole::Primary,
        primary.replicas,
        primary.labels,
        ServerKind::Bind9,
    )];
    if let Some(s) = &cluster.spec.secondary {
        tiers.push((
            ServerRole::Secondary,
            s.replicas,
            s.labels.clone(),
            s.server,
        ));
    }
    let mut out = Vec::new();
    for (role, replicas, tier_labels, server) in tiers {
        for i in 0..replicas.max(0) {
            let mut labels: BTreeMap<String, String> = tier_labels.clone();
            labels.insert(LABEL_MANAGED_BY.into(), "Bind9Cluster".into());
            labels.insert(LABEL_CLUSTER.into(), name.clone());
            labels.insert(LABEL_ROLE.into(), role.as_str().into());
            out.push(Bind9Instance {
                metadata: ObjectMeta {
                    name: Some(managed_name(&name, role, i)),
                    namespace: cluster.namespace(),
                    labels: Some(labels),
                    owner_references: Some(vec![owner.clone()]),
                    ..Default::default()
                },
                spec: Bind9InstanceSpec {
                    cluster_ref: Some(name.clone()),
                    role,
                    replicas: 1,
                    server: (server != ServerKind::Bind9).then_some(server),
                    ..Default::default()
                },
                status: None,
            });
        }
    }
    Ok(out)
}

/// True when `inst` was created by the cluster `cluster` (label, not just `clusterRef`: a
/// hand-made instance that joins a cluster is never deleted on scale-down).
pub fn is_managed_by(inst: &Bind9Instance, cluster: &str) -> bool {
    let l = inst.labels();
    l.get(LABEL_MANAGED_BY).map(String::as_str) == Some("Bind9Cluster")
        && l.get(LABEL_CLUSTER).map(String::as_str) == Some(cluster)
}

/// Managed instances that exist but are no longer desired (scale-down).
pub fn surplus_instances(
    cluster: &Bind9Cluster,
    existing: &[&Bind9Instance],
) -> Result<Vec<String>> {
    let name = cluster.name_any();
    let desired: Vec<String> = desired_instances(cluster)?
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    let mut out: Vec<String> = existing
        .iter()
        .filter(|i| is_managed_by(i, &name) && !desired.contains(&i.name_any()))
        .map(|i| i.name_any())
        .collect();
    out.sort();
    Ok(out)
}

/// Status of a cluster from the instances that reference it (`clusterRef`).
pub fn aggregate_status(
    cluster: &Bind9Cluster,
    members: &[&Bind9Instance],
    previous: Option<&Bind9ClusterStatus>,
) -> Bind9ClusterStatus {
    let gen = cluster.metadata.generation;
    let mut st = previous.cloned().unwrap_or_default();
    let mut names: Vec<String> = members.iter().map(|i| i.name_any()).collect();
    names.sort();
    let ready = members
        .iter()
        .filter(|i| i.status.as_ref().is_some_and(|s| is_ready(&s.conditions)))
        .count() as i32;
    let wanted = cluster.spec.primary().replicas + cluster.spec.secondary_replicas();
    st.instance_count = names.len() as i32;
    st.ready_instances = ready;
    st.instances = names;
    st.observed_generation = gen;
    let all = ready >= wanted && st.instance_count >= wanted;
    let msg = format!("{ready}/{wanted} instances ready");
    let set = |st: &mut Bind9ClusterStatus, t: &str, s: bool, reason: &str| {
        let status = if s {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        bindy_crds::common::set_condition(
            &mut st.conditions,
            Condition::new(t, status, reason, msg.clone(), gen),
        );
    };
    if all {
        set(&mut st, CONDITION_READY, true, "AllInstancesReady");
        set(&mut st, CONDITION_PROGRESSING, false, "AllInstancesReady");
        set(&mut st, CONDITION_DEGRADED, false, "AllInstancesReady");
    } else {
        set(&mut st, CONDITION_READY, false, "InstancesNotReady");
        set(&mut st, CONDITION_PROGRESSING, true, "InstancesNotReady");
        // Degraded only once something was ready and is not anymore, or partly ready.
        set(&mut st, CONDITION_DEGRADED, ready > 0, "InstancesNotReady");
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindy_crds::{Bind9ClusterSpec, PrimarySpec, SecondarySpec};

    fn cluster(p: i32, s: i32) -> Bind9Cluster {
        let mut c = Bind9Cluster::new(
            "prod",
            Bind9ClusterSpec {
                primary: Some(PrimarySpec {
                    replicas: p,
                    labels: [("tier".to_string(), "p".to_string())].into(),
                }),
                secondary: Some(SecondarySpec {
                    replicas: s,
                    labels: BTreeMap::new(),
                    server: ServerKind::Dnsd,
                }),
                ..Default::default()
            },
        );
        c.metadata.namespace = Some("dns".into());
        c.metadata.uid = Some("uid-1".into());
        c
    }

    #[test]
    fn managed_instances_have_names_labels_owner_and_inherit() {
        let want = desired_instances(&cluster(2, 1)).unwrap();
        let names: Vec<_> = want.iter().map(|i| i.name_any()).collect();
        assert_eq!(
            names,
            ["prod-primary-0", "prod-primary-1", "prod-secondary-0"]
        );
        let p = &want[0];
        assert_eq!(p.labels()[LABEL_MANAGED_BY], "Bind9Cluster");
        assert_eq!(p.labels()[LABEL_CLUSTER], "prod");
        assert_eq!(p.labels()[LABEL_ROLE], "primary");
        assert_eq!(p.labels()["tier"], "p");
        assert_eq!(p.owner_references()[0].uid, "uid-1");
        assert_eq!(p.owner_references()[0].controller, Some(true));
        assert_eq!(p.spec.cluster_ref.as_deref(), Some("prod"));
        assert!(p.spec.version.is_none() && p.spec.config.is_none());
        assert_eq!(want[2].spec.server, Some(ServerKind::Dnsd));
        assert_eq!(want[2].spec.role, ServerRole::Secondary);
    }

    #[test]
    fn scale_down_deletes_only_surplus_managed_instances() {
        let big = desired_instances(&cluster(3, 2)).unwrap();
        let mut hand = big[0].clone();
        hand.metadata.name = Some("hand-made".into());
        hand.metadata.labels = None;
        let mut existing: Vec<&Bind9Instance> = big.iter().collect();
        existing.push(&hand);
        let gone = surplus_instances(&cluster(1, 1), &existing).unwrap();
        assert_eq!(
            gone,
            ["prod-primary-1", "prod-primary-2", "prod-secondary-1"]
        );
    }

    #[test]
    fn status_aggregates_ready_instances() {
        let c = cluster(1, 1);
        let mut insts = desired_instances(&c).unwrap();
        let st = aggregate_status(&c, &insts.iter().collect::<Vec<_>>(), None);
        assert_eq!((st.instance_count, st.ready_instances), (2, 0));
        assert!(!is_ready(&st.conditions));
        for i in &mut insts {
            i.status = Some(bindy_crds::Bind9InstanceStatus {
                conditions: vec![Condition::new(
                    CONDITION_READY,
                    ConditionStatus::True,
                    "Ready",
                    "",
                    None,
                )],
                ..Default::default()
            });
        }
        let st2 = aggregate_status(&c, &insts.iter().collect::<Vec<_>>(), Some(&st));
        assert_eq!(st2.ready_instances, 2);
        assert!(is_ready(&st2.conditions));
        assert_eq!(st2.instances, ["prod-primary-0", "prod-secondary-0"]);
    }
}
