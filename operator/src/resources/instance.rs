//! Bind9Instance → StatefulSet, headless + client Services, ConfigMap (named.conf, and on
//! primaries the shared bootstrap zone file and the catalog zone's initial file).
//!
//! Zones are not in the ConfigMap: the zone reconciler creates them at run time with
//! `rndc addzone` from the bootstrap file and fills them by UPDATE, and secondaries learn them
//! from the catalog zone, so adding a zone never waits for a kubelet sync nor restarts a pod.
//!
//! Layout inside a BIND9 pod (all paths fixed so named.conf can name them):
//! - `/etc/bind/named.conf`, `/etc/bind/bootstrap.db`, `/etc/bind/catalog.db` from the
//!   ConfigMap (read-only);
//! - `/etc/bind/keys/keys.conf` from the key Secret (named.conf `include`s it, so no secret is
//!   ever in a ConfigMap);
//! - `/var/lib/bind` on the PVC: journals, transferred secondary copies, BIND's own state, so a
//!   restarted pod keeps every UPDATE.
//!
//! Pods run as a non-root user with a read-only root filesystem; readiness and liveness are TCP
//! probes on the DNS port. A hash of the rendered configuration is a pod template annotation:
//! a changed configuration rolls the pods so the server reads it (see docs/operator.md), except
//! a BIND9 secondary's primary addresses ([`rollout_hash`]): the instance reconciler applies
//! those to the running pods with `rndc reconfig`, so a primary pod moving to a new IP does not
//! restart the secondaries.
//!
//! Pods listen on `Settings::dns_port` (5353 in the shipped Deployment, so no capability is
//! needed); the client Service exposes 53/UDP+TCP with that port as its target. A `server:
//! dnsd` secondary is built by the `instance_dnsd.rs` part of this module.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use bindy_crds::{Bind9ClusterSpec, Bind9Instance, ServerKind, ServerRole};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    SecretVolumeSource, SecurityContext, Service, ServicePort, ServiceSpec, TCPSocketAction,
    Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::keys::{secret_name, KeySet, KEYS_CONF, RNDC_KEY, TRANSFER_KEY, UPDATE_KEY};
use super::{
    content_hash, ANNOTATION_CONFIG_HASH, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_PART_OF,
    LABEL_ROLE,
};
use crate::bind9::catalog;
use crate::bind9::namedconf::{Acl, CatalogConsumer, Controls, NamedConf, PrimaryZone, ZoneConfig};
use crate::bind9::zonefile::BOOTSTRAP;
use crate::error::{Error, Result};

#[path = "instance_dnsd.rs"]
mod dnsd;
pub use dnsd::*;

/// Port clients query (the client Service's port, whatever port the pods listen on).
pub const CLIENT_DNS_PORT: u16 = 53;

/// Read-only configuration folder in the pod.
pub const CONFIG_DIR: &str = "/etc/bind";
/// Writable data folder in the pod (the PVC).
pub const DATA_DIR: &str = "/var/lib/bind";
/// Shared bootstrap zone file every primary zone starts from (see `bind9::zonefile::BOOTSTRAP`).
pub const BOOTSTRAP_FILE: &str = "bootstrap.db";
/// The catalog zone's initial file on primaries.
pub const CATALOG_FILE: &str = "catalog.db";
/// UID/GID of the `bind` user in the BIND9 images.
pub const BIND_UID: i64 = 101;

/// Operator-wide settings that shape every instance (from the `bindy` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// BIND9 image repository; the instance's version (or `latest`) is the tag.
    pub bind9_image: String,
    /// dnsd image (with tag).
    pub dnsd_image: String,
    /// DNS port the servers listen on (53 in production, high ports in tests).
    pub dns_port: u16,
    /// rndc control port (953 by default).
    pub rndc_port: u16,
    /// Catalog zone name (RFC 9432) the primaries serve and secondaries consume.
    pub catalog: String,
    /// Path of the bootstrap zone file as `named` sees it, named in `rndc addzone` (default
    /// the ConfigMap copy, `/etc/bind/bootstrap.db`; a test bed that runs named outside a
    /// container points it at a host file since rndc arguments are not remapped).
    pub bootstrap_file: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind9_image: "docker.io/internetsystemsconsortium/bind9".into(),
            dnsd_image: "ghcr.io/firestoned/dnsd:latest".into(),
            dns_port: 53,
            rndc_port: 953,
            catalog: catalog::DEFAULT_CATALOG.into(),
            bootstrap_file: format!("{CONFIG_DIR}/{BOOTSTRAP_FILE}"),
        }
    }
}

/// Everything an instance's children are built from.
#[derive(Clone, Debug)]
pub struct InstanceInputs<'a> {
    pub instance: &'a Bind9Instance,
    pub cluster: Option<&'a Bind9ClusterSpec>,
    /// Scope of the key Secret (cluster name, or the instance name when alone).
    pub key_scope: String,
    pub keys: &'a KeySet,
    /// Secondary: the primaries' pod IPs it transfers the catalog and zones from.
    pub primaries: Vec<IpAddr>,
    pub settings: &'a Settings,
}

/// Labels of every child of an instance (and its pods' selector).
pub fn child_labels(inst: &Bind9Instance) -> BTreeMap<String, String> {
    let component = match inst.spec.server() {
        ServerKind::Bind9 => "bind9",
        ServerKind::Dnsd => "dnsd",
    };
    BTreeMap::from([
        (LABEL_PART_OF.to_string(), "bindy".to_string()),
        (LABEL_COMPONENT.to_string(), component.to_string()),
        (LABEL_INSTANCE.to_string(), inst.name_any()),
        (LABEL_ROLE.to_string(), inst.spec.role.as_str().to_string()),
    ])
}

/// Address match elements as named.conf ACL entries.
pub fn to_acls(list: &[bindy_crds::AddressMatch]) -> Vec<Acl> {
    list.iter()
        .map(|a| match a {
            bindy_crds::AddressMatch::Any => Acl::Any,
            bindy_crds::AddressMatch::None => Acl::None,
            bindy_crds::AddressMatch::Net { addr, prefix_len } => {
                Acl::Prefix(format!("{addr}/{prefix_len}"))
            }
        })
        .collect()
}

/// named.conf of a BIND9 instance. Key statements are replaced by an `include` of the
/// Secret-mounted `keys.conf`, so the ConfigMap holds no secret.
pub fn named_conf(inp: &InstanceInputs<'_>) -> Result<String> {
    let inst = inp.instance;
    let cfg = inst.spec.effective_config(inp.cluster);
    let bad = |e: bindy_crds::Error| Error::InvalidInput(e.to_string());
    let mut conf = NamedConf::new(DATA_DIR);
    conf.port = inp.settings.dns_port;
    conf.recursion = cfg.recursion();
    conf.allow_query = to_acls(&cfg.allow_query().map_err(bad)?);
    let mut transfer = to_acls(&cfg.allow_transfer().map_err(bad)?);
    transfer.retain(|a| *a != Acl::None);
    transfer.push(Acl::Key(TRANSFER_KEY.into()));
    conf.allow_transfer = transfer.clone();
    // The operator signs its NOTIFYs with the transfer key (the key every secondary holds
    // anyway); the UPDATE key stays accepted for replicas of an older operator mid-upgrade.
    conf.allow_notify = vec![Acl::Key(UPDATE_KEY.into()), Acl::Key(TRANSFER_KEY.into())];
    conf.keys = inp.keys.all().into_iter().cloned().collect();
    conf.controls = Some(Controls {
        listen: SocketAddr::new(IpAddr::from([0, 0, 0, 0]), inp.settings.rndc_port),
        allow: vec![Acl::Any],
        key: RNDC_KEY.into(),
    });
    match inst.spec.role {
        ServerRole::Primary => {
            // The catalog zone (RFC 9432): members are added by UPDATE, secondaries follow it.
            conf.zones.push(ZoneConfig::Primary(PrimaryZone {
                name: inp.settings.catalog.clone(),
                file: format!("{CONFIG_DIR}/{CATALOG_FILE}"),
                journal: Some(format!("{DATA_DIR}/catalog.jnl")),
                allow_update: vec![Acl::Key(UPDATE_KEY.into())],
                allow_transfer: vec![Acl::Key(TRANSFER_KEY.into())],
                also_notify: Vec::new(),
                notify_key: None,
            }));
        }
        ServerRole::Secondary => {
            let primaries = secondary_primaries(inp);
            if !primaries.is_empty() {
                conf.catalogs.push(CatalogConsumer {
                    catalog: inp.settings.catalog.clone(),
                    primaries,
                    transfer_key: Some(TRANSFER_KEY.into()),
                    allow_notify: vec![Acl::Key(UPDATE_KEY.into()), Acl::Key(TRANSFER_KEY.into())],
                    zone_directory: Some(DATA_DIR.into()),
                });
            }
        }
    }
    let text = conf.render()?;
    // Swap the inline key statements for an include of the Secret-mounted fragment.
    let mut out = String::with_capacity(text.len());
    let mut included = false;
    let mut rest = text.as_str();
    for k in inp.keys.all() {
        let stmt = k.named_conf();
        if let Some(pos) = rest.find(&stmt) {
            out.push_str(&rest[..pos]);
            if !included {
                out.push_str(&format!("include \"{CONFIG_DIR}/keys/{KEYS_CONF}\";\n"));
                included = true;
            }
            rest = &rest[pos + stmt.len()..];
        }
    }
    out.push_str(rest);
    if !included || inp.keys.all().iter().any(|k| out.contains(&k.secret)) {
        return Err(Error::InvalidInput(
            "named.conf key statements not found where expected".into(),
        ));
    }
    Ok(out)
}

/// A secondary's primaries at the DNS port: the cluster's ready primary pods, else the
/// instance's `primaryServers` (a standalone secondary).
pub fn secondary_primaries(inp: &InstanceInputs<'_>) -> Vec<SocketAddr> {
    let port = inp.settings.dns_port;
    let mut primaries: Vec<SocketAddr> = inp
        .primaries
        .iter()
        .map(|ip| SocketAddr::new(*ip, port))
        .collect();
    if primaries.is_empty() {
        if let Some(list) = &inp.instance.spec.primary_servers {
            primaries = list.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
        }
    }
    primaries
}

fn meta(inp: &InstanceInputs<'_>, name: String, owner: &OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: inp.instance.namespace(),
        labels: Some(child_labels(inp.instance)),
        owner_references: Some(vec![owner.clone()]),
        ..Default::default()
    }
}

/// Name of the instance's ConfigMap.
pub fn config_map_name(inst: &str) -> String {
    format!("{inst}-config")
}

/// The ConfigMap with named.conf (or dnsd.toml); on primaries also the bootstrap zone file
/// and the catalog's initial file (both never change, so BIND's journals stay valid).
pub fn config_map(inp: &InstanceInputs<'_>, owner: &OwnerReference) -> Result<ConfigMap> {
    let mut data = BTreeMap::new();
    match inp.instance.spec.server() {
        ServerKind::Bind9 => {
            data.insert("named.conf".to_string(), named_conf(inp)?);
            if inp.instance.spec.role == ServerRole::Primary {
                data.insert(BOOTSTRAP_FILE.to_string(), BOOTSTRAP.to_string());
                data.insert(
                    CATALOG_FILE.to_string(),
                    catalog::render(&inp.settings.catalog, &[], 1)?,
                );
            }
        }
        ServerKind::Dnsd => {
            data.insert("dnsd.toml".to_string(), dnsd_conf(inp)?);
        }
    }
    Ok(ConfigMap {
        metadata: meta(inp, config_map_name(&inp.instance.name_any()), owner),
        data: Some(data),
        ..Default::default()
    })
}

/// Hash of a ConfigMap's data, for the pod template annotation.
pub fn config_hash(cm: &ConfigMap) -> String {
    let data = cm.data.clone().unwrap_or_default();
    content_hash(data.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]))
}

/// Does this instance get its primaries' addresses live (`rndc reconfig`) instead of a roll?
/// BIND9 secondaries that have primaries; dnsd reads its primaries only at start.
pub fn primaries_applied_live(inp: &InstanceInputs<'_>) -> bool {
    inp.instance.spec.server() == ServerKind::Bind9
        && inp.instance.spec.role == ServerRole::Secondary
        && !secondary_primaries(inp).is_empty()
}

/// The primaries (`IP port P`) of the zone statement `rndc showzone` printed, in order; None
/// when the text has no `primaries { ... }` list.
pub fn shown_primaries(showzone: &str) -> Option<Vec<String>> {
    let start = showzone.find("primaries {")? + "primaries {".len();
    let body = &showzone[start..];
    let body = &body[..body.find('}')?];
    Some(
        body.split(';')
            .filter_map(|entry| {
                let t: Vec<&str> = entry.split_whitespace().collect();
                match t.as_slice() {
                    [ip, "port", port, ..] => Some(format!("{ip} port {port}")),
                    [ip, ..] => Some(format!("{ip} port 53")),
                    [] => None,
                }
            })
            .collect(),
    )
}

/// Does a secondary pod's `rndc showzone <catalog>` output name exactly `want`?
pub fn runs_primaries(showzone: &str, want: &[SocketAddr]) -> bool {
    let mut want: Vec<String> = want
        .iter()
        .map(|p| format!("{} port {}", p.ip(), p.port()))
        .collect();
    want.sort();
    shown_primaries(showzone).is_some_and(|mut have| {
        have.sort();
        have == want
    })
}

/// The pod template's config hash: [`config_hash`] of `cm`, but for a BIND9 secondary with
/// primaries, of the configuration rendered with a placeholder primary, so that only a change
/// of anything else rolls the pods (the first primaries still do: the catalog block appears).
pub fn rollout_hash(inp: &InstanceInputs<'_>, cm: &ConfigMap) -> Result<String> {
    if !primaries_applied_live(inp) {
        return Ok(config_hash(cm));
    }
    let mut masked = inp.clone();
    masked.primaries = vec![IpAddr::from([0, 0, 0, 0])];
    Ok(config_hash(&config_map(
        &masked,
        &OwnerReference::default(),
    )?))
}

fn port(name: &str, p: u16, proto: &str) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: i32::from(p),
        protocol: Some(proto.into()),
        ..Default::default()
    }
}

fn tcp_probe(p: u16, period: i32, initial: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(i32::from(p)),
            host: None,
        }),
        period_seconds: Some(period),
        initial_delay_seconds: Some(initial),
        failure_threshold: Some(3),
        ..Default::default()
    }
}

/// The StatefulSet running the instance's server pods.
pub fn statefulset(
    inp: &InstanceInputs<'_>,
    owner: &OwnerReference,
    config_hash: &str,
) -> StatefulSet {
    let inst = inp.instance;
    let name = inst.name_any();
    let labels = child_labels(inst);
    let s = inp.settings;
    let image_spec = inst.spec.effective_image(inp.cluster);
    let (container_name, image, args, conf_path) = match inst.spec.server() {
        ServerKind::Bind9 => {
            let tag = inst.spec.effective_version(inp.cluster).unwrap_or("latest");
            let image = image_spec
                .image
                .clone()
                .unwrap_or_else(|| format!("{}:{tag}", s.bind9_image));
            let args = vec!["-g".into(), "-c".into(), format!("{CONFIG_DIR}/named.conf")];
            ("bind9", image, args, CONFIG_DIR)
        }
        ServerKind::Dnsd => {
            let image = image_spec
                .image
                .clone()
                .unwrap_or_else(|| s.dnsd_image.clone());
            ("dnsd", image, dnsd_args(), DNSD_CONFIG_DIR)
        }
    };
    let dnsd = inst.spec.server() == ServerKind::Dnsd;
    let mut mounts = vec![
        VolumeMount {
            name: "config".into(),
            mount_path: conf_path.into(),
            read_only: Some(true),
            ..Default::default()
        },
        VolumeMount {
            name: "data".into(),
            mount_path: if dnsd { DNSD_DATA_DIR } else { DATA_DIR }.into(),
            ..Default::default()
        },
    ];
    let mut volumes = vec![Volume {
        name: "config".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map_name(&name),
            ..Default::default()
        }),
        ..Default::default()
    }];
    if dnsd {
        let (v, m) = dnsd_key_volume(&name);
        volumes.push(v);
        mounts.push(m);
    } else {
        mounts.push(VolumeMount {
            name: "keys".into(),
            mount_path: format!("{CONFIG_DIR}/keys"),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "keys".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret_name(&inp.key_scope)),
                items: Some(vec![k8s_openapi::api::core::v1::KeyToPath {
                    key: KEYS_CONF.into(),
                    path: KEYS_CONF.into(),
                    mode: Some(0o440),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let mut ports = vec![
        port("dns-udp", s.dns_port, "UDP"),
        port("dns-tcp", s.dns_port, "TCP"),
    ];
    if dnsd {
        ports.push(dnsd_metrics_port());
    } else {
        ports.push(port("rndc", s.rndc_port, "TCP"));
    }
    let uid = if dnsd { DNSD_UID } else { BIND_UID };
    let (readiness, liveness) = if dnsd {
        (dnsd_readiness(), dnsd_liveness())
    } else {
        (tcp_probe(s.dns_port, 5, 1), tcp_probe(s.dns_port, 10, 10))
    };
    let container = Container {
        name: container_name.into(),
        image: Some(image),
        image_pull_policy: image_spec.image_pull_policy.map(|p| p.as_str().to_string()),
        args: Some(args),
        ports: Some(ports),
        volume_mounts: Some(mounts),
        readiness_probe: Some(readiness),
        liveness_probe: Some(liveness),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(uid),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let storage = inst.spec.storage.clone().unwrap_or_default();
    let pvc = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".into()),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    storage
                        .size
                        .clone()
                        .unwrap_or_else(|| Quantity("1Gi".into())),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    StatefulSet {
        metadata: meta(inp, name.clone(), owner),
        spec: Some(StatefulSetSpec {
            replicas: Some(inst.spec.replicas),
            service_name: Some(headless_name(&name)),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([(LABEL_INSTANCE.to_string(), name.clone())])),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(BTreeMap::from([(
                        ANNOTATION_CONFIG_HASH.to_string(),
                        config_hash.to_string(),
                    )])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(volumes),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(uid),
                        run_as_group: Some(uid),
                        fs_group: Some(uid),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            },
            volume_claim_templates: Some(vec![pvc]),
            ..Default::default()
        }),
        status: None,
    }
}

/// Name of the headless Service (stable pod DNS names, transfers between pods).
pub fn headless_name(inst: &str) -> String {
    format!("{inst}-headless")
}

/// DNS over UDP and TCP on `port`, forwarded to the pods' `target` port.
fn service_ports(port: u16, target: u16) -> Vec<ServicePort> {
    ["UDP", "TCP"]
        .iter()
        .map(|proto| ServicePort {
            name: Some(format!("dns-{}", proto.to_lowercase())),
            port: i32::from(port),
            target_port: Some(IntOrString::Int(i32::from(target))),
            protocol: Some((*proto).into()),
            ..Default::default()
        })
        .collect()
}

/// Headless Service (clusterIP None, not-ready addresses published for transfers at start).
pub fn headless_service(inp: &InstanceInputs<'_>, owner: &OwnerReference) -> Service {
    let name = inp.instance.name_any();
    let p = inp.settings.dns_port;
    let mut ports = service_ports(p, p);
    if inp.instance.spec.server() == ServerKind::Dnsd {
        ports.push(ServicePort {
            name: Some("metrics".into()),
            port: i32::from(DNSD_METRICS_PORT),
            target_port: Some(IntOrString::Int(i32::from(DNSD_METRICS_PORT))),
            protocol: Some("TCP".into()),
            ..Default::default()
        });
    }
    Service {
        metadata: meta(inp, headless_name(&name), owner),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(BTreeMap::from([(LABEL_INSTANCE.to_string(), name)])),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    }
}

/// Client Service: DNS on 53/UDP+TCP for resolvers and apps, to the pods' DNS port.
pub fn client_service(inp: &InstanceInputs<'_>, owner: &OwnerReference) -> Service {
    let name = inp.instance.name_any();
    Service {
        metadata: meta(inp, name.clone(), owner),
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([(LABEL_INSTANCE.to_string(), name)])),
            ports: Some(service_ports(CLIENT_DNS_PORT, inp.settings.dns_port)),
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
#[path = "instance_tests.rs"]
mod tests;
