//! Shared reading of `deploy/` for the `deploy_*` tests: the workspace root, YAML manifests as
//! JSON values, typed Kubernetes objects, and what a Dockerfile in `deploy/docker/` promises.
//! Hand-written because it is a few lines over serde_yaml; a Dockerfile parser crate would
//! bring a whole BuildKit grammar for the five instructions these tests read.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Container;
use serde_json::Value;

/// The workspace root (this crate lives in `tests/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Every `*.yaml`/`*.yml` under `dir`, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The non-empty YAML documents of a text, as JSON values (`what` names it in panics).
pub fn docs_of_str(text: &str, what: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| {
            serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{what}: bad YAML: {e}"))
        })
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// The non-empty YAML documents of a file.
pub fn docs(path: &Path) -> Vec<Value> {
    docs_of_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        &path.display().to_string(),
    )
}

/// The first document of `kind` in `file` (relative to the workspace root).
pub fn doc(file: &str, kind: &str) -> Value {
    docs(&root().join(file))
        .into_iter()
        .find(|v| v["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {file}"))
}

/// All documents of the `deploy/` tree, with their file.
pub fn all_docs() -> Vec<(PathBuf, Value)> {
    yaml_files(&root().join("deploy"))
        .into_iter()
        .flat_map(|p| docs(&p).into_iter().map(move |d| (p.clone(), d)))
        .collect()
}

/// The object of `kind` named `name` among `docs`.
pub fn find<'a>(docs: &'a [(PathBuf, Value)], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} under deploy/"))
}

/// A JSON value as a typed object (a Kubernetes or Bindy type).
pub fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| {
        panic!(
            "{} {}: not a valid object: {e}",
            v["kind"], v["metadata"]["name"]
        )
    })
}

/// A container's ports as (port, protocol), protocol defaulting to TCP as Kubernetes does.
pub fn container_ports(c: &Container) -> BTreeSet<(u16, String)> {
    c.ports
        .iter()
        .flatten()
        .map(|p| {
            let port = u16::try_from(p.container_port).expect("containerPort fits u16");
            (port, p.protocol.clone().unwrap_or_else(|| "TCP".into()))
        })
        .collect()
}

/// What a Dockerfile promises: base images, exposed ports, runtime user, the image name from
/// its `docker build ... -t IMAGE` comment, and what it builds, copies and runs.
#[derive(Debug)]
pub struct Dockerfile {
    pub name: String,
    /// `FROM` images with `ARG` defaults substituted, in order.
    pub from: Vec<String>,
    pub expose: BTreeSet<(u16, String)>,
    /// The last `USER` (the runtime stage's).
    pub user: Option<String>,
    pub image: String,
    /// `--bin NAME` of every `cargo build` line.
    pub cargo_bins: Vec<String>,
    /// Source paths of `COPY --from=...` lines.
    pub copied_from_stages: Vec<String>,
    /// The `ENTRYPOINT` exec form's first element.
    pub entrypoint: Option<String>,
}

impl Dockerfile {
    /// The runtime user's uid (`USER uid[:gid]`).
    pub fn uid(&self) -> Option<i64> {
        self.user
            .as_deref()
            .and_then(|u| u.split(':').next())
            .and_then(|u| u.trim().parse().ok())
    }
}

/// Reads `deploy/docker/NAME`.
pub fn dockerfile(name: &str) -> Dockerfile {
    let text = std::fs::read_to_string(root().join("deploy/docker").join(name)).unwrap();
    let mut df = Dockerfile {
        name: name.into(),
        from: Vec::new(),
        expose: BTreeSet::new(),
        user: None,
        image: String::new(),
        cargo_bins: Vec::new(),
        copied_from_stages: Vec::new(),
        entrypoint: None,
    };
    let mut args: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ARG ") {
            if let Some((k, v)) = rest.trim().split_once('=') {
                args.push((k.to_string(), v.to_string()));
            }
        } else if let Some(rest) = line.strip_prefix("FROM ") {
            let mut image = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            for (k, v) in &args {
                image = image.replace(&format!("${{{k}}}"), v);
            }
            df.from.push(image);
        } else if let Some(rest) = line.strip_prefix("EXPOSE ") {
            for p in rest.split_whitespace() {
                let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                df.expose
                    .insert((port.parse().unwrap(), proto.to_uppercase()));
            }
        } else if let Some(u) = line.strip_prefix("USER ") {
            df.user = Some(u.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("COPY --from=") {
            if let Some(src) = rest.split_whitespace().nth(1) {
                df.copied_from_stages.push(src.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
            let exec: Vec<String> = serde_json::from_str(rest.trim()).expect("ENTRYPOINT [..]");
            df.entrypoint = exec.into_iter().next();
        } else if line.starts_with('#') {
            if let Some(i) = line.find(" -t ") {
                df.image = line[i + 4..].split_whitespace().next().unwrap().to_string();
            }
        }
        if line.contains("cargo build") {
            let words: Vec<&str> = line.split_whitespace().collect();
            for w in words.windows(2) {
                if w[0] == "--bin" {
                    df.cargo_bins.push(w[1].to_string());
                }
            }
        }
    }
    assert!(
        !df.image.is_empty(),
        "{name}: no `docker build ... -t IMAGE` comment"
    );
    df
}

/// The Dockerfiles under `deploy/docker/`, sorted.
pub fn dockerfiles() -> Vec<Dockerfile> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("deploy/docker"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".Dockerfile"))
        .collect();
    names.sort();
    names.iter().map(|n| dockerfile(n)).collect()
}
