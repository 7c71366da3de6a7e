//! `Bind9Instance`: one DNS server deployment (a StatefulSet of BIND9 or dnsd pods with its
//! Services and config). Created by hand or managed by a `Bind9Cluster`.

use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cluster::{Bind9ClusterSpec, Bind9Config, ImageSpec, ServerKind};
use crate::common::{Condition, DNS_NAME_PATTERN, IP_PATTERN, VERSION_PATTERN};
use crate::{Error, Result};

/// Role of an instance in zone replication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServerRole {
    /// Holds the master copy; receives RFC 2136 UPDATEs from the operator and sends NOTIFY.
    #[default]
    Primary,
    /// Follows primaries by NOTIFY and AXFR/IXFR.
    Secondary,
}

impl ServerRole {
    /// `"primary"` / `"secondary"`, as in the `bindy.firestoned.io/role` label.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerRole::Primary => "primary",
            ServerRole::Secondary => "secondary",
        }
    }
}

/// Persistent volume for zone files and journals, so a restarted pod loses no update.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Volume size (default `1Gi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// StorageClass of the claim (default: the cluster's default class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_NAME_PATTERN))]
    pub storage_class_name: Option<String>,
}

/// Desired state of a Bind9Instance.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "bindy.firestoned.io",
    version = "v1beta1",
    kind = "Bind9Instance",
    namespaced,
    derive = "PartialEq",
    status = "Bind9InstanceStatus",
    shortname = "b9i",
    category = "bindy",
    doc = "One BIND9 (or dnsd) server deployment: StatefulSet, Services and configuration.",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.clusterRef"),
    printcolumn(name = "Role", type_ = "string", json_path = ".spec.role"),
    printcolumn(name = "Server", type_ = "string", json_path = ".spec.server"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.server) || self.server == 'bind9' || self.role == 'secondary'",
     "message": "server: dnsd is only allowed for role: secondary"},
    {"rule": "!has(self.primaryServers) || self.role == 'secondary'",
     "message": "primaryServers is only allowed for role: secondary"}
]))]
pub struct Bind9InstanceSpec {
    /// Name of the Bind9Cluster (same namespace) this instance belongs to and inherits from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_NAME_PATTERN))]
    pub cluster_ref: Option<String>,
    /// `primary` or `secondary`. Immutable: a running server's zones, keys and storage are
    /// laid out for its role.
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "role is immutable; create a new Bind9Instance instead"}
    ]))]
    pub role: ServerRole,
    /// Pods in the StatefulSet (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 64))]
    pub replicas: i32,
    /// BIND9 version (overrides the cluster's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), pattern(VERSION_PATTERN))]
    pub version: Option<String>,
    /// BIND9 image (overrides the cluster's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSpec>,
    /// Server software: `bind9` (default) or `dnsd` (secondaries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerKind>,
    /// Server options (override the cluster's `global`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Bind9Config>,
    /// Primaries to transfer from, for a secondary outside a cluster (within a cluster the
    /// operator uses the cluster's primaries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "Option<Vec<String>>",
        length(min = 1, max = 16),
        inner(pattern(IP_PATTERN))
    )]
    pub primary_servers: Option<Vec<IpAddr>>,
    /// Persistent storage for zone data and journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
}

fn one() -> i32 {
    1
}

/// Observed state of a Bind9Instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bind9InstanceStatus {
    /// Current conditions, one per type (`Ready`, `Progressing`, `Degraded`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready pods of the StatefulSet.
    #[serde(default)]
    pub ready_replicas: i32,
    /// IPs of the ready pods (targets of NOTIFY, sources of transfers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<String>,
    /// Cluster IP or DNS name of the client Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_address: Option<String>,
}

impl Bind9InstanceSpec {
    /// The spec's CEL rules in Rust: dnsd and `primaryServers` only for secondaries.
    pub fn validate(&self) -> Result<()> {
        if self.role == ServerRole::Primary && self.server() == ServerKind::Dnsd {
            return Err(Error::InvalidSpec(
                "server: dnsd is only allowed for role: secondary".into(),
            ));
        }
        if self.role == ServerRole::Primary && self.primary_servers.is_some() {
            return Err(Error::InvalidSpec(
                "primaryServers is only allowed for role: secondary".into(),
            ));
        }
        Ok(())
    }

    /// Effective server software (`bind9` unless set).
    pub fn server(&self) -> ServerKind {
        self.server.unwrap_or_default()
    }

    /// Effective server options: this instance's, then the cluster's `global`.
    pub fn effective_config(&self, cluster: Option<&Bind9ClusterSpec>) -> Bind9Config {
        let own = self.config.clone().unwrap_or_default();
        match cluster.and_then(|c| c.global.as_ref()) {
            Some(global) => own.or(global),
            None => own,
        }
    }

    /// Effective version: this instance's, then the cluster's.
    pub fn effective_version<'a>(
        &'a self,
        cluster: Option<&'a Bind9ClusterSpec>,
    ) -> Option<&'a str> {
        self.version
            .as_deref()
            .or_else(|| cluster.and_then(|c| c.version.as_deref()))
    }

    /// Effective image settings: fields set here win over the cluster's.
    pub fn effective_image(&self, cluster: Option<&Bind9ClusterSpec>) -> ImageSpec {
        let own = self.image.clone().unwrap_or_default();
        let base = cluster.and_then(|c| c.image.clone()).unwrap_or_default();
        ImageSpec {
            image: own.image.or(base.image),
            image_pull_policy: own.image_pull_policy.or(base.image_pull_policy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::PullPolicy;
    use crate::AddressMatch;

    #[test]
    fn instance_settings_override_the_cluster_field_by_field() {
        let cluster = Bind9ClusterSpec {
            version: Some("9.18".into()),
            image: Some(ImageSpec {
                image: Some("bind:1".into()),
                image_pull_policy: Some(PullPolicy::Always),
            }),
            global: Some(Bind9Config {
                recursion: Some(true),
                allow_query: Some(vec!["10.0.0.0/8".into()]),
                allow_transfer: None,
            }),
            ..Default::default()
        };
        let inst = Bind9InstanceSpec {
            role: ServerRole::Secondary,
            image: Some(ImageSpec {
                image: None,
                image_pull_policy: Some(PullPolicy::Never),
            }),
            config: Some(Bind9Config {
                allow_query: Some(vec!["any".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let cfg = inst.effective_config(Some(&cluster));
        assert!(cfg.recursion(), "inherited from the cluster");
        assert_eq!(
            cfg.allow_query().unwrap(),
            vec![AddressMatch::Any],
            "the instance wins"
        );
        assert_eq!(
            cfg.allow_transfer().unwrap(),
            vec![AddressMatch::None],
            "default"
        );
        assert_eq!(inst.effective_version(Some(&cluster)), Some("9.18"));
        let img = inst.effective_image(Some(&cluster));
        assert_eq!(
            (img.image.as_deref(), img.image_pull_policy),
            (Some("bind:1"), Some(PullPolicy::Never))
        );
        assert!(
            !inst.effective_config(None).recursion(),
            "recursion is off by default"
        );
        assert_eq!(inst.server(), ServerKind::Bind9);
    }
}
