//! Azure Resource Manager with Microsoft.ApiManagement 2024-05-01, the `/_sandbox` test-control
//! endpoints on the same listener, and the storage origin export links point at. One file per
//! resource or concern:
//!
//! - [`front`] is ARM's own layer (bearer tokens, `api-version`, subscription / resource group /
//!   service resolution, throttling and transient faults); [`routes`] maps APIM's resources to
//!   their handlers;
//! - [`state`] is what APIM holds (APIs, revisions, releases, product links, operations in
//!   flight, export blobs), with the ETags and `apiId;rev=N` references that address it;
//! - [`apis`] handles APIs and revisions as entities (PUT, PATCH, DELETE, GET, list, imports);
//! - [`import`] turns a document into title, description, service URL and operations;
//!   [`dropped`] removes what APIM does not keep of it (custom extensions, `deprecated`);
//! - [`lro`] runs long-running operations and answers their two pollers;
//! - [`revisions`], [`releases`], [`operations`] and [`products`] are the child resources;
//! - [`policies`] holds API and operation policies per revision, read and written through
//!   [`policy_xml`]; [`named_values`], [`backends`] and [`version_sets`] are the service-level
//!   resources policies and versioned APIs refer to;
//! - [`export`] serves exports, inline or as SAS links to a blob origin of its own ([`routers`]);
//! - [`resource`] holds the PUT/GET/DELETE shape (If-Match, ETag, 201/200) the entities share;
//! - [`paging`] pages lists, [`errors`] builds error bodies, [`util`] holds small helpers;
//! - [`control`] answers `/_sandbox/*`.

// Handlers bail out with a finished response; boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod apis;
pub mod backends;
pub mod control;
pub mod dropped;
pub mod errors;
pub mod export;
pub mod front;
pub mod import;
pub mod lro;
pub mod named_values;
pub mod operations;
pub mod paging;
pub mod policies;
pub mod policy_xml;
pub mod products;
pub mod releases;
pub mod resource;
pub mod revisions;
pub mod routes;
pub mod state;
pub mod util;
pub mod version_sets;

use std::sync::{Arc, Mutex};

use axum::Router;

use crate::Shared;
pub use errors::{add_headers, arm_error, json_response, validation_error};
pub use front::Req;

/// The api-versions of Microsoft.ApiManagement this emulator speaks.
pub const API_VERSIONS: &[&str] = &["2024-05-01"];
pub const API_VERSION: &str = "2024-05-01";

/// Everything the ARM handlers need.
pub struct Ctx {
    pub shared: Arc<Shared>,
    pub apim: Mutex<state::Apim>,
}

impl Ctx {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, state::Apim> {
        // Handlers never leave the state half-updated across an await or a panic point, so a
        // poisoned lock still guards consistent data.
        self.apim.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// ARM's router, and the storage account's that serves export links: another origin, as real
/// export links point at a blob in APIM's storage account, not at management.azure.com.
pub fn routers(shared: Arc<Shared>) -> (Router, Router) {
    let ctx = Arc::new(Ctx {
        shared,
        apim: Mutex::new(state::Apim::new()),
    });
    let arm = Router::new()
        .fallback(front::handle)
        // Oversized inline documents must reach APIM's own 4 MB check, not axum's 2 MB default.
        .layer(axum::extract::DefaultBodyLimit::max(32 * 1024 * 1024))
        .with_state(ctx.clone());
    let blob = Router::new().fallback(export::serve_blob).with_state(ctx);
    (arm, blob)
}
