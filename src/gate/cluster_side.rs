//! The first half of the gate: inputs → cluster → rewrite. `apim-gate fetch` runs exactly this,
//! and the main run starts with it. With `spec-file` the document comes from a file instead, and
//! the address from `agent-ip`/`node-port`, the cluster, or (dry run) the live API.

use crate::address::{Host, HostPort};
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

/// Host name a dry run points the document at when nothing tells the real address: `.invalid`
/// is reserved never to resolve (RFC 2606, section 2).
pub const UNKNOWN_HOST: &str = "apim-gate.invalid";

/// Where APIM calls for a `spec-file` document when no cluster is needed, with the sentence
/// saying why: `agent-ip` with `node-port`; in a dry run the address the live API calls now
/// (`live_url`, its serviceUrl), else [`UNKNOWN_HOST`]. `None`: the cluster must tell.
pub fn address_without_cluster(
    inputs: &Inputs,
    live_url: Option<&str>,
) -> Option<Result<(HostPort, String), ClusterSideError>> {
    if let (Some(ip), Some(port)) = (&inputs.agent_ip, inputs.node_port) {
        let address = format!("{}:{port}", ip.trim())
            .parse::<HostPort>()
            .map_err(|e| ClusterSideError::from(ClusterError::BadAgentIp(e.to_string())));
        return Some(address.map(|a| {
            (
                a,
                format!("agent-ip {ip} and node-port {port} given; no cluster contacted"),
            )
        }));
    }
    if !inputs.dry_run {
        return None;
    }
    // The live API's `properties.serviceUrl` (the backend APIM calls; the 2024-05-01 spec example
    // ApiManagementGetApiContract returns it as an absolute URL): pointing the document there
    // makes it the very document published from the cluster, so the contract's recorded SHA-256
    // tells an unchanged one.
    let live = live_url.and_then(|u| {
        let url = url::Url::parse(u).ok()?;
        let host = url.host_str()?;
        let text = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Some((text.parse::<HostPort>().ok()?, u))
    });
    Some(Ok(match live {
        Some((address, url)) => (
            address,
            format!(
                "dry run from spec-file, no cluster contacted: the address the live API calls now (its serviceUrl {url})"
            ),
        ),
        None => (
            HostPort::new(Host::Name(UNKNOWN_HOST.to_string()), None),
            format!(
                "dry run from spec-file, no cluster contacted, and no serviceUrl of a live API to keep: the document is checked pointing at {UNKNOWN_HOST}, a name that never resolves; give agent-ip and node-port to check it with the real address"
            ),
        ),
    }))
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
    address: &HostPort,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::{Env, Need};

    fn inputs(pairs: &[(&str, &str)]) -> Inputs {
        // Any existing file stands for the document: only the address is looked at here.
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let mut all = vec![("APIM_GATE_SERVICE", "svc"), ("APIM_GATE_SPEC_FILE", file)];
        all.extend_from_slice(pairs);
        Inputs::load(
            &Env::from_pairs(all.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
            Need::Nothing,
        )
        .unwrap()
    }

    #[test]
    fn a_spec_file_address_without_a_cluster() {
        let given = inputs(&[
            ("APIM_GATE_AGENT_IP", "10.0.0.9"),
            ("APIM_GATE_NODE_PORT", "30081"),
        ]);
        let (a, why) = address_without_cluster(&given, None).unwrap().unwrap();
        assert_eq!(a.to_string(), "10.0.0.9:30081");
        assert!(why.contains("no cluster contacted"), "{why}");
        // Not a dry run, no node-port: the cluster tells.
        assert!(address_without_cluster(&inputs(&[]), Some("http://10.0.0.4:30080")).is_none());
        let dry = inputs(&[("APIM_GATE_DRY_RUN", "true")]);
        let (a, why) = address_without_cluster(&dry, Some("http://10.0.0.4:30080/base"))
            .unwrap()
            .unwrap();
        assert_eq!(a.to_string(), "10.0.0.4:30080");
        assert!(
            why.contains("serviceUrl http://10.0.0.4:30080/base"),
            "{why}"
        );
        let (a, _) = address_without_cluster(&dry, Some("https://[fd00::4]/"))
            .unwrap()
            .unwrap();
        assert_eq!(a.to_string(), "[fd00::4]");
        let (a, why) = address_without_cluster(&dry, None).unwrap().unwrap();
        assert_eq!(a.to_string(), UNKNOWN_HOST);
        assert!(why.contains("never resolves"), "{why}");
    }
}
