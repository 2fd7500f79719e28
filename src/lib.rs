//! apim-gate: publish the OpenAPI document of a Kubernetes service to Azure API Management,
//! as a release gate.
//!
//! Data flows one way: [`inputs`] → `cluster` → [`spec`] → `apim` → `report`, and `gate` runs
//! the whole and decides what to say. Lower layers never print: they return values and typed errors.

pub mod spec;
