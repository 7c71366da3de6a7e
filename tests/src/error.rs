//! The one error type of the test-support crate.
//!
//! Every variant carries enough context (what was being done, which command, named's log tail)
//! that a failing test explains itself without re-running with extra logging.

use std::time::Duration;

/// Result alias used throughout `bindy-tests`.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while driving real DNS tools in tests.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system or process-spawn operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing (e.g. "writing named.conf /tmp/x/named.conf").
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A required external program is not installed.
    #[error("required tool `{0}` not found on PATH (nor in /usr/sbin, /sbin); install bind9 bind9-utils bind9-dnsutils (see scripts/test.sh)")]
    ToolMissing(String),

    /// An external command ran but exited unsuccessfully.
    #[error(
        "`{cmd}` failed ({status})\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}{context}"
    )]
    Command {
        /// The command line, for humans.
        cmd: String,
        /// Exit status as text.
        status: String,
        /// Captured standard output.
        stdout: String,
        /// Captured standard error.
        stderr: String,
        /// Extra context appended to the message (e.g. the tail of named's log), may be empty.
        context: String,
    },

    /// An external command did not finish in time and was killed.
    #[error("`{cmd}` did not finish within {timeout:?} and was killed{context}")]
    CommandTimeout {
        /// The command line, for humans.
        cmd: String,
        /// The deadline it missed.
        timeout: Duration,
        /// Extra context, may be empty.
        context: String,
    },

    /// A polled condition did not become true before its deadline.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long we waited.
        timeout: Duration,
    },

    /// `named` failed to start or to become ready.
    #[error("named at {addr} failed to start: {reason}\n--- named log (tail) ---\n{log_tail}")]
    NamedStart {
        /// The address it should have answered on.
        addr: String,
        /// Why we gave up.
        reason: String,
        /// The last lines of named's log.
        log_tail: String,
    },

    /// The caller asked for something the fixture cannot do.
    #[error("invalid fixture usage: {0}")]
    Usage(String),
}

impl Error {
    /// Builds an [`Error::Io`] with a description of what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
