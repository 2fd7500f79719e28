//! Entra ID's token endpoint and the GitHub / Azure DevOps OIDC issuers.
//! (Skeleton: the Azure side fills this in.)

use std::sync::Arc;

use axum::Router;

use crate::Shared;

pub fn router(_shared: Arc<Shared>) -> Router {
    Router::new()
}

/// A workload-identity token (the content of `AZURE_FEDERATED_TOKEN_FILE`) this Entra accepts.
pub fn federated_token(_shared: &Shared) -> String {
    String::new()
}
