//! The cluster side: connect with the kubeconfig, find the address APIM will call (NodePort on a
//! Ready node, or an internal load balancer), wait for a ready pod, port-forward to it and fetch
//! the OpenAPI document, or the list of documents its Swagger UI shows ([`swagger_ui`]).
//! Nothing here prints: progress goes to an [`Observer`], results and typed
//! errors to the caller.

mod api;
mod backends;
pub mod connect;
mod discover;
mod error;
mod exec_plugin;
mod fetch;
mod nodes;
pub mod swagger_ui;

use std::time::Duration;

pub use backends::Backend;
pub use connect::{Connection, KubeconfigInput, connect};
pub use discover::{AddressChoice, ServicePortInfo, Via};
pub use error::ClusterError;
pub use fetch::{DEFAULT_PATHS, Fetched, MAX_BODY};
pub use nodes::{NodeHealth, POOL_MAX, PoolNode};

use crate::inputs::AddressMode;

/// What to look for, from the inputs.
#[derive(Clone, Debug)]
pub struct Target {
    pub namespace: String,
    pub service: String,
    /// Name or number of the Service port APIM calls.
    pub service_port: Option<String>,
    /// Path of the document in the pod; `None` tries [`DEFAULT_PATHS`].
    pub swagger_path: Option<String>,
    pub address: AddressMode,
    pub agent_ip: Option<String>,
    pub pod_ready_timeout: Duration,
    /// Largest document accepted, in bytes.
    pub max_body: usize,
}

/// Things worth telling the user while the cluster side runs.
#[derive(Clone, Debug)]
pub enum Event {
    /// Waiting for a ready pod: what is there now.
    WaitingForPod { service: String, status: String },
    /// A fetch attempt failed and is retried.
    Retrying {
        what: String,
        error: String,
        attempt: u32,
    },
}

pub trait Observer: Send + Sync {
    fn event(&self, event: Event);
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: Event) {}
}

/// What the cluster side found.
#[derive(Clone, Debug)]
pub struct Found {
    pub address: AddressChoice,
    pub port: ServicePortInfo,
    pub backend: Backend,
    pub document: Fetched,
}

/// Where APIM will call, without the document (`spec-file` brings its own).
#[derive(Clone, Debug)]
pub struct Located {
    pub address: AddressChoice,
    pub port: ServicePortInfo,
    pub backend: Backend,
}

/// Runs the whole cluster side on an open connection.
pub async fn find_and_fetch(
    conn: &Connection,
    target: &Target,
    observer: &dyn Observer,
) -> Result<Found, ClusterError> {
    let Located {
        address,
        port,
        backend,
    } = locate(conn, target, observer).await?;
    // The wait for a ready pod can outlast a cached token: fresh credentials for the fetch.
    let renewed = conn.renewed().await?;
    let document =
        fetch::fetch(renewed.as_ref().unwrap_or(conn), &backend, target, observer).await?;
    Ok(Found {
        address,
        port,
        backend,
        document,
    })
}

/// The address half of the cluster side: the Service, a ready pod, the address APIM calls.
pub async fn locate(
    conn: &Connection,
    target: &Target,
    observer: &dyn Observer,
) -> Result<Located, ClusterError> {
    let api = api::Kube::new(conn);
    let service = discover::read_service(&api, target).await?;
    let port = discover::pick_port(&service, target)?;
    discover::check_reachable(&service, target)?;
    // The nodes, when the Service already tells that APIM will call a nodePort, are read with
    // the first look at the pods: one wait instead of two. When the pods had to be waited for,
    // that list may be stale (nodes come and go during a rollout) and they are read again.
    let early_nodes = async {
        match discover::needs_nodes(&service, &port, target) {
            true => Some(discover::list_nodes(&api).await),
            false => None,
        }
    };
    let (backends, early_nodes) = tokio::join!(
        backends::wait_for_ready(&api, &service, &port, target, observer),
        early_nodes
    );
    let (backends, waited) = backends?;
    let nodes = match early_nodes {
        Some(nodes) if !waited => Some(nodes?),
        _ => None,
    };
    // An internal load balancer's IP often arrives while the pods start: read the Service again.
    let service = discover::refresh_pending_lb(&api, service, target).await?;
    let address = discover::choose_address(&api, &service, &port, &backends, nodes, target).await?;
    let backend = backends
        .iter()
        .find(|b| Some(&b.pod) == address.pod.as_ref())
        .or_else(|| backends.first())
        .cloned()
        .ok_or_else(|| ClusterError::NoBackends {
            namespace: target.namespace.clone(),
            name: target.service.clone(),
        })?;
    Ok(Located {
        address,
        port,
        backend,
    })
}

/// The cluster as the drift check sees it now, without waiting for a pod or fetching a document:
/// where a release would point APIM, the Service's nodePort, and every node's health.
#[derive(Debug)]
pub struct Survey {
    /// Where a release would point APIM now, or why no address qualifies (no node does).
    pub address: Result<AddressChoice, ClusterError>,
    /// The chosen Service port's nodePort.
    pub node_port: Option<u16>,
    /// Every node, and why APIM's calls to it fail; `Err` when they could not be listed.
    pub nodes: Result<Vec<NodeHealth>, ClusterError>,
}

/// Reads the Service, its ready endpoints and the nodes as they are now: the drift check's view,
/// which, unlike [`find_and_fetch`], still answers when no pod is ready or no node qualifies,
/// since that is when APIM's address is most likely broken.
pub async fn survey(conn: &Connection, target: &Target) -> Result<Survey, ClusterError> {
    let api = api::Kube::new(conn);
    let service = discover::read_service(&api, target).await?;
    let port = discover::pick_port(&service, target)?;
    discover::check_reachable(&service, target)?;
    let (backends, nodes) = tokio::join!(
        backends::ready_backends(&api, &service, &port, target),
        discover::list_nodes(&api)
    );
    let backends = backends?.0;
    let local = discover::traffic_policy_local(&service);
    let address = discover::choose_address(
        &api,
        &service,
        &port,
        &backends,
        nodes.as_ref().ok().cloned(),
        target,
    )
    .await;
    Ok(Survey {
        address,
        node_port: port.node_port,
        nodes: nodes.map(|n| nodes::health(&n, &backends, local)),
    })
}
