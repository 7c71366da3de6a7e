//! Bindy custom resource types (group `bindy.firestoned.io`, version `v1beta1`) and the shared
//! record model.
//!
//! - [`cluster`] — `Bind9Cluster` and the server options shared with instances.
//! - [`instance`] — `Bind9Instance`.
//! - [`zone`] — `DNSZone`.
//! - [`records`] — the eight record kinds and the [`DnsRecord`] trait over them.
//! - [`common`] — conditions, `ZoneRef`, address match lists, validation patterns.
//! - [`model`] — the kind-neutral record model ([`RecordSet`]) everything downstream uses.
//! - [`generate`] — CRD manifests and the CRD reference, as written by the `crdgen` binary.

// kube-derive's `printcolumn(name = .., type_ = ..)` lists repeat the same keys on purpose;
// clippy reads them as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod cluster;
pub mod common;
pub mod generate;
pub mod instance;
pub mod model;
pub mod records;
pub mod zone;

pub use cluster::{
    Bind9Cluster, Bind9ClusterSpec, Bind9ClusterStatus, Bind9Config, ImageSpec, PrimarySpec,
    PullPolicy, SecondarySpec, ServerKind,
};
pub use common::{AddressMatch, Condition, ConditionStatus, ZoneRef};
pub use instance::{
    Bind9Instance, Bind9InstanceSpec, Bind9InstanceStatus, ServerRole, StorageSpec,
};
pub use model::{absolute, is_in_zone, owner_fqdn, RecordData, RecordSet, RecordType};
pub use records::{
    AAAARecord, AAAARecordSpec, ARecord, ARecordSpec, CAARecord, CAARecordSpec, CNAMERecord,
    CNAMERecordSpec, CaaTag, DnsRecord, MXRecord, MXRecordSpec, NSRecord, NSRecordSpec,
    RecordStatus, SRVRecord, SRVRecordSpec, TXTRecord, TXTRecordSpec,
};
pub use zone::{DNSZone, DNSZoneSpec, DNSZoneStatus, NameServer, SelectorSource, SoaRecord};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An `allowQuery` / `allowTransfer` element that is not `any`, `none`, an IP or a CIDR.
    #[error("invalid address match element {0:?} (expected any, none, an IP or a CIDR)")]
    InvalidAddressMatch(String),
    /// A malformed domain name or mailbox.
    #[error("invalid DNS name or mailbox {0:?}")]
    InvalidName(String),
    /// A record that breaks a rule of its kind (see `DnsRecord::validate`).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A spec that breaks a cross-field rule (the Rust form of a CEL rule).
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// Serialising a generated manifest failed.
    #[error("serialising {what}: {source}")]
    Serialize {
        what: String,
        #[source]
        source: serde_yaml::Error,
    },
    /// A generated CRD lacks the structure this crate relies on (a bug in the generator).
    #[error("generated CRD {0} is malformed: {1}")]
    MalformedCrd(String, String),
    /// Reading or writing a manifest file.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
