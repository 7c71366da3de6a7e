//! The operator crate's one error type.
//!
//! Variants name the failure the way an operator (human) needs to read it in a condition or an
//! Event: which server refused what, and why, instead of a bare I/O or protocol string.

use std::net::SocketAddr;
use std::time::Duration;

/// Result alias for the operator crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that cannot be turned into valid DNS data (bad name, oversized TXT, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A DNS server answered an UPDATE/NOTIFY/query with an error RCODE.
    #[error("{server} answered {rcode} to {operation} for zone {zone}{detail}")]
    DnsRcode {
        server: SocketAddr,
        operation: &'static str,
        zone: String,
        /// Mnemonic RCODE: NOTAUTH, REFUSED, SERVFAIL, FORMERR, NXRRSET, YXRRSET, ...
        rcode: String,
        /// Extra context such as the TSIG error (BADKEY, BADSIG, BADTIME).
        detail: String,
    },

    /// The server did not answer within the deadline.
    #[error("{operation} to {server} timed out after {after:?}")]
    Timeout {
        server: SocketAddr,
        operation: &'static str,
        after: Duration,
    },

    /// The TCP connection failed (refused, reset, closed early).
    #[error("{operation} to {server}: {source}")]
    Io {
        server: SocketAddr,
        operation: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// A reply that cannot be trusted or parsed (bad TSIG on the reply, wrong id, garbage).
    #[error("bad reply from {server} to {operation}: {reason}")]
    BadReply {
        server: SocketAddr,
        operation: &'static str,
        reason: String,
    },

    /// hickory-proto failed to build or encode a message.
    #[error("DNS protocol error: {0}")]
    Proto(String),

    /// rndc: the control channel refused to authenticate us or the reply failed verification.
    #[error("rndc {server}: authentication failed: {reason}")]
    RndcAuth { server: SocketAddr, reason: String },

    /// rndc: named ran the command and reported a failure.
    #[error("rndc {command} on {server} failed (result {result}): {text}")]
    RndcCommand {
        server: SocketAddr,
        command: String,
        result: u32,
        text: String,
    },

    /// A TSIG or rndc secret that is not valid base64 or names an unsupported algorithm.
    #[error("bad key {name}: {reason}")]
    BadKey { name: String, reason: String },

    /// A Kubernetes API call failed (reconcilers).
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    /// Something the reconciler needs is not there yet (no primary pod, zone not found, pods
    /// still terminating): retried with backoff, shown as Progressing.
    #[error("waiting: {0}")]
    Waiting(String),

    /// A custom resource that breaks a rule of its kind (the Rust form of the CRD's CEL rules).
    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    /// Operator start-up or serving failed (flags, HTTP listener, leader election).
    #[error("operator: {0}")]
    Runtime(String),
}

impl Error {
    /// The RCODE mnemonic when this is a DNS error answer.
    pub fn rcode(&self) -> Option<&str> {
        match self {
            Error::DnsRcode { rcode, .. } => Some(rcode),
            _ => None,
        }
    }

    /// True for failures where retrying later may succeed (timeouts, I/O, SERVFAIL).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Timeout { .. } | Error::Io { .. } => true,
            Error::DnsRcode { rcode, .. } => rcode == "SERVFAIL",
            _ => false,
        }
    }
}
