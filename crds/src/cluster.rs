//! `Bind9Cluster`: a named group of primaries and secondaries that share a version, image and
//! server options. The operator turns `primary.replicas` / `secondary.replicas` into managed
//! `Bind9Instance`s named `{cluster}-primary-{i}` / `{cluster}-secondary-{i}`.
//!
//! The option types here ([`ImageSpec`], [`Bind9Config`], [`ServerKind`]) are also used by
//! `Bind9Instance`, whose values override the cluster's (see [`Bind9Config::or`]).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AddressMatch, Condition, ADDRESS_MATCH_PATTERN, VERSION_PATTERN};
use crate::Result;

/// Which server software runs an instance. Primaries are always BIND9 (dnsd has no UPDATE
/// path); a secondary tier may be dnsd, Bindy's own authoritative server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    #[default]
    Bind9,
    Dnsd,
}

/// Container image of the BIND9 pods. dnsd pods use the operator's configured dnsd image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageSpec {
    /// Full image reference; default: the operator's BIND9 image tagged with `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// Kubernetes image pull policy; default: the kubelet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
}

/// `imagePullPolicy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// The string Kubernetes expects in a container spec.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// Server options rendered into named.conf (and applied by dnsd where meaningful).
/// Unset fields inherit from the cluster's `global`, then from the defaults given below.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bind9Config {
    /// Answer recursive queries; default false (authoritative only). Ignored by dnsd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursion: Option<bool>,
    /// Clients allowed to query: `any`, `none`, addresses or CIDR prefixes; default `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(pattern(ADDRESS_MATCH_PATTERN)))]
    pub allow_query: Option<Vec<String>>,
    /// Clients allowed to transfer zones (in addition to TSIG-authenticated secondaries);
    /// default `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(pattern(ADDRESS_MATCH_PATTERN)))]
    pub allow_transfer: Option<Vec<String>>,
}

impl Bind9Config {
    /// Field-wise override: values set in `self` win, unset ones come from `base`.
    pub fn or(&self, base: &Bind9Config) -> Bind9Config {
        Bind9Config {
            recursion: self.recursion.or(base.recursion),
            allow_query: self
                .allow_query
                .clone()
                .or_else(|| base.allow_query.clone()),
            allow_transfer: self
                .allow_transfer
                .clone()
                .or_else(|| base.allow_transfer.clone()),
        }
    }

    /// Effective recursion flag (default false).
    pub fn recursion(&self) -> bool {
        self.recursion.unwrap_or(false)
    }

    /// Parsed `allowQuery`, default `[any]`.
    pub fn allow_query(&self) -> Result<Vec<AddressMatch>> {
        parse_list(self.allow_query.as_deref(), AddressMatch::Any)
    }

    /// Parsed `allowTransfer`, default `[none]`.
    pub fn allow_transfer(&self) -> Result<Vec<AddressMatch>> {
        parse_list(self.allow_transfer.as_deref(), AddressMatch::None)
    }
}

fn parse_list(list: Option<&[String]>, default: AddressMatch) -> Result<Vec<AddressMatch>> {
    match list {
        None => Ok(vec![default]),
        Some(items) => items.iter().map(|s| AddressMatch::parse(s)).collect(),
    }
}

/// The primary tier of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrimarySpec {
    /// Number of primary `Bind9Instance`s.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 16))]
    pub replicas: i32,
    /// Labels put on the managed instances (so `DNSZone.spec.bind9InstancesFrom` can select them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Default for PrimarySpec {
    fn default() -> Self {
        PrimarySpec {
            replicas: 1,
            labels: BTreeMap::new(),
        }
    }
}

/// The secondary tier of a cluster; it follows the primaries by NOTIFY and zone transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecondarySpec {
    /// Number of secondary `Bind9Instance`s (0 for none).
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 64))]
    pub replicas: i32,
    /// Labels put on the managed instances.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Server software of this tier: `bind9` (default) or `dnsd`.
    #[serde(default)]
    pub server: ServerKind,
}

fn one() -> i32 {
    1
}

/// Desired state of a Bind9Cluster.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "bindy.firestoned.io",
    version = "v1beta1",
    kind = "Bind9Cluster",
    namespaced,
    derive = "PartialEq",
    status = "Bind9ClusterStatus",
    shortname = "b9c",
    category = "bindy",
    doc = "A group of BIND9 primaries and BIND9/dnsd secondaries managed together.",
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(
        name = "Primaries",
        type_ = "integer",
        json_path = ".spec.primary.replicas"
    ),
    printcolumn(
        name = "Secondaries",
        type_ = "integer",
        json_path = ".spec.secondary.replicas"
    ),
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
pub struct Bind9ClusterSpec {
    /// BIND9 version, used as the image tag when `image.image` is unset (e.g. `9.18`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), pattern(VERSION_PATTERN))]
    pub version: Option<String>,
    /// Image of the BIND9 pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSpec>,
    /// Primary tier (default: one primary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<PrimarySpec>,
    /// Secondary tier (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<SecondarySpec>,
    /// Server options for every instance of the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<Bind9Config>,
}

/// Observed state of a Bind9Cluster, aggregated from its instances.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bind9ClusterStatus {
    /// Current conditions, one per type (`Ready`, `Progressing`, `Degraded`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Number of instances belonging to the cluster.
    #[serde(default)]
    pub instance_count: i32,
    /// Number of those that are Ready.
    #[serde(default)]
    pub ready_instances: i32,
    /// Names of the instances, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
}

impl Bind9ClusterSpec {
    /// Primary tier with defaults applied.
    pub fn primary(&self) -> PrimarySpec {
        self.primary.clone().unwrap_or_default()
    }

    /// Number of secondaries (0 when the tier is absent).
    pub fn secondary_replicas(&self) -> i32 {
        self.secondary.as_ref().map_or(0, |s| s.replicas)
    }
}
