//! Bindy operator library.
//!
//! - [`bind9`]: the operator's hands on BIND9 (zone files, named.conf, RFC 2136 updates, rndc,
//!   serials, NOTIFY, catalog zones), with no Kubernetes types in its API.
//! - [`error`]: the crate's one error type.

pub mod bind9;
pub mod error;

pub use error::{Error, Result};
pub mod context;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod resources;
pub mod telemetry;
