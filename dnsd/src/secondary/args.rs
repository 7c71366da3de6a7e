//! Command-line flags of the secondary side, flattened into dnsd's own (`#[command(flatten)]`):
//!
//! `--secondary example.com=127.0.0.1:5353[,192.0.2.1][;key=NAME]` (repeatable; port 53 by
//! default; `;key=` picks a key of the key file for the zone's primaries),
//! `--catalog catalog.example=127.0.0.1:5353`, `--tsig-key FILE` (`tsig-keygen` format; the
//! first key is used towards primaries and required from downstream secondaries, all keys
//! in the file are accepted on NOTIFY), `--state-dir DIR`, `--notify ADDR:PORT` (repeatable),
//! `--allow-transfer IP` (repeatable; the `--notify` targets are always allowed).
//!
//! The same in dnsd's TOML file ([`SecondaryFile`]; flags add to it):
//!
//! ```toml
//! [secondary]
//! tsig_key = "/etc/dnsd/tsig.key"
//! state_dir = "/var/lib/dnsd"
//! notify = ["127.0.0.2:53"]
//! [[secondary.zone]]
//! name = "example.com"
//! primaries = ["127.0.0.1:5353"]
//! [[secondary.catalog]]
//! name = "catalog.example"
//! primaries = ["127.0.0.1:5353"]
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use super::tsig::{parse_keys, Key};
use super::{Primary, Secondary, SecondaryConfig, ZoneSpec};
use crate::error::{Error, Result};
use crate::zone::Store;

/// The secondary side's flags.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SecondaryArgs {
    /// Follow a zone: NAME=PRIMARY[,PRIMARY...][;key=KEYNAME], PRIMARY = IP[:PORT] (repeatable).
    #[arg(long = "secondary", value_name = "NAME=PRIMARY")]
    pub secondary: Vec<String>,
    /// Follow a catalog zone (RFC 9432) and all its members: NAME=PRIMARY[,...].
    #[arg(long = "catalog", value_name = "NAME=PRIMARY")]
    pub catalog: Vec<String>,
    /// TSIG key file as written by tsig-keygen.
    #[arg(long = "tsig-key", value_name = "FILE")]
    pub tsig_key: Option<PathBuf>,
    /// Directory for zone versions (served at start, before any transfer).
    #[arg(long = "state-dir", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Send NOTIFY to this downstream secondary after each new version (repeatable).
    #[arg(long = "notify", value_name = "ADDR:PORT")]
    pub notify: Vec<SocketAddr>,
    /// Allow zone transfers to this address (repeatable).
    #[arg(long = "allow-transfer", value_name = "IP")]
    pub allow_transfer: Vec<IpAddr>,
    /// Source address of outgoing NOTIFYs (secondaries accept them only from their primary).
    #[arg(long = "notify-source", value_name = "IP")]
    pub notify_source: Option<IpAddr>,
    /// Accept NOTIFY from a primary only when signed with its TSIG key (BIND signs NOTIFY
    /// only when its `also-notify`/`primaries` entry names a key).
    #[arg(long = "notify-require-tsig")]
    pub notify_require_tsig: bool,
    /// Also accept a NOTIFY from any address when it is signed with this key of the key file
    /// (repeatable; like BIND's `allow-notify { key K; }`): Bindy's operator sends its own
    /// NOTIFY right after an UPDATE, from its pod, which is not a primary.
    #[arg(long = "notify-key", value_name = "KEYNAME")]
    pub notify_key: Vec<String>,
}

/// A followed zone in the TOML file.
#[derive(serde::Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileZone {
    /// Zone name.
    pub name: String,
    /// Primaries, `IP[:PORT]`.
    pub primaries: Vec<String>,
    /// Name of the key (in `tsig_key`) for this zone; default: the file's first key.
    pub key: Option<String>,
}

/// The `[secondary]` table of dnsd's TOML file (same meaning as the flags).
#[derive(serde::Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecondaryFile {
    /// Zones to follow.
    #[serde(default)]
    pub zone: Vec<FileZone>,
    /// Catalog zones to follow.
    #[serde(default)]
    pub catalog: Vec<FileZone>,
    /// TSIG key file.
    pub tsig_key: Option<PathBuf>,
    /// State dir.
    pub state_dir: Option<PathBuf>,
    /// Downstream secondaries to NOTIFY.
    #[serde(default)]
    pub notify: Vec<SocketAddr>,
    /// Addresses allowed to transfer.
    #[serde(default)]
    pub allow_transfer: Vec<IpAddr>,
    /// NOTIFY source address.
    pub notify_source: Option<IpAddr>,
    /// Refuse unsigned NOTIFYs from primaries with a key.
    #[serde(default)]
    pub notify_require_tsig: bool,
    /// Keys whose signed NOTIFY is accepted from any address (see `--notify-key`).
    #[serde(default)]
    pub notify_keys: Vec<String>,
}

/// Parse `IP`, `IP:PORT` or `[IPv6]:PORT`.
pub fn parse_primary(s: &str) -> Result<SocketAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| Error::Config(format!("bad primary address '{s}'")))
}

fn parse_spec(s: &str, keys: &[Arc<Key>], catalog: bool) -> Result<ZoneSpec> {
    let flag = if catalog { "--catalog" } else { "--secondary" };
    // `;key=NAME` picks a key of the key file for this zone (default: the file's first).
    let (s, key) = match s.split_once(";key=") {
        Some((rest, kn)) => {
            let want = crate::name::from_text(kn, Some(crate::name::ROOT))
                .map(|n| crate::name::lower(&n))
                .map_err(Error::Config)?;
            let k = keys
                .iter()
                .find(|k| k.name[..] == want[..])
                .ok_or_else(|| {
                    Error::Config(format!("{flag} '{s}': no key '{kn}' in --tsig-key"))
                })?;
            (rest, Some(k.clone()))
        }
        None => (s, keys.first().cloned()),
    };
    let (name, prims) = s
        .split_once('=')
        .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        .ok_or_else(|| Error::Config(format!("{flag} wants NAME=PRIMARY[,PRIMARY], got '{s}'")))?;
    let primaries = prims
        .split(',')
        .map(|p| {
            Ok(Primary {
                addr: parse_primary(p)?,
                key: key.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ZoneSpec {
        name: name.to_string(),
        primaries,
        catalog,
    })
}

impl SecondaryArgs {
    /// Add the TOML file's `[secondary]` table (flags keep precedence for single values).
    pub fn merge_file(&mut self, f: Option<&SecondaryFile>) {
        let Some(f) = f else { return };
        let spec = |z: &FileZone| match &z.key {
            Some(k) => format!("{}={};key={k}", z.name, z.primaries.join(",")),
            None => format!("{}={}", z.name, z.primaries.join(",")),
        };
        self.secondary.extend(f.zone.iter().map(spec));
        self.catalog.extend(f.catalog.iter().map(spec));
        if self.tsig_key.is_none() {
            self.tsig_key.clone_from(&f.tsig_key);
        }
        if self.state_dir.is_none() {
            self.state_dir.clone_from(&f.state_dir);
        }
        self.notify.extend(f.notify.iter().copied());
        self.allow_transfer.extend(f.allow_transfer.iter().copied());
        self.notify_source = self.notify_source.or(f.notify_source);
        self.notify_require_tsig |= f.notify_require_tsig;
        self.notify_key.extend(f.notify_keys.iter().cloned());
    }

    /// No secondary flag given?
    pub fn is_empty(&self) -> bool {
        self.secondary.is_empty()
            && self.catalog.is_empty()
            && self.notify.is_empty()
            && self.allow_transfer.is_empty()
    }

    /// The configuration these flags describe.
    pub fn config(&self) -> Result<SecondaryConfig> {
        let keys: Vec<Arc<Key>> = match &self.tsig_key {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| Error::Io {
                    path: p.clone(),
                    source,
                })?;
                parse_keys(&text)
                    .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?
                    .into_iter()
                    .map(Arc::new)
                    .collect()
            }
            None => Vec::new(),
        };
        let key = keys.first().cloned();
        let mut zones = Vec::new();
        for s in &self.secondary {
            zones.push(parse_spec(s, &keys, false)?);
        }
        for s in &self.catalog {
            zones.push(parse_spec(s, &keys, true)?);
        }
        let mut allow = self.allow_transfer.clone();
        allow.extend(self.notify.iter().map(|a| a.ip()));
        let notify_keys = self
            .notify_key
            .iter()
            .map(|kn| {
                let want = crate::name::from_text(kn, Some(crate::name::ROOT))
                    .map(|n| crate::name::lower(&n))
                    .map_err(Error::Config)?;
                keys.iter()
                    .find(|k| k.name[..] == want[..])
                    .cloned()
                    .ok_or_else(|| {
                        Error::Config(format!("--notify-key '{kn}': no such key in --tsig-key"))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SecondaryConfig {
            zones,
            keys,
            state_dir: self.state_dir.clone(),
            notify: self.notify.clone(),
            allow_transfer: allow,
            transfer_key: key,
            notify_source: self.notify_source,
            notify_require_tsig: self.notify_require_tsig,
            notify_keys,
        })
    }

    /// Start the secondary side when any flag asks for it (before the server starts).
    pub fn start(&self, store: Arc<Store>) -> Result<Option<Secondary>> {
        if self.is_empty() {
            return Ok(None);
        }
        Secondary::start(self.config()?, store).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        let a = SecondaryArgs {
            secondary: vec!["example.com=127.0.0.1:5353,192.0.2.1".into()],
            catalog: vec!["cat.test=[::1]:53".into()],
            notify: vec!["127.0.0.2:5300".parse().unwrap()],
            ..Default::default()
        };
        let c = a.config().unwrap();
        assert_eq!(c.zones.len(), 2);
        assert_eq!(
            c.zones[0].primaries[1].addr,
            "192.0.2.1:53".parse().unwrap()
        );
        assert!(c.zones[1].catalog);
        assert_eq!(
            c.allow_transfer,
            vec!["127.0.0.2".parse::<IpAddr>().unwrap()]
        );
        let bad = SecondaryArgs {
            secondary: vec!["example.com".into()],
            ..Default::default()
        };
        assert!(bad.config().is_err());
        let f: SecondaryFile = toml::from_str(
            "state_dir = \"/tmp/s\"\n[[zone]]\nname = \"a.test\"\nprimaries = [\"127.0.0.1:5353\", \"127.0.0.2\"]\n",
        )
        .unwrap();
        let mut a = SecondaryArgs::default();
        a.merge_file(Some(&f));
        assert_eq!(a.secondary, ["a.test=127.0.0.1:5353,127.0.0.2"]);
        assert_eq!(a.config().unwrap().zones[0].primaries.len(), 2);
        assert!(toml::from_str::<SecondaryFile>("bogus = 1").is_err());
        // Two keys: the first by default, another by name.
        let dir = tempfile::tempdir().unwrap();
        let kf = dir.path().join("k.key");
        std::fs::write(
            &kf,
            "key \"one\" { algorithm hmac-sha256; secret \"YQ==\"; };\n\
             key \"two\" { algorithm hmac-sha512; secret \"Yg==\"; };\n",
        )
        .unwrap();
        let a = SecondaryArgs {
            secondary: vec!["a.test=127.0.0.1".into(), "b.test=127.0.0.1;key=two".into()],
            tsig_key: Some(kf.clone()),
            ..Default::default()
        };
        let c = a.config().unwrap();
        let kname = |i: usize| c.zones[i].primaries[0].key.as_ref().unwrap().name_text();
        assert_eq!(
            (kname(0), kname(1)),
            ("one.".to_string(), "two.".to_string())
        );
        let bad = SecondaryArgs {
            secondary: vec!["b.test=127.0.0.1;key=three".into()],
            tsig_key: Some(kf.clone()),
            ..Default::default()
        };
        assert!(bad.config().is_err());
        // NOTIFY keys: by name from the file (TOML or flag); an unknown name is an error.
        let f: SecondaryFile = toml::from_str(
            "notify_keys = [\"two\"]\n[[catalog]]\nname = \"cat.test\"\nprimaries = [\"127.0.0.1\"]\nkey = \"one\"\n",
        )
        .unwrap();
        let mut a = SecondaryArgs {
            tsig_key: Some(kf.clone()),
            ..Default::default()
        };
        a.merge_file(Some(&f));
        let c = a.config().unwrap();
        assert_eq!(c.notify_keys.len(), 1);
        assert_eq!(c.notify_keys[0].name_text(), "two.");
        let bad = SecondaryArgs {
            catalog: vec!["cat.test=127.0.0.1".into()],
            notify_key: vec!["three".into()],
            tsig_key: Some(kf),
            ..Default::default()
        };
        assert!(bad.config().is_err());
    }
}
