//! Where a test `named` keeps its files, and the `named.conf` / `rndc.conf` it runs with.
//!
//! Everything (pid file, lock file, session key, managed keys, zones, journals) lives inside
//! the instance's temp dir: Debian's defaults point at /var/run/named, which would make
//! parallel instances fight over one lock file and need root. The pieces are public so an
//! operator-generated config (see `NamedBuilder::custom_conf`) can reuse the same keys and
//! `controls` statement the fixture's `rndc` helper relies on.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::tsig::TsigKey;

/// Files and endpoints of one test `named`.
#[derive(Clone, Debug)]
pub struct NamedPaths {
    /// The instance's temp dir (also named's `directory`).
    pub dir: PathBuf,
    /// Zone files (`<zone>.db`).
    pub zones_dir: PathBuf,
    /// Zone journals (`<zone>.jnl`), kept apart from zone files as the operator does.
    pub journal_dir: PathBuf,
    /// Loopback address named listens on (only this one).
    pub ip: Ipv4Addr,
    /// DNS port (UDP and TCP).
    pub port: u16,
    /// rndc control channel port (TCP).
    pub rndc_port: u16,
    /// Key allowed to update zones and transfer them.
    pub tsig: TsigKey,
    /// Key of the rndc control channel.
    pub rndc_key: TsigKey,
}

/// A zone the builder puts into the generated config.
#[derive(Clone, Debug)]
pub(crate) enum ZoneSpec {
    Primary { name: String },
    Secondary { name: String, primary: SocketAddr },
}

impl NamedPaths {
    /// `named.conf` path.
    pub fn conf_file(&self) -> PathBuf {
        self.dir.join("named.conf")
    }
    /// `rndc.conf` path used by `Named::rndc`.
    pub fn rndc_conf_file(&self) -> PathBuf {
        self.dir.join("rndc.conf")
    }
    /// The TSIG key in `tsig-keygen` format, for `nsupdate -k` / `dig -k`.
    pub fn tsig_key_file(&self) -> PathBuf {
        self.dir.join("tsig.key")
    }
    /// Where named's stderr (its whole log, since it runs with `-g`) goes.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("named.log")
    }
    /// Zone file path for `zone` (the trailing dot is dropped from the file name).
    pub fn zone_file(&self, zone: &str) -> PathBuf {
        self.zones_dir.join(format!("{}.db", file_stem(zone)))
    }
    /// Journal path for `zone`.
    pub fn journal_file(&self, zone: &str) -> PathBuf {
        self.journal_dir.join(format!("{}.jnl", file_stem(zone)))
    }
    /// The DNS endpoint.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.port))
    }

    /// `key` statements for the TSIG and rndc keys.
    pub fn keys_stanza(&self) -> String {
        format!(
            "{}{}",
            self.tsig.named_conf_stanza(),
            self.rndc_key.named_conf_stanza()
        )
    }

    /// `controls` statement: rndc on `ip:rndc_port`, loopback clients, rndc key.
    pub fn controls_stanza(&self) -> String {
        format!(
            "controls {{\n\tinet {} port {} allow {{ 127.0.0.0/8; }} keys {{ \"{}\"; }};\n}};\n",
            self.ip, self.rndc_port, self.rndc_key.name
        )
    }

    /// The body of the fixture's `options { }` (without braces): all state in `dir`, listen
    /// only on `ip`, authoritative only, new zones allowed, NOTIFY at once, and transfer /
    /// notify / query sources pinned to `ip` so peers recognise this instance by address.
    pub fn base_options(&self) -> String {
        let d = self.dir.display();
        format!(
            "\tdirectory \"{d}\";\n\
             \tpid-file \"{d}/named.pid\";\n\
             \tlock-file \"{d}/named.lock\";\n\
             \tsession-keyfile \"{d}/session.key\";\n\
             \tmanaged-keys-directory \"{d}\";\n\
             \tdump-file \"{d}/named_dump.db\";\n\
             \tstatistics-file \"{d}/named.stats\";\n\
             \tlisten-on port {port} {{ {ip}; }};\n\
             \tlisten-on-v6 {{ none; }};\n\
             \trecursion no;\n\
             \tdnssec-validation no;\n\
             \tallow-new-zones yes;\n\
             \tnotify-delay 0;\n\
             \tnotify-source {ip};\n\
             \ttransfer-source {ip};\n\
             \tquery-source address {ip};\n",
            port = self.port,
            ip = self.ip,
        )
    }

    /// A `zone` statement for a primary zone whose file is in `zones_dir`, journal in
    /// `journal_dir`, updates and transfers allowed to the TSIG key only.
    pub fn primary_zone_stanza(&self, zone: &str) -> String {
        format!("zone \"{zone}\" {{\n{}}};\n", self.primary_zone_body(zone))
    }

    /// The inside of a primary zone statement (shared with `rndc addzone`).
    pub fn primary_zone_body(&self, zone: &str) -> String {
        format!(
            "\ttype primary;\n\tfile \"{}\";\n\tjournal \"{}\";\n\
             \tallow-update {{ key \"{k}\"; }};\n\tallow-transfer {{ key \"{k}\"; }};\n",
            self.zone_file(zone).display(),
            self.journal_file(zone).display(),
            k = self.tsig.name
        )
    }

    /// A `zone` statement for a secondary zone pulling from `primary` with TSIG.
    pub fn secondary_zone_stanza(&self, zone: &str, primary: SocketAddr) -> String {
        format!(
            "zone \"{zone}\" {{\n\ttype secondary;\n\tfile \"{}\";\n\tjournal \"{}\";\n\
             \tmasterfile-format text;\n\
             \tprimaries {{ {} port {} key \"{k}\"; }};\n\tallow-transfer {{ key \"{k}\"; }};\n}};\n",
            self.zone_file(zone).display(),
            self.journal_file(zone).display(),
            primary.ip(),
            primary.port(),
            k = self.tsig.name
        )
    }

    /// The complete generated `named.conf`.
    pub(crate) fn render_conf(
        &self,
        extra_options: &str,
        extra_config: &str,
        zones: &[ZoneSpec],
    ) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "# generated by bindy-tests for a test named\noptions {{\n{}",
            self.base_options()
        );
        for line in extra_options.lines() {
            let _ = writeln!(s, "\t{}", line.trim());
        }
        s.push_str("};\n\n");
        s.push_str(&self.keys_stanza());
        s.push('\n');
        s.push_str(&self.controls_stanza());
        s.push('\n');
        for z in zones {
            match z {
                ZoneSpec::Primary { name } => s.push_str(&self.primary_zone_stanza(name)),
                ZoneSpec::Secondary { name, primary } => {
                    s.push_str(&self.secondary_zone_stanza(name, *primary))
                }
            }
        }
        if !extra_config.is_empty() {
            s.push('\n');
            s.push_str(extra_config);
            s.push('\n');
        }
        s
    }

    /// `rndc.conf` for the control channel.
    pub fn render_rndc_conf(&self) -> String {
        format!(
            "{}options {{\n\tdefault-key \"{}\";\n\tdefault-server {};\n\tdefault-port {};\n}};\n",
            self.rndc_key.named_conf_stanza(),
            self.rndc_key.name,
            self.ip,
            self.rndc_port
        )
    }
}

fn file_stem(zone: &str) -> String {
    let z = zone.trim_end_matches('.');
    if z.is_empty() {
        "root".to_string()
    } else {
        z.replace('/', "_")
    }
}

/// Used by tests and by the builder to make paths for a dir.
pub(crate) fn layout(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("zones"), dir.join("journal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> NamedPaths {
        let dir = PathBuf::from("/tmp/x");
        let (zones_dir, journal_dir) = layout(&dir);
        NamedPaths {
            dir,
            zones_dir,
            journal_dir,
            ip: Ipv4Addr::new(127, 64, 1, 2),
            port: 20000,
            rndc_port: 20001,
            tsig: TsigKey::generate("bindy-tsig"),
            rndc_key: TsigKey::generate("rndc"),
        }
    }

    #[test]
    fn conf_keeps_state_in_dir_and_listens_on_ip_only() {
        let p = paths();
        let conf = p.render_conf(
            "minimal-responses yes;",
            "",
            &[ZoneSpec::Primary {
                name: "example.com".into(),
            }],
        );
        assert!(conf.contains("lock-file \"/tmp/x/named.lock\";"));
        assert!(conf.contains("listen-on port 20000 { 127.64.1.2; };"));
        assert!(
            conf.contains("inet 127.64.1.2 port 20001 allow { 127.0.0.0/8; } keys { \"rndc\"; };")
        );
        assert!(conf.contains("\tminimal-responses yes;\n"));
        assert!(conf.contains("file \"/tmp/x/zones/example.com.db\";"));
        assert!(conf.contains("allow-update { key \"bindy-tsig\"; };"));
    }

    #[test]
    fn secondary_names_its_primary_with_key() {
        let p = paths();
        let s = p.secondary_zone_stanza("example.org.", "127.64.9.9:3000".parse().unwrap());
        assert!(
            s.contains("primaries { 127.64.9.9 port 3000 key \"bindy-tsig\"; };"),
            "{s}"
        );
        assert!(s.contains("/tmp/x/zones/example.org.db"));
    }
}
