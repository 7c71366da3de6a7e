//! A Kubernetes API-server TEST DOUBLE and a node agent, for Bindy's end-to-end tests.
//!
//! No real kube-apiserver can run on the project's machines, yet the operator must be proven
//! with an unmodified `kube::Client` and with `kubectl`. [`ApiServerDouble`] serves the
//! Kubernetes REST API over real HTTP on 127.0.0.1 from an in-process store; the
//! [`agent::NodeAgent`] plays kubelet for Bindy's StatefulSets and runs real processes (`named`
//! through the `bindy_tests::named` fixture). This is a test double: it is never shipped and
//! must not be mistaken for a conforming API server.
//!
//! ```no_run
//! # async fn demo() -> bindy_kube_double::Result<()> {
//! let double = bindy_kube_double::ApiServerDouble::start().await?;
//! let client = double.client()?; // an ordinary kube::Client
//! double.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?; // for kubectl
//! # Ok(()) }
//! ```
//!
//! # What it models
//! - Built-in kinds: core/v1 Namespaces, Pods, Services (clusterIP assigned), ConfigMaps,
//!   Secrets, Events, ServiceAccounts; events.k8s.io/v1 Events (one pool seen through both
//!   APIs, see [`events`]); apps/v1 StatefulSets and
//!   Deployments; coordination.k8s.io/v1 Leases; apiextensions.k8s.io/v1 CRDs (marked
//!   Established at once). Custom resources are served as soon as their CRD is stored and
//!   vanish with it.
//! - One global resourceVersion; list, get, create, replace, delete, deletecollection; JSON
//!   merge patch, JSON patch, strategic merge patch (lists of objects merged by a guessed merge
//!   key), server-side apply (per-manager applied configurations, field ownership and
//!   conflicts, see [`mod@write`] and [`ownership`]).
//! - Watches: `watch`, `resourceVersion` (replay from a bounded history, 410 Gone outside it,
//!   as an `ERROR` event), `allowWatchBookmarks`, `timeoutSeconds`, `sendInitialEvents`
//!   (streaming lists with the `k8s.io/initial-events-end` bookmark); objects entering or
//!   leaving a selector arrive as ADDED or DELETED.
//! - The `/status` subresource split, `metadata.generation` bumped on non-metadata/non-status
//!   change only, no-op writes that keep the resourceVersion, 409 Conflict on a stale
//!   resourceVersion or failed delete precondition, 404/409/422/410 `Status` bodies worded like
//!   the real server's.
//! - Object names (RFC 1123 subdomains; Namespaces and Services: labels) and labels are
//!   validated on every write, as the real server does.
//! - Finalizers and `deletionTimestamp`; no new finalizers on a deleting object; ownerReference
//!   garbage collection in the background; background, foreground and orphan propagation;
//!   namespace deletion
//!   (Terminating, contents removed, then the namespace).
//! - Label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!`) and field selectors on any
//!   dotted field path (`metadata.name`, `metadata.namespace`, `involvedObject.uid`, ...).
//! - CRD schemas: defaulting, pruning of unknown fields, validation (types, required, pattern,
//!   format, enum, minimum/maximum, lengths, items, nullable, int-or-string) with 422 naming the
//!   field, CEL `x-kubernetes-validations` (see [`validation`] for which rules run).
//! - Discovery (`/api`, `/apis`, `/api/v1`, `/apis/{g}`, `/apis/{g}/{v}`), `/version`,
//!   `/healthz`; Table output for `kubectl get` and `kubectl get -w` (CRD printer columns).
//!
//! # What it does not model
//! Authentication, authorization and RBAC (everyone is admin); admission webhooks and admission
//! plugins; TLS; aggregated APIs and aggregated discovery (kubectl falls back to the legacy
//! documents); OpenAPI publishing (`/openapi/v2|v3` answer 404: use `kubectl --validate=false`);
//! protobuf; version conversion between CRD versions (objects are stored once and relabelled);
//! `managedFields` in responses (apply conflicts are modelled per leaf field, see
//! [`ownership`]); the Go types' exact strategic-merge keys and the `$setElementOrder`/
//! `$retainKeys` directives;
//! snapshot-consistent pagination (`limit`/`continue` page through the current state);
//! `blockOwnerDeletion`; graceful pod termination; built-in validation of core kinds beyond
//! names and labels; scheduling, kube-proxy, Service routing, DNS, Endpoints; quotas and
//! limits; `exec`, `port-forward`; the real StatefulSet and Deployment
//! controllers (the node agent stands in for StatefulSets).
pub mod double;
pub mod error;
pub mod events;
mod gc;
pub mod names;
pub mod ownership;
pub mod patch;
pub mod resources;
pub mod selectors;
mod server;
pub mod store;
pub mod table;
pub mod validation;
pub mod write;

pub use double::{ApiServerDouble, DoubleConfig};
pub use error::{ApiError, Error, Result};
pub mod agent;
