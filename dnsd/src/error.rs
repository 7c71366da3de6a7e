//! The one error type of the `dnsd` crate.

use std::path::PathBuf;

/// Everything that can go wrong in dnsd outside the per-packet path (which never fails: it
/// answers with an rcode or stays silent).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A zone file could not be parsed; `file:line: reason` like named-checkzone.
    #[error("{file}:{line}: {reason}")]
    ZoneSyntax {
        /// The file in which the error is (an `$INCLUDE`d file names itself).
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A zone parsed but is not a valid zone (no SOA, CNAME and other data...).
    #[error("zone {zone}: {reason}")]
    ZoneInvalid {
        /// The zone's name.
        zone: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A socket could not be set up.
    #[error("socket {addr}: {source}")]
    Socket {
        /// The address being bound.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Bad configuration (file or flags).
    #[error("config: {0}")]
    Config(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
