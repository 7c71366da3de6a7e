//! A generic [`Runtime`] that runs a container's `command`/`args` as a host program: for
//! `dnsd` (point `program` at the built binary) or any helper process.
//!
//! Kubernetes semantics kept: the environment the agent resolved (values, downward API,
//! ConfigMap/Secret refs), `$(VAR)` expansion in command and args, mounted paths in args
//! remapped to host folders. Readiness is the runtime's own check
//! (process started, a DNS answer on the pod IP, or a TCP connect), not the pod spec's probes.

use std::io::Read as _;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Container;

use super::runtime::{ContainerLaunch, Process, Runtime};
use crate::error::{Error, Result};

/// When a started process counts as ready.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Readiness {
    /// As soon as it is running.
    Started,
    /// When it answers a DNS query over UDP on the pod IP at this port.
    Dns(u16),
    /// When a TCP connect to the pod IP at this port succeeds.
    Tcp(u16),
}

/// Runs containers whose image contains `image_contains`.
#[derive(Debug, Clone)]
pub struct CommandRuntime {
    /// Name for logs.
    pub name: String,
    /// Substring of the image that selects this runtime.
    pub image_contains: String,
    /// Host program to run instead of the container's `command[0]` (or the first arg when the
    /// container has no command, like an image entrypoint).
    pub program: Option<PathBuf>,
    /// Readiness check.
    pub readiness: Readiness,
    /// How long the process may take to become ready.
    pub start_timeout: Duration,
}

impl CommandRuntime {
    /// A runtime for `image_contains` running `program`, ready when started.
    pub fn new(name: &str, image_contains: &str, program: Option<PathBuf>) -> Self {
        Self {
            name: name.into(),
            image_contains: image_contains.into(),
            program,
            readiness: Readiness::Started,
            start_timeout: Duration::from_secs(10),
        }
    }
}

/// Send `. SOA` and wait briefly for any reply with our id.
fn dns_answers(addr: SocketAddr) -> bool {
    let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let query = [0xbe, 0xef, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1];
    if sock.send_to(&query, addr).is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    matches!(sock.recv_from(&mut buf), Ok((n, _)) if n >= 2 && buf[..2] == [0xbe, 0xef])
}

struct CommandProcess {
    child: Child,
    check: Readiness,
    ip: std::net::Ipv4Addr,
    log: PathBuf,
}

/// The last lines of a process log.
fn tail(log: &std::path::Path, lines: usize) -> String {
    let mut text = String::new();
    let _ = std::fs::File::open(log).and_then(|mut f| f.read_to_string(&mut text));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl CommandProcess {
    fn probe(&mut self) -> bool {
        match self.check {
            Readiness::Started => true,
            Readiness::Dns(p) => dns_answers(SocketAddr::from((self.ip, p))),
            Readiness::Tcp(p) => TcpStream::connect_timeout(
                &SocketAddr::from((self.ip, p)),
                Duration::from_millis(200),
            )
            .is_ok(),
        }
    }
}

impl Process for CommandProcess {
    fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    fn is_ready(&mut self) -> bool {
        self.is_alive() && self.probe()
    }
    fn exit_reason(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok().flatten()?;
        Some(format!("{status}: {}", tail(&self.log, 10)))
    }
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !self.is_alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CommandProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Runtime for CommandRuntime {
    fn name(&self) -> &str {
        &self.name
    }

    fn handles(&self, c: &Container) -> bool {
        c.image
            .as_deref()
            .unwrap_or_default()
            .contains(&self.image_contains)
    }

    fn start(&self, launch: &ContainerLaunch) -> Result<Box<dyn Process>> {
        let env = launch.env.clone();
        let mut argv: Vec<String> = launch.argv().iter().map(|a| launch.remap(a)).collect();
        let program = match &self.program {
            Some(p) => {
                if launch.container.command.is_some() && !argv.is_empty() {
                    argv.remove(0);
                }
                p.clone()
            }
            None if !argv.is_empty() => PathBuf::from(argv.remove(0)),
            None => {
                return Err(Error::Runtime(format!(
                    "container {} has no command",
                    launch.container.name
                )))
            }
        };
        let log = launch.scratch.join("log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new(&program)
            .args(&argv)
            .envs(env.iter().cloned())
            .current_dir(&launch.scratch)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| Error::Runtime(format!("starting {}: {e}", program.display())))?;
        std::fs::write(launch.scratch.join("pid"), child.id().to_string())?;
        let mut p = CommandProcess {
            child,
            check: self.readiness,
            ip: launch.ip,
            log: log.clone(),
        };
        let deadline = Instant::now() + self.start_timeout;
        while Instant::now() < deadline {
            if !p.is_alive() {
                break;
            }
            if p.probe() {
                return Ok(Box::new(p));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(Error::Runtime(format!(
            "{} for pod {} did not become ready: {}",
            program.display(),
            launch.pod,
            tail(&log, 20)
        )))
    }
}
