//! apim-sandbox: faithful local stand-ins for the services apim-gate talks to.
//!
//! One [`Sandbox`] serves, on 127.0.0.1 and ephemeral ports:
//! - a Kubernetes API server over HTTPS, with WebSocket port-forward to pods ([`kube_api`], [`cluster`]);
//! - Swashbuckle-like pods serving `/swagger/v1/swagger.json` over plain HTTP ([`pods`]);
//! - Entra ID's token endpoint and the GitHub / Azure DevOps OIDC issuers ([`entra`]);
//! - Azure Resource Manager with Microsoft.ApiManagement 2024-05-01 and the `/_sandbox` test
//!   control endpoints ([`arm`]);
//! - a GitHub REST API subset that records what it received ([`github`]);
//! - on request, a corporate forward proxy (HTTP CONNECT, Basic credentials) in front of them all
//!   ([`proxy`]).
//!
//! It behaves as users of those services know them (status codes, error bodies, long-running
//! operations, ETags), so the real client crates can be pointed at it. It never depends on apim-gate.

pub mod arm;
pub mod cluster;
pub mod entra;
pub mod faults;
pub mod github;
pub mod kube_api;
pub mod log;
pub mod pods;
pub mod proxy;
pub mod tls;
pub mod tokens;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

pub use faults::{FAULT_NAMES, Faults};
pub use log::{LoggedRequest, RequestLog};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("unknown fault '{0}'; known faults: {list}", list = FAULT_NAMES.join(", "))]
    UnknownFault(String),
    #[error("fault '{0}' is not NAME=VALUE with a whole number VALUE")]
    BadFault(String),
    #[error("cannot read spec {path}: {source}")]
    ReadSpec {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

/// The kind of Service the default topology creates for each document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServiceType {
    #[default]
    NodePort,
    ClusterIP,
    LoadBalancer,
}

impl std::str::FromStr for ServiceType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "NodePort" => Ok(ServiceType::NodePort),
            "ClusterIP" => Ok(ServiceType::ClusterIP),
            "LoadBalancer" => Ok(ServiceType::LoadBalancer),
            other => Err(Error::Config(format!(
                "service type '{other}' is not NodePort, ClusterIP or LoadBalancer"
            ))),
        }
    }
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::NodePort => "NodePort",
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// What to start. `Config::default()` serves one Swashbuckle service from the shared fixtures.
#[derive(Clone, Debug)]
pub struct Config {
    /// One document per service (`svc-1`, `svc-2`, …), served by that service's pods.
    pub specs: Vec<Vec<u8>>,
    pub service_type: ServiceType,
    /// Seconds ARM asks clients to wait between long-running-operation polls.
    pub retry_after: u64,
    /// Polls a long-running import takes before it completes.
    pub lro_polls: u32,
    /// How long every request waits before it is answered: the round trip to a remote service
    /// (ARM, Entra ID and an AKS API server are tens of milliseconds away from a build agent).
    /// Zero by default, so tests spend no time waiting.
    pub latency: std::time::Duration,
    /// Faults armed from the start, as `NAME=VALUE`.
    pub faults: Vec<String>,
    /// A hand-made cluster topology; `None` derives one from `specs` and `service_type`.
    pub cluster: Option<cluster::Topology>,
    /// The resource group ARM serves the APIM instance in. Real names may hold periods,
    /// parentheses and non-ASCII letters (`rg.contoso_(prod)`), which clients must not
    /// percent-encode in resource ids they send in bodies.
    pub resource_group: String,
    /// RBAC, version and load balancer timing, applied to either topology.
    pub kube: cluster::KubeSettings,
    /// More documents a service's pods serve beside its own (`--spec FILE@PATH`): the versions
    /// of an API, each at its own path, all listed by the pods' Swagger UI ([`pods`]).
    pub more_specs: Vec<MoreSpec>,
}

/// A document and the path a pod serves it at.
pub type PathDocument = (String, Vec<u8>);

/// One more document served by `service`'s pods at `path` (`/swagger/v2/swagger.json`).
#[derive(Clone, Debug)]
pub struct MoreSpec {
    pub service: String,
    pub path: String,
    pub document: Vec<u8>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            specs: Vec::new(),
            service_type: ServiceType::NodePort,
            retry_after: 1,
            lro_polls: 1,
            latency: std::time::Duration::ZERO,
            faults: Vec::new(),
            cluster: None,
            resource_group: "rg-sandbox".to_string(),
            kube: cluster::KubeSettings::default(),
            more_specs: Vec::new(),
        }
    }
}

/// The identities and names the sandbox accepts; random per start.
#[derive(Clone, Debug)]
pub struct Identity {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub apim_service: String,
    /// Bearer token of the Kubernetes API (in the kubeconfig).
    pub kube_token: String,
    /// Bearer GitHub's runner presents to its OIDC issuer (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub github_oidc_request_token: String,
    /// Azure DevOps `SYSTEM_ACCESSTOKEN`, accepted by its OIDC endpoint.
    pub ado_access_token: String,
    /// Id of the Azure DevOps AzureRM service connection.
    pub ado_service_connection_id: String,
    /// Token the GitHub REST emulator accepts (`GITHUB_TOKEN`).
    pub github_token: String,
}

impl Identity {
    fn generate(resource_group: &str) -> Identity {
        Identity {
            tenant_id: tokens::guid(),
            client_id: tokens::guid(),
            client_secret: format!("sbx~{}", tokens::random_hex(20)),
            subscription_id: tokens::guid(),
            resource_group: resource_group.to_string(),
            apim_service: "apim-sandbox".to_string(),
            kube_token: format!("kube-{}", tokens::random_hex(24)),
            github_oidc_request_token: format!("ghrt-{}", tokens::random_hex(20)),
            ado_access_token: format!("ado-{}", tokens::random_hex(20)),
            ado_service_connection_id: tokens::guid(),
            github_token: format!("ghs_{}", tokens::random_hex(18)),
        }
    }
}

/// The listeners' base URLs (no trailing slash).
#[derive(Clone, Debug, Default)]
pub struct Urls {
    pub kube: String,
    pub entra: String,
    pub arm: String,
    /// The storage account export links point at (another origin than ARM).
    pub blob: String,
    pub github: String,
}

/// State every emulator shares.
pub struct Shared {
    pub identity: Identity,
    pub faults: Faults,
    pub log: RequestLog,
    pub tokens: tokens::TokenStore,
    /// The document each service's pods serve, by service name; replaced by
    /// `PUT /_sandbox/services/{service}/spec`.
    pub documents: RwLock<BTreeMap<String, Vec<u8>>>,
    /// The further documents of each service, by service name, as (path, document) in the order
    /// given; replaced by `PUT /_sandbox/services/{service}/spec?path=PATH`.
    pub more_documents: RwLock<BTreeMap<String, Vec<PathDocument>>>,
    /// Where each service's pods serve its own document (the first selected pod's
    /// `document_path`).
    pub primary_paths: BTreeMap<String, String>,
    pub retry_after: u64,
    pub lro_polls: u32,
    /// See [`Config::latency`].
    pub latency: std::time::Duration,
    /// Set once the listeners are bound, before any request can arrive.
    pub urls: RwLock<Urls>,
    /// The running cluster, for the `/_sandbox/nodes` and `/_sandbox/services/{svc}/nodeport`
    /// controls (weak: the cluster holds this `Shared`).
    pub cluster: RwLock<std::sync::Weak<cluster::ClusterHandle>>,
}

impl Shared {
    pub fn urls(&self) -> Urls {
        self.urls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn document(&self, service: &str) -> Option<Vec<u8>> {
        self.documents
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(service)
            .cloned()
    }

    /// The further documents `service`'s pods serve, as (path, document).
    pub fn more_documents(&self, service: &str) -> Vec<PathDocument> {
        self.more_documents
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(service)
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces the further document of `service` at `path`; false when it has none there.
    pub fn set_more_document(&self, service: &str, path: &str, document: Vec<u8>) -> bool {
        let mut docs = self
            .more_documents
            .write()
            .unwrap_or_else(|e| e.into_inner());
        match docs
            .get_mut(service)
            .and_then(|list| list.iter_mut().find(|(p, _)| p == path))
        {
            Some((_, slot)) => {
                *slot = document;
                true
            }
            None => false,
        }
    }

    /// The node leaves the cluster, as when the cluster autoscaler or an AKS upgrade deletes it:
    /// drained (its pods move, see [`cluster::ClusterHandle::delete_node`]), then its Node object
    /// is gone from every list and GET. What `DELETE /_sandbox/nodes/{name}` does.
    pub fn remove_node(&self, name: &str) {
        if let Some(cluster) = self.cluster() {
            // An unknown node is already gone; the eviction itself cannot fail.
            let _ = cluster.delete_node(name);
        }
    }

    /// The running cluster (`None` before it started or after the sandbox stopped).
    pub fn cluster(&self) -> Option<Arc<cluster::ClusterHandle>> {
        self.cluster
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .upgrade()
    }

    pub fn set_document(&self, service: &str, document: Vec<u8>) -> bool {
        let mut docs = self.documents.write().unwrap_or_else(|e| e.into_inner());
        match docs.get_mut(service) {
            Some(slot) => {
                *slot = document;
                true
            }
            None => false,
        }
    }
}

/// A running sandbox. Dropping it stops the listeners and removes its files.
pub struct Sandbox {
    pub shared: Arc<Shared>,
    pub urls: Urls,
    /// A long-lived ARM bearer token (`SANDBOX_TOKEN`).
    pub arm_token: String,
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub kubeconfig: PathBuf,
    /// A federated token file (workload identity) the Entra emulator accepts as an assertion.
    pub federated_token_file: PathBuf,
    /// The service names, in `--spec` order.
    pub services: Vec<String>,
    dir: PathBuf,
    shutdown: watch::Sender<bool>,
}

/// Reads the document files named on the command line.
pub fn read_specs(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, Error> {
    paths.iter().map(|p| read_spec(p)).collect()
}

fn read_spec(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::ReadSpec {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `--spec` arguments: `FILE` starts a new service (`svc-1`, `svc-2`, ... in the default
/// topology) serving FILE at its document path; `FILE@PATH` adds FILE at PATH to the service
/// before it, as an app with several Swashbuckle documents (`/swagger/v2/swagger.json`) serves them.
pub fn read_spec_args(args: &[PathBuf]) -> Result<(Vec<Vec<u8>>, Vec<MoreSpec>), Error> {
    let mut specs = Vec::new();
    let mut more: Vec<MoreSpec> = Vec::new();
    for arg in args {
        let text = arg.to_string_lossy();
        let split = text
            .rfind("@/")
            .map(|at| (text[..at].to_string(), text[at + 1..].to_string()));
        match split {
            Some((file, path)) => {
                if specs.is_empty() {
                    return Err(Error::Config(format!(
                        "--spec {text}: FILE@PATH adds a document to the service given before it; give a plain --spec FILE first"
                    )));
                }
                let service = format!("svc-{}", specs.len());
                if path == cluster::SWAGGER_PATH
                    || more.iter().any(|m| m.service == service && m.path == path)
                {
                    return Err(Error::Config(format!(
                        "--spec {text}: {service} already serves a document at {path}"
                    )));
                }
                more.push(MoreSpec {
                    service,
                    document: read_spec(Path::new(&file))?,
                    path,
                });
            }
            None => specs.push(read_spec(arg)?),
        }
    }
    Ok((specs, more))
}

/// The default document: Swashbuckle's Swagger 2.0 snapshot from the shared fixtures, when present.
pub fn default_spec() -> Result<Vec<u8>, Error> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/swashbuckle/basic-swagger2.json");
    std::fs::read(&path).map_err(|source| Error::ReadSpec { path, source })
}

impl Sandbox {
    pub async fn start(config: Config) -> Result<Sandbox, Error> {
        Sandbox::start_with_host(config, None).await
    }

    /// [`Sandbox::start`], with every URL naming `host` instead of 127.0.0.1 (and the certificate
    /// naming it too). Nothing resolves such a name but a proxy that knows it
    /// ([`proxy::ConnectProxy`]), as on a network whose names only its proxy resolves: a client
    /// that reaches the sandbox at all went through the proxy.
    pub async fn start_with_host(config: Config, host: Option<String>) -> Result<Sandbox, Error> {
        let faults = Faults::default();
        for f in &config.faults {
            faults.set_from_arg(f)?;
        }
        let specs = if config.specs.is_empty() && config.cluster.is_none() {
            vec![default_spec()?]
        } else {
            config.specs.clone()
        };
        let topology = match &config.cluster {
            Some(t) => t.clone(),
            None => cluster::Topology::default_for(specs.len(), config.service_type),
        }
        .with_settings(&config.kube)?;
        let mut documents = BTreeMap::new();
        for (service, doc) in topology.documents(&specs) {
            documents.insert(service, doc);
        }
        let primary_paths: BTreeMap<String, String> = topology
            .services
            .iter()
            .filter(|s| documents.contains_key(&s.name))
            .map(|s| {
                let path = topology
                    .pods
                    .iter()
                    .find(|p| p.namespace == s.namespace && s.selects(&p.labels))
                    .map(|p| p.document_path.clone())
                    .unwrap_or_else(|| cluster::SWAGGER_PATH.to_string());
                (s.name.clone(), path)
            })
            .collect();
        let mut more_documents: BTreeMap<String, Vec<PathDocument>> = BTreeMap::new();
        for m in &config.more_specs {
            if !documents.contains_key(&m.service) {
                return Err(Error::Config(format!(
                    "a further document at {} is for service '{}', which serves no document of its own",
                    m.path, m.service
                )));
            }
            if primary_paths.get(&m.service) == Some(&m.path) {
                return Err(Error::Config(format!(
                    "service '{}' already serves its own document at {}",
                    m.service, m.path
                )));
            }
            if !m.path.starts_with('/') {
                return Err(Error::Config(format!(
                    "the further document of '{}' at '{}': a path starts with '/'",
                    m.service, m.path
                )));
            }
            more_documents
                .entry(m.service.clone())
                .or_default()
                .push((m.path.clone(), m.document.clone()));
        }
        let identity = Identity::generate(&config.resource_group);
        let shared = Arc::new(Shared {
            identity,
            faults,
            log: RequestLog::default(),
            tokens: tokens::TokenStore::default(),
            documents: RwLock::new(documents),
            more_documents: RwLock::new(more_documents),
            primary_paths,
            retry_after: config.retry_after,
            lro_polls: config.lro_polls.max(1),
            latency: config.latency,
            urls: RwLock::new(Urls::default()),
            cluster: RwLock::new(std::sync::Weak::new()),
        });

        let ca = tls::Ca::generate()?;
        let server_tls = ca.server_config_for(host.as_slice())?;
        let (shutdown, shutdown_rx) = watch::channel(false);

        let (kube_l, kube_a) = tls::bind_loopback().await?;
        let (entra_l, entra_a) = tls::bind_loopback().await?;
        let (arm_l, arm_a) = tls::bind_loopback().await?;
        let (gh_l, gh_a) = tls::bind_loopback().await?;
        let (blob_l, blob_a) = tls::bind_loopback().await?;
        let name = host.as_deref().unwrap_or("127.0.0.1");
        let urls = Urls {
            kube: format!("https://{name}:{}", kube_a.port()),
            entra: format!("https://{name}:{}", entra_a.port()),
            arm: format!("https://{name}:{}", arm_a.port()),
            blob: format!("https://{name}:{}", blob_a.port()),
            github: format!("https://{name}:{}", gh_a.port()),
        };
        *shared.urls.write().unwrap_or_else(|e| e.into_inner()) = urls.clone();

        let cluster = Arc::new(cluster::ClusterHandle::new(
            cluster::Cluster::start(topology, shared.clone(), shutdown_rx.clone()).await?,
        ));
        *shared.cluster.write().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&cluster);
        let (arm_router, blob_router) = arm::routers(shared.clone());
        let routers = [
            (
                kube_l,
                log::logged(
                    kube_api::router(shared.clone(), cluster),
                    "kube",
                    shared.clone(),
                ),
            ),
            (
                entra_l,
                log::logged(entra::router(shared.clone()), "entra", shared.clone()),
            ),
            (arm_l, log::logged(arm_router, "arm", shared.clone())),
            (blob_l, log::logged(blob_router, "blob", shared.clone())),
            (
                gh_l,
                log::logged(github::router(shared.clone()), "github", shared.clone()),
            ),
        ];
        for (listener, router) in routers {
            tokio::spawn(tls::serve(
                listener,
                Some(server_tls.clone()),
                router,
                shutdown_rx.clone(),
            ));
        }

        let dir = std::env::temp_dir().join(format!(
            "apim-sandbox-{}-{}",
            std::process::id(),
            tokens::random_hex(4)
        ));
        std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
            path: dir.clone(),
            source,
        })?;
        let ca_pem = ca.cert_pem();
        let ca_file = write(&dir, "ca.pem", ca_pem.as_bytes())?;
        let kubeconfig = write(
            &dir,
            "kubeconfig.yaml",
            kubeconfig_yaml(&urls.kube, &ca_pem, &shared.identity.kube_token).as_bytes(),
        )?;
        let federated = entra::federated_token(&shared);
        let federated_token_file = write(&dir, "federated-token", federated.as_bytes())?;
        let arm_token = shared.tokens.issue(None);
        let services = shared
            .documents
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect::<Vec<_>>();
        let mut services = services;
        services.sort_by_key(|s| cluster::service_order(s));
        Ok(Sandbox {
            shared,
            urls,
            arm_token,
            ca_pem,
            ca_file,
            kubeconfig,
            federated_token_file,
            services,
            dir,
            shutdown,
        })
    }

    pub fn identity(&self) -> &Identity {
        &self.shared.identity
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log.entries()
    }

    /// The `--env-out` variables: every apim-gate input that publishes the first service, and the
    /// `SANDBOX_*` values tests use.
    pub fn env(&self) -> Vec<(String, String)> {
        let id = &self.shared.identity;
        let first = self.services.first().cloned().unwrap_or_default();
        let path = |p: &Path| p.display().to_string();
        vec![
            ("APIM_GATE_KUBECONFIG".into(), path(&self.kubeconfig)),
            ("APIM_GATE_NAMESPACE".into(), "default".into()),
            ("APIM_GATE_SERVICE".into(), first),
            (
                "APIM_GATE_SUBSCRIPTION_ID".into(),
                id.subscription_id.clone(),
            ),
            ("APIM_GATE_RESOURCE_GROUP".into(), id.resource_group.clone()),
            ("APIM_GATE_APIM_SERVICE".into(), id.apim_service.clone()),
            ("APIM_GATE_AUTH".into(), "client-secret".into()),
            ("APIM_GATE_TENANT_ID".into(), id.tenant_id.clone()),
            ("APIM_GATE_CLIENT_ID".into(), id.client_id.clone()),
            ("APIM_GATE_CLIENT_SECRET".into(), id.client_secret.clone()),
            ("APIM_GATE_CA_CERTIFICATES".into(), path(&self.ca_file)),
            ("APIM_GATE_ARM_ENDPOINT".into(), self.urls.arm.clone()),
            ("APIM_GATE_AUTHORITY_HOST".into(), self.urls.entra.clone()),
            // The sandbox's ARM and Entra are not a known cloud's: apim-gate sends credentials to
            // them only when told so.
            ("APIM_GATE_ALLOW_CUSTOM_ENDPOINTS".into(), "true".into()),
            ("SANDBOX_ARM_URL".into(), self.urls.arm.clone()),
            ("SANDBOX_BLOB_URL".into(), self.urls.blob.clone()),
            ("SANDBOX_KUBE_URL".into(), self.urls.kube.clone()),
            ("SANDBOX_ENTRA_URL".into(), self.urls.entra.clone()),
            ("SANDBOX_GITHUB_URL".into(), self.urls.github.clone()),
            ("SANDBOX_TOKEN".into(), self.arm_token.clone()),
            ("SANDBOX_CA_FILE".into(), path(&self.ca_file)),
            ("SANDBOX_KUBE_TOKEN".into(), id.kube_token.clone()),
            ("SANDBOX_GITHUB_TOKEN".into(), id.github_token.clone()),
            (
                "SANDBOX_GITHUB_READONLY_TOKEN".into(),
                github::readonly_token(&self.shared),
            ),
            (
                "SANDBOX_GITHUB_USER_TOKEN".into(),
                github::user_token(&self.shared),
            ),
            (
                "SANDBOX_GITHUB_OTHER_USER_TOKEN".into(),
                github::other_user_token(&self.shared),
            ),
            (
                "SANDBOX_GITHUB_OIDC_URL".into(),
                format!("{}/_oidc/github/token?api-version=2.0", self.urls.entra),
            ),
            (
                "SANDBOX_GITHUB_OIDC_REQUEST_TOKEN".into(),
                id.github_oidc_request_token.clone(),
            ),
            (
                "SANDBOX_ADO_OIDC_URL".into(),
                format!("{}/_oidc/ado/oidctoken", self.urls.entra),
            ),
            (
                "SANDBOX_ADO_ACCESS_TOKEN".into(),
                id.ado_access_token.clone(),
            ),
            (
                "SANDBOX_ADO_SERVICE_CONNECTION_ID".into(),
                id.ado_service_connection_id.clone(),
            ),
            (
                "SANDBOX_FEDERATED_TOKEN_FILE".into(),
                path(&self.federated_token_file),
            ),
        ]
    }

    /// Writes [`Sandbox::env`] as a dotenv file (values double-quoted where needed).
    pub fn write_env(&self, file: &Path) -> Result<(), Error> {
        let mut text = String::new();
        for (k, v) in self.env() {
            text.push_str(&k);
            text.push('=');
            text.push_str(&dotenv_quote(&v));
            text.push('\n');
        }
        std::fs::write(file, text).map_err(|source| Error::Write {
            path: file.to_path_buf(),
            source,
        })
    }

    /// Stops every listener and pod.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, Error> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn dotenv_quote(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:~?=&,+@".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', ""))
    }
}

/// A kubeconfig as `az aks get-credentials` writes one, with a bearer token user.
pub fn kubeconfig_yaml(server: &str, ca_pem: &str, token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: sandbox
contexts:
- context:
    cluster: sandbox
    user: sandbox-admin
    namespace: default
  name: sandbox
current-context: sandbox
users:
- name: sandbox-admin
  user:
    token: {token}
"
    )
}
