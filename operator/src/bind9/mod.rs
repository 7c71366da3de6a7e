//! The operator's hands on BIND9, with no Kubernetes types in the API.
//!
//! The reconcilers fill the plain input types below from a DNSZone and its records; this module
//! turns them into files (`zonefile`, `namedconf`) and wire operations (`update`, `notify`,
//! `rndc`, `catalog`) that are all proven against a real `named` in `tests/tests/bind9_*.rs`.
//!
//! - [`zonefile`]: master file generator (escaping, TXT splitting, CAA quoting, glue).
//! - [`namedconf`]: `named.conf` generator for primaries and secondaries.
//! - [`update`]: RFC 2136 client (one atomic UPDATE per RRset replace, TSIG, batching).
//! - [`notify`]: TSIG-signed NOTIFY sent right after a successful UPDATE.
//! - [`serial`]: RFC 1982 serial arithmetic and the operator's serial policy.
//! - [`rndc`]: async client for BIND's control channel (addzone, delzone, ...).
//! - [`catalog`]: RFC 9432 catalog zone maintained on the primaries.

pub mod catalog;
pub mod namedconf;
pub mod names;
pub mod notify;
pub mod rdata;
pub mod rndc;
pub mod serial;
pub mod tsig;
pub mod update;
pub mod wire;
pub mod zonefile;

#[cfg(test)]
mod testutil;

use std::net::{Ipv4Addr, Ipv6Addr};

pub use bindy_crds::model::{RecordData, RecordSet, RecordType};
pub use tsig::{TsigAlgorithm, TsigKey};

/// Everything needed to write a zone: filled by the reconciler from a DNSZone and its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneData {
    /// Zone apex, e.g. `example.com` (a trailing dot is optional).
    pub origin: String,
    /// Default TTL (`$TTL`), used by records without their own TTL.
    pub ttl: u32,
    pub soa: Soa,
    /// Authoritative name servers: the apex NS RRset, plus glue when they are inside the zone.
    pub name_servers: Vec<NameServer>,
    pub records: Vec<RecordSet>,
}

/// The SOA fields a user controls; the serial is managed by [`serial`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Soa {
    /// MNAME: the primary name server, an absolute name (trailing dot optional).
    pub primary_ns: String,
    /// RNAME as an e-mail address (`hostmaster@example.com`) or already in DNS form.
    pub admin_email: String,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub negative_ttl: u32,
}

impl Default for Soa {
    fn default() -> Self {
        Soa {
            primary_ns: String::new(),
            admin_email: String::new(),
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 604_800,
            negative_ttl: 300,
        }
    }
}

/// One authoritative name server of a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameServer {
    /// Host name, absolute (trailing dot optional), like every name in rdata.
    pub hostname: String,
    /// Glue address, written only when the host name is inside the zone.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}
