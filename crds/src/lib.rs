//! Bindy custom resource types (group `bindy.firestoned.io`) and the shared record model.

pub mod model;

pub use model::{absolute, is_in_zone, owner_fqdn, RecordData, RecordSet, RecordType};
