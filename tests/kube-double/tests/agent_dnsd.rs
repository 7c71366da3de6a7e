//! The whole testbed without the operator: a BIND9 primary (named runtime) serving a catalog
//! zone, and the team's hand-deployed dnsd tier applied from deploy/dnsd/ (CommandRuntime with
//! the built `dnsd` binary), which follows the catalog over TSIG and answers `dig`.
//! Needs `named`, `dig` and the `dnsd` binary next to this test's executable (built by
//! `cargo build --workspace --all-targets`, as CI does, or found via BINDY_DNSD_BIN).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bindy_kube_double::agent::command::{CommandRuntime, Readiness};
use bindy_kube_double::agent::named::NamedRuntime;
use bindy_kube_double::agent::{AgentConfig, NodeAgent, Runtime};
use bindy_kube_double::ApiServerDouble;
use bindy_tests::named::TsigKey;
use common::eventually;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use kube::api::{Api, PostParams};
use serde_json::{json, Value};

const NS: &str = "bindy-system";
const CATALOG: &str = "$TTL 0\n@ SOA invalid. invalid. 1 3600 600 86400 0\n@ NS invalid.\n\
    version TXT \"2\"\nm1.zones PTR example.com.\n";
const ZONE: &str = "$TTL 300\n@ SOA ns1 admin 7 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.53\n\
    www A 192.0.2.10\n";

fn dnsd_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BINDY_DNSD_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("dnsd");
    p.exists().then_some(p)
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn dig(ip: &str, port: u16, name: &str) -> String {
    common::dig_a(ip, port, name).unwrap_or_default()
}

async fn ready_ip(pods: &Api<Pod>, name: &str) -> Option<String> {
    let p = pods.get_opt(name).await.unwrap()?;
    let st = p.status?;
    st.conditions?
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
        .then_some(st.pod_ip?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsd_tier_from_deploy_follows_a_named_primary() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let tools = bindy_tests::named::require_tools(&["named", "dig"]);
    let Some(dnsd) = dnsd_bin().filter(|_| tools) else {
        assert!(!ci, "named, dig and the dnsd binary (cargo build --workspace --all-targets) are required in CI");
        eprintln!("SKIP: named/dig or the dnsd binary missing (build it with cargo build -p dnsd)");
        return;
    };
    let d = ApiServerDouble::start().await.unwrap();
    let client = d.client().unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut dnsd_rt = CommandRuntime::new("dnsd", "firestoned/dnsd", Some(dnsd));
    dnsd_rt.readiness = Readiness::Dns(5353);
    let runtimes: Vec<Arc<dyn Runtime>> =
        vec![Arc::new(NamedRuntime::default()), Arc::new(dnsd_rt)];
    let _agent = NodeAgent::start(client.clone(), runtimes, AgentConfig::new(root.path()));

    let pp = PostParams::default();
    Api::<Namespace>::all(client.clone())
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap(),
        )
        .await
        .unwrap();
    let key = TsigKey::with_algorithm("bindy-transfer", "hmac-sha256");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    secrets
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": "dnsd-tsig"},
            "stringData": {"tsig.key": key.named_conf_stanza()}}))
            .unwrap(),
        )
        .await
        .unwrap();

    // the primary: named with the catalog and one member zone, transfers with the TSIG key
    let conf = "include \"/etc/bind/keys/tsig.key\";\n\
        options { directory \"/var/cache/bind\"; listen-on { any; }; recursion no;\n\
          allow-transfer { key \"bindy-transfer\"; }; notify no; };\n\
        zone \"catalog.bindy.local\" { type primary; file \"/etc/bind/catalog.db\"; };\n\
        zone \"example.com\" { type primary; file \"/etc/bind/example.com.db\"; };\n";
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    cms.create(
        &pp,
        &serde_json::from_value(json!({"metadata": {"name": "primary"},
        "data": {"named.conf": conf, "catalog.db": CATALOG, "example.com.db": ZONE}}))
        .unwrap(),
    )
    .await
    .unwrap();
    let stss: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    stss.create(&pp, &serde_json::from_value(json!({
        "metadata": {"name": "primary", "labels": {"app.kubernetes.io/part-of": "bindy"}},
        "spec": {"replicas": 1, "serviceName": "primary", "selector": {"matchLabels": {"app": "primary"}},
            "template": {"metadata": {"labels": {"app": "primary"}}, "spec": {"containers": [{
                "name": "bind9", "image": "bind9", "args": ["-g", "-c", "/etc/bind/named.conf"],
                "volumeMounts": [{"name": "config", "mountPath": "/etc/bind"},
                    {"name": "keys", "mountPath": "/etc/bind/keys"}, {"name": "cache", "mountPath": "/var/cache/bind"}]}],
                "volumes": [{"name": "config", "configMap": {"name": "primary"}},
                    {"name": "keys", "secret": {"secretName": "dnsd-tsig"}}, {"name": "cache", "emptyDir": {}}]}}}
    })).unwrap())
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let primary = eventually(Duration::from_secs(20), || ready_ip(&pods, "primary-0"))
        .await
        .expect("primary ready");
    assert_eq!(dig(&primary, 53, "www.example.com"), "192.0.2.10");

    // the dnsd tier exactly as deploy/dnsd/ ships it, PRIMARY pointed at the primary pod
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/dnsd");
    let mut cm = yaml(&deploy.join("configmap.yaml"));
    cm["data"]["PRIMARY"] = json!(format!("{primary}:53"));
    cms.create(&pp, &serde_json::from_value(cm).unwrap())
        .await
        .unwrap();
    stss.create(
        &pp,
        &serde_json::from_value(yaml(&deploy.join("statefulset.yaml"))).unwrap(),
    )
    .await
    .unwrap();
    for pod in ["dnsd-0", "dnsd-1"] {
        let ip = eventually(Duration::from_secs(20), || ready_ip(&pods, pod))
            .await
            .expect("dnsd pod ready");
        let answer = eventually(Duration::from_secs(20), || {
            let ip = ip.clone();
            async move { (dig(&ip, 5353, "www.example.com") == "192.0.2.10").then_some(()) }
        })
        .await;
        assert!(
            answer.is_some(),
            "{pod} on {ip}:5353 serves the catalog member"
        );
    }
}
