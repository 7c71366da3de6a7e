//! Pure desired-state builders: from observed objects to the children and status the operator
//! wants. No I/O here, so every rule is unit-tested without an API server; the reconcilers in
//! [`crate::reconcile`] only fetch inputs and apply the outputs (server-side apply, field
//! manager [`FIELD_MANAGER`]).
//!
//! - [`cluster`]: managed instances of a Bind9Cluster, scale-down set, aggregated status.
//! - [`instance`]: StatefulSet, Services, ConfigMap (named.conf + zone files) of an instance.
//! - [`keys`]: the TSIG/rndc key Secret (generated when absent, parsed back).
//! - [`zone`]: record selection, conflict detection, zone data and placement.

pub mod cluster;
pub mod instance;
pub mod keys;
pub mod zone;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use kube::core::{Selector, SelectorExt};
use kube::{Resource, ResourceExt};

use crate::error::{Error, Result};

/// Field manager of every server-side apply and status patch the operator sends.
pub const FIELD_MANAGER: &str = "bindy";
/// Label prefix of the operator's labels.
pub const LABEL_PREFIX: &str = "bindy.firestoned.io";
/// Who manages an instance (`Bind9Cluster` for managed instances).
pub const LABEL_MANAGED_BY: &str = "bindy.firestoned.io/managed-by";
/// The cluster a managed instance belongs to.
pub const LABEL_CLUSTER: &str = "bindy.firestoned.io/cluster";
/// `primary` / `secondary`.
pub const LABEL_ROLE: &str = "bindy.firestoned.io/role";
/// The Bind9Instance a pod / child belongs to.
pub const LABEL_INSTANCE: &str = "bindy.firestoned.io/instance";
/// Standard label the node agent (and people) select Bindy workloads by.
pub const LABEL_PART_OF: &str = "app.kubernetes.io/part-of";
/// Standard component label: `bind9` or `dnsd`.
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// Pod template annotation holding a hash of the rendered configuration: a change rolls the
/// pods so BIND reads the new named.conf (until zones are added by rndc, see docs/operator.md).
pub const ANNOTATION_CONFIG_HASH: &str = "bindy.firestoned.io/config-hash";
/// DNSZone annotation changed whenever the zone was (re)created on some primary pod: records
/// of the zone are pushed again (their fingerprint includes it).
pub const ANNOTATION_ZONE_EPOCH: &str = "bindy.firestoned.io/zone-epoch";
/// Finalizer of Bind9Cluster (cascade deletion of its instances).
pub const FINALIZER_CLUSTER: &str = "bindy.firestoned.io/cluster-instances";
/// Finalizer of records (the RRset is removed from BIND before the object goes).
pub const FINALIZER_RECORD: &str = "bindy.firestoned.io/record";
/// Finalizer of zones (records are released before the zone goes).
pub const FINALIZER_ZONE: &str = "bindy.firestoned.io/zone";

/// Controller owner reference to `owner` (blocks owner deletion in foreground GC).
pub fn owner_ref<K: Resource<DynamicType = ()>>(owner: &K) -> Result<OwnerReference> {
    owner
        .controller_owner_ref(&())
        .ok_or_else(|| Error::InvalidInput(format!("{} has no uid yet", owner.name_any())))
}

/// True when `labels` match a Kubernetes label selector (an empty selector matches all).
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    match Selector::try_from(sel.clone()) {
        Ok(s) => s.matches(labels),
        // An unparsable selector (e.g. an unknown operator) matches nothing rather than all.
        Err(_) => false,
    }
}

/// FNV-1a 64-bit over `parts`: a stable, dependency-free content hash for annotations.
pub fn content_hash<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let empty = LabelSelector::default();
        assert!(selector_matches(&empty, &labels(&[])));
        let sel = LabelSelector {
            match_labels: Some(labels(&[("zone", "example")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["test".into()]),
            }]),
        };
        assert!(selector_matches(&sel, &labels(&[("zone", "example")])));
        assert!(!selector_matches(
            &sel,
            &labels(&[("zone", "example"), ("tier", "test")])
        ));
        assert!(!selector_matches(&sel, &labels(&[("zone", "other")])));
    }

    #[test]
    fn content_hash_is_stable_and_separates_parts() {
        assert_eq!(content_hash(["a", "b"]), content_hash(["a", "b"]));
        assert_ne!(content_hash(["ab", ""]), content_hash(["a", "b"]));
    }
}
