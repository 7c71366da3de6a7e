//! Types and validation shared by every kind: status conditions, the zone reference a DNSZone
//! writes into a record's status, address match lists, and the patterns the schemas use.
//!
//! The regular expressions below are written once and used twice: in the generated
//! `openAPIV3Schema` (so `kubectl apply` rejects bad input) and by the `is_*` helpers (so the
//! operator can re-check values it did not get through the API server, e.g. in tests or from
//! older stored objects). They are deliberately RE2/ECMA compatible: no look-around, no
//! back-references, because the API server evaluates them with Go's `regexp`.

use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// API group of every Bindy kind.
pub const GROUP: &str = "bindy.firestoned.io";
/// Stored and served version.
pub const VERSION: &str = "v1beta1";
/// `apiVersion` string of the served version.
pub const API_VERSION: &str = "bindy.firestoned.io/v1beta1";

/// One DNS label (1..63 characters; letters, digits, `-`, `_`; no leading/trailing `-`).
/// Underscores are allowed because service labels (`_sip._tcp`, `_dmarc`) need them.
macro_rules! label {
    () => {
        "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    };
}
macro_rules! host {
    () => {
        concat!("(?:", label!(), "\\.)*", label!(), "\\.?")
    };
}
macro_rules! ipv4 {
    () => {
        "(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    };
}
macro_rules! h16 {
    () => {
        "[0-9A-Fa-f]{1,4}"
    };
}
/// `ls32` of RFC 3986: the last 32 bits, as two groups or a dotted quad.
macro_rules! ls32 {
    () => {
        concat!("(?:", h16!(), ":", h16!(), "|", ipv4!(), ")")
    };
}
/// `IPv6address` of RFC 3986 §3.2.2, the nine forms of where `::` may stand.
macro_rules! ipv6 {
    () => {
        concat!(
            "(?:(?:",
            h16!(),
            ":){6}",
            ls32!(),
            "|::(?:",
            h16!(),
            ":){5}",
            ls32!(),
            "|(?:",
            h16!(),
            ")?::(?:",
            h16!(),
            ":){4}",
            ls32!(),
            "|(?:(?:",
            h16!(),
            ":){0,1}",
            h16!(),
            ")?::(?:",
            h16!(),
            ":){3}",
            ls32!(),
            "|(?:(?:",
            h16!(),
            ":){0,2}",
            h16!(),
            ")?::(?:",
            h16!(),
            ":){2}",
            ls32!(),
            "|(?:(?:",
            h16!(),
            ":){0,3}",
            h16!(),
            ")?::",
            h16!(),
            ":",
            ls32!(),
            "|(?:(?:",
            h16!(),
            ":){0,4}",
            h16!(),
            ")?::",
            ls32!(),
            "|(?:(?:",
            h16!(),
            ":){0,5}",
            h16!(),
            ")?::",
            h16!(),
            "|(?:(?:",
            h16!(),
            ":){0,6}",
            h16!(),
            ")?::",
            ")"
        )
    };
}

/// A domain name, relative or absolute (trailing dot), e.g. `example.com` or `ns1.example.com.`.
pub const DNS_NAME_PATTERN: &str = concat!("^", host!(), "$");
/// A record owner name: `@` (the apex), `*` / `*.sub` (wildcards) or a name as above.
pub const RECORD_NAME_PATTERN: &str = concat!("^(?:@|\\*|(?:\\*\\.)?", host!(), ")$");
/// A target name that may also be the root `.` (null MX, RFC 7505; "no service" SRV, RFC 2782).
pub const TARGET_PATTERN: &str = concat!("^(?:\\.|", host!(), ")$");
/// A dotted-quad IPv4 address without leading zeros.
pub const IPV4_PATTERN: &str = concat!("^", ipv4!(), "$");
/// An IPv6 address in any RFC 4291 text form (no zone index), per RFC 3986's grammar.
pub const IPV6_PATTERN: &str = concat!("^", ipv6!(), "$");
/// An IPv4 or IPv6 address.
pub const IP_PATTERN: &str = concat!("^(?:", ipv4!(), "|", ipv6!(), ")$");
/// One element of an address match list: `any`, `none`, an address or a CIDR prefix.
pub const ADDRESS_MATCH_PATTERN: &str = concat!(
    "^(?:any|none|",
    ipv4!(),
    "(?:/(?:3[0-2]|[12]?[0-9]))?|",
    ipv6!(),
    "(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$"
);
/// A mailbox in e-mail form (`hostmaster@example.com`); becomes the SOA RNAME.
pub const EMAIL_PATTERN: &str = concat!("^[A-Za-z0-9+_-]+(?:\\.[A-Za-z0-9+_-]+)*@", host!(), "$");
/// A BIND9 version or image tag (`9.18`, `9.18.49-bookworm`), shared by cluster and instance.
pub const VERSION_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]*$";
/// Longest presentation-format domain name accepted (RFC 1035 §2.3.4 without the final dot).
pub const MAX_NAME_LENGTH: u32 = 253;
/// Largest TTL (RFC 2181 §8: 2^31 - 1).
pub const MAX_TTL: u32 = 2_147_483_647;

/// Condition type set on every kind when it is fully reconciled.
pub const CONDITION_READY: &str = "Ready";
/// Condition type while work is in flight.
pub const CONDITION_PROGRESSING: &str = "Progressing";
/// Condition type when the object works only partly (some instances or records failing).
pub const CONDITION_DEGRADED: &str = "Degraded";

/// `status` of a condition, as in `metav1.Condition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// One observation of an object's state, shaped like `metav1.Condition` so `kubectl wait
/// --for=condition=Ready` and generic tooling understand it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type in CamelCase: `Ready`, `Progressing`, `Degraded`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 316))]
    pub type_: String,
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason for the last transition (e.g. `RecordAvailable`).
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,
    /// Human-readable detail; may be empty.
    #[serde(default)]
    #[schemars(length(max = 32768))]
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// `metadata.generation` the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition stamped with the current time.
    pub fn new(
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
        observed_generation: Option<i64>,
    ) -> Self {
        Condition {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message: message.into(),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
            observed_generation,
        }
    }

    /// True when this is a `True` condition of the given type.
    pub fn is_true(&self, type_: &str) -> bool {
        self.type_ == type_ && self.status == ConditionStatus::True
    }
}

/// The condition of `type_` in a list, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the list holds `Ready=True`.
pub fn is_ready(conditions: &[Condition]) -> bool {
    find_condition(conditions, CONDITION_READY).is_some_and(|c| c.status == ConditionStatus::True)
}

/// Inserts or replaces the condition of the same type. `lastTransitionTime` is kept when the
/// status did not change, so the time says when the state flipped, not when we last looked
/// (this also keeps status patches idempotent: no write when nothing changed). Returns true when
/// anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            if *old == new {
                return false;
            }
            *old = new;
            true
        }
        None => {
            conditions.push(new);
            true
        }
    }
}

/// Where a record was placed: written into a record's `status.zoneRef` by the DNSZone that
/// selected it (the record reconciler acts on this, see the seed's record flow).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneRef {
    /// `bindy.firestoned.io/v1beta1`.
    pub api_version: String,
    /// `DNSZone`.
    pub kind: String,
    /// Name of the DNSZone object.
    pub name: String,
    /// Namespace of the DNSZone object.
    pub namespace: String,
    /// The zone's DNS name (`spec.zoneName`).
    pub zone_name: String,
}

impl ZoneRef {
    /// A reference to the DNSZone `name` in `namespace` serving `zone_name`.
    pub fn new(namespace: &str, name: &str, zone_name: &str) -> Self {
        ZoneRef {
            api_version: API_VERSION.to_string(),
            kind: "DNSZone".to_string(),
            name: name.to_string(),
            namespace: namespace.to_string(),
            zone_name: zone_name.to_string(),
        }
    }
}

/// One parsed element of an `allowQuery` / `allowTransfer` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressMatch {
    /// `any`: every client.
    Any,
    /// `none`: no client.
    None,
    /// An address (`prefix_len` = full length) or CIDR prefix.
    Net { addr: IpAddr, prefix_len: u8 },
}

impl AddressMatch {
    /// Parses `any`, `none`, `10.0.0.1`, `10.0.0.0/8`, `fd00::/8`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::InvalidAddressMatch(s.to_string());
        match s {
            "any" => return Ok(AddressMatch::Any),
            "none" => return Ok(AddressMatch::None),
            _ => {}
        }
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match len {
            // No leading zeros ("/08"), exactly as the schema pattern says, so that what the
            // apiserver admits and what the operator parses never disagree.
            Some(l)
                if !l.is_empty()
                    && l.bytes().all(|b| b.is_ascii_digit())
                    && (l == "0" || !l.starts_with('0')) =>
            {
                l.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
            None => max,
        };
        if prefix_len > max {
            return Err(bad());
        }
        Ok(AddressMatch::Net { addr, prefix_len })
    }

    /// True when `ip` is matched by this element.
    pub fn matches(&self, ip: IpAddr) -> bool {
        match *self {
            AddressMatch::Any => true,
            AddressMatch::None => false,
            AddressMatch::Net { addr, prefix_len } => match (addr, ip) {
                (IpAddr::V4(net), IpAddr::V4(ip)) => {
                    prefix_eq(&net.octets(), &ip.octets(), prefix_len)
                }
                (IpAddr::V6(net), IpAddr::V6(ip)) => {
                    prefix_eq(&net.octets(), &ip.octets(), prefix_len)
                }
                _ => false,
            },
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

/// True when `s` is a syntactically valid domain name (relative or absolute), within
/// [`MAX_NAME_LENGTH`]. Same rule as [`DNS_NAME_PATTERN`], without a regex engine.
pub fn is_dns_name(s: &str) -> bool {
    let body = s.strip_suffix('.').unwrap_or(s);
    !body.is_empty() && s.len() <= MAX_NAME_LENGTH as usize && body.split('.').all(is_label)
}

/// True for a valid record owner name: `@`, `*`, `*.name` or a domain name.
pub fn is_record_name(s: &str) -> bool {
    s == "@" || s == "*" || is_dns_name(s.strip_prefix("*.").unwrap_or(s))
}

fn is_label(l: &str) -> bool {
    let b = l.as_bytes();
    let ok = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    (1..=63).contains(&b.len())
        && b.first().is_some_and(ok)
        && b.last().is_some_and(ok)
        && b.iter().all(|c| ok(c) || *c == b'-')
}

/// Converts an e-mail style mailbox into an SOA RNAME (RFC 1035 §8): `host.master@example.com`
/// → `host\.master.example.com.` (dots in the local part are escaped).
pub fn email_to_rname(email: &str) -> Result<String> {
    let (local, domain) = email
        .split_once('@')
        .filter(|(l, d)| !l.is_empty() && is_dns_name(d))
        .ok_or_else(|| Error::InvalidName(email.to_string()))?;
    Ok(format!(
        "{}.{}",
        local.replace('.', "\\."),
        crate::model::absolute(domain)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_condition_keeps_the_transition_time_while_status_holds() {
        let mut conds = Vec::new();
        let mut first = Condition::new(
            CONDITION_READY,
            ConditionStatus::False,
            "Pending",
            "",
            Some(1),
        );
        first.last_transition_time = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        assert!(set_condition(&mut conds, first.clone()));
        assert!(
            !set_condition(
                &mut conds,
                Condition::new(
                    CONDITION_READY,
                    ConditionStatus::False,
                    "Pending",
                    "",
                    Some(1)
                )
            ),
            "same status and reason: nothing to write"
        );
        assert_eq!(conds[0].last_transition_time, first.last_transition_time);
        assert!(set_condition(
            &mut conds,
            Condition::new(
                CONDITION_READY,
                ConditionStatus::False,
                "Failed",
                "x",
                Some(2)
            )
        ));
        assert_eq!(
            conds[0].last_transition_time, first.last_transition_time,
            "status unchanged"
        );
        assert!(set_condition(
            &mut conds,
            Condition::new(
                CONDITION_READY,
                ConditionStatus::True,
                "RecordAvailable",
                "",
                Some(2)
            )
        ));
        assert_ne!(
            conds[0].last_transition_time, first.last_transition_time,
            "status flipped"
        );
        assert!(is_ready(&conds) && conds.len() == 1);
        set_condition(
            &mut conds,
            Condition::new(CONDITION_DEGRADED, ConditionStatus::False, "Ok", "", None),
        );
        assert_eq!(conds.len(), 2);
        assert!(find_condition(&conds, CONDITION_DEGRADED)
            .is_some_and(|c| !c.is_true(CONDITION_DEGRADED)));
    }

    #[test]
    fn zone_ref_points_at_a_dnszone() {
        let r = ZoneRef::new("dns", "example-com", "example.com");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["apiVersion"], API_VERSION);
        assert_eq!(v["kind"], "DNSZone");
        assert_eq!(v["zoneName"], "example.com");
    }
}
