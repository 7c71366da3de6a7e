//! Pod volumes on the host: ConfigMap and Secret volumes written as files (as the kubelet
//! projects them), emptyDir as a fresh folder, PVCs (and StatefulSet volumeClaimTemplates) as
//! folders that outlive the pod, keyed by claim name, like a PersistentVolume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Pod, Secret, Volume};
use kube::api::Api;
use kube::Client;

use crate::error::{Error, Result};

/// Where a ConfigMap or Secret volume comes from, for later syncs.
#[derive(Debug, Clone)]
pub struct ProjectedVolume {
    /// `ConfigMap` or `Secret`.
    pub secret: bool,
    /// Object name.
    pub source: String,
    /// Optional items (key -> path).
    pub items: Option<Vec<KeyToPath>>,
    /// Host folder.
    pub dir: PathBuf,
    /// resourceVersion last written to the folder.
    pub written_rv: Option<String>,
    /// Replacements applied to ConfigMap files (see `AgentConfig::wildcard_rewrites`).
    pub rewrites: Vec<(String, String)>,
}

/// Files of a ConfigMap/Secret as the kubelet would project them.
fn files(
    data: BTreeMap<String, Vec<u8>>,
    items: &Option<Vec<KeyToPath>>,
) -> Vec<(String, Vec<u8>)> {
    match items {
        Some(items) => items
            .iter()
            .filter_map(|i| data.get(&i.key).map(|d| (i.path.clone(), d.clone())))
            .collect(),
        None => data.into_iter().collect(),
    }
}

fn write_files(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for (path, data) in files {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, data)?;
    }
    Ok(())
}

impl ProjectedVolume {
    /// Fetch the source object; `Ok(None)` when it does not exist (yet).
    pub async fn fetch(
        &self,
        client: &Client,
        ns: &str,
    ) -> Result<Option<(String, Vec<(String, Vec<u8>)>)>> {
        let api_err = |e: kube::Error| Error::Api(e.to_string());
        if self.secret {
            let api: Api<Secret> = Api::namespaced(client.clone(), ns);
            let Some(s) = api.get_opt(&self.source).await.map_err(api_err)? else {
                return Ok(None);
            };
            let mut data: BTreeMap<String, Vec<u8>> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            for (k, v) in s.string_data.unwrap_or_default() {
                data.insert(k, v.into_bytes());
            }
            Ok(Some((
                s.metadata.resource_version.unwrap_or_default(),
                files(data, &self.items),
            )))
        } else {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
            let Some(c) = api.get_opt(&self.source).await.map_err(api_err)? else {
                return Ok(None);
            };
            let mut data: BTreeMap<String, Vec<u8>> = c
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            for (k, v) in c.binary_data.unwrap_or_default() {
                data.insert(k, v.0);
            }
            Ok(Some((
                c.metadata.resource_version.unwrap_or_default(),
                files(data, &self.items),
            )))
        }
    }

    /// Write the given version's files into the folder.
    pub fn write(&mut self, rv: String, files: &[(String, Vec<u8>)]) -> Result<()> {
        if !self.secret && !self.rewrites.is_empty() {
            let files: Vec<(String, Vec<u8>)> = files
                .iter()
                .map(|(p, d)| match std::str::from_utf8(d) {
                    Ok(text) => {
                        let t = self
                            .rewrites
                            .iter()
                            .fold(text.to_string(), |acc, (f, r)| acc.replace(f, r));
                        (p.clone(), t.into_bytes())
                    }
                    Err(_) => (p.clone(), d.clone()),
                })
                .collect();
            write_files(&self.dir, &files)?;
            self.written_rv = Some(rv);
            return Ok(());
        }
        write_files(&self.dir, files)?;
        self.written_rv = Some(rv);
        Ok(())
    }
}

/// Lay out every volume of a pod under `pod_dir` (persistent ones under `pvc_root`), returning
/// volume name -> host folder and the projected (ConfigMap/Secret) volumes to keep in sync.
pub async fn materialise(
    client: &Client,
    pod: &Pod,
    pod_dir: &Path,
    pvc_root: &Path,
    rewrites: &[(String, String)],
) -> Result<(BTreeMap<String, PathBuf>, Vec<ProjectedVolume>)> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let mut dirs = BTreeMap::new();
    let mut projected = Vec::new();
    let volumes: Vec<Volume> = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    for v in volumes {
        let dir = pod_dir.join("volumes").join(&v.name);
        if let Some(cm) = &v.config_map {
            projected.push(ProjectedVolume {
                secret: false,
                source: cm.name.clone(),
                items: cm.items.clone(),
                dir: dir.clone(),
                written_rv: None,
                rewrites: rewrites.to_vec(),
            });
        } else if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            projected.push(ProjectedVolume {
                secret: true,
                source: name,
                items: s.items.clone(),
                dir: dir.clone(),
                written_rv: None,
                rewrites: rewrites.to_vec(),
            });
        } else if let Some(pvc) = &v.persistent_volume_claim {
            let d = pvc_root.join(&ns).join(&pvc.claim_name);
            std::fs::create_dir_all(&d)?;
            dirs.insert(v.name.clone(), d);
            continue;
        } else {
            std::fs::create_dir_all(&dir)?;
        }
        dirs.insert(v.name.clone(), dir);
    }
    for p in &mut projected {
        match p.fetch(client, &ns).await? {
            Some((rv, files)) => p.write(rv, &files)?,
            None => {
                return Err(Error::Runtime(format!(
                    "pod {ns}/{pod_name}: {} {} not found",
                    if p.secret { "secret" } else { "configmap" },
                    p.source
                )))
            }
        }
    }
    Ok((dirs, projected))
}
