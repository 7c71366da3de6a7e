//! Container environment as the kubelet builds it: plain values with `$(VAR)` expansion, the
//! downward API (`status.podIP`, `metadata.name`, `metadata.namespace`, `spec.nodeName`),
//! `configMapKeyRef` and `secretKeyRef` (optional refs may be missing), `envFrom` ConfigMaps
//! and Secrets.

use k8s_openapi::api::core::v1::{ConfigMap, Container, Secret};
use kube::api::Api;
use kube::Client;

use crate::error::{Error, Result};

/// Replace `$(NAME)` references with earlier variables' values.
pub fn expand(s: &str, env: &[(String, String)]) -> String {
    let mut out = s.to_string();
    for (k, v) in env {
        out = out.replace(&format!("$({k})"), v);
    }
    out
}

async fn cm_key(client: &Client, ns: &str, name: &str, key: &str) -> Result<Option<String>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = api
        .get_opt(name)
        .await
        .map_err(|e| Error::Api(e.to_string()))?;
    Ok(cm.and_then(|c| c.data).and_then(|d| d.get(key).cloned()))
}

async fn secret_key(client: &Client, ns: &str, name: &str, key: &str) -> Result<Option<String>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let s = api
        .get_opt(name)
        .await
        .map_err(|e| Error::Api(e.to_string()))?;
    Ok(s.and_then(|s| s.data).and_then(|d| {
        d.get(key)
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
    }))
}

/// Resolve a container's environment for a pod on `ip`.
pub async fn resolve(
    client: &Client,
    ns: &str,
    pod: &str,
    ip: &str,
    c: &Container,
) -> Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = Vec::new();
    for from in c.env_from.clone().unwrap_or_default() {
        let prefix = from.prefix.unwrap_or_default();
        if let Some(r) = from.config_map_ref {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
            let cm = api
                .get_opt(&r.name)
                .await
                .map_err(|e| Error::Api(e.to_string()))?;
            for (k, v) in cm.and_then(|c| c.data).unwrap_or_default() {
                env.push((format!("{prefix}{k}"), v));
            }
        }
        if let Some(r) = from.secret_ref {
            let api: Api<Secret> = Api::namespaced(client.clone(), ns);
            let s = api
                .get_opt(&r.name)
                .await
                .map_err(|e| Error::Api(e.to_string()))?;
            for (k, v) in s.and_then(|s| s.data).unwrap_or_default() {
                env.push((
                    format!("{prefix}{k}"),
                    String::from_utf8_lossy(&v.0).into_owned(),
                ));
            }
        }
    }
    for e in c.env.clone().unwrap_or_default() {
        let value = match e.value_from {
            None => expand(e.value.as_deref().unwrap_or_default(), &env),
            Some(src) => {
                let found = if let Some(f) = src.field_ref {
                    Some(match f.field_path.as_str() {
                        "status.podIP" => ip.to_string(),
                        "metadata.name" => pod.to_string(),
                        "metadata.namespace" => ns.to_string(),
                        "spec.nodeName" => "kube-double-node".to_string(),
                        _ => String::new(),
                    })
                } else if let Some(r) = src.config_map_key_ref {
                    let v = cm_key(client, ns, &r.name, &r.key).await?;
                    if v.is_none() && !r.optional.unwrap_or(false) {
                        return Err(Error::Runtime(format!(
                            "configmap {}/{} key {} not found",
                            ns, r.name, r.key
                        )));
                    }
                    v
                } else if let Some(r) = src.secret_key_ref {
                    let v = secret_key(client, ns, &r.name, &r.key).await?;
                    if v.is_none() && !r.optional.unwrap_or(false) {
                        return Err(Error::Runtime(format!(
                            "secret {}/{} key {} not found",
                            ns, r.name, r.key
                        )));
                    }
                    v
                } else {
                    None
                };
                match found {
                    Some(v) => v,
                    None => continue,
                }
            }
        };
        env.push((e.name, value));
    }
    Ok(env)
}
