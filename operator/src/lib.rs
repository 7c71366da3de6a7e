//! Bindy operator library.
//!
//! - [`bind9`]: the operator's hands on BIND9 (zone files, named.conf, RFC 2136 updates, rndc,
//!   serials, NOTIFY, catalog zones), with no Kubernetes types in its API.
//! - [`resources`]: pure desired-state builders (children of instances, managed instances of
//!   a cluster, record selection and conflicts), unit-tested without an API server.
//! - [`reconcile`]: the kube-runtime controllers that apply them.
//! - [`context`], [`leader`], [`http`], [`metrics`], [`telemetry`]: shared state, Lease-based
//!   leader election, /healthz /readyz /metrics, and logging.
//! - [`error`]: the crate's one error type.

pub mod bind9;
pub mod context;
pub mod error;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod resources;
pub mod telemetry;

pub use error::{Error, Result};
