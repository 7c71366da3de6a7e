//! The Dockerfiles in `deploy/docker/` and the build context they get: base images pinned to
//! exact versions, one Debian release per image (build stage and runtime), the Rust toolchain
//! the workspace declares, the binary built = the binary copied = the entrypoint, and a
//! `.dockerignore` that keeps `COPY . .` small without dropping a workspace member. How the
//! images match the manifests (ports, users, names) is in `deploy_manifests.rs` and
//! `deploy_managed.rs`. No image is built here: the machine has no container engine.

mod deploy_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use deploy_support::{doc, dockerfiles, root};
use serde_json::Value;

/// Base images that publish no version tags (distroless: `latest`/`nonroot`/`debug` only), so
/// only a digest could pin them; none could be verified from this environment (no registry
/// access). The release step appends `@sha256:...` (see the Dockerfiles' comments).
const UNPINNED_ALLOWED: &[&str] = &["gcr.io/distroless/cc-debian12:nonroot"];

/// The tag of an image reference (`repo[:tag][@digest]`), if any.
fn tag(image: &str) -> Option<&str> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split_once(':').map(|(_, t)| t)
}

fn has_digest(image: &str) -> bool {
    image.split_once("@sha256:").is_some_and(|(_, d)| {
        d.len() == 64
            && d.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase())
    })
}

/// The Debian major release an image reference names (`bookworm`, `debian12`, `debian:12.x`).
fn debian_release(image: &str) -> Option<u32> {
    let names = [("bookworm", 12), ("trixie", 13), ("bullseye", 11)];
    if let Some((_, n)) = names.iter().find(|(c, _)| image.contains(c)) {
        return Some(*n);
    }
    let re = regex::Regex::new(r"debian(?:[-:]?)(\d+)").unwrap();
    re.captures(image).map(|c| c[1].parse().unwrap())
}

#[test]
fn base_images_are_pinned_to_exact_versions() {
    let version = regex::Regex::new(r"^\d+\.\d+(\.\d+)?(-|$)").unwrap();
    let mut floating = Vec::new();
    for df in dockerfiles() {
        assert!(!df.from.is_empty(), "{}: no FROM", df.name);
        for image in &df.from {
            let pinned = tag(image).is_some_and(|t| version.is_match(t))
                || has_digest(image)
                || UNPINNED_ALLOWED.contains(&image.as_str());
            if !pinned {
                floating.push(format!("{}: {image}", df.name));
            }
        }
    }
    assert!(
        floating.is_empty(),
        "floating base images (pin an exact version tag or @sha256): {floating:?}"
    );
    // The allowance is not stale: every allowed image is still used.
    let used: BTreeSet<String> = dockerfiles().into_iter().flat_map(|d| d.from).collect();
    for a in UNPINNED_ALLOWED {
        assert!(
            used.contains(*a),
            "{a} no longer used: drop it from UNPINNED_ALLOWED"
        );
    }
}

#[test]
fn each_image_is_built_and_run_on_one_debian_release_and_the_declared_toolchain() {
    let cargo_toml = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let rust_version = regex::Regex::new(r#"(?m)^rust-version\s*=\s*"([0-9.]+)""#)
        .unwrap()
        .captures(&cargo_toml)
        .expect("workspace rust-version")[1]
        .to_string();
    let mut releases = BTreeSet::new();
    for df in dockerfiles() {
        let per_image: BTreeSet<u32> = df
            .from
            .iter()
            .map(|i| debian_release(i).unwrap_or_else(|| panic!("{}: {i}: which Debian?", df.name)))
            .collect();
        // A binary built against a newer glibc than the runtime's would not start.
        assert_eq!(per_image.len(), 1, "{}: stages on {per_image:?}", df.name);
        releases.extend(per_image);
        // The exact toolchain (x.y.z: `rust:1.95` would float across patch releases).
        let exact =
            regex::Regex::new(&format!(r"^{}\.\d+-", regex::escape(&rust_version))).unwrap();
        for image in df.from.iter().filter(|i| i.starts_with("rust:")) {
            assert!(
                exact.is_match(tag(image).unwrap_or_default()),
                "{}: {image} is not an exact release of the workspace's rust-version {rust_version}",
                df.name
            );
        }
    }
    assert_eq!(
        releases.len(),
        1,
        "images on different Debian releases: {releases:?}"
    );
}

/// `cargo metadata --no-deps` of the workspace.
fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_binary_built_is_the_binary_copied_and_run() {
    let meta = metadata();
    let bins: BTreeSet<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let mut rust_images = 0;
    for df in dockerfiles() {
        let Some(bin) = df.cargo_bins.first() else {
            continue;
        };
        rust_images += 1;
        assert!(bins.contains(bin), "{}: no binary target {bin}", df.name);
        assert_eq!(
            df.copied_from_stages,
            [format!("/src/target/release/{bin}")],
            "{}: copies what it built",
            df.name
        );
        assert_eq!(
            df.entrypoint.as_deref(),
            Some(format!("/usr/local/bin/{bin}").as_str()),
            "{}: runs what it copied",
            df.name
        );
    }
    assert_eq!(
        rust_images, 2,
        "the operator and dnsd images build from source"
    );
}

/// One `.dockerignore` line as the few forms used there: `dir/`, `**/name/`, `**/*.ext`,
/// `*.ext`, `name`. True when it excludes `rel` (a path relative to the context root).
fn ignored_by(pattern: &str, rel: &str) -> bool {
    let p = pattern.trim_end_matches('/');
    let components: Vec<&str> = rel.split('/').collect();
    let name = components.last().copied().unwrap_or_default();
    if let Some(any) = p.strip_prefix("**/") {
        return match any.strip_prefix('*') {
            Some(suffix) => name.ends_with(suffix),
            None => components.contains(&any),
        };
    }
    if let Some(suffix) = p.strip_prefix('*') {
        return components.len() == 1 && name.ends_with(suffix);
    }
    rel == p || rel.starts_with(&format!("{p}/"))
}

#[test]
fn dockerignore_keeps_the_context_small_and_the_workspace_whole() {
    let text = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    let patterns: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        !patterns.iter().any(|p| p.starts_with('!')),
        "negations are not modelled here"
    );
    let ignored = |rel: &str| patterns.iter().any(|p| ignored_by(p, rel));
    for must in [
        "target",
        "target/debug/dnsd",
        ".git",
        "dnsd/target",
        "x.rs.bk",
    ] {
        assert!(ignored(must), "{must} would be sent to the build");
    }
    // The build needs the manifests, the lock file and every workspace member's sources.
    let meta = metadata();
    let ws = meta["workspace_root"].as_str().unwrap().to_string();
    let mut needed = vec!["Cargo.toml".to_string(), "Cargo.lock".to_string()];
    for p in meta["packages"].as_array().unwrap() {
        let manifest = p["manifest_path"].as_str().unwrap();
        let dir = Path::new(manifest).parent().unwrap();
        let rel = dir
            .strip_prefix(&ws)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        needed.push(format!("{rel}/Cargo.toml"));
        needed.push(format!("{rel}/src/lib.rs"));
    }
    for n in &needed {
        assert!(!ignored(n), "{n} is needed by `cargo build` but ignored");
    }

    // What `COPY . .` sends, with these rules, from this checkout.
    let (mut bytes, mut files) = (0u64, 0u64);
    let mut stack = vec![String::new()];
    while let Some(rel_dir) = stack.pop() {
        for e in std::fs::read_dir(root().join(&rel_dir)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if rel_dir.is_empty() {
                name
            } else {
                format!("{rel_dir}/{name}")
            };
            if ignored(&rel) {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(rel);
            } else if ft.is_file() {
                bytes += e.metadata().unwrap().len();
                files += 1;
            }
        }
    }
    println!("build context: {files} files, {} KiB", bytes / 1024);
    assert!(bytes < 64 << 20, "build context is {} MiB", bytes >> 20);
}

/// The operator's built-in defaults (`operator/src/main.rs`) name images and ports that are not
/// the shipped ones (the ISC image, 53/953), so the Deployment must set every one explicitly.
#[test]
fn the_deployment_overrides_every_image_and_port_default() {
    let dep = doc("deploy/operator/deployment.yaml", "Deployment");
    let env: BTreeSet<&str> = dep["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["value"].is_string())
        .filter_map(|e| e["name"].as_str())
        .collect();
    for name in [
        "BINDY_BIND9_IMAGE",
        "BINDY_DNSD_IMAGE",
        "BINDY_DNS_PORT",
        "BINDY_RNDC_PORT",
    ] {
        assert!(
            env.contains(name),
            "deployment.yaml leaves {name} at the built-in default"
        );
    }
}
