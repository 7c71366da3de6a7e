//! Bindy custom resource types.
