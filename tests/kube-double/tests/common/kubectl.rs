//! The real `kubectl` against a fresh API-server double: one [`Kubectl`] per test, with its
//! own kubeconfig in a temp dir. Every call is bounded (30 s) and printed with its output.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use bindy_kube_double::ApiServerDouble;

/// A double plus a kubeconfig pointing kubectl at it.
pub struct Kubectl {
    pub double: ApiServerDouble,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

fn present() -> bool {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Kubectl {
    /// Starts a double for kubectl; None (after a printed reason) when kubectl is missing
    /// outside CI. Panics when it is missing and CI=true.
    pub async fn start() -> Option<Kubectl> {
        if !present() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "kubectl is required in CI"
            );
            eprintln!("SKIP: kubectl not on PATH");
            return None;
        }
        let double = ApiServerDouble::start().await.expect("double starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        double
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        Some(Kubectl {
            double,
            dir,
            kubeconfig,
        })
    }

    /// A file in the test's temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `kubectl ARGS` (bounded to 30 s), printed with its output.
    pub async fn run(&self, args: &[&str]) -> Output {
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args(args)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("kubectl finished within 30 s")
        .expect("kubectl runs");
        eprintln!(
            "$ kubectl {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `kubectl ARGS`, which must succeed: its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply --validate=false -f FILE EXTRA...` (the double serves no OpenAPI
    /// document for client-side validation).
    pub async fn apply(&self, file: &Path, extra: &[&str]) -> Output {
        let file = file.to_str().expect("UTF-8 path");
        let mut args = vec!["apply", "--validate=false", "-f", file];
        args.extend_from_slice(extra);
        self.run(&args).await
    }

    /// [`Kubectl::apply`], which must succeed: its stdout.
    pub async fn apply_ok(&self, file: &Path, extra: &[&str]) -> String {
        let out = self.apply(file, extra).await;
        assert!(
            out.status.success(),
            "kubectl apply -f {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl delete -f FILE EXTRA...`, which must succeed: its stdout.
    pub async fn delete_ok(&self, file: &Path, extra: &[&str]) -> String {
        let file = file.to_str().expect("UTF-8 path");
        let mut args = vec!["delete", "-f", file];
        args.extend_from_slice(extra);
        self.ok(&args).await
    }
}
