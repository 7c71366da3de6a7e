//! Kubernetes API-server TEST DOUBLE (placeholder docs, see below).
pub mod error;
pub mod resources;
pub mod selectors;
pub mod validation;
pub mod store;
pub mod write;
pub mod double;
mod server;
pub mod table;

pub use double::{ApiServerDouble, DoubleConfig};
pub use error::{ApiError, Error, Result};
