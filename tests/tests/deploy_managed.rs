//! What the operator would deploy for `deploy/examples/`, built with its own pure builders
//! (`bindy_operator::resources`) and the settings `deploy/operator/deployment.yaml` gives it,
//! checked against the images in `deploy/docker/` and against dnsd's own config parser and
//! CLI: the managed BIND9 and dnsd pods must run on what we ship.

mod deploy_support;

use std::collections::BTreeMap;
use std::net::IpAddr;

use bindy_crds::{Bind9Cluster, Bind9Instance};
use bindy_operator::resources::instance::{
    config_hash, config_map, statefulset, InstanceInputs, Settings, BIND_UID,
};
use bindy_operator::resources::{cluster::desired_instances, keys::KeySet, owner_ref};
use deploy_support::{container_ports, doc, dockerfile};

/// The operator's settings as deploy/operator/deployment.yaml's env sets them.
fn settings() -> Settings {
    let dep = doc("deploy/operator/deployment.yaml", "Deployment");
    let env: BTreeMap<String, String> = dep["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?.into(), e["value"].as_str()?.into())))
        .collect();
    Settings {
        bind9_image: env["BINDY_BIND9_IMAGE"].clone(),
        dnsd_image: env["BINDY_DNSD_IMAGE"].clone(),
        dns_port: env["BINDY_DNS_PORT"].parse().unwrap(),
        rndc_port: env["BINDY_RNDC_PORT"].parse().unwrap(),
        ..Settings::default()
    }
}

#[test]
fn managed_pods_for_the_examples_run_on_the_shipped_images() {
    let mut cluster: Bind9Cluster =
        serde_json::from_value(doc("deploy/examples/bind9-cluster.yaml", "Bind9Cluster")).unwrap();
    cluster.metadata.namespace = Some("default".into());
    cluster.metadata.uid = Some("00000000-0000-0000-0000-000000000001".into());
    let mut instances = desired_instances(&cluster).expect("managed instances");
    assert_eq!(instances.len(), 2, "one primary and one secondary");
    let mut dnsd_inst: Bind9Instance =
        serde_json::from_value(doc("deploy/examples/dnsd-secondary.yaml", "Bind9Instance"))
            .unwrap();
    dnsd_inst.metadata.namespace = Some("default".into());
    instances.push(dnsd_inst);

    let settings = settings();
    let keys = KeySet::generate();
    let owner = owner_ref(&cluster).unwrap();
    let (bind9, dnsd) = (
        dockerfile("bind9.Dockerfile"),
        dockerfile("dnsd.Dockerfile"),
    );
    for inst in &instances {
        let name = inst.metadata.name.clone().unwrap_or_default();
        let inp = InstanceInputs {
            instance: inst,
            cluster: Some(&cluster.spec),
            key_scope: "example".into(),
            keys: &keys,
            primaries: vec![IpAddr::from([10, 0, 0, 1])],
            settings: &settings,
        };
        let cm = config_map(&inp, &owner).expect("config map");
        let sts = statefulset(&inp, &owner, &config_hash(&cm));
        let pod = sts.spec.unwrap().template.spec.unwrap();
        let c = &pod.containers[0];
        let ports = container_ports(c);
        let data = cm.data.unwrap_or_default();
        let image = if data.contains_key("dnsd.toml") {
            &dnsd
        } else {
            &bind9
        };
        // The image that runs, its ports, and the uid the pod runs it as (the image's USER,
        // so files the image owns, and the volumes through fsGroup, are writable).
        assert_eq!(c.image.as_deref(), Some(image.image.as_str()), "{name}");
        assert!(
            ports.is_subset(&image.expose),
            "{name}: {ports:?} vs {:?}",
            image.expose
        );
        let psc = pod.security_context.as_ref().expect("pod securityContext");
        assert_eq!(
            psc.run_as_user,
            image.uid(),
            "{name}: runAsUser = {} USER",
            image.name
        );
        assert_eq!(
            psc.fs_group,
            image.uid(),
            "{name}: fsGroup = {} USER",
            image.name
        );
        if let Some(toml) = data.get("dnsd.toml") {
            // dnsd accepts the operator's generated config.
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("dnsd.toml");
            std::fs::write(&p, toml).unwrap();
            dnsd::config::Config::from_file(&p).unwrap_or_else(|e| {
                panic!("{name}: dnsd rejects the operator's dnsd.toml: {e}\n{toml}")
            });
        } else {
            assert_eq!(bind9.uid(), Some(BIND_UID), "bind9 image user = BIND_UID");
            assert!(
                data.contains_key("named.conf"),
                "{name}: named.conf in its ConfigMap"
            );
        }
        println!("{name}: image {:?}, ports {ports:?}", c.image);
    }
}
