//! The `named` [`Runtime`]: runs a BIND9 container as a real `named` through the team's fixture
//! (`bindy_tests::named::NamedBuilder`), with the pod's own `named.conf` (from its volumes).
//!
//! The pod's config is used as written, except for what cannot work outside a container:
//! mounted paths are remapped to the host folders (so `directory`, journals and zone files land
//! on the pod's volumes and persist across restarts); in `options`, the per-process files
//! (`pid-file`, `lock-file`, `session-keyfile`, `dump-file`, `statistics-file`) move into the
//! fixture's private dir (as do `directory`/`managed-keys-directory` when the pod sets none) and
//! `listen-on` becomes the pod IP only; the `controls` statement is re-rendered on the pod IP and rndc port,
//! accepting the pod's own rndc keys plus the fixture's (which the fixture's readiness check
//! uses). Hand-written: named.conf has no maintained Rust parser, and only statement
//! boundaries (braces, semicolons, quotes, comments) matter here.

use std::net::Ipv4Addr;

use bindy_tests::named::{Named, NamedBuilder, NamedPaths, TsigKey};
use k8s_openapi::api::core::v1::Container;

use super::runtime::{ContainerLaunch, Process, Runtime};
use crate::error::{Error, Result};

/// Runs containers whose image or name mentions `bind9`/`named`.
#[derive(Debug, Clone)]
pub struct NamedRuntime {
    /// DNS port on the pod IP (53 like in a cluster; the machines run tests as root).
    pub dns_port: u16,
    /// rndc port on the pod IP (953 like in a cluster).
    pub rndc_port: u16,
}

impl Default for NamedRuntime {
    fn default() -> Self {
        Self {
            dns_port: 53,
            rndc_port: 953,
        }
    }
}

fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if c == '"' {
                in_str = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_str = true;
                out.push(c);
            }
            ('/', Some('/')) | ('#', _) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Split a config body into statements at top-level semicolons (the `;` is dropped).
fn statements(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut in_str, mut cur) = (0i32, false, String::new());
    for c in s.chars() {
        match c {
            '"' => in_str = !in_str,
            '{' if !in_str => depth += 1,
            '}' if !in_str => depth -= 1,
            ';' if !in_str && depth == 0 => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn keyword(stmt: &str) -> &str {
    stmt.split(|c: char| c.is_whitespace() || c == '{')
        .next()
        .unwrap_or_default()
}

fn body(stmt: &str) -> &str {
    match (stmt.find('{'), stmt.rfind('}')) {
        (Some(a), Some(b)) if b > a => &stmt[a + 1..b],
        _ => "",
    }
}

fn quoted(s: &str) -> Vec<String> {
    s.split('"').skip(1).step_by(2).map(String::from).collect()
}

/// Per-process files, always moved into the fixture's private dir.
const MOVED: &[&str] = &[
    "pid-file",
    "lock-file",
    "session-keyfile",
    "dump-file",
    "statistics-file",
    "listen-on",
    "listen-on-v6",
];

/// Kept from the pod's config when present (remapped to the pod's volumes, so journals, zones
/// added by rndc or catalog, and managed keys persist on the claim across restarts, as in a
/// pod); the fixture's dir otherwise.
const KEPT_DIRS: &[&str] = &["directory", "managed-keys-directory"];

/// Adapt a pod's (already remapped) named.conf to run on the host with the fixture's paths.
pub fn adapt_conf(conf: &str, p: &NamedPaths) -> String {
    let d = p.dir.display();
    let fixed = format!(
        "\tpid-file \"{d}/named.pid\";\n\tlock-file \"{d}/named.lock\";\n\
         \tsession-keyfile \"{d}/session.key\";\n\
         \tdump-file \"{d}/named_dump.db\";\n\tstatistics-file \"{d}/named.stats\";\n\
         \tlisten-on port {} {{ {}; }};\n\tlisten-on-v6 {{ none; }};\n",
        p.port, p.ip
    );
    let default_dirs = |given: &[String]| -> String {
        KEPT_DIRS
            .iter()
            .filter(|k| !given.iter().any(|g| g == *k))
            .map(|k| format!("\t{k} \"{d}\";\n"))
            .collect()
    };
    let mut out = String::new();
    let mut saw_options = false;
    let mut keys = vec![p.rndc_key.name.clone()];
    for stmt in statements(&strip_comments(conf)) {
        match keyword(&stmt) {
            "options" => {
                saw_options = true;
                out.push_str("options {\n");
                out.push_str(&fixed);
                let inner = statements(body(&stmt));
                let given: Vec<String> = inner.iter().map(|s| keyword(s).to_string()).collect();
                out.push_str(&default_dirs(&given));
                for s in inner {
                    if !MOVED.contains(&keyword(&s)) {
                        out.push_str(&format!("\t{s};\n"));
                    }
                }
                out.push_str("};\n");
            }
            "controls" => {
                if let Some(i) = stmt.find("keys") {
                    keys.extend(quoted(body(&stmt[i..])));
                }
            }
            _ => out.push_str(&format!("{stmt};\n")),
        }
    }
    if !saw_options {
        out = format!("options {{\n{fixed}{}}};\n{out}", default_dirs(&[]));
    }
    keys.dedup();
    let keys: String = keys.iter().map(|k| format!("\"{k}\"; ")).collect();
    out.push_str(&p.rndc_key.named_conf_stanza());
    out.push_str(&format!(
        "controls {{\n\tinet {} port {} allow {{ 127.0.0.0/8; }} keys {{ {keys}}};\n}};\n",
        p.ip, p.rndc_port
    ));
    out
}

struct NamedProcess {
    named: Named,
    /// The pod's named.conf on the host and the launch (for remapping), to re-derive the
    /// fixture's copy when the ConfigMap changes.
    source: std::path::PathBuf,
    launch: ContainerLaunch,
}

impl NamedProcess {
    /// Re-derive the running config from the pod's (updated) named.conf, so that an `rndc
    /// reconfig` by the operator sees the new ConfigMap, as it would in a pod.
    fn refresh_conf(&self) -> Result<()> {
        let text = std::fs::read_to_string(&self.source)?;
        let conf = adapt_conf(&self.launch.remap(&text), self.named.paths());
        std::fs::write(self.named.paths().conf_file(), conf)?;
        Ok(())
    }
}

fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

impl Process for NamedProcess {
    fn is_alive(&mut self) -> bool {
        self.named.pid().is_some_and(pid_alive)
    }
    fn is_ready(&mut self) -> bool {
        self.is_alive()
    }
    fn stop(&mut self) {
        self.named.stop();
    }
    fn files_changed(&mut self) {
        if let Err(e) = self.refresh_conf() {
            tracing::warn!(pod = %self.launch.pod, error = %e, "could not refresh named.conf");
        }
    }
}

impl Runtime for NamedRuntime {
    fn name(&self) -> &str {
        "named"
    }

    fn handles(&self, c: &Container) -> bool {
        let image = c.image.as_deref().unwrap_or_default();
        let cmd = c
            .command
            .as_ref()
            .and_then(|v| v.first())
            .map(String::as_str)
            .unwrap_or_default();
        image.contains("bind9") || c.name == "bind9" || c.name == "named" || cmd.ends_with("named")
    }

    fn start(&self, launch: &ContainerLaunch) -> Result<Box<dyn Process>> {
        let argv = launch.argv();
        let conf_path = argv
            .iter()
            .position(|a| a == "-c")
            .and_then(|i| argv.get(i + 1).cloned())
            .unwrap_or_else(|| "/etc/bind/named.conf".into());
        let host = launch.host_path(&conf_path).ok_or_else(|| {
            Error::Runtime(format!(
                "{conf_path} is not on any volume of pod {}",
                launch.pod
            ))
        })?;
        let text = std::fs::read_to_string(&host)
            .map_err(|e| Error::Runtime(format!("reading {}: {e}", host.display())))?;
        let remapped = launch.remap(&text);
        let ip: Ipv4Addr = launch.ip;
        let named = NamedBuilder::new()
            .ip(ip)
            .port(self.dns_port)
            .rndc_port(self.rndc_port)
            .rndc_key(TsigKey::generate("kube-double-rndc"))
            .custom_conf(move |p| adapt_conf(&remapped, p))
            .start()
            .map_err(|e| Error::Runtime(format!("named for pod {}: {e}", launch.pod)))?;
        if let Some(pid) = named.pid() {
            std::fs::write(launch.scratch.join("pid"), pid.to_string())?;
        }
        // the container log (`kubectl logs`) is named's own log in the fixture's dir
        let log = launch.scratch.join("log");
        let _ = std::fs::remove_file(&log);
        std::os::unix::fs::symlink(named.paths().log_file(), &log)?;
        Ok(Box::new(NamedProcess {
            named,
            source: host,
            launch: launch.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_is_adapted_to_the_fixture() {
        let paths = NamedPaths {
            dir: "/tmp/x".into(),
            zones_dir: "/tmp/x/zones".into(),
            journal_dir: "/tmp/x/jnl".into(),
            ip: Ipv4Addr::new(127, 64, 0, 9),
            port: 53,
            rndc_port: 953,
            tsig: TsigKey::with_algorithm("t", "hmac-sha256"),
            rndc_key: TsigKey::with_algorithm("kube-double-rndc", "hmac-sha256"),
        };
        let conf = "// generated\ninclude \"/h/keys/rndc.key\";\noptions {\n directory \"/var/cache/bind\";\n \
                    listen-on port 53 { any; }; # all\n recursion no;\n allow-transfer { key \"xfer\"; };\n};\n\
                    controls { inet * port 953 allow { any; } keys { \"bindy-rndc\"; }; };\n\
                    zone \"example.com\" { type primary; file \"/h/zones/example.com.db\"; };\n";
        let out = adapt_conf(conf, &paths);
        assert!(out.contains("include \"/h/keys/rndc.key\";"));
        assert!(
            out.contains("directory \"/var/cache/bind\";"),
            "the pod's (remapped) directory is kept"
        );
        assert!(out.contains("managed-keys-directory \"/tmp/x\";"));
        assert!(out.contains("pid-file \"/tmp/x/named.pid\";"));
        assert!(
            adapt_conf("zone \"a\" { type primary; file \"/z\"; };", &paths)
                .contains("directory \"/tmp/x\";")
        );
        assert!(out.contains("listen-on port 53 { 127.64.0.9; };"));
        assert!(!out.contains("any;"), "{out}");
        assert!(out.contains("recursion no;") && out.contains("allow-transfer { key \"xfer\"; };"));
        assert!(out.contains("inet 127.64.0.9 port 953"));
        assert!(
            out.contains("keys { \"kube-double-rndc\"; \"bindy-rndc\"; }"),
            "{out}"
        );
        assert!(out
            .contains("zone \"example.com\" { type primary; file \"/h/zones/example.com.db\"; };"));
        assert!(!out.contains("generated"));
    }
}
