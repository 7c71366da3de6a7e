//! Unit-test helpers: run BIND's own checkers on generated text.
//!
//! A missing tool fails the test when `CI=true` and skips it (with a printed reason) otherwise,
//! as CONTRIBUTING-TEAM.md asks.

use std::io::Write as _;
use std::process::Command;

/// True when `tool` is on PATH; panics under CI when it is not.
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is required in CI but not on PATH");
        }
        eprintln!("SKIP: {tool} not on PATH");
    }
    found
}

/// Runs `named-checkzone -k fail -i full ORIGIN FILE`; Err carries its output.
pub fn checkzone(origin: &str, text: &str) -> Result<String, String> {
    let mut f = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    f.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    let out = Command::new("named-checkzone")
        .args(["-k", "fail", "-i", "full"])
        .arg(origin)
        .arg(f.path())
        .output()
        .map_err(|e| e.to_string())?;
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(msg)
    } else {
        Err(format!("{msg}\n--- zone ---\n{text}"))
    }
}

/// Runs `named-checkconf` on the text (with `-z` it also loads the zones it names).
pub fn checkconf(text: &str, load_zones: bool) -> Result<(), String> {
    let mut f = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    f.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    let mut cmd = Command::new("named-checkconf");
    if load_zones {
        cmd.arg("-z");
    }
    let out = cmd.arg(f.path()).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}\n--- conf ---\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
