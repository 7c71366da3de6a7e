//! Writes the generated CRD manifests (`deploy/crds/`) and `docs/crd-reference.md`.
//!
//! Usage: `cargo run -p bindy-crds --bin crdgen [REPO_ROOT]` (default: the workspace root).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."));
    match run(&root) {
        Ok(n) => {
            println!("crdgen: wrote {n} files under {}", root.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crdgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(root: &std::path::Path) -> bindy_crds::Result<usize> {
    let files = bindy_crds::generate::files()?;
    for (rel, content) in &files {
        let path = root.join(rel);
        let io = |source| bindy_crds::Error::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        std::fs::write(&path, content).map_err(io)?;
    }
    Ok(files.len())
}
