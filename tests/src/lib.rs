//! Test support for Bindy (never shipped).
//!
//! [`named`] runs Debian's real BIND9 (`named`) as an unprivileged child process on a free
//! loopback address so that tests of the operator and of `dnsd` talk to the real thing, never
//! to a mock. All helpers return this crate's one [`Error`] type.

pub mod error;
pub mod named;

pub use error::{Error, Result};
