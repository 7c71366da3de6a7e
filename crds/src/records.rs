//! The eight record kinds (ARecord … CAARecord) and the [`DnsRecord`] trait that turns each of
//! them into the kind-neutral [`RecordSet`], so the operator has one code path for all eight.
//!
//! Every kind has the same shape: `spec.name` (owner name, `@` for the apex), optional
//! `spec.ttl`, kind-specific rdata fields, and the shared [`RecordStatus`]. The `record_kind!`
//! macro writes that shared part once; each kind only lists its rdata fields and how they map
//! to [`RecordData`].

use std::fmt::Debug;
use std::net::{Ipv4Addr, Ipv6Addr};

use kube::CustomResource;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::common::{
    is_dns_name, is_record_name, Condition, ZoneRef, DNS_NAME_PATTERN, IPV4_PATTERN, IPV6_PATTERN,
    MAX_TTL, RECORD_NAME_PATTERN, TARGET_PATTERN,
};
use crate::model::{owner_fqdn, RecordData, RecordSet, RecordType};
use crate::{Error, Result};

/// Message of the CNAMERecord CEL rule `self.name != '@'` (and of the Rust check).
pub const CNAME_APEX_MESSAGE: &str = "a CNAME cannot be at the zone apex (RFC 1912 2.4)";
/// Message of the NSRecord CEL rule `self.name != '@'` (and of the Rust check).
pub const NS_APEX_MESSAGE: &str =
    "apex NS records come from DNSZone.spec.nameServers; NSRecord is for delegations";

/// Observed state shared by the eight record kinds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordStatus {
    /// Current conditions, one per type (`Ready`, `Progressing`, `Degraded`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The DNSZone that selected this record; set by the zone reconciler, read by the record
    /// reconciler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_ref: Option<ZoneRef>,
    /// Absolute owner name the record was published under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
}

/// What every record kind offers to the operator: owner name, TTL and rdata, as one
/// [`RecordSet`].
pub trait DnsRecord:
    kube::Resource<DynamicType = ()>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The DNS type of every rdata of this kind.
    const RECORD_TYPE: RecordType;
    /// `spec.name` as written (`@`, relative, or absolute).
    fn record_name(&self) -> &str;
    /// `spec.ttl`; `None` means the zone's default.
    fn ttl(&self) -> Option<u32>;
    /// The rdatas, in spec order.
    fn rdata(&self) -> Vec<RecordData>;
    /// The status, when one was written.
    fn record_status(&self) -> Option<&RecordStatus>;

    /// The RRset this object declares.
    fn record_set(&self) -> RecordSet {
        RecordSet {
            name: self.record_name().to_string(),
            record_type: Self::RECORD_TYPE,
            ttl: self.ttl(),
            data: self.rdata(),
        }
    }

    /// `status.zoneRef`, when a zone has selected this record.
    fn zone_ref(&self) -> Option<&ZoneRef> {
        self.record_status().and_then(|s| s.zone_ref.as_ref())
    }

    /// The checks the API server applies to this kind (name syntax, TTL range, names inside
    /// rdata, the apex rule for CNAME/NS), in Rust: the record reconciler re-checks objects
    /// before touching DNS, since an object may predate the CRD's current validation.
    fn validate(&self) -> Result<()> {
        let set = self.record_set();
        let bad = |why: &str| {
            Err(Error::InvalidRecord(format!(
                "{} {:?}: {why}",
                Self::RECORD_TYPE,
                set.name
            )))
        };
        if !is_record_name(&set.name) {
            return bad("invalid owner name");
        }
        if set.ttl.is_some_and(|t| t > MAX_TTL) {
            return bad("ttl above 2147483647");
        }
        if set.data.is_empty() {
            return bad("no data");
        }
        if set.name == "@" {
            match Self::RECORD_TYPE {
                RecordType::Cname => return bad(CNAME_APEX_MESSAGE),
                RecordType::Ns => return bad(NS_APEX_MESSAGE),
                _ => {}
            }
        }
        for d in &set.data {
            let ok = match d {
                RecordData::Cname { target } => is_dns_name(target),
                RecordData::Ns { nameserver } => is_dns_name(nameserver),
                RecordData::Mx { exchange: t, .. } | RecordData::Srv { target: t, .. } => {
                    t == "." || is_dns_name(t)
                }
                RecordData::Txt { strings } => !strings.is_empty(),
                RecordData::A(_) | RecordData::Aaaa(_) | RecordData::Caa { .. } => true,
            };
            if !ok {
                return bad("invalid data");
            }
        }
        Ok(())
    }

    /// Absolute owner name within `zone` (see [`owner_fqdn`]).
    fn fqdn_in(&self, zone: &str) -> String {
        owner_fqdn(self.record_name(), zone)
    }
}

/// Defines one record kind: the spec struct with the shared `name` / `ttl` fields plus the
/// listed rdata fields, and its [`DnsRecord`] impl.
macro_rules! record_kind {
    (
        $(#[$meta:meta])*
        kind = $kind:literal, doc = $doc:literal, spec = $spec:ident, root = $root:ident, rtype = $rtype:expr,
        shortname = $short:literal,
        data_column = ($col:literal, $path:literal),
        fields { $($(#[$fmeta:meta])* pub $field:ident : $fty:ty,)* }
        rdata(|$s:ident| $rdata:expr)
    ) => {
        #[doc = concat!("Desired state of a ", $kind, ".")]
        #[derive(CustomResource, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[kube(
            group = "bindy.firestoned.io",
            version = "v1beta1",
            kind = $kind,
            namespaced,
            derive = "PartialEq",
            status = "RecordStatus",
            shortname = $short,
            category = "bindy",
            doc = $doc,
            printcolumn(name = "Name", type_ = "string", json_path = ".spec.name"),
            printcolumn(name = "Zone", type_ = "string", json_path = ".status.zoneRef.zoneName"),
            printcolumn(name = $col, type_ = "string", json_path = $path),
            printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
            printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
        )]
        #[serde(rename_all = "camelCase")]
        $(#[$meta])*
        pub struct $spec {
            /// Owner name: `@` for the zone apex, a name relative to the zone (`www`), a
            /// wildcard (`*`, `*.dev`) or an absolute name inside the zone (`www.example.com.`).
            #[schemars(length(min = 1, max = 253), pattern(RECORD_NAME_PATTERN))]
            pub name: String,
            /// TTL in seconds; default: the zone's TTL.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(range(min = 0, max = MAX_TTL))]
            pub ttl: Option<u32>,
            $($(#[$fmeta])* pub $field: $fty,)*
        }

        impl DnsRecord for $root {
            const RECORD_TYPE: RecordType = $rtype;
            fn record_name(&self) -> &str {
                &self.spec.name
            }
            fn ttl(&self) -> Option<u32> {
                self.spec.ttl
            }
            fn rdata(&self) -> Vec<RecordData> {
                let $s = &self.spec;
                $rdata
            }
            fn record_status(&self) -> Option<&RecordStatus> {
                self.status.as_ref()
            }
        }
    };
}

record_kind! {
    kind = "ARecord", doc = "IPv4 addresses (type A) of one owner name.",
    spec = ARecordSpec, root = ARecord, rtype = RecordType::A,
    shortname = "arec",
    data_column = ("Addresses", ".spec.ipv4Addresses"),
    fields {
        /// IPv4 addresses of the RRset.
        #[schemars(with = "Vec<String>", length(min = 1, max = 64), inner(pattern(IPV4_PATTERN)))]
        pub ipv4_addresses: Vec<Ipv4Addr>,
    }
    rdata(|s| s.ipv4_addresses.iter().map(|a| RecordData::A(*a)).collect())
}

record_kind! {
    kind = "AAAARecord", doc = "IPv6 addresses (type AAAA) of one owner name.",
    spec = AAAARecordSpec, root = AAAARecord, rtype = RecordType::Aaaa,
    shortname = "aaaarec",
    data_column = ("Addresses", ".spec.ipv6Addresses"),
    fields {
        /// IPv6 addresses of the RRset.
        #[schemars(with = "Vec<String>", length(min = 1, max = 64), inner(pattern(IPV6_PATTERN)))]
        pub ipv6_addresses: Vec<Ipv6Addr>,
    }
    rdata(|s| s.ipv6_addresses.iter().map(|a| RecordData::Aaaa(*a)).collect())
}

record_kind! {
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.name != '@'", "message": CNAME_APEX_MESSAGE}
    ]))]
    kind = "CNAMERecord", doc = "An alias (type CNAME) to a canonical name.",
    spec = CNAMERecordSpec, root = CNAMERecord, rtype = RecordType::Cname,
    shortname = "cname",
    data_column = ("Target", ".spec.target"),
    fields {
        /// Canonical name the alias points to (absolute; trailing dot optional).
        #[schemars(length(min = 1, max = 253), pattern(DNS_NAME_PATTERN))]
        pub target: String,
    }
    rdata(|s| vec![RecordData::Cname { target: crate::model::absolute(&s.target) }])
}

record_kind! {
    kind = "MXRecord", doc = "A mail exchanger (type MX).",
    spec = MXRecordSpec, root = MXRecord, rtype = RecordType::Mx,
    shortname = "mx",
    data_column = ("Mail Server", ".spec.mailServer"),
    fields {
        /// Preference: lower is tried first.
        pub priority: u16,
        /// Mail exchanger host (absolute), or `.` for a null MX (RFC 7505).
        #[schemars(length(min = 1, max = 253), pattern(TARGET_PATTERN))]
        pub mail_server: String,
    }
    rdata(|s| vec![RecordData::Mx {
        preference: s.priority,
        exchange: crate::model::absolute(&s.mail_server),
    }])
}

record_kind! {
    kind = "TXTRecord", doc = "Text (type TXT), e.g. SPF, DKIM or site verification.",
    spec = TXTRecordSpec, root = TXTRecord, rtype = RecordType::Txt,
    shortname = "txt",
    data_column = ("Text", ".spec.text"),
    fields {
        /// Character-strings of one TXT record; strings over 255 bytes are split on output.
        #[schemars(length(min = 1, max = 16), inner(length(max = 4000)))]
        pub text: Vec<String>,
    }
    rdata(|s| vec![RecordData::Txt { strings: s.text.clone() }])
}

record_kind! {
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.name != '@'", "message": NS_APEX_MESSAGE}
    ]))]
    kind = "NSRecord", doc = "A delegation (type NS) of a subdomain to a name server.",
    spec = NSRecordSpec, root = NSRecord, rtype = RecordType::Ns,
    shortname = "nsrec",
    data_column = ("Nameserver", ".spec.nameserver"),
    fields {
        /// Name server host of the delegated name (absolute).
        #[schemars(length(min = 1, max = 253), pattern(DNS_NAME_PATTERN))]
        pub nameserver: String,
    }
    rdata(|s| vec![RecordData::Ns { nameserver: crate::model::absolute(&s.nameserver) }])
}

record_kind! {
    kind = "SRVRecord", doc = "A service location (type SRV, RFC 2782).",
    spec = SRVRecordSpec, root = SRVRecord, rtype = RecordType::Srv,
    shortname = "srv",
    data_column = ("Target", ".spec.target"),
    fields {
        /// Lower is tried first.
        pub priority: u16,
        /// Relative weight among targets of the same priority.
        pub weight: u16,
        /// TCP/UDP port of the service.
        pub port: u16,
        /// Host providing the service (absolute), or `.` for "not available here".
        #[schemars(length(min = 1, max = 253), pattern(TARGET_PATTERN))]
        pub target: String,
    }
    rdata(|s| vec![RecordData::Srv {
        priority: s.priority,
        weight: s.weight,
        port: s.port,
        target: crate::model::absolute(&s.target),
    }])
}

/// CAA property tags (RFC 8659 §4, RFC 9495 for `issuemail`/`issuevmc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaaTag {
    Issue,
    Issuewild,
    Iodef,
    Issuemail,
    Issuevmc,
}

impl CaaTag {
    /// The tag as written in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            CaaTag::Issue => "issue",
            CaaTag::Issuewild => "issuewild",
            CaaTag::Iodef => "iodef",
            CaaTag::Issuemail => "issuemail",
            CaaTag::Issuevmc => "issuevmc",
        }
    }
}

record_kind! {
    kind = "CAARecord", doc = "A certification authority authorisation (type CAA, RFC 8659).",
    spec = CAARecordSpec, root = CAARecord, rtype = RecordType::Caa,
    shortname = "caa",
    data_column = ("Value", ".spec.value"),
    fields {
        /// Flags octet; 128 = issuer critical.
        #[serde(default)]
        pub flags: u8,
        pub tag: CaaTag,
        /// Property value (e.g. `letsencrypt.org`, `mailto:security@example.com`).
        #[schemars(length(max = 1024))]
        pub value: String,
    }
    rdata(|s| vec![RecordData::Caa {
        flags: s.flags,
        tag: s.tag.as_str().to_string(),
        value: s.value.clone(),
    }])
}
