//! The record model shared by the operator, dnsd tests and benches.
//!
//! Eight record kinds exist as custom resources, but everything downstream of the CRDs (zone
//! file generation, RFC 2136 updates, conflict detection, printing) goes through this one
//! kind-neutral model: an [`RecordSet`] is an owner name, a TTL and a list of [`RecordData`] of
//! one [`RecordType`]. The CRD structs convert into it through the `DnsRecord` trait, so there
//! is one code path, not eight.
//!
//! Names inside rdata (CNAME/NS/MX/SRV targets) are absolute domain names; a trailing dot is
//! optional on input and always present after [`absolute`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// The eight record types Bindy manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RecordType {
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Ns,
    Srv,
    Caa,
}

impl RecordType {
    /// Every managed type, in a stable order.
    pub const ALL: [RecordType; 8] = [
        RecordType::A,
        RecordType::Aaaa,
        RecordType::Cname,
        RecordType::Mx,
        RecordType::Txt,
        RecordType::Ns,
        RecordType::Srv,
        RecordType::Caa,
    ];

    /// The mnemonic used in master files and by `dig` (`"AAAA"`, `"CAA"`...).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
            RecordType::Ns => "NS",
            RecordType::Srv => "SRV",
            RecordType::Caa => "CAA",
        }
    }

    /// The IANA type code (RFC 1035, 3596, 2782, 8659).
    pub fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Ns => 2,
            RecordType::Cname => 5,
            RecordType::Mx => 15,
            RecordType::Txt => 16,
            RecordType::Aaaa => 28,
            RecordType::Srv => 33,
            RecordType::Caa => 257,
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resource record's data, independent of wire or presentation format.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RecordData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname {
        target: String,
    },
    Mx {
        preference: u16,
        exchange: String,
    },
    /// Character-strings as the user wrote them; a string longer than 255 bytes is split into
    /// several character-strings when written out (RFC 1035 §3.3.14 limits each to 255).
    Txt {
        strings: Vec<String>,
    },
    Ns {
        nameserver: String,
    },
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Caa {
        flags: u8,
        tag: String,
        value: String,
    },
}

impl RecordData {
    /// The type this data belongs to.
    pub fn record_type(&self) -> RecordType {
        match self {
            RecordData::A(_) => RecordType::A,
            RecordData::Aaaa(_) => RecordType::Aaaa,
            RecordData::Cname { .. } => RecordType::Cname,
            RecordData::Mx { .. } => RecordType::Mx,
            RecordData::Txt { .. } => RecordType::Txt,
            RecordData::Ns { .. } => RecordType::Ns,
            RecordData::Srv { .. } => RecordType::Srv,
            RecordData::Caa { .. } => RecordType::Caa,
        }
    }
}

/// An RRset as a user declared it: one owner name, one type, one TTL, one or more rdatas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordSet {
    /// Owner name as written in the CR: `"@"` for the apex, a name relative to the zone, or an
    /// absolute name (trailing dot) inside the zone. Use [`owner_fqdn`] to resolve it.
    pub name: String,
    pub record_type: RecordType,
    /// `None` means the zone's default TTL.
    pub ttl: Option<u32>,
    pub data: Vec<RecordData>,
}

/// Resolves a record's owner name against its zone: `"@"` → the apex, `"www"` →
/// `www.example.com.`, `"www.example.com."` stays as it is. The result is absolute and
/// lower-cased (DNS names compare case-insensitively, RFC 4343).
pub fn owner_fqdn(name: &str, zone: &str) -> String {
    let zone = absolute(zone);
    let name = name.trim();
    let fqdn = if name == "@" || name.is_empty() {
        zone
    } else if name.ends_with('.') {
        name.to_string()
    } else if zone == "." {
        format!("{name}.")
    } else {
        format!("{name}.{zone}")
    };
    fqdn.to_ascii_lowercase()
}

/// Appends the root label's dot if it is missing (`"example.com"` → `"example.com."`).
pub fn absolute(name: &str) -> String {
    let name = name.trim();
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// True when `fqdn` is `zone` itself or a name below it (both absolute, any case).
pub fn is_in_zone(fqdn: &str, zone: &str) -> bool {
    let fqdn = absolute(fqdn).to_ascii_lowercase();
    let zone = absolute(zone).to_ascii_lowercase();
    zone == "." || fqdn == zone || fqdn.ends_with(&format!(".{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_names_resolve_against_the_zone() {
        assert_eq!(owner_fqdn("@", "example.com"), "example.com.");
        assert_eq!(owner_fqdn("www", "example.com."), "www.example.com.");
        assert_eq!(
            owner_fqdn("WWW.Example.COM.", "example.com"),
            "www.example.com."
        );
        assert_eq!(owner_fqdn("a.b", "example.com"), "a.b.example.com.");
    }

    #[test]
    fn zone_membership_is_label_aligned() {
        assert!(is_in_zone("www.example.com.", "example.com"));
        assert!(is_in_zone("example.com", "EXAMPLE.com."));
        assert!(!is_in_zone("badexample.com.", "example.com."));
    }

    #[test]
    fn every_type_has_a_distinct_code_and_mnemonic() {
        let mut codes: Vec<u16> = RecordType::ALL.iter().map(|t| t.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 8);
        assert_eq!(
            RecordData::Txt { strings: vec![] }.record_type().as_str(),
            "TXT"
        );
    }
}
