//! [`NamedBuilder`]: describes a test `named` (address, zones, extra config) and starts it.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::conf::{layout, NamedPaths, ZoneSpec};
use super::instance::Named;
use super::net::{alloc_loopback_ip, free_port, LoopbackAlias};
use super::tools::{find_tool, run};
use super::tsig::TsigKey;
use crate::error::{Error, Result};

type CustomConf = Box<dyn FnOnce(&NamedPaths) -> String>;

/// Builder for a [`Named`]. Defaults: a fresh loopback address and free ports, fresh TSIG and
/// rndc keys (hmac-sha256), no zones, 10 s to become ready.
pub struct NamedBuilder {
    ip: Option<Ipv4Addr>,
    port: Option<u16>,
    rndc_port: Option<u16>,
    options: String,
    config: String,
    zones: Vec<(ZoneSpec, Option<String>)>,
    custom: Option<CustomConf>,
    tsig: Option<TsigKey>,
    rndc_key: Option<TsigKey>,
    start_timeout: Duration,
}

impl Default for NamedBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl NamedBuilder {
    /// A builder with the defaults above.
    pub fn new() -> Self {
        NamedBuilder {
            ip: None,
            port: None,
            rndc_port: None,
            options: String::new(),
            config: String::new(),
            zones: Vec::new(),
            custom: None,
            tsig: None,
            rndc_key: None,
            start_timeout: Duration::from_secs(10),
        }
    }

    /// Listen on `ip` (default: [`alloc_loopback_ip`]).
    pub fn ip(mut self, ip: Ipv4Addr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Use this DNS port (default: [`free_port`]). Lets a test know a secondary's address
    /// before starting its primary, e.g. for `also-notify`.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Use this rndc port (default: [`free_port`]).
    pub fn rndc_port(mut self, port: u16) -> Self {
        self.rndc_port = Some(port);
        self
    }

    /// Extra statements inside `options { }` (one per line).
    pub fn options(mut self, extra: &str) -> Self {
        self.options.push_str(extra);
        self.options.push('\n');
        self
    }

    /// Extra top-level statements appended to the generated `named.conf`.
    pub fn config(mut self, extra: &str) -> Self {
        self.config.push_str(extra);
        self.config.push('\n');
        self
    }

    /// Send NOTIFY for every zone to `addr` as well (global `also-notify`).
    pub fn also_notify(self, addr: SocketAddr) -> Self {
        let line = format!("also-notify {{ {} port {}; }};", addr.ip(), addr.port());
        self.options(&line)
    }

    /// A primary zone from `zone_file_text`, updatable and transferable with the TSIG key.
    pub fn primary_zone(mut self, name: &str, zone_file_text: &str) -> Self {
        self.zones.push((
            ZoneSpec::Primary {
                name: name.to_string(),
            },
            Some(zone_file_text.to_string()),
        ));
        self
    }

    /// A secondary zone transferred (TSIG-signed) from `primary`.
    pub fn secondary_zone(mut self, name: &str, primary: SocketAddr) -> Self {
        self.zones.push((
            ZoneSpec::Secondary {
                name: name.to_string(),
                primary,
            },
            None,
        ));
        self
    }

    /// Replace the generated `named.conf` with the caller's (e.g. the operator's generator).
    /// Zone files given with [`primary_zone`](Self::primary_zone) are still written. For the
    /// fixture's readiness check and [`Named::rndc`] to work the config must listen on
    /// `paths.ip`/`paths.port` and contain [`NamedPaths::controls_stanza`] and the rndc key
    /// ([`NamedPaths::keys_stanza`]); [`NamedPaths::base_options`] gives the usual options.
    pub fn custom_conf(mut self, f: impl FnOnce(&NamedPaths) -> String + 'static) -> Self {
        self.custom = Some(Box::new(f));
        self
    }

    /// Use this TSIG key (share one key between a primary and its secondaries).
    pub fn tsig(mut self, key: TsigKey) -> Self {
        self.tsig = Some(key);
        self
    }

    /// Use this rndc key.
    pub fn rndc_key(mut self, key: TsigKey) -> Self {
        self.rndc_key = Some(key);
        self
    }

    /// How long [`start`](Self::start) waits for named to answer (default 10 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Writes the instance dir and config, starts `named`, and waits until `rndc status`
    /// succeeds and it answers a UDP query. Errors carry the tail of named's log.
    ///
    /// When the ports were chosen here (no [`port`](Self::port) / [`rndc_port`](Self::rndc_port)
    /// / [`custom_conf`](Self::custom_conf)) and named could not bind them because something
    /// grabbed them between our check and its bind, it retries with fresh ports (3 tries).
    pub fn start(mut self) -> Result<Named> {
        let named_bin = find_tool("named").ok_or_else(|| Error::ToolMissing("named".into()))?;
        let rndc_bin = find_tool("rndc").ok_or_else(|| Error::ToolMissing("rndc".into()))?;
        let ip = self.ip.unwrap_or_else(alloc_loopback_ip);
        let tsig = self
            .tsig
            .take()
            .unwrap_or_else(|| TsigKey::generate("bindy-tsig"));
        let rndc_key = self
            .rndc_key
            .take()
            .unwrap_or_else(|| TsigKey::generate("rndc"));
        let retry_ports = self.port.is_none() && self.rndc_port.is_none() && self.custom.is_none();
        let mut attempt = 1;
        loop {
            let alias = LoopbackAlias::acquire(ip)?;
            let (tempdir, paths) = self.prepare(ip, tsig.clone(), rndc_key.clone())?;
            let mut named = Named::new(
                paths,
                tempdir,
                alias,
                named_bin.clone(),
                rndc_bin.clone(),
                self.start_timeout,
            );
            match named.spawn_and_wait() {
                Ok(()) => return Ok(named),
                Err(e) if retry_ports && attempt < 3 && is_port_clash(&e) => {
                    eprintln!("bindy-tests: named could not bind its ports, retrying: {e}");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates the temp dir, picks ports, writes zone files, named.conf, rndc.conf and the
    /// TSIG key file, and checks the config with `named-checkconf` when installed.
    fn prepare(
        &mut self,
        ip: Ipv4Addr,
        tsig: TsigKey,
        rndc_key: TsigKey,
    ) -> Result<(tempfile::TempDir, NamedPaths)> {
        let tempdir = tempfile::Builder::new()
            .prefix("bindy-named-")
            .tempdir()
            .map_err(|e| Error::io("creating temp dir for named", e))?;
        let dir = tempdir.path().to_path_buf();
        let (zones_dir, journal_dir) = layout(&dir);
        for d in [&zones_dir, &journal_dir] {
            std::fs::create_dir_all(d)
                .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
        }
        let port = self.port.unwrap_or_else(|| free_port(ip));
        let rndc_port = match self.rndc_port {
            Some(p) => p,
            None => loop {
                let p = free_port(ip);
                if p != port {
                    break p;
                }
            },
        };
        let paths = NamedPaths {
            dir,
            zones_dir,
            journal_dir,
            ip,
            port,
            rndc_port,
            tsig,
            rndc_key,
        };
        for (spec, text) in &self.zones {
            if let (ZoneSpec::Primary { name }, Some(text)) = (spec, text) {
                write(&paths.zone_file(name), text)?;
            }
        }
        let conf = match self.custom.take() {
            Some(f) => f(&paths),
            None => {
                let specs: Vec<ZoneSpec> = self.zones.iter().map(|(s, _)| s.clone()).collect();
                paths.render_conf(&self.options, &self.config, &specs)
            }
        };
        write(&paths.conf_file(), &conf)?;
        write(&paths.rndc_conf_file(), &paths.render_rndc_conf())?;
        paths
            .tsig
            .write_key_file(&paths.tsig_key_file())
            .map_err(|e| Error::io("writing tsig.key", e))?;
        if let Some(check) = find_tool("named-checkconf") {
            let conf_path = paths.conf_file();
            if let Err(e) = run(
                &check,
                [conf_path.as_os_str()],
                None,
                Duration::from_secs(10),
            ) {
                return Err(Error::NamedStart {
                    addr: paths.addr().to_string(),
                    reason: format!("named-checkconf rejected the config: {e}"),
                    log_tail: format!(
                        "(named was not started)\n--- named.conf ---\n{}",
                        numbered(&conf)
                    ),
                });
            }
        }
        Ok((tempdir, paths))
    }
}

/// True when named failed because a port it wanted was taken.
fn is_port_clash(e: &Error) -> bool {
    match e {
        Error::NamedStart {
            reason, log_tail, ..
        } => [reason, log_tail].iter().any(|t| {
            t.contains("address in use")
                || t.contains("unable to listen on any configured interfaces")
                || t.contains("couldn't add command channel")
        }),
        _ => false,
    }
}

fn write(path: &std::path::Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn numbered(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| format!("{:4} {l}\n", i + 1))
        .collect()
}
