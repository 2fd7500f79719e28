//! The first half of the gate: inputs → cluster → rewrite. `apim-gate fetch` runs exactly this,
//! and the main run starts with it. With `spec-file` the document comes from a file instead, and
//! the address from `agent-ip`/`node-port`, the cluster, or (dry run) the live API.

use crate::cluster::{self, ClusterError, Found, KubeconfigInput, Observer, Target};
use crate::exit::Exit;
use crate::inputs::{Env, Inputs};
use crate::spec::SpecError;
use crate::spec::rewrite::{RewriteOptions, Rewritten, Scheme, rewrite};

/// What the cluster side produced: where APIM will call, and the document pointing there.
#[derive(Clone, Debug)]
pub struct ClusterOutcome {
    pub found: Found,
    pub rewritten: Rewritten,
    /// Things worth a warning (e.g. insecure-skip-tls-verify).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterSideError {
    #[error(transparent)]
    Cluster(Box<ClusterError>),
    #[error("the document fetched from pod {pod} at {path} cannot be rewritten: {source}")]
    Spec {
        pod: String,
        path: String,
        source: SpecError,
    },
    #[error("the scheme input: {0}")]
    Scheme(String),
    #[error("spec-file {path}: {source}")]
    SpecFile { path: String, source: SpecError },
    #[error(
        "spec-file {path} cannot be read: {source}; give the path of the document the build wrote, relative to the working directory"
    )]
    ReadSpecFile {
        path: String,
        source: std::io::Error,
    },
}

// Boxed: a cluster error carries several strings, and results travel through every step.
impl From<ClusterError> for ClusterSideError {
    fn from(e: ClusterError) -> Self {
        ClusterSideError::Cluster(Box::new(e))
    }
}

impl ClusterSideError {
    pub fn exit(&self) -> Exit {
        match self {
            ClusterSideError::Cluster(e) => e.exit(),
            // The document names a backend path that could move APIM to another host: refused,
            // as the lint rule `apim-base-path-invalid` refuses it.
            ClusterSideError::Spec {
                source: crate::spec::SpecError::BackendPath { .. },
                ..
            } => Exit::Refused,
            ClusterSideError::Spec { .. } => Exit::Kubernetes,
            ClusterSideError::SpecFile {
                source: crate::spec::SpecError::BackendPath { .. },
                ..
            } => Exit::Refused,
            ClusterSideError::Scheme(_)
            | ClusterSideError::SpecFile { .. }
            | ClusterSideError::ReadSpecFile { .. } => Exit::Input,
        }
    }
}

/// The cluster target described by the inputs (the `service` input must be set).
pub fn target(inputs: &Inputs) -> Target {
    Target {
        namespace: inputs.namespace.clone(),
        service: inputs.service.clone().unwrap_or_default(),
        service_port: inputs.service_port.clone(),
        swagger_path: inputs.swagger_path.clone(),
        address: inputs.address,
        agent_ip: inputs.agent_ip.clone(),
        pod_ready_timeout: inputs.pod_ready_timeout,
        max_body: cluster::MAX_BODY,
    }
}

pub fn schemes(inputs: &Inputs) -> Result<Vec<Scheme>, ClusterSideError> {
    let list = if inputs.scheme.is_empty() {
        vec!["http".to_string()]
    } else {
        inputs.scheme.clone()
    };
    list.iter()
        .map(|s| s.parse::<Scheme>().map_err(ClusterSideError::Scheme))
        .collect()
}

/// What the cluster told us, before the rewrite.
#[derive(Clone, Debug)]
pub struct Discovered {
    pub found: Found,
    pub warnings: Vec<String>,
}

/// Connects with the kubeconfig the inputs name.
pub async fn connect(inputs: &Inputs, env: &Env) -> Result<cluster::Connection, ClusterSideError> {
    let kubeconfig = KubeconfigInput {
        value: inputs.kubeconfig.as_ref(),
        context: inputs.context.as_deref(),
        env,
        // The cluster side's wait bound also bounds the credential plugin, at most 90s.
        exec_timeout: inputs
            .pod_ready_timeout
            .min(cluster::connect::EXEC_PLUGIN_TIMEOUT),
        exec_timeout_name: "pod-ready-timeout, at most 90s",
    };
    Ok(cluster::connect(&kubeconfig).await?)
}

/// Finds the address and fetches the document on an open connection (shared by several services).
pub async fn discover_on(
    conn: &cluster::Connection,
    inputs: &Inputs,
    observer: &dyn Observer,
) -> Result<Discovered, ClusterSideError> {
    let found = cluster::find_and_fetch(conn, &target(inputs), observer).await?;
    let mut warnings = conn.warnings.clone();
    warnings.extend(found.address.warning.clone());
    Ok(Discovered { found, warnings })
}

/// The whole cluster side: discover, then point the document at the address found.
pub async fn run(
    inputs: &Inputs,
    env: &Env,
    observer: &dyn Observer,
) -> Result<ClusterOutcome, ClusterSideError> {
    let schemes = schemes(inputs)?;
    let conn = connect(inputs, env).await?;
    let discovered = discover_on(&conn, inputs, observer).await?;
    let rewritten = rewrite_found(&discovered.found, schemes)?;
    Ok(ClusterOutcome {
        found: discovered.found,
        rewritten,
        warnings: discovered.warnings,
    })
}

/// The address half of the cluster side, for a `spec-file` run that is not a dry run.
pub async fn locate_on(
    conn: &cluster::Connection,
    inputs: &Inputs,
    observer: &dyn Observer,
) -> Result<(cluster::AddressChoice, Vec<String>), ClusterSideError> {
    let located = cluster::locate(conn, &target(inputs), observer).await?;
    let mut warnings = conn.warnings.clone();
    warnings.extend(located.address.warning.clone());
    Ok((located.address, warnings))
}

/// The `spec-file` document's bytes.
pub fn read_spec_file(path: &std::path::Path) -> Result<Vec<u8>, ClusterSideError> {
    std::fs::read(path).map_err(|source| ClusterSideError::ReadSpecFile {
        path: path.display().to_string(),
        source,
    })
}

/// The `spec-file` document pointed at `address`.
pub fn rewrite_file(
    path: &std::path::Path,
    bytes: &[u8],
    address: &crate::address::HostPort,
    schemes: Vec<Scheme>,
) -> Result<Rewritten, ClusterSideError> {
    let options = RewriteOptions {
        address: address.clone(),
        schemes,
        compact: false,
    };
    rewrite(bytes, &options).map_err(|source| ClusterSideError::SpecFile {
        path: path.display().to_string(),
        source,
    })
}

/// The fetched document pointed at the address found.
pub fn rewrite_found(found: &Found, schemes: Vec<Scheme>) -> Result<Rewritten, ClusterSideError> {
    let options = RewriteOptions {
        address: found.address.address.clone(),
        schemes,
        compact: false,
    };
    rewrite(&found.document.bytes, &options).map_err(|source| ClusterSideError::Spec {
        pod: found.document.pod.clone(),
        path: found.document.path.clone(),
        source,
    })
}
