//! Azure Resource Manager with Microsoft.ApiManagement 2024-05-01, and `/_sandbox` control.
//! (Skeleton: the Azure side fills this in.)

use std::sync::Arc;

use axum::Router;

use crate::Shared;

pub fn router(_shared: Arc<Shared>) -> Router {
    Router::new()
}
