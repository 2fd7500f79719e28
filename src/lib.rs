//! apim-gate: publish the OpenAPI document of a Kubernetes service to Azure API Management,
//! as a release gate.
//!
//! Data flows one way: [`inputs`] → `cluster` → [`spec`] → `apim` → `report`, and `gate` runs
//! the whole and decides what to say. Lower layers never print: they return values and typed errors;
//! [`commands`] holds each subcommand's body, where values become lines on the terminal.

pub mod address;
pub mod apim;
pub mod azure;
pub mod cluster;
pub mod commands;
pub mod drift;
pub mod exit;
pub mod gate;
pub mod inputs;
pub mod policy;
pub mod proxy;
pub mod redact;
pub mod report;
pub mod spec;

/// Installs rustls's ring provider as the process default. Every HTTPS client here (kube, reqwest,
/// octocrab) is built without a provider of its own, so this must run before the first one.
/// Idempotent: a second call finds the provider installed and does nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
