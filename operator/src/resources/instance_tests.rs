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
    let cm2 = config_map(&inp2, &owner).unwrap();
    let (h2, r2) = (config_hash(&cm2), rollout_hash(&inp2, &cm2).unwrap());
    inp2.primaries = vec!["127.0.9.9".parse().unwrap(), "127.0.9.8".parse().unwrap()];
    let cm3 = config_map(&inp2, &owner).unwrap();
    assert_ne!(
        h2,
        config_hash(&cm3),
        "the ConfigMap carries the new primaries"
    );
    assert_eq!(
        r2,
        rollout_hash(&inp2, &cm3).unwrap(),
        "a BIND9 secondary is not rolled for new primary IPs (rndc reconfig)"
    );
    assert!(primaries_applied_live(&inp2));
    // Anything else still rolls; the first primaries too (the catalog block appears).
    inp2.primaries.clear();
    let cm4 = config_map(&inp2, &owner).unwrap();
    assert_ne!(r2, rollout_hash(&inp2, &cm4).unwrap());
    assert_eq!(
        rollout_hash(&inp, &cm).unwrap(),
        h1,
        "primaries: plain hash"
    );
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

fn dnsd_instance() -> Bind9Instance {
    let mut i = instance(ServerRole::Secondary);
    i.metadata.name = Some("edge".into());
    i.spec.server = Some(ServerKind::Dnsd);
    i
}

#[test]
fn dnsd_conf_follows_the_catalog_of_the_primaries_and_holds_no_secret() {
    let keys = KeySet::generate();
    let settings = Settings {
        dns_port: 5353,
        ..Default::default()
    };
    let inst = dnsd_instance();
    let mut inp = inputs(&inst, &keys, &settings);
    inp.primaries = vec!["127.0.1.1".parse().unwrap(), "127.0.1.2".parse().unwrap()];
    let owner = OwnerReference::default();
    let cm = config_map(&inp, &owner).unwrap();
    let toml = &cm.data.as_ref().unwrap()["dnsd.toml"];
    assert!(toml.contains("listen = [\"0.0.0.0:5353\"]"), "{toml}");
    assert!(toml.contains("metrics = \"0.0.0.0:9153\""), "{toml}");
    assert!(toml.contains("[[secondary.catalog]]\nname = \"catalog.bindy.local\""));
    assert!(toml.contains("primaries = [\"127.0.1.1:5353\", \"127.0.1.2:5353\"]"));
    assert!(toml.contains("key = \"bindy-transfer\""));
    assert!(
        toml.contains("notify_keys = [\"bindy-transfer\"]"),
        "{toml}"
    );
    for k in keys.all() {
        assert!(!toml.contains(&k.secret));
    }
    // A primary IP change changes the hash (dnsd reads its primaries only at start).
    let h = config_hash(&cm);
    inp.primaries = vec!["127.0.1.3".parse().unwrap()];
    assert_ne!(h, config_hash(&config_map(&inp, &owner).unwrap()));
    // No ready primary: waiting (no config to roll out); primaryServers of a standalone one.
    inp.primaries.clear();
    assert!(matches!(config_map(&inp, &owner), Err(Error::Waiting(_))));
    let mut alone = dnsd_instance();
    alone.spec.cluster_ref = None;
    alone.spec.primary_servers = Some(vec!["192.0.2.1".parse().unwrap()]);
    let mut inp = inputs(&alone, &keys, &settings);
    inp.primaries.clear();
    let toml = dnsd_conf(&inp).unwrap();
    assert!(toml.contains("primaries = [\"192.0.2.1:5353\"]"), "{toml}");
}

#[test]
fn dnsd_key_secret_has_the_transfer_key_only() {
    let keys = KeySet::generate();
    let settings = Settings::default();
    let inst = dnsd_instance();
    let inp = inputs(&inst, &keys, &settings);
    let s = dnsd_secret(&inp, &OwnerReference::default());
    assert_eq!(s.metadata.name.as_deref(), Some("edge-dnsd-tsig"));
    let file = String::from_utf8(s.data.as_ref().unwrap()[DNSD_KEY_FILE].0.clone()).unwrap();
    assert!(file.starts_with("key \"bindy-transfer\""), "{file}");
    assert!(file.contains(&keys.transfer.secret));
    assert!(
        !file.contains(&keys.rndc.secret) && !file.contains(&keys.update.secret),
        "dnsd never gets the rndc or UPDATE key"
    );
    assert!(!format!("{:?}", inp.keys).contains(&keys.transfer.secret));
}

#[test]
fn dnsd_statefulset_mounts_keys_and_state_and_probes_ready_and_health() {
    let keys = KeySet::generate();
    let settings = Settings {
        dns_port: 5353,
        ..Default::default()
    };
    let inst = dnsd_instance();
    let inp = inputs(&inst, &keys, &settings);
    let sts = statefulset(&inp, &OwnerReference::default(), "h");
    let pod = sts.spec.unwrap().template.spec.unwrap();
    let c = &pod.containers[0];
    assert_eq!(c.name, "dnsd");
    assert_eq!(c.image.as_deref(), Some("ghcr.io/firestoned/dnsd:latest"));
    assert_eq!(
        c.args.clone().unwrap(),
        [
            "--config",
            "/etc/dnsd/dnsd.toml",
            "--tsig-key",
            "/etc/dnsd/keys/tsig.key",
            "--state-dir",
            "/var/lib/dnsd",
            "--log-json"
        ]
    );
    let mounts = c.volume_mounts.clone().unwrap();
    let at = |n: &str| {
        mounts
            .iter()
            .find(|m| m.name == n)
            .map(|m| m.mount_path.clone())
    };
    assert_eq!(at("config").as_deref(), Some("/etc/dnsd"));
    assert_eq!(at("keys").as_deref(), Some("/etc/dnsd/keys"));
    assert_eq!(at("data").as_deref(), Some("/var/lib/dnsd"));
    let vols = pod.volumes.clone().unwrap();
    let keys_vol = vols.iter().find(|v| v.name == "keys").unwrap();
    assert_eq!(
        keys_vol.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("edge-dnsd-tsig")
    );
    let path = |p: &Option<Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(path(&c.readiness_probe).as_deref(), Some("/ready"));
    assert_eq!(path(&c.liveness_probe).as_deref(), Some("/health"));
    let ports = c.ports.clone().unwrap();
    assert!(ports
        .iter()
        .any(|p| p.name.as_deref() == Some("metrics") && p.container_port == 9153));
    assert!(ports
        .iter()
        .any(|p| p.name.as_deref() == Some("dns-udp") && p.container_port == 5353));
    assert_eq!(pod.security_context.unwrap().run_as_user, Some(DNSD_UID));
}

#[test]
fn client_service_exposes_53_to_the_pods_dns_port() {
    let keys = KeySet::generate();
    let settings = Settings {
        dns_port: 5353,
        ..Default::default()
    };
    for inst in [instance(ServerRole::Primary), dnsd_instance()] {
        let inp = inputs(&inst, &keys, &settings);
        let owner = OwnerReference::default();
        let c = client_service(&inp, &owner);
        let ports = c.spec.unwrap().ports.unwrap();
        assert_eq!(ports.len(), 2);
        for p in &ports {
            assert_eq!(p.port, 53);
            assert_eq!(p.target_port, Some(IntOrString::Int(5353)));
        }
        let h = headless_service(&inp, &owner);
        let hp = h.spec.unwrap().ports.unwrap();
        assert!(hp
            .iter()
            .filter(|p| p.name.as_deref() != Some("metrics"))
            .all(|p| p.port == 5353));
        let dnsd = inst.spec.server() == ServerKind::Dnsd;
        assert_eq!(hp.iter().any(|p| p.port == 9153), dnsd);
    }
}

#[test]
fn showzone_primaries_are_compared_as_a_set() {
    let text = "zone \"catalog.bindy.local\" { type secondary; file \"/var/lib/bind/c.db\"; \
        primaries { 127.0.1.1 port 5353 key \"bindy-transfer\"; 127.0.1.2 port 5353 key \"bindy-transfer\"; }; \
        allow-notify { key \"bindy-operator\"; }; };";
    assert_eq!(
        shown_primaries(text).unwrap(),
        ["127.0.1.1 port 5353", "127.0.1.2 port 5353"]
    );
    let a: SocketAddr = "127.0.1.1:5353".parse().unwrap();
    let b: SocketAddr = "127.0.1.2:5353".parse().unwrap();
    assert!(runs_primaries(text, &[b, a]));
    assert!(!runs_primaries(text, &[a]), "a removed primary is a change");
    assert!(!runs_primaries(
        text,
        &[a, b, "127.0.1.3:5353".parse().unwrap()]
    ));
    assert!(!runs_primaries("zone \"x\" { type primary; };", &[a]));
    assert_eq!(
        shown_primaries("primaries { 192.0.2.1; };").unwrap(),
        ["192.0.2.1 port 53"]
    );
}
