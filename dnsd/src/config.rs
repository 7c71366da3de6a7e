//! Configuration: a TOML file (`dnsd --config dnsd.toml`) or the same through flags.
//!
//! ```toml
//! listen = ["127.0.0.1:5353"]   # UDP and TCP on each; default 0.0.0.0:53
//! workers = 2                   # UDP threads per address; default: number of cores
//! metrics = "127.0.0.1:9153"    # Prometheus /metrics and /health
//! tcp_idle_timeout_secs = 10
//! tcp_max_connections = 1024
//!
//! [[zone]]
//! name = "example.com"
//! file = "zones/example.com.zone"
//! ```
//! Flags given on the command line are added to (`--listen`, `--zone`) or override
//! (`--workers`, `--metrics`) the file's values.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::server::{ServerOptions, TcpLimits};

/// One zone to serve from a file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Zone name.
    pub name: String,
    /// Master file.
    pub file: PathBuf,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Addresses to serve DNS on.
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    /// UDP worker threads per address.
    pub workers: Option<usize>,
    /// Metrics endpoint.
    pub metrics: Option<SocketAddr>,
    /// TCP idle timeout.
    pub tcp_idle_timeout_secs: Option<u64>,
    /// TCP connection cap.
    pub tcp_max_connections: Option<usize>,
    /// Zones.
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfig>,
    /// Secondary mode (`[secondary]`, see [`crate::secondary::args`]).
    pub secondary: Option<crate::secondary::args::SecondaryFile>,
}

impl Config {
    /// Read a TOML file; relative zone paths are taken relative to the file's folder.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut c: Config =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        if let Some(dir) = path.parent() {
            for z in &mut c.zones {
                if z.file.is_relative() {
                    z.file = dir.join(&z.file);
                }
            }
        }
        Ok(c)
    }

    /// Parse a `--zone NAME=PATH` flag.
    pub fn parse_zone_flag(s: &str) -> Result<ZoneConfig> {
        let (name, file) = s
            .split_once('=')
            .ok_or_else(|| Error::Config(format!("--zone wants NAME=PATH, got '{s}'")))?;
        if name.is_empty() || file.is_empty() {
            return Err(Error::Config(format!("--zone wants NAME=PATH, got '{s}'")));
        }
        Ok(ZoneConfig {
            name: name.to_string(),
            file: PathBuf::from(file),
        })
    }

    /// Server options from this configuration.
    pub fn server_options(&self) -> ServerOptions {
        let mut o = ServerOptions::default();
        if !self.listen.is_empty() {
            o.listen = self.listen.clone();
        } else {
            o.listen = vec![SocketAddr::from(([0, 0, 0, 0], 53))];
        }
        if let Some(w) = self.workers {
            o.workers = w.max(1);
        }
        o.metrics = self.metrics;
        o.tcp = TcpLimits {
            idle: Duration::from_secs(self.tcp_idle_timeout_secs.unwrap_or(10)),
            max_connections: self.tcp_max_connections.unwrap_or(1024),
        };
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dnsd.toml");
        std::fs::write(
            &p,
            "listen = [\"127.0.0.1:5353\"]\nworkers = 3\n[[zone]]\nname = \"example.com\"\nfile = \"ex.zone\"\n",
        )
        .unwrap();
        let c = Config::from_file(&p).unwrap();
        assert_eq!(c.zones[0].file, dir.path().join("ex.zone"));
        let o = c.server_options();
        assert_eq!((o.workers, o.listen[0].port()), (3, 5353));
        std::fs::write(&p, "bogus = 1\n").unwrap();
        assert!(Config::from_file(&p).is_err());
        assert_eq!(Config::parse_zone_flag("a.b=x/y").unwrap().name, "a.b");
        assert!(Config::parse_zone_flag("nofile").is_err());
    }
}
