//! The Kubernetes API server emulator. (Skeleton: the Kubernetes side fills this in.)

use std::sync::Arc;

use axum::Router;

use crate::Shared;
use crate::cluster::Cluster;

pub fn router(_shared: Arc<Shared>, _cluster: Arc<Cluster>) -> Router {
    Router::new()
}
