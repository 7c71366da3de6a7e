//! Kubernetes API-server test double.
