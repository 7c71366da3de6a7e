use super::*;
use bindy_crds::{Bind9Config, Bind9InstanceSpec, StorageSpec};

fn instance(role: ServerRole) -> Bind9Instance {
    let mut i = Bind9Instance::new(
        "prod-primary-0",
        Bind9InstanceSpec {
            cluster_ref: Some("prod".into()),
            role,
            replicas: 2,
            storage: Some(StorageSpec {
                size: Some(Quantity("5Gi".into())),
                storage_class_name: Some("fast".into()),
            }),
            config: Some(Bind9Config {
                allow_query: Some(vec!["10.0.0.0/8".into()]),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    i.metadata.namespace = Some("dns".into());
    i
}

fn inputs<'a>(
    inst: &'a Bind9Instance,
    keys: &'a KeySet,
    settings: &'a Settings,
) -> InstanceInputs<'a> {
    InstanceInputs {
        instance: inst,
        cluster: None,
        key_scope: "prod".into(),
        keys,
        primaries: vec!["127.0.1.1".parse().unwrap()],
        settings,
    }
}

#[test]
fn named_conf_includes_keys_instead_of_embedding_secrets() {
    let keys = KeySet::generate();
    let settings = Settings {
        dns_port: 5353,
        ..Default::default()
    };
    let inst = instance(ServerRole::Primary);
    let conf = named_conf(&inputs(&inst, &keys, &settings)).unwrap();
    assert!(conf.contains("include \"/etc/bind/keys/keys.conf\";"));
    for k in keys.all() {
        assert!(!conf.contains(&k.secret));
    }
    assert!(conf.contains("zone \"catalog.bindy.local\""));
    assert!(conf.contains("allow-update { key \"bindy-operator\"; }"));
    let sec = instance(ServerRole::Secondary);
    let conf = named_conf(&inputs(&sec, &keys, &settings)).unwrap();
    assert!(conf.contains("catalog-zones"));
    assert!(conf.contains("127.0.1.1 port 5353 key \"bindy-transfer\""));
    assert!(conf.contains("10.0.0.0/8"));
    assert!(conf.contains("listen-on port 5353"));
}

#[test]
fn named_conf_passes_named_checkconf_for_both_roles() {
    let Some(checkconf) = find_tool("named-checkconf") else {
        assert!(
            std::env::var("CI").is_err(),
            "named-checkconf missing under CI"
        );
        eprintln!("skipping: named-checkconf not installed");
        return;
    };
    let keys = KeySet::generate();
    let settings = Settings::default();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keys.conf"), keys.named_conf()).unwrap();
    for role in [ServerRole::Primary, ServerRole::Secondary] {
        let inst = instance(role);
        let conf = named_conf(&inputs(&inst, &keys, &settings))
            .unwrap()
            .replace(
                "/etc/bind/keys/keys.conf",
                &dir.path().join("keys.conf").to_string_lossy(),
            );
        let path = dir.path().join("named.conf");
        std::fs::write(&path, &conf).unwrap();
        let out = std::process::Command::new(&checkconf)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{role:?}: {}\n{conf}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

fn find_tool(name: &str) -> Option<std::path::PathBuf> {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.exists())
}

#[test]
fn statefulset_is_non_root_probed_and_keeps_data_on_a_pvc() {
    let keys = KeySet::generate();
    let settings = Settings::default();
    let inst = instance(ServerRole::Primary);
    let owner = OwnerReference {
        uid: "u".into(),
        ..Default::default()
    };
    let inp = inputs(&inst, &keys, &settings);
    let sts = statefulset(&inp, &owner, "abc");
    let spec = sts.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(2));
    assert_eq!(
        spec.service_name.as_deref(),
        Some("prod-primary-0-headless")
    );
    let tmpl = &spec.template;
    let labels = tmpl.metadata.as_ref().unwrap().labels.as_ref().unwrap();
    assert_eq!(labels[LABEL_PART_OF], "bindy");
    assert_eq!(
        tmpl.metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()[ANNOTATION_CONFIG_HASH],
        "abc"
    );
    let pod = tmpl.spec.as_ref().unwrap();
    assert_eq!(
        pod.security_context.as_ref().unwrap().run_as_non_root,
        Some(true)
    );
    let c = &pod.containers[0];
    assert!(c.readiness_probe.is_some() && c.liveness_probe.is_some());
    assert_eq!(
        c.image.as_deref(),
        Some("docker.io/internetsystemsconsortium/bind9:latest")
    );
    let pvc = &spec.volume_claim_templates.as_ref().unwrap()[0];
    let pvc_spec = pvc.spec.as_ref().unwrap();
    assert_eq!(pvc_spec.storage_class_name.as_deref(), Some("fast"));
    assert_eq!(
        pvc_spec
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()["storage"],
        Quantity("5Gi".into())
    );
    assert!(c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .any(|m| m.name == "data" && m.mount_path == DATA_DIR));
    assert_eq!(sts.metadata.owner_references.as_ref().unwrap()[0].uid, "u");
}

#[test]
fn services_and_config_map_are_owned_and_hashed() {
    let keys = KeySet::generate();
    let settings = Settings::default();
    let inst = instance(ServerRole::Primary);
    let owner = OwnerReference::default();
    let inp = inputs(&inst, &keys, &settings);
    let h = headless_service(&inp, &owner);
    assert_eq!(h.spec.as_ref().unwrap().cluster_ip.as_deref(), Some("None"));
    let c = client_service(&inp, &owner);
    let ports = c.spec.as_ref().unwrap().ports.as_ref().unwrap();
    assert_eq!(ports.len(), 2);
    assert!(ports.iter().all(|p| p.port == 53));
    let cm = config_map(&inp, &owner).unwrap();
    let data = cm.data.as_ref().unwrap();
    assert!(data.contains_key("named.conf") && data.contains_key(BOOTSTRAP_FILE));
    assert!(data.contains_key(CATALOG_FILE));
    let h1 = config_hash(&cm);
    assert_eq!(h1, config_hash(&config_map(&inp, &owner).unwrap()));
    let sec = instance(ServerRole::Secondary);
    let mut inp2 = inputs(&sec, &keys, &settings);
    let h2 = config_hash(&config_map(&inp2, &owner).unwrap());
    inp2.primaries = vec!["127.0.9.9".parse().unwrap()];
    assert_ne!(h2, config_hash(&config_map(&inp2, &owner).unwrap()));
}

#[test]
fn image_comes_from_instance_then_cluster_version() {
    let keys = KeySet::generate();
    let settings = Settings::default();
    let mut inst = instance(ServerRole::Primary);
    let cluster = bindy_crds::Bind9ClusterSpec {
        version: Some("9.18".into()),
        ..Default::default()
    };
    let mut inp = inputs(&inst, &keys, &settings);
    inp.cluster = Some(&cluster);
    let sts = statefulset(&inp, &OwnerReference::default(), "h");
    let img = sts.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(
        img.as_deref(),
        Some("docker.io/internetsystemsconsortium/bind9:9.18")
    );
    inst.spec.version = Some("9.20".into());
    let mut inp = inputs(&inst, &keys, &settings);
    inp.cluster = Some(&cluster);
    let sts = statefulset(&inp, &OwnerReference::default(), "h");
    let img = sts.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(
        img.as_deref(),
        Some("docker.io/internetsystemsconsortium/bind9:9.20")
    );
}
