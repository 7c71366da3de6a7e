//! `named.conf` generator for Bindy's primaries and secondaries.
//!
//! Defaults are the safe ones: authoritative only (`recursion no`), transfers only to TSIG
//! keys, `notify-delay 0` (BIND's default of 5 s would delay every change), `allow-new-zones`
//! so zones can be added with rndc without a restart. All state BIND writes (journals, pid,
//! session key, zones added by rndc or catalog) lives under [`NamedConf::directory`], which
//! must be writable; zone files may live elsewhere, read-only (a ConfigMap mount), because
//! every primary zone names its own `journal` path in the writable directory.
//!
//! The zone statement bodies are shared with `rndc addzone` ([`ZoneConfig::body`]), so a zone
//! added at run time is configured exactly like one in the file.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use super::names::target;
use super::TsigKey;
use crate::error::{Error, Result};

/// One element of an address match list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acl {
    Any,
    None,
    Localhost,
    /// A TSIG key name: the peer must sign with it.
    Key(String),
    /// An address or prefix (`10.0.0.0/8`, `2001:db8::/32`, `127.0.0.1`).
    Prefix(String),
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Acl::Any => f.write_str("any"),
            Acl::None => f.write_str("none"),
            Acl::Localhost => f.write_str("localhost"),
            Acl::Key(k) => write!(f, "key \"{k}\""),
            Acl::Prefix(p) => f.write_str(p),
        }
    }
}

fn acl_list(acls: &[Acl]) -> String {
    if acls.is_empty() {
        return "{ none; }".into();
    }
    let mut s = String::from("{ ");
    for a in acls {
        let _ = write!(s, "{a}; ");
    }
    s.push('}');
    s
}

fn check_acl(acls: &[Acl]) -> Result<()> {
    for a in acls {
        match a {
            Acl::Prefix(p) => {
                let (addr, len) = p.split_once('/').unwrap_or((p, ""));
                let ip: IpAddr = addr
                    .parse()
                    .map_err(|_| Error::InvalidInput(format!("bad address in ACL: {p:?}")))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if !len.is_empty() && len.parse::<u8>().map_or(true, |l| l > max) {
                    return Err(Error::InvalidInput(format!(
                        "bad prefix length in ACL: {p:?}"
                    )));
                }
            }
            Acl::Key(k) => check_key_name(k)?,
            _ => {}
        }
    }
    Ok(())
}

fn check_key_name(k: &str) -> Result<()> {
    if k.is_empty()
        || !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(Error::InvalidInput(format!("bad key name {k:?}")));
    }
    Ok(())
}

/// `name { ... }; ` or nothing when the list is empty (the zone inherits the global option).
fn opt_acl(name: &str, acls: &[Acl]) -> String {
    if acls.is_empty() {
        String::new()
    } else {
        format!("{name} {}; ", acl_list(acls))
    }
}

/// `addr port P [key "k"];` list for primaries / also-notify.
fn server_list(servers: &[SocketAddr], key: Option<&str>) -> String {
    let mut s = String::from("{ ");
    for a in servers {
        let _ = write!(s, "{} port {}", a.ip(), a.port());
        if let Some(k) = key {
            let _ = write!(s, " key \"{k}\"");
        }
        s.push_str("; ");
    }
    s.push('}');
    s
}

fn quoted_path(p: &str) -> Result<String> {
    if p.contains('"') || p.contains('\n') || p.is_empty() {
        return Err(Error::InvalidInput(format!("bad path {p:?}")));
    }
    Ok(format!("\"{p}\""))
}

/// A primary zone: loaded from `file` (may be read-only), updated by RFC 2136.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimaryZone {
    pub name: String,
    pub file: String,
    /// Journal path in a writable directory (strongly recommended when `file` is read-only).
    pub journal: Option<String>,
    /// Who may send UPDATE: normally only the operator's key.
    pub allow_update: Vec<Acl>,
    pub allow_transfer: Vec<Acl>,
    /// Secondaries to NOTIFY besides the zone's NS hosts.
    pub also_notify: Vec<SocketAddr>,
    /// Key to sign NOTIFY to `also_notify` with.
    pub notify_key: Option<String>,
}

/// A secondary zone: transferred from `primaries` (IXFR when possible).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecondaryZone {
    pub name: String,
    /// Where BIND keeps the transferred copy (writable).
    pub file: String,
    pub journal: Option<String>,
    pub primaries: Vec<SocketAddr>,
    /// Key to sign SOA queries and transfers with.
    pub transfer_key: Option<String>,
    /// Who may NOTIFY besides the primaries: the operator's key for the fast path.
    pub allow_notify: Vec<Acl>,
    pub allow_transfer: Vec<Acl>,
}

/// A `zone` statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneConfig {
    Primary(PrimaryZone),
    Secondary(SecondaryZone),
}

impl ZoneConfig {
    pub fn name(&self) -> &str {
        match self {
            ZoneConfig::Primary(z) => &z.name,
            ZoneConfig::Secondary(z) => &z.name,
        }
    }

    /// The zone name as written in named.conf and rndc (no trailing dot).
    pub fn conf_name(&self) -> Result<String> {
        let n = target(self.name())?;
        Ok(if n == "." {
            n
        } else {
            n.trim_end_matches('.').to_string()
        })
    }

    /// The `{ ... };` body, as used in named.conf and by `rndc addzone NAME BODY`.
    pub fn body(&self) -> Result<String> {
        let mut s = String::from("{ ");
        match self {
            ZoneConfig::Primary(z) => {
                check_acl(&z.allow_update)?;
                check_acl(&z.allow_transfer)?;
                let _ = write!(s, "type primary; file {}; ", quoted_path(&z.file)?);
                if let Some(j) = &z.journal {
                    let _ = write!(s, "journal {}; ", quoted_path(j)?);
                }
                let _ = write!(
                    s,
                    "allow-update {}; {}notify yes; ",
                    acl_list(&z.allow_update),
                    opt_acl("allow-transfer", &z.allow_transfer)
                );
                if let Some(k) = &z.notify_key {
                    check_key_name(k)?;
                }
                if !z.also_notify.is_empty() {
                    let _ = write!(
                        s,
                        "also-notify {}; ",
                        server_list(&z.also_notify, z.notify_key.as_deref())
                    );
                }
            }
            ZoneConfig::Secondary(z) => {
                check_acl(&z.allow_notify)?;
                check_acl(&z.allow_transfer)?;
                if z.primaries.is_empty() {
                    return Err(Error::InvalidInput(format!(
                        "secondary zone {} needs at least one primary",
                        z.name
                    )));
                }
                if let Some(k) = &z.transfer_key {
                    check_key_name(k)?;
                }
                let _ = write!(s, "type secondary; file {}; ", quoted_path(&z.file)?);
                if let Some(j) = &z.journal {
                    let _ = write!(s, "journal {}; ", quoted_path(j)?);
                }
                let _ = write!(
                    s,
                    "masterfile-format text; primaries {}; {}{}",
                    server_list(&z.primaries, z.transfer_key.as_deref()),
                    opt_acl("allow-notify", &z.allow_notify),
                    opt_acl("allow-transfer", &z.allow_transfer)
                );
            }
        }
        s.push('}');
        Ok(s)
    }
}

/// Catalog zone consumption (RFC 9432) on a secondary: BIND provisions every member zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogConsumer {
    /// The catalog zone name, e.g. `catalog.bindy.local`.
    pub catalog: String,
    pub primaries: Vec<SocketAddr>,
    pub transfer_key: Option<String>,
    /// Who may NOTIFY the catalog and its members besides the primaries.
    pub allow_notify: Vec<Acl>,
    /// Writable directory for member zone files, relative to `directory` or absolute.
    pub zone_directory: Option<String>,
}

/// The `controls` statement for rndc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controls {
    pub listen: SocketAddr,
    pub allow: Vec<Acl>,
    /// Name of a key in [`NamedConf::keys`].
    pub key: String,
}

/// A whole named.conf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedConf {
    /// Writable working directory for everything BIND writes.
    pub directory: String,
    /// IPv4 addresses to listen on; empty means all.
    pub listen_on: Vec<IpAddr>,
    /// IPv6 addresses to listen on; empty means none.
    pub listen_on_v6: Vec<IpAddr>,
    pub port: u16,
    pub recursion: bool,
    pub allow_query: Vec<Acl>,
    pub allow_transfer: Vec<Acl>,
    pub also_notify: Vec<SocketAddr>,
    /// Who may NOTIFY secondary zones besides their primaries (catalog members inherit it;
    /// a zone's own non-empty `allow_notify` overrides it):
    /// the operator's key, for the fast path after an UPDATE.
    pub allow_notify: Vec<Acl>,
    pub notify: bool,
    /// Serve IXFR computed from differences when a zone file is reloaded.
    pub ixfr_from_differences: bool,
    pub allow_new_zones: bool,
    /// `notify-rate` and `serial-query-rate`. Once active, BIND's rate limiter holds every
    /// NOTIFY / SOA query until its next tick, and at the default rate (20/s) a tick is 500 ms:
    /// that, not `notify-delay`, is the ≈0.5 s that changes following one another waited before
    /// secondaries acted. At 1000/s a tick is 10 ms (measured in docs/bind9-layer.md).
    pub notify_rate: u32,
    pub serial_query_rate: u32,
    /// Pins notify/transfer/query source addresses (a secondary recognises its primary by it).
    pub source_address: Option<IpAddr>,
    pub keys: Vec<TsigKey>,
    pub controls: Option<Controls>,
    pub zones: Vec<ZoneConfig>,
    pub catalogs: Vec<CatalogConsumer>,
    /// Extra `options` lines, verbatim (escape hatch, validated by named-checkconf only).
    pub extra_options: Vec<String>,
}

impl NamedConf {
    /// Safe defaults for an authoritative server working in `directory`.
    pub fn new(directory: impl Into<String>) -> Self {
        NamedConf {
            directory: directory.into(),
            listen_on: Vec::new(),
            listen_on_v6: Vec::new(),
            port: 53,
            recursion: false,
            allow_query: vec![Acl::Any],
            allow_transfer: vec![Acl::None],
            also_notify: Vec::new(),
            allow_notify: Vec::new(),
            notify: true,
            ixfr_from_differences: true,
            allow_new_zones: true,
            notify_rate: 1000,
            serial_query_rate: 1000,
            source_address: None,
            keys: Vec::new(),
            controls: None,
            zones: Vec::new(),
            catalogs: Vec::new(),
            extra_options: Vec::new(),
        }
    }

    /// Renders named.conf.
    pub fn render(&self) -> Result<String> {
        let d = quoted_path(&self.directory)?;
        let dir = self.directory.trim_end_matches('/');
        check_acl(&self.allow_query)?;
        check_acl(&self.allow_transfer)?;
        let mut s = String::from("# generated by bindy: do not edit, changes are overwritten\n");
        s.push_str("options {\n");
        let _ = writeln!(s, "\tdirectory {d};");
        for (opt, file) in [
            ("pid-file", "named.pid"),
            ("lock-file", "named.lock"),
            ("session-keyfile", "session.key"),
            ("dump-file", "named_dump.db"),
            ("statistics-file", "named.stats"),
        ] {
            let _ = writeln!(s, "\t{opt} \"{dir}/{file}\";");
        }
        let _ = writeln!(s, "\tmanaged-keys-directory {d};");
        let v4 = if self.listen_on.is_empty() {
            "any;".to_string()
        } else {
            self.listen_on
                .iter()
                .map(|a| format!("{a};"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(s, "\tlisten-on port {} {{ {v4} }};", self.port);
        if self.listen_on_v6.is_empty() {
            s.push_str("\tlisten-on-v6 { none; };\n");
        } else {
            let v6: Vec<String> = self.listen_on_v6.iter().map(|a| format!("{a};")).collect();
            let _ = writeln!(
                s,
                "\tlisten-on-v6 port {} {{ {} }};",
                self.port,
                v6.join(" ")
            );
        }
        let yn = |b: bool| if b { "yes" } else { "no" };
        let _ = writeln!(s, "\trecursion {};", yn(self.recursion));
        if !self.recursion {
            s.push_str("\tdnssec-validation no;\n");
        }
        let _ = writeln!(s, "\tallow-query {};", acl_list(&self.allow_query));
        let _ = writeln!(s, "\tallow-transfer {};", acl_list(&self.allow_transfer));
        let _ = writeln!(s, "\tnotify {};", yn(self.notify));
        if !self.allow_notify.is_empty() {
            check_acl(&self.allow_notify)?;
            let _ = writeln!(s, "\tallow-notify {};", acl_list(&self.allow_notify));
        }
        s.push_str("\tnotify-delay 0;\n");
        let _ = writeln!(
            s,
            "\tnotify-rate {};\n\tstartup-notify-rate {};\n\tserial-query-rate {};",
            self.notify_rate.max(1),
            self.notify_rate.max(1),
            self.serial_query_rate.max(1)
        );
        if !self.also_notify.is_empty() {
            let _ = writeln!(s, "\talso-notify {};", server_list(&self.also_notify, None));
        }
        let _ = writeln!(
            s,
            "\tixfr-from-differences {};",
            yn(self.ixfr_from_differences)
        );
        let _ = writeln!(
            s,
            "\tallow-new-zones {};",
            yn(self.allow_new_zones || !self.catalogs.is_empty())
        );
        if let Some(ip) = self.source_address {
            let _ = writeln!(
                s,
                "\tnotify-source {ip};\n\ttransfer-source {ip};\n\tquery-source address {ip};"
            );
        }
        if !self.catalogs.is_empty() {
            s.push_str("\tcatalog-zones {\n");
            for c in &self.catalogs {
                let name = target(&c.catalog)?;
                if let Some(k) = &c.transfer_key {
                    check_key_name(k)?;
                }
                let _ = write!(
                    s,
                    "\t\tzone \"{}\" default-primaries {}",
                    name.trim_end_matches('.'),
                    server_list(&c.primaries, c.transfer_key.as_deref())
                );
                if let Some(zd) = &c.zone_directory {
                    let _ = write!(s, " zone-directory {}", quoted_path(zd)?);
                }
                // min-update-interval 0: apply catalog changes at once (the default 5 s, and
                // even 1 s, delayed a new member by > 1 s; 0 measured at 50-70 ms).
                s.push_str(" in-memory no min-update-interval 0;\n");
            }
            s.push_str("\t};\n");
        }
        for line in &self.extra_options {
            let _ = writeln!(s, "\t{};", line.trim().trim_end_matches(';'));
        }
        s.push_str("};\n\n");

        for k in &self.keys {
            check_key_name(&k.name)?;
            k.secret_bytes()?;
            s.push_str(&k.named_conf());
        }
        match &self.controls {
            Some(c) => {
                check_acl(&c.allow)?;
                if !self.keys.iter().any(|k| k.name == c.key) {
                    return Err(Error::InvalidInput(format!(
                        "controls key {:?} is not among the keys",
                        c.key
                    )));
                }
                let _ = writeln!(
                    s,
                    "\ncontrols {{\n\tinet {} port {} allow {} keys {{ \"{}\"; }};\n}};",
                    c.listen.ip(),
                    c.listen.port(),
                    acl_list(&c.allow),
                    c.key
                );
            }
            None => s.push_str("\ncontrols { };\n"),
        }
        s.push('\n');

        let mut zones = self.zones.clone();
        for c in &self.catalogs {
            let stem = target(&c.catalog)?;
            let stem = stem.trim_end_matches('.');
            zones.push(ZoneConfig::Secondary(SecondaryZone {
                name: c.catalog.clone(),
                file: format!("{dir}/{stem}.db"),
                journal: Some(format!("{dir}/{stem}.jnl")),
                primaries: c.primaries.clone(),
                transfer_key: c.transfer_key.clone(),
                allow_notify: c.allow_notify.clone(),
                allow_transfer: Vec::new(),
            }));
        }
        for z in &zones {
            let _ = writeln!(s, "zone \"{}\" {};", z.conf_name()?, z.body()?);
        }
        Ok(s)
    }
}

#[cfg(test)]
#[path = "namedconf_tests.rs"]
mod tests;
