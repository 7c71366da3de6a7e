//! Shared by the `secondary_*` tests: the `dnsd` binary as a child process on its own
//! loopback address, queries to it, its metrics, and zone texts for a BIND9 primary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bindy_tests::named::{alloc_loopback_ip, free_port, require_tools, wait_until, Named};
use dnsd::inspect::{query, summarize, Summary};

/// Tools every secondary test needs.
pub const TOOLS: &[&str] = &["named", "rndc", "nsupdate", "dig", "named-checkconf"];

/// Skip (or fail under CI=true) without the BIND9 tools.
pub fn tools_present() -> bool {
    require_tools(TOOLS)
}

/// How a test's dnsd learns its zones from a BIND9 primary.
#[derive(Clone, Copy, Debug)]
pub enum Follow<'a> {
    /// `--secondary ZONE=PRIMARY`: one zone.
    Zone(&'a str),
    /// `--catalog CATALOG=PRIMARY`: the members of an RFC 9432 catalog zone.
    Catalog(&'a str),
}

/// dnsd flags to follow `what` on `primary`, signing with the TSIG key file `key`.
pub fn follow_flags(what: Follow<'_>, primary: SocketAddr, key: &Path) -> Vec<String> {
    let (flag, zone) = match what {
        Follow::Zone(z) => ("--secondary", z),
        Follow::Catalog(c) => ("--catalog", c),
    };
    vec![
        flag.into(),
        format!("{zone}={primary}"),
        "--tsig-key".into(),
        key.display().to_string(),
    ]
}

/// `--state-dir DIR`.
pub fn state_dir_flags(dir: &Path) -> Vec<String> {
    vec!["--state-dir".into(), dir.display().to_string()]
}

/// A running `dnsd` child, killed on drop.
pub struct Dnsd {
    child: Option<Child>,
    /// DNS address (UDP+TCP).
    pub addr: SocketAddr,
    /// Metrics endpoint.
    pub metrics: SocketAddr,
    /// stderr log file.
    pub log: PathBuf,
    args: Vec<String>,
}

/// A fresh address for a dnsd (own loopback IP, free port).
pub fn dnsd_addr() -> SocketAddr {
    let ip = alloc_loopback_ip();
    SocketAddr::new(IpAddr::V4(ip), free_port(ip))
}

impl Dnsd {
    /// Start `dnsd --listen ADDR --metrics IP:0 --workers 1 ARGS`, logging to `log`; returns
    /// once it printed its addresses (it serves from then on).
    pub fn start(addr: SocketAddr, log: &Path, args: &[String]) -> Dnsd {
        let mut all = vec![
            "--listen".to_string(),
            addr.to_string(),
            "--metrics".to_string(),
            format!("{}:0", addr.ip()),
            "--workers".to_string(),
            "1".to_string(),
        ];
        all.extend_from_slice(args);
        let mut d = Dnsd {
            child: None,
            addr,
            metrics: addr,
            log: log.to_path_buf(),
            args: all,
        };
        d.spawn();
        d
    }

    /// dnsd on `addr` following `what` on the primary `ns` with its TSIG key, logging to
    /// `dir`/dnsd.log, with `extra` flags after the follow flags.
    pub fn follow(
        addr: SocketAddr,
        dir: &Path,
        ns: &Named,
        what: Follow<'_>,
        extra: &[String],
    ) -> Dnsd {
        let mut args = follow_flags(what, ns.addr(), &ns.paths().tsig_key_file());
        args.extend_from_slice(extra);
        Dnsd::start(addr, &dir.join("dnsd.log"), &args)
    }

    fn spawn(&mut self) {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("dnsd log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_dnsd"))
            .args(&self.args)
            .env("RUST_LOG", "info,dnsd=debug")
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("spawn dnsd");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        // Log lines share stdout with the address lines: skip them (bounded).
        for _ in 0..200 {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if let Some(m) = line.strip_prefix("dnsd metrics on http://") {
                self.metrics = m
                    .trim()
                    .trim_end_matches("/metrics")
                    .parse()
                    .expect("metrics addr");
                break;
            }
        }
        // dnsd logs to stdout: keep copying it into the log file (the thread ends with dnsd).
        if let Ok(mut f) = err_clone(&self.log) {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut out, &mut f);
            });
        }
        // Owned before the check, so a failed start still kills it on drop.
        self.child = Some(child);
        assert_ne!(
            self.metrics,
            self.addr,
            "dnsd did not start:\n{}",
            self.log_text()
        );
    }

    /// Kill (SIGKILL, like a crash) and start again with the same flags.
    pub fn restart(&mut self) {
        self.kill();
        self.metrics = self.addr;
        self.spawn();
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kill at once.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Ask over UDP (4 tries, 500 ms each).
    pub fn ask(&self, name: &str, t: u16) -> Option<Summary> {
        ask(self.addr, name, t)
    }

    /// The answer section for `name`/`t` (empty on any failure).
    pub fn answer(&self, name: &str, t: u16) -> Vec<String> {
        self.ask(name, t)
            .map(|s| s.answer.into_iter().collect())
            .unwrap_or_default()
    }

    /// The rcode for `name`/`t`.
    pub fn rcode(&self, name: &str, t: u16) -> Option<u16> {
        self.ask(name, t).map(|s| s.rcode)
    }

    /// GET a path of the metrics endpoint: (status line, body).
    pub fn http(&self, path: &str) -> (String, String) {
        let Ok(mut s) = TcpStream::connect_timeout(&self.metrics, Duration::from_secs(2)) else {
            return (String::new(), String::new());
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut r = String::new();
        let _ = s.read_to_string(&mut r);
        let (head, body) = r.split_once("\r\n\r\n").unwrap_or((&r, ""));
        (
            head.lines().next().unwrap_or("").to_string(),
            body.to_string(),
        )
    }

    /// The value of a metric line starting with `prefix` (e.g. `name{zone="x",...}`).
    pub fn metric(&self, prefix: &str) -> Option<f64> {
        let (_, body) = self.http("/metrics");
        body.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// dnsd's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Poll until `f` holds (panics with dnsd's log tail after `secs`).
    pub fn wait(&self, what: &str, secs: u64, f: impl FnMut() -> bool) {
        if wait_until(what, Duration::from_secs(secs), f).is_err() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "timed out: {what}\n--- dnsd log tail ---\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

impl Drop for Dnsd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Knot DNS (`knotd`) as a secondary of `primary` for `zone`, TSIG with `key`, NOTIFY
/// accepted from the primary's address when signed with `key`; killed on drop.
pub struct Knot(Child);

impl Knot {
    /// Start it on `addr` with its files in `dir`.
    pub fn start(
        knotd: &Path,
        dir: &Path,
        addr: SocketAddr,
        primary: SocketAddr,
        key: &bindy_tests::named::TsigKey,
        zone: &str,
    ) -> Knot {
        let d = dir.display();
        let conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: {ip}@{port}\n\
             database:\n    storage: \"{d}/db\"\n\
             key:\n  - id: {kn}\n    algorithm: {alg}\n    secret: {sec}\n\
             remote:\n  - id: primary\n    address: {pip}@{pport}\n    key: {kn}\n    via: {ip}\n\
             acl:\n  - id: from_primary\n    address: {pip}\n    key: {kn}\n    action: notify\n\
             template:\n  - id: default\n    storage: \"{d}/zones\"\n    zonefile-sync: -1\n    \
             zonefile-load: none\n    journal-content: none\n\
             zone:\n  - domain: {zone}\n    master: primary\n    acl: from_primary\n\
             log:\n  - target: stderr\n    any: info\n",
            ip = addr.ip(),
            port = addr.port(),
            kn = key.name,
            alg = key.algorithm,
            sec = key.secret,
            pip = primary.ip(),
            pport = primary.port(),
        );
        let path = dir.join("knot.conf");
        std::fs::write(&path, conf).expect("knot.conf");
        let log = std::fs::File::create(dir.join("knot.log")).expect("knot log");
        let child = Command::new(knotd)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("knotd");
        Knot(child)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident and peak resident set size of a process, in MiB (from /proc).
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

fn err_clone(p: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
}

/// One UDP question to `server`.
pub fn ask(server: SocketAddr, name: &str, t: u16) -> Option<Summary> {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let q = query(0x5353, name, t, false, Some(1232));
    let mut buf = [0u8; 4096];
    for _ in 0..4 {
        s.send_to(&q, server).ok()?;
        if let Ok(n) = s.recv(&mut buf) {
            return summarize(&buf[..n]);
        }
    }
    None
}

/// A zone for a BIND9 primary with the given SOA timers.
pub fn zone_text(zone: &str, serial: u32, refresh: u32, retry: u32, expire: u32) -> String {
    format!(
        "$ORIGIN {zone}.\n$TTL 300\n\
         @   IN SOA ns1.{zone}. hostmaster.{zone}. {serial} {refresh} {retry} {expire} 60\n\
         @   IN NS  ns1.{zone}.\n\
         ns1 IN A   192.0.2.53\n\
         www IN A   192.0.2.80\n\
         mail IN MX 10 ns1.{zone}.\n\
         txt IN TXT \"hello world\"\n"
    )
}

/// [`zone_text`] with everyday timers: refresh 1 h, retry 10 min, expire 1 day.
pub fn plain_zone(zone: &str) -> String {
    zone_text(zone, 1, 3600, 600, 86400)
}

/// Appends `n` host records `hI A 10.x.y.z` (distinct addresses, relative names).
pub fn push_hosts(text: &mut String, n: u32) {
    text.reserve(n as usize * 24);
    for i in 0..n {
        text.push_str(&format!(
            "h{i} A 10.{}.{}.{}\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
}

/// A number from the environment variable `name`, or `default` (measurement knobs).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The records of dig's zone-transfer output as whitespace-normalised lines (comments,
/// blank lines and the TSIG record dropped).
pub fn transfer_records(dig_output: &str) -> Vec<String> {
    dig_output
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty() && !l.contains("TSIG"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Temp dir for a test's dnsd files.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
