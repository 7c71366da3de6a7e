//! The crate's error type and the Kubernetes `Status` bodies the double answers with.
//!
//! `Error` is for the harness itself (binding a port, writing a kubeconfig, running a process);
//! `ApiError` is what an HTTP client of the double sees: a `Status` object with the same
//! `reason`, `code` and message shape the real API server uses, because controllers and kubectl
//! branch on those (`reason: Conflict`, `code: 404`, ...).

use serde_json::{json, Value};

/// Errors of the test-double harness (not of API requests, see [`ApiError`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// I/O while binding, writing files or starting processes.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A kube client could not be built for the double's URL.
    #[error("kube client: {0}")]
    Kube(#[from] kube::Error),
    /// The double's URL did not parse as a URI.
    #[error("invalid uri: {0}")]
    Uri(#[from] http::uri::InvalidUri),
    /// JSON (de)serialisation.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// The node agent's runtime failed to start or probe a process.
    #[error("runtime: {0}")]
    Runtime(String),
    /// An API call made by the node agent failed.
    #[error("api: {0}")]
    Api(String),
}

/// Result alias for the harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An API error, rendered as a `Status` body like the real API server's.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, ...).
    pub reason: &'static str,
    /// Human-readable message, worded like the real server's.
    pub message: String,
    /// `details` of the Status (name, group, kind, causes), if any.
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String) -> Self {
        Self {
            code,
            reason,
            message,
            details: None,
        }
    }

    /// 404 NotFound, `pods "x" not found`.
    pub fn not_found(qualified: &str, group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(404, "NotFound", format!("{qualified} \"{name}\" not found"));
        e.details = Some(json!({"name": name, "group": group, "kind": plural}));
        e
    }

    /// 404 for a path the double does not serve.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(qualified: &str, group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{qualified} \"{name}\" already exists"),
        );
        e.details = Some(json!({"name": name, "group": group, "kind": plural}));
        e
    }

    /// 409 Conflict on a stale resourceVersion or failed precondition.
    pub fn conflict(qualified: &str, group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {qualified} \"{name}\": the object has been \
                 modified; please apply your changes to the latest version and try again"
            ),
        );
        e.details = Some(json!({"name": name, "group": group, "kind": plural}));
        e
    }

    /// 409 Conflict of a server-side apply with fields owned by other managers.
    pub fn apply_conflict(message: String) -> Self {
        Self::new(409, "Conflict", message)
    }

    /// 422 Invalid with one cause per offending field.
    pub fn invalid(
        kind_group: &str,
        name: &str,
        group: &str,
        kind: &str,
        causes: &[FieldError],
    ) -> Self {
        let summary: Vec<String> = causes.iter().map(FieldError::to_string).collect();
        let summary = if summary.len() == 1 {
            summary.join("")
        } else {
            format!("[{}]", summary.join(", "))
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{kind_group} \"{name}\" is invalid: {summary}"),
        );
        let causes: Vec<Value> = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.detail, "field": c.field}))
            .collect();
        e.details = Some(json!({"name": name, "group": group, "kind": kind, "causes": causes}));
        e
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into())
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
        )
    }

    /// 403 Forbidden (used for writes into a terminating namespace).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message.into())
    }

    /// 410 Expired: the requested resourceVersion left the event-history window.
    pub fn gone(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// 415 UnsupportedMediaType for an unknown patch content type.
    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct})"),
        )
    }

    /// The `Status` body.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

/// One invalid field, as in the real server's `field.Error`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Dotted field path, e.g. `spec.zoneName` or `spec.servers[0].port`.
    pub field: String,
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, ...
    pub reason: &'static str,
    /// Detail, e.g. `Invalid value: "x": spec.zoneName in body should match '^a$'`.
    pub detail: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.detail)
    }
}
