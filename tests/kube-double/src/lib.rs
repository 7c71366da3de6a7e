//! Kubernetes API-server TEST DOUBLE (placeholder docs, see below).
pub mod double;
pub mod error;
pub mod resources;
pub mod selectors;
mod server;
pub mod store;
pub mod table;
pub mod validation;
pub mod write;

pub use double::{ApiServerDouble, DoubleConfig};
pub use error::{ApiError, Error, Result};
pub mod agent;
