//! The emulated cluster's topology (nodes, services, pods) and its running pods.
//! (Skeleton: the Kubernetes side fills this in.)

use std::sync::Arc;

use tokio::sync::watch;

use crate::{Error, ServiceType, Shared};

/// Nodes, services and pods of the emulated cluster.
#[derive(Clone, Debug, Default)]
pub struct Topology {}

impl Topology {
    /// One service per document, named `svc-1`, `svc-2`, … of type `service_type`.
    pub fn default_for(_services: usize, _service_type: ServiceType) -> Topology {
        Topology {}
    }

    /// The document each service serves, by service name.
    pub fn documents(&self, specs: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
        specs
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("svc-{}", i + 1), d.clone()))
            .collect()
    }
}

/// Sort key putting `svc-2` before `svc-10`.
pub fn service_order(name: &str) -> (usize, String) {
    let n = name
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    (n, name.to_string())
}

/// The running cluster: topology plus the pods' HTTP servers.
pub struct Cluster {}

impl Cluster {
    pub async fn start(
        _topology: Topology,
        _shared: Arc<Shared>,
        _shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Cluster>, Error> {
        Ok(Arc::new(Cluster {}))
    }
}
