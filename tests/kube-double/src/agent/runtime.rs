//! How a container becomes a local process: the pluggable [`Runtime`] trait.
//!
//! The node agent never interprets images. It asks each registered runtime whether it runs a
//! container ([`Runtime::handles`]) and hands it a [`ContainerLaunch`]: the pod's loopback IP,
//! the container spec, and where each `volumeMount` lives on the host. Containers that no
//! runtime handles (sidecars, exporters) are reported running and ready without a process.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Container;

use crate::error::Result;

/// Everything a runtime needs to start one container of one pod.
#[derive(Debug, Clone)]
pub struct ContainerLaunch {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// The pod's unique loopback address (configured on `lo` while the pod lives).
    pub ip: Ipv4Addr,
    /// The container as written in the pod template.
    pub container: Container,
    /// `(mountPath, host folder or file)` for each volumeMount, subPath already applied.
    pub mounts: Vec<(String, PathBuf)>,
    /// A private, per-container scratch folder.
    pub scratch: PathBuf,
    /// The resolved environment (see `agent::env`), in definition order.
    pub env: Vec<(String, String)>,
}

impl ContainerLaunch {
    /// Host location of a path as the container would see it (longest matching mount wins);
    /// `None` when no volume covers it.
    pub fn host_path(&self, container_path: &str) -> Option<PathBuf> {
        self.mounts
            .iter()
            .filter(|(m, _)| {
                let m = m.trim_end_matches('/');
                container_path == m || container_path.starts_with(&format!("{m}/"))
            })
            .max_by_key(|(m, _)| m.len())
            .map(|(m, host)| {
                let rest = container_path[m.trim_end_matches('/').len()..].trim_start_matches('/');
                if rest.is_empty() {
                    host.clone()
                } else {
                    host.join(rest)
                }
            })
    }

    /// Rewrite every mounted container path inside a config text to its host location
    /// (longest mount paths first, so `/etc/bind/keys` wins over `/etc/bind`).
    pub fn remap(&self, text: &str) -> String {
        let mut mounts: Vec<&(String, PathBuf)> = self.mounts.iter().collect();
        mounts.sort_by_key(|(m, _)| std::cmp::Reverse(m.len()));
        // Two passes through placeholders so a host path is never rewritten again.
        let mut out = text.to_string();
        for (i, (m, _)) in mounts.iter().enumerate() {
            out = out.replace(m.trim_end_matches('/'), &format!("\u{0}{i}\u{0}"));
        }
        for (i, (_, host)) in mounts.iter().enumerate() {
            out = out.replace(&format!("\u{0}{i}\u{0}"), &host.display().to_string());
        }
        out
    }

    /// The container's `command` followed by its `args`, with `$(VAR)` references expanded
    /// from the resolved environment.
    pub fn argv(&self) -> Vec<String> {
        let mut v = self.container.command.clone().unwrap_or_default();
        v.extend(self.container.args.clone().unwrap_or_default());
        v.iter().map(|a| super::env::expand(a, &self.env)).collect()
    }
}

/// A running container process.
pub trait Process: Send + Sync {
    /// Whether the process is still running (a crashed process shows as not ready and is
    /// restarted by the agent, like a kubelet would).
    fn is_alive(&mut self) -> bool;
    /// Whether it answers (the readiness probe).
    fn is_ready(&mut self) -> bool;
    /// Stop it (pod deletion, scale-down).
    fn stop(&mut self);
    /// Why it ended (exit status, last log lines), once it has.
    fn exit_reason(&mut self) -> Option<String> {
        None
    }
    /// Called after the kubelet-like sync rewrote ConfigMap/Secret volume files, for runtimes
    /// that keep a derived copy of a config (the process itself is not signalled: reloading
    /// is the operator's business, as in a cluster).
    fn files_changed(&mut self) {}
}

/// Maps containers to processes.
pub trait Runtime: Send + Sync {
    /// Short name for logs.
    fn name(&self) -> &str;
    /// Whether this runtime runs the container (by image, name or command).
    fn handles(&self, container: &Container) -> bool;
    /// Start the container's process; blocking, returns once it is up or failed.
    fn start(&self, launch: &ContainerLaunch) -> Result<Box<dyn Process>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_map_paths_and_texts() {
        let l = ContainerLaunch {
            namespace: "ns".into(),
            pod: "p-0".into(),
            ip: Ipv4Addr::new(127, 0, 0, 2),
            container: Container::default(),
            mounts: vec![
                ("/etc/bind".into(), PathBuf::from("/h/config")),
                ("/etc/bind/keys/".into(), PathBuf::from("/h/keys")),
                ("/var/cache/bind".into(), PathBuf::from("/h/data")),
            ],
            scratch: PathBuf::from("/h/scratch"),
            env: Vec::new(),
        };
        assert_eq!(
            l.host_path("/etc/bind/named.conf"),
            Some(PathBuf::from("/h/config/named.conf"))
        );
        assert_eq!(
            l.host_path("/etc/bind/keys/rndc.key"),
            Some(PathBuf::from("/h/keys/rndc.key"))
        );
        assert_eq!(l.host_path("/etc/bindx"), None);
        assert_eq!(
            l.remap("include \"/etc/bind/keys/rndc.key\"; file \"/var/cache/bind/z.db\"; x \"/etc/bind/named.conf.zones\";"),
            "include \"/h/keys/rndc.key\"; file \"/h/data/z.db\"; x \"/h/config/named.conf.zones\";"
        );
    }
}
