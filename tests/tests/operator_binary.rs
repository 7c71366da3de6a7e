//! The shipped `bindy` binary as a process, against the API-server test double: it starts
//! from a kubeconfig, answers `/healthz` and `/readyz`, takes the leader Lease, reconciles a
//! Bind9Cluster into its managed instances and stops on SIGTERM. The in-process tests drive
//! `run_operator` directly; this one guards what only `main` does (flags and environment,
//! kubeconfig loading, the TLS crypto provider kube's client needs, signal handling).

mod operator_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use bindy_crds::{Bind9Cluster, Bind9Instance};
use k8s_openapi::api::coordination::v1::Lease;
use operator_support::*;

const T: Duration = Duration::from_secs(30);

/// `target/<profile>/bindy`, built by `cargo build --workspace` (CI builds all targets first).
fn bindy_bin() -> Option<PathBuf> {
    workspace_bin("bindy", "BINDY_OPERATOR_BIN")
}

/// GET `path` on `addr`; the status line, or None when nothing answers (bounded: 2 s).
fn http_status(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    let _ = s.take(64 * 1024).read_to_string(&mut buf);
    buf.lines().next().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_binary_runs_leads_and_reconciles() {
    let Some(bin) = bindy_bin() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the bindy binary is required in CI (cargo build --workspace)"
        );
        eprintln!("SKIP: bindy binary missing (cargo build -p bindy-operator)");
        return;
    };
    let bed = Bed::start(false).await;
    let kubeconfig = bed.root.path().join("kubeconfig");
    std::fs::write(&kubeconfig, bed.double.kubeconfig()).expect("kubeconfig");
    let http: SocketAddr = {
        let l = TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr")
    };
    let log = bed.root.path().join("bindy.log");
    let mut child = Command::new(&bin)
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAME", "bindy-under-test")
        .args(["--http-addr", &http.to_string(), "--lease-seconds", "5"])
        .args(["--bootstrap-file", &bed.settings.bootstrap_file])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn bindy");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    let ready = eventually(T, || async {
        (http_status(http, "/readyz")?.contains(" 200")).then_some(())
    })
    .await;
    assert!(ready.is_some(), "bindy never became ready:\n{}", log_text());
    let health = http_status(http, "/healthz").unwrap_or_default();
    assert!(health.contains(" 200"), "/healthz: {health}");

    let leases = bed.api::<Lease>();
    let holder = eventually(T, || async {
        let l = leases.get_opt("bindy-leader").await.ok()??;
        l.spec?.holder_identity.filter(|h| h == "bindy-under-test")
    })
    .await;
    assert!(
        holder.is_some(),
        "no Lease held by the binary:\n{}",
        log_text()
    );

    let _c: Bind9Cluster = bed.create(cluster("bin", 1, 1)).await;
    let instances = bed.api::<Bind9Instance>();
    for name in ["bin-primary-0", "bin-secondary-0"] {
        let made = wait_for(&instances, name, T, |_| true).await;
        assert!(made.is_some(), "{name} not created:\n{}", log_text());
    }
    let metrics = std::net::TcpStream::connect(http)
        .ok()
        .and_then(|mut s| {
            write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .ok()?;
            let mut b = String::new();
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            let _ = s.take(1 << 20).read_to_string(&mut b);
            Some(b)
        })
        .unwrap_or_default();
    assert!(
        metrics.contains("bindy_reconciles_total") && metrics.contains("controller=\"cluster\""),
        "metrics count the binary's reconciles:\n{metrics}"
    );

    // SIGTERM: a clean exit, as in a rolling update (polled with a deadline).
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + T;
    let exited = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            _ if std::time::Instant::now() > deadline => break None,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let _ = child.kill();
    let status = exited.expect("bindy exits after SIGTERM");
    let text = log_text();
    assert!(!text.contains("panicked"), "bindy panicked:\n{text}");
    assert!(status.success(), "exit after SIGTERM: {status}\n{text}");
}
