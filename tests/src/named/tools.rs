//! Finding and running the BIND9 command-line tools, and polling with deadlines.
//!
//! Every external command runs with a deadline (via the `wait-timeout` crate) and its output
//! is read on helper threads, so a hung `rndc` or `nsupdate` fails the test with a clear
//! message instead of hanging CI. Tools are also looked up in `/usr/sbin` and `/sbin` because
//! Debian installs `named` and `rndc` there and a non-root user's PATH often lacks them.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

use crate::error::{Error, Result};

/// Taken shared while this crate spawns a child, exclusively while it probes a port: a child
/// forked during a probe holds copies of the probe's sockets until it execs, which can make
/// the port look taken to the `named` started right after (seen as flaky AddrInUse).
static SPAWN_LOCK: RwLock<()> = RwLock::new(());

pub(crate) fn spawn_guard() -> RwLockReadGuard<'static, ()> {
    SPAWN_LOCK.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn probe_guard() -> RwLockWriteGuard<'static, ()> {
    SPAWN_LOCK.write().unwrap_or_else(|e| e.into_inner())
}

const EXTRA_DIRS: [&str; 2] = ["/usr/sbin", "/sbin"];

/// Full path of `tool`, searching PATH, then `/usr/sbin` and `/sbin`.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// True when the environment says we run in CI (`CI=true` or `CI=1`, any case).
pub fn ci_mode() -> bool {
    std::env::var("CI")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
        .unwrap_or(false)
}

/// True if `tool` is installed. When it is missing: panics under `CI=true` (a missing tool
/// must fail CI, never skip), otherwise prints a SKIP reason to stderr and returns false.
pub fn require_tool(tool: &str) -> bool {
    require_tool_in(tool, ci_mode())
}

/// [`require_tool`] with the CI flag given explicitly (testable without touching the env).
pub fn require_tool_in(tool: &str, ci: bool) -> bool {
    if find_tool(tool).is_some() {
        return true;
    }
    if ci {
        panic!("required tool `{tool}` is missing and CI=true: install it (scripts/test.sh does) instead of skipping");
    }
    eprintln!("SKIP: required tool `{tool}` not found on PATH; install bind9 bind9-utils bind9-dnsutils (scripts/test.sh does it)");
    false
}

/// [`require_tool`] for several tools; true only if all are present.
pub fn require_tools(tools: &[&str]) -> bool {
    tools.iter().all(|t| require_tool(t))
}

/// Polls `f` until it returns true or `timeout` passes. The interval grows from 5 ms to
/// 100 ms, so fast conditions are seen quickly without busy-looping on slow ones.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut interval = Duration::from_millis(5);
    loop {
        if f() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout {
                what: what.to_string(),
                timeout,
            });
        }
        std::thread::sleep(interval.min(deadline - now));
        interval = (interval * 2).min(Duration::from_millis(100));
    }
}

/// Output of a finished command.
#[derive(Debug, Clone)]
pub struct Output {
    /// Standard output (the exit status was already checked to be success by [`run`]).
    pub stdout: String,
    /// Standard error (tools print warnings there even on success).
    pub stderr: String,
}

/// Runs `program args...` with optional stdin text, killing it after `timeout`.
/// A non-zero exit is an [`Error::Command`] carrying stdout and stderr.
pub fn run<I, S>(program: &Path, args: I, stdin: Option<&str>, timeout: Duration) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    let shown = format!("{cmd:?}").replace('"', "");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let spawned = {
        let _guard = spawn_guard();
        cmd.spawn()
    };
    let mut child = spawned.map_err(|e| Error::io(format!("spawning `{shown}`"), e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A write error means the tool exited early; its exit status and stderr say why.
        let _ = pipe.write_all(text.as_bytes());
    }
    let out_reader = child.stdout.take().map(spawn_reader);
    let err_reader = child.stderr.take().map(spawn_reader);
    let status = child
        .wait_timeout(timeout)
        .map_err(|e| Error::io(format!("waiting for `{shown}`"), e))?;
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::CommandTimeout {
            cmd: shown,
            timeout,
            context: String::new(),
        });
    };
    let stdout = out_reader.map(join_reader).unwrap_or_default();
    let stderr = err_reader.map(join_reader).unwrap_or_default();
    if status.success() {
        Ok(Output { stdout, stderr })
    } else {
        Err(Error::Command {
            cmd: shown,
            status: status.to_string(),
            stdout,
            stderr,
            context: String::new(),
        })
    }
}

/// Looks up `tool` and runs it like [`run`].
pub fn run_tool(
    tool: &str,
    args: &[&str],
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<Output> {
    let path = find_tool(tool).ok_or_else(|| Error::ToolMissing(tool.to_string()))?;
    run(&path, args, stdin, timeout)
}

fn spawn_reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn join_reader(h: std::thread::JoinHandle<String>) -> String {
    h.join().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_panics_in_ci_and_skips_otherwise() {
        let bogus = "bindy-no-such-tool-4711";
        assert!(std::panic::catch_unwind(|| require_tool_in(bogus, true)).is_err());
        assert!(!require_tool_in(bogus, false));
    }

    #[test]
    fn present_tool_is_found() {
        assert!(find_tool("sh").is_some());
        assert!(require_tool_in("sh", true));
    }

    #[test]
    fn wait_until_reports_what_timed_out() {
        let mut n = 0;
        wait_until("counter", Duration::from_secs(2), || {
            n += 1;
            n >= 3
        })
        .unwrap();
        assert_eq!(n, 3);
        let err = wait_until("never", Duration::from_millis(30), || false).unwrap_err();
        assert!(err.to_string().contains("never"), "{err}");
    }

    #[test]
    fn run_captures_output_failure_and_timeout() {
        let sh = find_tool("sh").unwrap();
        let ok = run(
            &sh,
            ["-c", "cat; echo err >&2"],
            Some("hi"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(ok.stdout, "hi");
        assert_eq!(ok.stderr, "err\n");
        let fail = run(
            &sh,
            ["-c", "echo boom >&2; exit 3"],
            None,
            Duration::from_secs(5),
        );
        assert!(matches!(fail, Err(Error::Command { ref stderr, .. }) if stderr == "boom\n"));
        let slow = run(&sh, ["-c", "sleep 5"], None, Duration::from_millis(100));
        assert!(matches!(slow, Err(Error::CommandTimeout { .. })));
    }
}
