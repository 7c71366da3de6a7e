//! [`Named`]: a running test `named` and the tools (rndc, nsupdate, dig) pointed at it.
//!
//! named runs in the foreground (`-g`) so it is our direct child and logs everything to
//! stderr, which goes to `named.log` in its dir. Readiness is "rndc status succeeds and a UDP
//! query gets any reply": the control channel and the UDP listener come up at different
//! moments, and tests need both. The UDP probe is a hand-built 17-byte query read with std
//! sockets, because it only has to see *a* reply with our id and needs no DNS parser.

use std::fs::OpenOptions;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use wait_timeout::ChildExt;

use super::conf::NamedPaths;
use super::net::LoopbackAlias;
use super::tools::{run, run_tool, spawn_guard, wait_until, Output};
use super::tsig::TsigKey;
use crate::error::{Error, Result};

/// Deadline for one rndc / nsupdate / dig invocation.
const TOOL_TIMEOUT: Duration = Duration::from_secs(20);
/// Log lines after which named keeps running but is unusable for tests (checked in the log
/// of the current run only; restarts append to the same file).
const FATAL_LOG_LINES: &[&str] = &["couldn't add command channel"];
/// Lines of named's log quoted in errors.
const LOG_TAIL_LINES: usize = 40;

/// A running `named`. Dropping it kills the process and removes its dir (kept when the env
/// variable `BINDY_KEEP_TEST_DIRS` is set, for post-mortems).
pub struct Named {
    paths: NamedPaths,
    tempdir: Option<TempDir>,
    child: Option<Child>,
    /// Keeps our address on `lo`; dropped after the process is killed.
    _alias: LoopbackAlias,
    named_bin: PathBuf,
    rndc_bin: PathBuf,
    start_timeout: Duration,
    /// Length of the log file when the current run started.
    log_start: usize,
}

impl Named {
    pub(crate) fn new(
        paths: NamedPaths,
        tempdir: TempDir,
        alias: LoopbackAlias,
        named_bin: PathBuf,
        rndc_bin: PathBuf,
        start_timeout: Duration,
    ) -> Named {
        Named {
            paths,
            tempdir: Some(tempdir),
            child: None,
            _alias: alias,
            named_bin,
            rndc_bin,
            start_timeout,
            log_start: 0,
        }
    }

    /// DNS endpoint (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.paths.addr()
    }
    /// The loopback address it listens on.
    pub fn ip(&self) -> Ipv4Addr {
        self.paths.ip
    }
    /// The DNS port.
    pub fn port(&self) -> u16 {
        self.paths.port
    }
    /// The rndc control channel endpoint.
    pub fn rndc_addr(&self) -> SocketAddr {
        SocketAddr::from((self.paths.ip, self.paths.rndc_port))
    }
    /// Its files and keys.
    pub fn paths(&self) -> &NamedPaths {
        &self.paths
    }
    /// The key allowed to update and transfer zones.
    pub fn tsig(&self) -> &TsigKey {
        &self.paths.tsig
    }
    /// The rndc control key.
    pub fn rndc_key(&self) -> &TsigKey {
        &self.paths.rndc_key
    }
    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Runs `rndc` with the generated `rndc.conf`; returns its stdout.
    pub fn rndc(&self, args: &[&str]) -> Result<String> {
        let conf = self.paths.rndc_conf_file();
        let ip = self.paths.ip.to_string();
        let port = self.paths.rndc_port.to_string();
        let mut all: Vec<&str> = vec!["-c", path_str(&conf), "-s", &ip, "-p", &port];
        all.extend_from_slice(args);
        run(&self.rndc_bin, &all, None, TOOL_TIMEOUT)
            .map(|o| o.stdout)
            .map_err(|e| self.with_log(e))
    }

    /// Writes `zone_file_text` to the zones dir and adds the zone with `rndc addzone` as a
    /// primary (updates and transfers allowed to [`tsig`](Self::tsig)).
    pub fn add_zone(&self, name: &str, zone_file_text: &str) -> Result<()> {
        let file = self.paths.zone_file(name);
        std::fs::write(&file, zone_file_text)
            .map_err(|e| Error::io(format!("writing {}", file.display()), e))?;
        let body = self
            .paths
            .primary_zone_body(name)
            .replace(['\n', '\t'], " ");
        let spec = format!("{{ {body} }};");
        self.rndc(&["addzone", name, &spec])?;
        Ok(())
    }

    /// Runs `nsupdate -v` (TCP) signed with the TSIG key. `server` is prepended and `send`
    /// appended unless the script already has one. Errors carry nsupdate's stderr.
    pub fn nsupdate(&self, script: &str) -> Result<String> {
        let mut input = format!("server {} {}\n", self.paths.ip, self.paths.port);
        input.push_str(script.trim_end());
        input.push('\n');
        if !script.lines().any(|l| l.trim() == "send") {
            input.push_str("send\n");
        }
        let key = self.paths.tsig_key_file();
        run_tool(
            "nsupdate",
            &["-v", "-t", "10", "-k", path_str(&key)],
            Some(&input),
            TOOL_TIMEOUT,
        )
        .map(|o: Output| o.stdout)
        .map_err(|e| self.with_log(e))
    }

    /// `dig @ip -p port +norec +time=1 +tries=2 ARGS`; returns stdout.
    pub fn dig(&self, args: &[&str]) -> Result<String> {
        let server = format!("@{}", self.paths.ip);
        let port = self.paths.port.to_string();
        let mut all: Vec<&str> = vec![&server, "-p", &port, "+norec", "+time=1", "+tries=2"];
        all.extend_from_slice(args);
        run_tool("dig", &all, None, TOOL_TIMEOUT).map(|o| o.stdout)
    }

    /// `dig +short NAME RTYPE`, one answer per element.
    pub fn dig_short(&self, name: &str, rtype: &str) -> Result<Vec<String>> {
        let out = self.dig(&["+short", name, rtype])?;
        Ok(out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with(';'))
            .map(str::to_string)
            .collect())
    }

    /// named's log so far (empty if it cannot be read).
    pub fn log(&self) -> String {
        std::fs::read(self.paths.log_file())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Stops named gracefully (`rndc stop`, so zones and journals are flushed), killing it if
    /// it has not exited within 5 s. The dir and ports stay reserved for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if self.child.is_none() {
            return;
        }
        // Best effort: if rndc fails the kill below still stops it.
        let _ = self.rndc(&["stop"]);
        if let Some(mut child) = self.child.take() {
            match child.wait_timeout(Duration::from_secs(5)) {
                Ok(Some(_)) => {}
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
    }

    /// Kills named at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (if running) and starts again with the same dir, config and ports.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn_and_wait()
    }

    pub(crate) fn spawn_and_wait(&mut self) -> Result<()> {
        let log_path = self.paths.log_file();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("duplicating named log handle", e))?;
        self.log_start = log
            .metadata()
            .map(|m| usize::try_from(m.len()).unwrap_or(0))
            .unwrap_or(0);
        let conf = self.paths.conf_file();
        let _guard = spawn_guard();
        let child = Command::new(&self.named_bin)
            .arg("-g")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(self.paths.port.to_string())
            .current_dir(&self.paths.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| Error::io(format!("spawning {}", self.named_bin.display()), e))?;
        drop(_guard);
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + self.start_timeout;
        let mut interval = Duration::from_millis(10);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(self.start_error(format!("named exited with {status}")));
                }
            }
            let log = self.log();
            let this_run = log.get(self.log_start..).unwrap_or(&log);
            if let Some(fatal) = FATAL_LOG_LINES.iter().find(|l| this_run.contains(*l)) {
                let reason = format!("named logged \"{fatal}\"");
                self.kill();
                return Err(self.start_error(reason));
            }
            if udp_probe(self.addr()) && self.rndc(&["status"]).is_ok() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                let reason = format!(
                    "not ready (rndc status + UDP reply) within {:?}",
                    self.start_timeout
                );
                self.kill();
                return Err(self.start_error(reason));
            }
            std::thread::sleep(interval.min(deadline - now));
            interval = (interval * 2).min(Duration::from_millis(100));
        }
    }

    fn start_error(&self, reason: String) -> Error {
        Error::NamedStart {
            addr: self.addr().to_string(),
            reason,
            log_tail: self.log_tail(LOG_TAIL_LINES),
        }
    }

    /// Appends the tail of named's log to command errors, so failures explain themselves.
    fn with_log(&self, e: Error) -> Error {
        let ctx = format!(
            "\n--- named log (tail) ---\n{}",
            self.log_tail(LOG_TAIL_LINES)
        );
        match e {
            Error::Command {
                cmd,
                status,
                stdout,
                stderr,
                ..
            } => Error::Command {
                cmd,
                status,
                stdout,
                stderr,
                context: ctx,
            },
            Error::CommandTimeout { cmd, timeout, .. } => Error::CommandTimeout {
                cmd,
                timeout,
                context: ctx,
            },
            other => other,
        }
    }

    /// A TSIG-signed AXFR of `zone` over TCP (`dig -k`), in dig's text form. Errors when the
    /// transfer fails (dig prints "Transfer failed" but exits 0, so that is checked here).
    pub fn axfr(&self, zone: &str) -> Result<String> {
        let key = self.paths.tsig_key_file();
        let out = self.dig(&["-k", path_str(&key), "+nocmd", "+nostats", zone, "AXFR"])?;
        if out.contains("Transfer failed") || out.contains("; communications error") {
            return Err(self.with_log(Error::Command {
                cmd: format!("dig AXFR {zone} @{}", self.addr()),
                status: "transfer failed".into(),
                stdout: out,
                stderr: String::new(),
                context: String::new(),
            }));
        }
        Ok(out)
    }

    /// The SOA serial `zone` is served with, `None` when it is not served (yet).
    pub fn soa_serial(&self, zone: &str) -> Result<Option<u32>> {
        let soa = self.dig_short(zone, "SOA")?;
        Ok(soa
            .first()
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|s| s.parse().ok()))
    }

    /// Polls until `zone` is served with a serial of at least `serial` (ignoring RFC 1982
    /// wrap-around, which tests do not reach) and returns the serial seen.
    pub fn wait_for_serial(&self, zone: &str, serial: u32, timeout: Duration) -> Result<u32> {
        let mut seen = 0;
        let what = format!("{zone} serial >= {serial} at {}", self.addr());
        wait_until(&what, timeout, || match self.soa_serial(zone) {
            Ok(Some(s)) => {
                seen = s;
                s >= serial
            }
            _ => false,
        })?;
        Ok(seen)
    }

    /// Polls `dig +short name rtype` until `pred` holds on the answers.
    pub fn wait_for_answer(
        &self,
        name: &str,
        rtype: &str,
        timeout: Duration,
        mut pred: impl FnMut(&[String]) -> bool,
    ) -> Result<Vec<String>> {
        let mut last = Vec::new();
        let what = format!("{name} {rtype} at {}", self.addr());
        wait_until(&what, timeout, || match self.dig_short(name, rtype) {
            Ok(ans) => {
                let ok = pred(&ans);
                last = ans;
                ok
            }
            Err(_) => false,
        })?;
        Ok(last)
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = self.tempdir.take() {
            if std::env::var_os("BINDY_KEEP_TEST_DIRS").is_some() {
                let kept = dir.keep();
                eprintln!("BINDY_KEEP_TEST_DIRS: kept named dir {}", kept.display());
            }
        }
    }
}

fn path_str(p: &std::path::Path) -> &str {
    // Temp dirs are created by us under the system temp dir; a non-UTF-8 path would be a
    // broken environment, and an empty argument then makes the tool fail loudly.
    p.to_str().unwrap_or("")
}

/// Sends `. IN SOA` without RD and waits up to 250 ms for any reply carrying our id.
fn udp_probe(addr: SocketAddr) -> bool {
    let Ok(sock) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else {
        return false;
    };
    if sock
        .set_read_timeout(Some(Duration::from_millis(250)))
        .is_err()
    {
        return false;
    }
    let id: u16 = rand::random();
    let [hi, lo] = id.to_be_bytes();
    // header: id, flags 0, qdcount 1, an/ns/ar 0; question: root name, type SOA, class IN
    let query = [hi, lo, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1];
    if sock.send_to(&query, addr).is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    match sock.recv_from(&mut buf) {
        Ok((n, from)) => {
            n >= 12 && from == addr && buf[0] == hi && buf[1] == lo && buf[2] & 0x80 != 0
        }
        Err(_) => false,
    }
}
