//! Zone-side decisions: which instances serve a zone, which records it selects (and which it
//! must release), which records conflict, and the zone's skeleton data.
//!
//! Records of the eight kinds are seen through one kind-neutral [`RecordEntry`], so selection
//! and conflict rules are written once. Rules:
//! - A record belongs to at most one zone: a record whose `status.zoneRef` names another zone
//!   is never stolen (the first zone to select it keeps it until it stops matching there).
//! - A record whose owner name falls outside the zone is not selected (reported, not pushed).
//! - Conflicts inside a zone: two objects claiming the same name+type, or a CNAME beside other
//!   data at a name (RFC 1034 §3.6.2). The oldest object (creation time, then kind/name) wins;
//!   the others get a `Conflict` condition instead of fighting over the RRset.

use std::collections::BTreeMap;

use bindy_crds::common::ZoneRef;
use bindy_crds::model::{is_in_zone, owner_fqdn, RecordSet, RecordType};
use bindy_crds::{Bind9Instance, DNSZone, DnsRecord, ServerRole};
use kube::ResourceExt;

use super::selector_matches;
use crate::bind9::{NameServer, Soa, ZoneData};

/// Identity of a record object: (kind, namespace, name).
pub type RecordKey = (&'static str, String, String);

/// A record object of any kind, as the zone logic needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordEntry {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339 creation time (sorts chronologically), empty when unknown.
    pub created: String,
    pub set: RecordSet,
    pub zone_ref: Option<ZoneRef>,
    pub deleting: bool,
    /// `Ready=True` in the record's status.
    pub ready: bool,
}

impl RecordEntry {
    /// Builds the entry of any record kind.
    pub fn of<K: DnsRecord>(r: &K) -> Self {
        RecordEntry {
            kind: kind_name::<K>(),
            namespace: r.namespace().unwrap_or_default(),
            name: r.name_any(),
            labels: r.labels().clone(),
            created: r
                .meta()
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
            set: r.record_set(),
            zone_ref: r.zone_ref().cloned(),
            deleting: r.meta().deletion_timestamp.is_some(),
            ready: r
                .record_status()
                .is_some_and(|s| bindy_crds::common::is_ready(&s.conditions)),
        }
    }

    pub fn key(&self) -> RecordKey {
        (self.kind, self.namespace.clone(), self.name.clone())
    }

    fn age_key(&self) -> (&str, &str, &str) {
        (
            if self.created.is_empty() {
                "~"
            } else {
                &self.created
            },
            self.kind,
            &self.name,
        )
    }
}

/// The kind name of a record type (`ARecord`, ...), static for use in keys.
pub fn kind_name<K: DnsRecord>() -> &'static str {
    match K::RECORD_TYPE {
        RecordType::A => "ARecord",
        RecordType::Aaaa => "AAAARecord",
        RecordType::Cname => "CNAMERecord",
        RecordType::Mx => "MXRecord",
        RecordType::Txt => "TXTRecord",
        RecordType::Ns => "NSRecord",
        RecordType::Srv => "SRVRecord",
        RecordType::Caa => "CAARecord",
    }
}

/// True when `zone_ref` points at this DNSZone object.
pub fn refers_to(zone_ref: Option<&ZoneRef>, zone: &DNSZone) -> bool {
    zone_ref.is_some_and(|z| {
        Some(&z.namespace) == zone.metadata.namespace.as_ref()
            && Some(&z.name) == zone.metadata.name.as_ref()
    })
}

/// The `status.zoneRef` a zone writes into the records it selects.
pub fn zone_ref_of(zone: &DNSZone) -> ZoneRef {
    ZoneRef::new(
        &zone.namespace().unwrap_or_default(),
        &zone.name_any(),
        &zone.spec.origin(),
    )
}

/// True when the record's labels match one of the zone's `recordsFrom` selectors.
pub fn zone_selects_labels(zone: &DNSZone, labels: &BTreeMap<String, String>) -> bool {
    zone.spec
        .records_from
        .iter()
        .any(|s| selector_matches(&s.selector, labels))
}

/// What a zone does with the records of its namespace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    /// Records that belong to the zone (already claimed or to be claimed).
    pub selected: Vec<RecordKey>,
    /// Selected records whose `status.zoneRef` must be set to this zone.
    pub to_claim: Vec<RecordKey>,
    /// Records claimed by this zone that no longer match: remove from BIND, clear zoneRef.
    pub to_release: Vec<RecordKey>,
    /// Matching records whose owner name lies outside the zone.
    pub out_of_zone: Vec<RecordKey>,
}

/// Evaluates the zone's selectors over `entries` (any namespace; others are ignored).
pub fn select(zone: &DNSZone, entries: &[&RecordEntry]) -> Selection {
    let ns = zone.namespace().unwrap_or_default();
    let origin = zone.spec.origin();
    let mut sel = Selection::default();
    for e in entries.iter().filter(|e| e.namespace == ns) {
        let mine = refers_to(e.zone_ref.as_ref(), zone);
        let matches = !e.deleting && zone_selects_labels(zone, &e.labels);
        if !matches {
            if mine && !e.deleting {
                sel.to_release.push(e.key());
            } else if mine {
                // Deleting: the record's own finalizer removes it; it still counts.
                sel.selected.push(e.key());
            }
            continue;
        }
        if e.zone_ref.is_some() && !mine {
            continue;
        }
        if !is_in_zone(&owner_fqdn(&e.set.name, &origin), &origin) {
            if mine {
                sel.to_release.push(e.key());
            }
            sel.out_of_zone.push(e.key());
            continue;
        }
        if !mine {
            sel.to_claim.push(e.key());
        }
        sel.selected.push(e.key());
    }
    sel
}

/// Records of one zone that lose a conflict, with the reason. `entries` are the zone's records.
pub fn conflicts(origin: &str, entries: &[&RecordEntry]) -> BTreeMap<RecordKey, String> {
    let mut by_name: BTreeMap<String, Vec<&RecordEntry>> = BTreeMap::new();
    for e in entries {
        by_name
            .entry(owner_fqdn(&e.set.name, origin))
            .or_default()
            .push(e);
    }
    let mut out = BTreeMap::new();
    for (fqdn, mut group) in by_name {
        group.sort_by(|a, b| a.age_key().cmp(&b.age_key()));
        let oldest = group[0];
        let oldest_is_cname = oldest.set.record_type == RecordType::Cname;
        let mut owners: BTreeMap<RecordType, &RecordEntry> = BTreeMap::new();
        for e in &group {
            let t = e.set.record_type;
            if let Some(first) = owners.get(&t) {
                out.insert(
                    e.key(),
                    format!(
                        "{fqdn} {t} is already claimed by {}/{}",
                        first.kind, first.name
                    ),
                );
                continue;
            }
            let cname_clash = if oldest_is_cname {
                !std::ptr::eq(*e, oldest)
            } else {
                t == RecordType::Cname
            };
            if cname_clash {
                out.insert(
                    e.key(),
                    format!(
                        "{fqdn}: a CNAME cannot coexist with other data (older: {}/{})",
                        oldest.kind, oldest.name
                    ),
                );
                continue;
            }
            owners.insert(t, e);
        }
    }
    out
}

/// The instances serving a zone: `clusterRef` members plus `bind9InstancesFrom` matches,
/// same namespace, not being deleted, sorted by name.
pub fn instances_for_zone<'a>(
    zone: &DNSZone,
    instances: &[&'a Bind9Instance],
) -> Vec<&'a Bind9Instance> {
    let ns = zone.namespace();
    let mut out: Vec<&Bind9Instance> = instances
        .iter()
        .copied()
        .filter(|i| i.namespace() == ns && i.metadata.deletion_timestamp.is_none())
        .filter(|i| {
            let by_cluster =
                zone.spec.cluster_ref.is_some() && i.spec.cluster_ref == zone.spec.cluster_ref;
            let by_selector = zone
                .spec
                .bind9_instances_from
                .iter()
                .flatten()
                .any(|s| selector_matches(&s.selector, i.labels()));
            by_cluster || by_selector
        })
        .collect();
    out.sort_by_key(|i| i.name_any());
    out
}

/// Ready pod IPs of the instances of `role`, sorted and deduplicated.
pub fn pod_ips(instances: &[&Bind9Instance], role: ServerRole) -> Vec<String> {
    let mut ips: Vec<String> = instances
        .iter()
        .filter(|i| i.spec.role == role)
        .filter_map(|i| i.status.as_ref())
        .flat_map(|s| s.pod_ips.iter().cloned())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// The zone's skeleton (SOA + apex NS + glue) with `serial`; records are added by UPDATE.
/// Without `nameServers`, the apex NS is `soaRecord.primaryNs`, glued (when inside the zone)
/// to `default_glue`, the first primary's address.
pub fn skeleton(zone: &DNSZone, serial: u32, default_glue: Option<std::net::IpAddr>) -> ZoneData {
    let s = &zone.spec.soa_record;
    let mut name_servers: Vec<NameServer> = zone
        .spec
        .name_servers
        .iter()
        .map(|n| NameServer {
            hostname: n.hostname.clone(),
            ipv4: n.ipv4_address,
            ipv6: n.ipv6_address,
        })
        .collect();
    if name_servers.is_empty() {
        name_servers.push(NameServer {
            hostname: s.primary_ns.clone(),
            ipv4: default_glue.and_then(|ip| match ip {
                std::net::IpAddr::V4(v4) => Some(v4),
                std::net::IpAddr::V6(_) => None,
            }),
            ipv6: default_glue.and_then(|ip| match ip {
                std::net::IpAddr::V6(v6) => Some(v6),
                std::net::IpAddr::V4(_) => None,
            }),
        });
    }
    ZoneData {
        origin: zone.spec.origin(),
        ttl: zone.spec.ttl,
        soa: Soa {
            primary_ns: s.primary_ns.clone(),
            admin_email: s.admin_email.clone(),
            serial,
            refresh: s.refresh,
            retry: s.retry,
            expire: s.expire,
            negative_ttl: s.negative_ttl,
        },
        name_servers,
        records: Vec::new(),
    }
}

#[cfg(test)]
#[path = "zone_tests.rs"]
mod tests;
