//! The first half of the gate: inputs → cluster → rewrite. `apim-gate fetch` runs exactly this,
//! and the main run starts with it. With `spec-file` the document comes from a file instead, and
//! the address from `agent-ip`/`node-port`, the cluster, or (dry run) the live API.

use crate::address::{Host, HostPort};
use crate::cluster::{self, ClusterError, Found, KubeconfigInput, Observer, Target};
use crate::exit::Exit;
use crate::inputs::{Env, Inputs};
use crate::spec::SpecError;
use crate::spec::rewrite::{RewriteOptions, Rewritten, Scheme, preferred_scheme, rewrite};

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

/// Where APIM calls for a `spec-file` document when no cluster is needed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileAddress {
    pub address: HostPort,
    /// The sentence saying why.
    pub why: String,
    /// The schemes the document is given, when the live API's serviceUrl decides them (a dry
    /// run pointed at the live address); `None`: the `scheme` input's.
    pub schemes: Option<Vec<Scheme>>,
}

/// Where APIM calls for a `spec-file` document when no cluster is needed: `agent-ip` with
/// `node-port`; in a dry run the address the live API calls now (`live_url`, its serviceUrl),
/// else [`UNKNOWN_HOST`]. `None`: the cluster must tell.
pub fn address_without_cluster(
    inputs: &Inputs,
    live_url: Option<&str>,
) -> Option<Result<FileAddress, ClusterSideError>> {
    if let (Some(ip), Some(port)) = (&inputs.agent_ip, inputs.node_port) {
        let address = format!("{}:{port}", ip.trim())
            .parse::<HostPort>()
            .map_err(|e| ClusterSideError::from(ClusterError::BadAgentIp(e.to_string())));
        return Some(address.map(|address| FileAddress {
            address,
            why: format!("agent-ip {ip} and node-port {port} given; no cluster contacted"),
            schemes: None,
        }));
    }
    if !inputs.dry_run {
        return None;
    }
    // The live API's `properties.serviceUrl` (the backend APIM calls; the 2024-05-01 spec example
    // ApiManagementGetApiContract returns it as an absolute URL): pointing the document there
    // makes it the very document published from the cluster, so the contract's recorded SHA-256
    // tells an unchanged one. That needs its scheme as well as its host and port.
    let input_schemes = match schemes(inputs) {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    Some(Ok(
        match live_url.and_then(|u| live_address(u).map(|a| (a, u))) {
            Some(((address, scheme), url)) => FileAddress {
                address,
                why: format!(
                    "dry run from spec-file, no cluster contacted: the address the live API calls now (its serviceUrl {url})"
                ),
                // The inputs' schemes when they give the live one (a document offering both is
                // published with https, as APIM takes it), else the live one alone.
                schemes: (preferred_scheme(&input_schemes) != scheme).then(|| vec![scheme]),
            },
            None => FileAddress {
                address: HostPort::new(Host::Name(UNKNOWN_HOST.to_string()), None),
                why: format!(
                    "dry run from spec-file, no cluster contacted, and no serviceUrl of a live API to keep: the document is checked pointing at {UNKNOWN_HOST}, a name that never resolves; give agent-ip and node-port to check it with the real address"
                ),
                schemes: None,
            },
        },
    ))
}

/// The address and scheme of a live serviceUrl, its authority as written: a URL type drops a
/// port that is the scheme's default (`https://x:443/` becomes `https://x/`), while a document
/// published for `x:443` names it, and its hash with it.
fn live_address(url: &str) -> Option<(HostPort, Scheme)> {
    let parsed = url::Url::parse(url).ok()?;
    let scheme = parsed.scheme().parse::<Scheme>().ok()?;
    let (_, rest) = url.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some((authority.parse::<HostPort>().ok()?, scheme))
}

/// A dry run from `spec-file` with `agent-ip` but no `node-port` does not use `agent-ip`: it is
/// pointed at the live API's address, which the user should know.
pub fn lone_agent_ip_warning(inputs: &Inputs) -> Option<String> {
    match (&inputs.agent_ip, inputs.node_port) {
        (Some(ip), None) if inputs.dry_run && inputs.spec_file.is_some() => Some(format!(
            "agent-ip {ip} is not used: a dry run from spec-file contacts no cluster, so without node-port it checks the document pointed at the live API's address (or {UNKNOWN_HOST}); give node-port too to check it at agent-ip:node-port"
        )),
        _ => None,
    }
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
        let a = address_without_cluster(&given, None).unwrap().unwrap();
        assert_eq!(a.address.to_string(), "10.0.0.9:30081");
        assert!(a.why.contains("no cluster contacted"), "{}", a.why);
        assert_eq!(a.schemes, None);
        // Not a dry run, no node-port: the cluster tells.
        assert!(address_without_cluster(&inputs(&[]), Some("http://10.0.0.4:30080")).is_none());
        let dry = inputs(&[("APIM_GATE_DRY_RUN", "true")]);
        let a = address_without_cluster(&dry, Some("http://10.0.0.4:30080/base"))
            .unwrap()
            .unwrap();
        assert_eq!(a.address.to_string(), "10.0.0.4:30080");
        assert!(
            a.why.contains("serviceUrl http://10.0.0.4:30080/base"),
            "{}",
            a.why
        );
        assert_eq!(a.schemes, None, "http is the scheme input's default");
        let a = address_without_cluster(&dry, None).unwrap().unwrap();
        assert_eq!(a.address.to_string(), UNKNOWN_HOST);
        assert!(a.why.contains("never resolves"), "{}", a.why);
    }

    /// The live serviceUrl gives the scheme too, and its port as written: an unchanged document
    /// is then the very one published, whatever the `scheme` input says.
    #[test]
    fn a_dry_run_keeps_the_live_scheme_and_port() {
        let dry = inputs(&[("APIM_GATE_DRY_RUN", "true")]);
        let at = |url: &str| address_without_cluster(&dry, Some(url)).unwrap().unwrap();
        let a = at("https://[fd00::4]/");
        assert_eq!(a.address.to_string(), "[fd00::4]");
        assert_eq!(a.schemes, Some(vec![Scheme::Https]));
        let a = at("https://orders.example.com:443/api");
        assert_eq!(a.address.to_string(), "orders.example.com:443");
        assert_eq!(a.schemes, Some(vec![Scheme::Https]));
        let a = at("http://10.0.0.4:80");
        assert_eq!(a.address.to_string(), "10.0.0.4:80");
        assert_eq!(a.schemes, None);
        // The inputs offer both and APIM takes https: kept as they are, the document unchanged.
        let both = inputs(&[
            ("APIM_GATE_DRY_RUN", "true"),
            ("APIM_GATE_SCHEME", "http,https"),
        ]);
        let a = address_without_cluster(&both, Some("https://10.0.0.4:30443"))
            .unwrap()
            .unwrap();
        assert_eq!(a.schemes, None);
        let a = address_without_cluster(&both, Some("http://10.0.0.4:30080"))
            .unwrap()
            .unwrap();
        assert_eq!(a.schemes, Some(vec![Scheme::Http]));
        // A serviceUrl that is not an address for a document: the never-resolving name.
        assert_eq!(at("ftp://10.0.0.4/").address.to_string(), UNKNOWN_HOST);
    }

    #[test]
    fn a_lone_agent_ip_in_a_dry_run_is_said_to_be_unused() {
        let lone = inputs(&[
            ("APIM_GATE_DRY_RUN", "true"),
            ("APIM_GATE_AGENT_IP", "10.0.0.9"),
        ]);
        let w = lone_agent_ip_warning(&lone).unwrap();
        assert!(
            w.contains("agent-ip 10.0.0.9") && w.contains("node-port"),
            "{w}"
        );
        assert_eq!(
            lone_agent_ip_warning(&inputs(&[("APIM_GATE_AGENT_IP", "10.0.0.9")])),
            None
        );
        let both = inputs(&[
            ("APIM_GATE_DRY_RUN", "true"),
            ("APIM_GATE_AGENT_IP", "10.0.0.9"),
            ("APIM_GATE_NODE_PORT", "30081"),
        ]);
        assert_eq!(lone_agent_ip_warning(&both), None);
    }
}
