//! A GitHub REST API subset (check runs, commit statuses, issue comments) that records what it got.
//! (Skeleton: the Azure side fills this in.)

use std::sync::Arc;

use axum::Router;

use crate::Shared;

pub fn router(_shared: Arc<Shared>) -> Router {
    Router::new()
}
