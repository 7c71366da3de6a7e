//! The node agent with the real `named` runtime: a StatefulSet written by hand (no operator)
//! becomes a running BIND9 on its own loopback IP, answering `dig`; ConfigMap changes reach the
//! pod's folder only after the configured sync delay; scale-down stops the server.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bindy_kube_double::agent::named::NamedRuntime;
use bindy_kube_double::agent::{AgentConfig, NodeAgent, Runtime};
use bindy_kube_double::ApiServerDouble;
use bindy_tests::named::TsigKey;
use common::{eventually, gone_within};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const ZONE: &str =
    "$TTL 300\n@ SOA ns1 admin 1 60 60 600 60\n@ NS ns1\nns1 A 127.0.0.1\nwww A 192.0.2.10\n";

fn named_conf(rndc: &TsigKey, extra_zone: bool) -> String {
    let mut conf = format!(
        "{}controls {{ inet * port 953 allow {{ any; }} keys {{ \"{}\"; }}; }};\n\
         options {{\n  directory \"/var/cache/bind\";\n  listen-on {{ any; }};\n  recursion no;\n}};\n\
         zone \"example.com\" {{\n  type primary;\n  file \"/etc/bind/example.com.db\";\n  \
         journal \"example.com.jnl\";\n  allow-update {{ key \"{}\"; }};\n}};\n",
        rndc.named_conf_stanza(),
        rndc.name,
        rndc.name
    );
    if extra_zone {
        conf.push_str(
            "zone \"example.net\" { type primary; file \"/etc/bind/example.net.db\"; };\n",
        );
    }
    conf
}

/// `rndc` with the pod's own key (as the operator would use it) against `ip:953`.
fn rndc(dir: &std::path::Path, key: &TsigKey, ip: &str, cmd: &str) -> bool {
    let conf = dir.join("rndc.conf");
    let text = format!(
        "{}options {{ default-key \"{}\"; default-server {ip}; default-port 953; }};\n",
        key.named_conf_stanza(),
        key.name
    );
    std::fs::write(&conf, text).unwrap();
    let rndc = bindy_tests::named::find_tool("rndc").expect("rndc");
    std::process::Command::new(rndc)
        .args(["-c", conf.to_str().unwrap(), cmd])
        .status()
        .is_ok_and(|s| s.success())
}

/// DNS on the pods' port 53 (the agent runs named there).
fn dig(ip: &str, name: &str) -> Option<String> {
    common::dig_a(ip, 53, name)
}

fn tools_present() -> bool {
    let ok = bindy_tests::named::require_tools(&["named", "dig", "nsupdate", "rndc"]);
    assert!(
        ok || std::env::var("CI").as_deref() != Ok("true"),
        "named and dig are required in CI"
    );
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_runs_named_and_answers_dig() {
    if !tools_present() {
        eprintln!("SKIP: named/dig not installed");
        return;
    }
    let d = ApiServerDouble::start().await.unwrap();
    let client = d.client().unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut cfg = AgentConfig::new(root.path());
    cfg.configmap_sync_delay = Duration::from_secs(1);
    let runtimes: Vec<Arc<dyn Runtime>> = vec![Arc::new(NamedRuntime::default())];
    let _agent = NodeAgent::start(client.clone(), runtimes, cfg);

    let rndc_key = TsigKey::with_algorithm("pod-rndc", "hmac-sha256");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "dns-config"},
        "data": {"named.conf": named_conf(&rndc_key, false), "example.com.db": ZONE}}))
        .unwrap(),
    )
    .await
    .unwrap();
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "dns", "labels": {"app.kubernetes.io/part-of": "bindy"}},
        "spec": {"replicas": 1, "serviceName": "dns", "selector": {"matchLabels": {"app": "dns"}},
            "template": {"metadata": {"labels": {"app": "dns"}}, "spec": {
                "containers": [{"name": "bind9", "image": "internetsystemsconsortium/bind9:9.18",
                    "args": ["-g", "-c", "/etc/bind/named.conf"],
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/bind"}, {"name": "cache", "mountPath": "/var/cache/bind"}]}],
                "volumes": [{"name": "config", "configMap": {"name": "dns-config"}}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "cache"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}
    })).unwrap();
    let stss: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    stss.create(&PostParams::default(), &sts).await.unwrap();

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let ready_pod = || async {
        let p = pods.get_opt("dns-0").await.unwrap()?;
        let st = p.status.clone()?;
        let ready = st
            .conditions?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(st.pod_ip?)
    };
    let ip = eventually(Duration::from_secs(20), ready_pod)
        .await
        .expect("pod dns-0 Ready within 20 s");
    assert!(ip.starts_with("127."), "loopback pod IP {ip}");
    assert_eq!(dig(&ip, "www.example.com").as_deref(), Some("192.0.2.10"));
    let s = stss.get_status("dns").await.unwrap();
    assert_eq!(s.status.unwrap().ready_replicas, Some(1));
    // `kubectl logs`: named's own log through pods/log
    d.serve_pod_logs(root.path());
    let log = pods
        .logs("dns-0", &kube::api::LogParams::default())
        .await
        .unwrap();
    assert!(log.contains("running"), "named's log: {log}");

    // a dynamic update lands in the journal on the pod's claim (relative to `directory`)...
    let nsupdate = bindy_tests::named::find_tool("nsupdate").expect("nsupdate");
    let script = format!(
        "server {ip} 53\nzone example.com\nupdate add dyn.example.com 300 A 192.0.2.99\nsend\n"
    );
    let mut child = std::process::Command::new(nsupdate)
        .args(["-y", &rndc_key.dig_y_arg()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nsupdate");
    assert_eq!(dig(&ip, "dyn.example.com").as_deref(), Some("192.0.2.99"));
    assert!(
        root.path()
            .join("claims/default/cache-dns-0/example.com.jnl")
            .exists(),
        "journal on the claim"
    );

    // ...so after named is killed and restarted (pod not ready, then ready) it is still served
    let pid_file = root.path().join("pods/default/dns-0/containers/bind9/pid");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap();
    let back = eventually(Duration::from_secs(20), || async {
        let p = pods.get_opt("dns-0").await.unwrap()?;
        let restarts = p.status.as_ref()?.container_statuses.as_ref()?[0].restart_count;
        (restarts == 1
            && ready_pod().await.is_some()
            && dig(&ip, "www.example.com").as_deref() == Some("192.0.2.10")
            && dig(&ip, "dyn.example.com").as_deref() == Some("192.0.2.99"))
        .then_some(())
    })
    .await;
    assert!(
        back.is_some(),
        "named restarted after a kill, journaled update kept"
    );
    assert_ne!(std::fs::read_to_string(&pid_file).unwrap(), pid);

    // ConfigMap change: not in the pod's folder at once, there after the sync delay
    let file = root
        .path()
        .join("pods/default/dns-0/volumes/config/example.com.db");
    let changed = ZONE.replace("192.0.2.10", "192.0.2.20");
    let t0 = Instant::now();
    cms.patch(
        "dns-config",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"example.com.db": changed}})),
    )
    .await
    .unwrap();
    let landed = eventually(Duration::from_secs(10), || async {
        (std::fs::read_to_string(&file).ok()? == changed).then(|| t0.elapsed())
    })
    .await
    .expect("ConfigMap change reaches the pod folder");
    assert!(
        landed >= Duration::from_millis(900),
        "sync delay honoured: {landed:?}"
    );

    // a new zone in named.conf: after the sync, `rndc reconfig` with the pod's own rndc key
    // (as the operator does) loads it
    let net_zone = ZONE.replace("192.0.2.10", "192.0.2.30");
    cms.patch(
        "dns-config",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {
        "named.conf": named_conf(&rndc_key, true), "example.net.db": net_zone}})),
    )
    .await
    .unwrap();
    let served = eventually(Duration::from_secs(10), || async {
        (rndc(root.path(), &rndc_key, &ip, "reconfig")
            && dig(&ip, "www.example.net").as_deref() == Some("192.0.2.30"))
        .then_some(())
    })
    .await;
    assert!(
        served.is_some(),
        "new zone served after ConfigMap sync + rndc reconfig"
    );

    // scale to zero: pod object gone, server stopped
    stss.patch(
        "dns",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .unwrap();
    let gone = gone_within(&pods, "dns-0", Duration::from_secs(15)).await;
    assert!(gone, "pod deleted on scale-down");
    assert!(
        dig(&ip, "www.example.com").is_none_or(|a| a.is_empty()),
        "named stopped"
    );
}

fn pid_alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_lifecycle_restart_recreate_scale_and_delete() {
    use bindy_kube_double::agent::command::CommandRuntime;
    let d = ApiServerDouble::start().await.unwrap();
    let client = d.client().unwrap();
    let root = tempfile::tempdir().unwrap();
    let runtimes: Vec<Arc<dyn Runtime>> = vec![Arc::new(CommandRuntime::new(
        "sleep",
        "kube-double/sleep",
        None,
    ))];
    let _agent = NodeAgent::start(client.clone(), runtimes, AgentConfig::new(root.path()));
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "helper", "labels": {"app.kubernetes.io/part-of": "bindy"}},
        "spec": {"replicas": 2, "serviceName": "helper", "selector": {"matchLabels": {"app": "helper"}},
            "template": {"metadata": {"labels": {"app": "helper"}}, "spec": {"containers": [{
                "name": "main", "image": "kube-double/sleep", "command": ["sh", "-c", "echo $(POD_IP) > ip; exec sleep 600"],
                "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}]}}}
    })).unwrap();
    let stss: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    stss.create(&PostParams::default(), &sts).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let ready = |name: &'static str| {
        let pods = pods.clone();
        move || {
            let pods = pods.clone();
            async move {
                let p = pods.get_opt(name).await.unwrap()?;
                let st = p.status.clone()?;
                st.conditions
                    .as_ref()?
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
                    .then_some(p)
            }
        }
    };
    let deadline = Duration::from_secs(10);
    let p0 = eventually(deadline, ready("helper-0"))
        .await
        .expect("helper-0 ready");
    let p1 = eventually(deadline, ready("helper-1"))
        .await
        .expect("helper-1 ready");
    let ip0 = p0.status.clone().unwrap().pod_ip.unwrap();
    assert_ne!(
        Some(ip0.clone()),
        p1.status.clone().unwrap().pod_ip,
        "unique pod IPs"
    );
    let scratch = |pod: &str| {
        root.path()
            .join(format!("pods/default/{pod}/containers/main"))
    };
    assert_eq!(
        std::fs::read_to_string(scratch("helper-0").join("ip"))
            .unwrap()
            .trim(),
        ip0,
        "downward-API env expanded"
    );
    assert_eq!(p0.metadata.owner_references.unwrap()[0].name, "helper");

    // a killed process: pod restarted, restartCount 1
    let pid0 = std::fs::read_to_string(scratch("helper-0").join("pid")).unwrap();
    std::process::Command::new("kill")
        .args(["-KILL", pid0.trim()])
        .status()
        .unwrap();
    let restarted = eventually(deadline, || async {
        let p = ready("helper-0")().await?;
        (p.status.as_ref()?.container_statuses.as_ref()?[0].restart_count == 1).then_some(())
    })
    .await;
    assert!(restarted.is_some(), "killed container restarted");
    let pid0b = std::fs::read_to_string(scratch("helper-0").join("pid")).unwrap();
    assert_ne!(pid0, pid0b);

    // a deleted pod is recreated (new uid)
    pods.delete("helper-1", &Default::default()).await.unwrap();
    let old_uid = p1.metadata.uid.clone();
    let recreated = eventually(deadline, || async {
        let p = ready("helper-1")().await?;
        (p.metadata.uid != old_uid).then_some(())
    })
    .await;
    assert!(recreated.is_some(), "deleted pod recreated");

    // scale down: helper-1 goes, its process stops
    let pid1 = std::fs::read_to_string(scratch("helper-1").join("pid")).unwrap();
    stss.patch(
        "helper",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    let gone = gone_within(&pods, "helper-1", deadline).await;
    assert!(
        gone && !pid_alive(pid1.trim()),
        "scaled-down pod and process gone"
    );

    // deleting the StatefulSet removes its pods (owner GC) and stops the process
    stss.delete("helper", &Default::default()).await.unwrap();
    let gone = gone_within(&pods, "helper-0", deadline).await;
    assert!(gone, "pod of a deleted StatefulSet removed");
    let stopped = eventually(deadline, || async {
        (!pid_alive(pid0b.trim())).then_some(())
    })
    .await;
    assert!(stopped.is_some(), "process stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_container_reports_why_and_backs_off() {
    use bindy_kube_double::agent::command::CommandRuntime;
    let d = ApiServerDouble::start().await.unwrap();
    let client = d.client().unwrap();
    let root = tempfile::tempdir().unwrap();
    let runtimes: Vec<Arc<dyn Runtime>> = vec![Arc::new(CommandRuntime::new(
        "cmd",
        "kube-double/cmd",
        None,
    ))];
    let _agent = NodeAgent::start(client.clone(), runtimes, AgentConfig::new(root.path()));
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "broken", "labels": {"app.kubernetes.io/part-of": "bindy"}},
        "spec": {"replicas": 1, "serviceName": "broken", "selector": {"matchLabels": {"app": "broken"}},
            "template": {"metadata": {"labels": {"app": "broken"}}, "spec": {"containers": [{
                "name": "main", "image": "kube-double/cmd", "command": ["sh", "-c", "date +%s.%N >> runs; echo bad config >&2; exit 3"]}]}}}
    })).unwrap();
    Api::<StatefulSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &sts)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let waiting = eventually(Duration::from_secs(10), || async {
        let p = pods.get_opt("broken-0").await.unwrap()?;
        let cs = p.status?.container_statuses?;
        let w = cs[0].state.clone()?.waiting?;
        w.message
            .filter(|m| m.contains("bad config"))
            .map(|_| w.reason)
    })
    .await;
    assert_eq!(
        waiting.flatten().as_deref(),
        Some("CrashLoopBackOff"),
        "the failure and its output are reported"
    );
    // back-off: 1 s, then 2 s between attempts (each attempt appends to `runs` in the scratch dir)
    let runs = root
        .path()
        .join("pods/default/broken-0/containers/main/runs");
    let times = || -> Vec<f64> {
        std::fs::read_to_string(&runs)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    };
    let t = eventually(Duration::from_secs(15), || async {
        Some(times()).filter(|t| t.len() >= 3)
    })
    .await
    .unwrap();
    assert!(
        t[2] - t[0] >= 2.5,
        "restarts back off (1 s, 2 s): attempts at {t:?}"
    );
    let restarts = eventually(Duration::from_secs(10), || async {
        let p = pods.get("broken-0").await.unwrap();
        let n = p.status?.container_statuses?[0].restart_count;
        (n >= 2).then_some(n)
    })
    .await;
    assert!(restarts.is_some(), "exits counted as restarts");
}
