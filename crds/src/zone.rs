//! `DNSZone`: one authoritative zone, the instances that serve it and the records it selects.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{
    email_to_rname, Condition, DNS_NAME_PATTERN, EMAIL_PATTERN, IPV4_PATTERN, IPV6_PATTERN, MAX_TTL,
};
use crate::{Error, Result};

/// Start of authority parameters (RFC 1035 §3.3.13). The serial is managed by the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.retry < self.refresh", "message": "retry must be less than refresh"},
    {"rule": "self.expire > self.refresh", "message": "expire must be greater than refresh"}
]))]
pub struct SoaRecord {
    /// MNAME: the primary name server, fully qualified (e.g. `ns1.example.com.`).
    #[schemars(length(min = 1, max = 253), pattern(DNS_NAME_PATTERN))]
    pub primary_ns: String,
    /// RNAME as an e-mail address (e.g. `hostmaster@example.com`).
    #[schemars(length(min = 3, max = 253), pattern(EMAIL_PATTERN))]
    pub admin_email: String,
    /// Minimum serial. Optional: the operator keeps the serial in `status.serial` and bumps it
    /// on every change; a value here only raises the floor (useful when migrating a zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u32>,
    /// Seconds between secondaries' SOA checks.
    #[serde(default = "default_refresh")]
    #[schemars(range(min = 1, max = MAX_TTL))]
    pub refresh: u32,
    /// Seconds before a failed refresh is retried.
    #[serde(default = "default_retry")]
    #[schemars(range(min = 1, max = MAX_TTL))]
    pub retry: u32,
    /// Seconds after which secondaries stop answering without a successful refresh.
    #[serde(default = "default_expire")]
    #[schemars(range(min = 1, max = MAX_TTL))]
    pub expire: u32,
    /// Negative-caching TTL (RFC 2308), the SOA MINIMUM field.
    #[serde(default = "default_negative_ttl")]
    #[schemars(range(min = 0, max = MAX_TTL))]
    pub negative_ttl: u32,
}

fn default_refresh() -> u32 {
    3600
}
fn default_retry() -> u32 {
    600
}
fn default_expire() -> u32 {
    604_800
}
fn default_negative_ttl() -> u32 {
    300
}
fn default_ttl() -> u32 {
    3600
}

impl SoaRecord {
    /// The RNAME in domain-name form (`hostmaster.example.com.`).
    pub fn rname(&self) -> Result<String> {
        email_to_rname(&self.admin_email)
    }

    /// The cross-field rules of the schema's CEL validation, in Rust (for objects that did not
    /// pass through the API server).
    pub fn timers_valid(&self) -> bool {
        self.retry < self.refresh && self.expire > self.refresh
    }
}

/// An authoritative name server of the zone: an apex NS record, plus glue when the
/// name server lies inside the zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NameServer {
    /// Host name of the name server (e.g. `ns2.example.com.`).
    #[schemars(length(min = 1, max = 253), pattern(DNS_NAME_PATTERN))]
    pub hostname: String,
    /// Glue A record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", pattern(IPV4_PATTERN))]
    pub ipv4_address: Option<Ipv4Addr>,
    /// Glue AAAA record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", pattern(IPV6_PATTERN))]
    pub ipv6_address: Option<Ipv6Addr>,
}

/// A label selector over objects in the zone's namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelectorSource {
    pub selector: LabelSelector,
}

impl SelectorSource {
    /// True when `labels` match this selector (an empty selector matches everything, as in
    /// Kubernetes).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> Result<bool> {
        let selector = Selector::try_from(self.selector.clone())
            .map_err(|e| Error::InvalidSpec(format!("label selector: {}", e.0)))?;
        Ok(selector.matches(labels))
    }
}

/// True when any of `sources` matches `labels`; an invalid selector is an error, not a miss.
fn any_matches(sources: &[SelectorSource], labels: &BTreeMap<String, String>) -> Result<bool> {
    for s in sources {
        if s.matches(labels)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Desired state of a DNSZone.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "bindy.firestoned.io",
    version = "v1beta1",
    kind = "DNSZone",
    plural = "dnszones",
    namespaced,
    derive = "PartialEq",
    status = "DNSZoneStatus",
    shortname = "dnsz",
    shortname = "zone",
    category = "bindy",
    doc = "An authoritative DNS zone served by BIND9 primaries and their secondaries.",
    printcolumn(name = "Zone", type_ = "string", json_path = ".spec.zoneName"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Records", type_ = "integer", json_path = ".status.recordCount"),
    printcolumn(
        name = "Serial",
        type_ = "integer",
        json_path = ".status.serial",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.clusterRef) || has(self.bind9InstancesFrom)",
     "message": "set clusterRef or bind9InstancesFrom to choose the instances serving the zone"}
]))]
pub struct DNSZoneSpec {
    /// The zone's domain name (e.g. `example.com`); a trailing dot is optional. Immutable:
    /// renaming a served zone is a delete and a create, so it is done with a new DNSZone.
    #[schemars(length(min = 1, max = 253), pattern(DNS_NAME_PATTERN))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "zoneName is immutable; create a new DNSZone instead"}
    ]))]
    pub zone_name: String,
    pub soa_record: SoaRecord,
    /// Default TTL of the zone's records ($TTL).
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 0, max = MAX_TTL))]
    pub ttl: u32,
    /// Bind9Cluster (same namespace) whose instances serve the zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(DNS_NAME_PATTERN))]
    pub cluster_ref: Option<String>,
    /// Apex NS records (with glue). Default: `soaRecord.primaryNs` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub name_servers: Vec<NameServer>,
    /// Records (of the 8 record kinds, same namespace) matching any of these selectors belong
    /// to the zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub records_from: Vec<SelectorSource>,
    /// Bind9Instances (same namespace) matching any of these selectors serve the zone, in
    /// addition to the instances of `clusterRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    pub bind9_instances_from: Option<Vec<SelectorSource>>,
}

/// Observed state of a DNSZone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DNSZoneStatus {
    /// Current conditions, one per type (`Ready`, `Progressing`, `Degraded`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Records currently selected by `recordsFrom`.
    #[serde(default)]
    pub record_count: i32,
    /// SOA serial last written to the primaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u32>,
    /// Names of the Bind9Instances the zone is configured on (to remove it from instances that
    /// stop matching).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
    /// Pod IPs of the secondaries: the primaries' `also-notify` and transfer ACL follow this.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondary_ips: Vec<String>,
}

impl DNSZoneSpec {
    /// The zone name, absolute and lower-case (`example.com.`).
    pub fn origin(&self) -> String {
        crate::model::absolute(&self.zone_name).to_ascii_lowercase()
    }

    /// Rust form of the spec's CEL rule (instances must be chosen somehow).
    pub fn has_instance_source(&self) -> bool {
        self.cluster_ref.is_some() || self.bind9_instances_from.is_some()
    }

    /// True when a record with these labels belongs to the zone (`recordsFrom`).
    pub fn selects_record(&self, labels: &BTreeMap<String, String>) -> Result<bool> {
        any_matches(&self.records_from, labels)
    }

    /// True when a Bind9Instance with these labels serves the zone through
    /// `bind9InstancesFrom` (instances of `clusterRef` are matched by the cluster instead).
    pub fn selects_instance(&self, labels: &BTreeMap<String, String>) -> Result<bool> {
        any_matches(
            self.bind9_instances_from.as_deref().unwrap_or_default(),
            labels,
        )
    }

    /// The spec's CEL rules in Rust (instance source, SOA timer order).
    pub fn validate(&self) -> Result<()> {
        if !self.has_instance_source() {
            return Err(Error::InvalidSpec(
                "set clusterRef or bind9InstancesFrom to choose the instances serving the zone"
                    .into(),
            ));
        }
        if self.soa_record.retry >= self.soa_record.refresh {
            return Err(Error::InvalidSpec("retry must be less than refresh".into()));
        }
        if self.soa_record.expire <= self.soa_record.refresh {
            return Err(Error::InvalidSpec(
                "expire must be greater than refresh".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn source(
        match_labels: &[(&str, &str)],
        exprs: Vec<LabelSelectorRequirement>,
    ) -> SelectorSource {
        SelectorSource {
            selector: LabelSelector {
                match_labels: Some(labels(match_labels)),
                match_expressions: Some(exprs),
            },
        }
    }

    #[test]
    fn selectors_match_like_kubernetes() {
        let zone = source(&[("zone", "example.com")], vec![]);
        assert!(zone
            .matches(&labels(&[("zone", "example.com"), ("x", "y")]))
            .unwrap());
        assert!(!zone.matches(&labels(&[("zone", "example.org")])).unwrap());
        let not_prod = source(
            &[],
            vec![LabelSelectorRequirement {
                key: "env".into(),
                operator: "NotIn".into(),
                values: Some(vec!["prod".into()]),
            }],
        );
        assert!(not_prod.matches(&labels(&[])).unwrap());
        assert!(!not_prod.matches(&labels(&[("env", "prod")])).unwrap());
        let broken = source(
            &[],
            vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "Near".into(),
                values: None,
            }],
        );
        assert!(
            broken.matches(&labels(&[])).is_err(),
            "an invalid operator is reported"
        );
        assert!(
            SelectorSource::default()
                .matches(&labels(&[("any", "thing")]))
                .unwrap(),
            "empty selects all"
        );
    }
}
