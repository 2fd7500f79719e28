//! Sign-in: which way the environment allows, and a token source for each.
//!
//! Entra ID flows go through `azure_identity` credentials whose HTTP pipeline is our reqwest client
//! (so `ca-certificates` applies and rustls stays on ring). The CI OIDC tokens are fetched here,
//! from the variables in [`Env`] rather than the process environment, and handed to
//! `ClientAssertionCredential`. The Azure CLI is run directly, found on the `PATH` of [`Env`].
//! Every token obtained here (ARM tokens, the CI's OIDC tokens) is handed to the
//! [`TokenObserver`] the moment it exists, so the report layer can mask it; nothing here prints.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::{
    ClientMethodOptions, ClientOptions, ExponentialRetryOptions, RetryOptions, Transport,
};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};
use serde_json::Value;

use super::Endpoints;
use super::error::{AzureError, aadsts_hint, error_chain};
use crate::inputs::{AuthMode, Env, Inputs, Platform, Secret};

/// The audience Entra requires of federated client assertions.
pub const EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Told of each token as soon as it is obtained (the report layer masks it in the CI log).
pub trait TokenObserver: Send + Sync {
    fn token(&self, token: &Secret);
}

/// Who is told of new tokens; `None` when nobody asked.
pub(crate) type Observer = Option<Arc<dyn TokenObserver>>;

fn observe(observer: &Observer, token: &Secret) {
    if let Some(o) = observer {
        o.token(token);
    }
}

/// Where ARM bearer tokens come from.
pub(crate) enum TokenSource {
    Credential {
        credential: Arc<dyn TokenCredential>,
        scope: String,
        /// The Entra ID authority, named when it cannot be reached.
        authority: String,
        observer: Observer,
    },
    AzCli {
        program: PathBuf,
        resource: String,
        tenant: Option<String>,
        observer: Observer,
    },
    /// `access-token`: used as is, never refreshed (an input, masked with the inputs).
    Static(Secret),
}

impl TokenSource {
    pub(crate) fn can_refresh(&self) -> bool {
        !matches!(self, TokenSource::Static(_))
    }

    /// A token and when it expires (`None`: unknown).
    pub(crate) async fn fetch(
        &self,
        method: &str,
    ) -> Result<(Secret, Option<SystemTime>), AzureError> {
        match self {
            TokenSource::Static(t) => Ok((t.clone(), None)),
            TokenSource::Credential {
                credential,
                scope,
                authority,
                observer,
            } => {
                let token = credential
                    .get_token(&[scope.as_str()], None)
                    .await
                    .map_err(|e| {
                        let message = error_chain(&e);
                        let hint = aadsts_hint(&message);
                        let hint = if !hint.is_empty() {
                            format!("\n{hint}")
                        } else if message.contains("AADSTS") {
                            String::new()
                        } else {
                            // Without an AADSTS code Entra never answered (or something
                            // in between did): the address or the network is the suspect.
                            format!(
                                "\nEntra ID at {authority} gave no answer to go by: check azure-cloud/authority-host, the network path from this agent (proxy, firewall) and ca-certificates."
                            )
                        };
                        AzureError::SignIn {
                            method: method.to_string(),
                            hint,
                            message,
                        }
                    })?;
                let expires = u64::try_from(token.expires_on.unix_timestamp())
                    .ok()
                    .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s));
                let token = Secret::new(token.token.secret());
                observe(observer, &token);
                Ok((token, expires))
            }
            TokenSource::AzCli {
                program,
                resource,
                tenant,
                observer,
            } => {
                let (token, expires) = az_token(program, resource, tenant.as_deref()).await?;
                observe(observer, &token);
                Ok((token, expires))
            }
        }
    }
}

/// The chosen way to sign in, with what the report says about it.
pub(crate) struct Chosen {
    pub source: TokenSource,
    pub method: String,
    /// From an Azure DevOps service connection.
    pub subscription_id: Option<String>,
}

fn input_error(mode: &str, message: impl Into<String>) -> AzureError {
    AzureError::Input {
        mode: mode.to_string(),
        message: message.into(),
    }
}

fn nonempty<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    env.get(name).map(str::trim).filter(|v| !v.is_empty())
}

/// `auth auto`: the first sign-in the environment allows, and why.
fn choose_auto(inputs: &Inputs, env: &Env) -> Result<(AuthMode, String), AzureError> {
    let app = inputs.tenant_id.is_some() && inputs.client_id.is_some();
    let mut checked = Vec::new();
    if inputs.access_token.is_some() {
        return Ok((AuthMode::Token, "access-token is set".into()));
    }
    checked.push("access-token (not set)");
    if inputs.azure_service_connection.is_some() {
        return Ok((
            AuthMode::AzurePipelines,
            "azure-service-connection is set".into(),
        ));
    }
    checked.push("azure-service-connection (not set)");
    if app && inputs.client_secret.is_some() {
        return Ok((
            AuthMode::ClientSecret,
            "tenant-id, client-id and client-secret are set".into(),
        ));
    }
    checked.push("tenant-id + client-id + client-secret (not all set)");
    if app && nonempty(env, "ACTIONS_ID_TOKEN_REQUEST_URL").is_some() {
        return Ok((
            AuthMode::Oidc,
            "tenant-id and client-id are set and GitHub Actions offers an ID token".into(),
        ));
    }
    if app && nonempty(env, "AZURE_FEDERATED_TOKEN_FILE").is_some() {
        return Ok((
            AuthMode::Oidc,
            "tenant-id and client-id are set and AZURE_FEDERATED_TOKEN_FILE is set".into(),
        ));
    }
    if app && inputs.platform() == Platform::GithubActions {
        return Err(AzureError::GithubIdTokenPermission {
            missing: "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
        });
    }
    checked.push(
        "GitHub ID token / AZURE_FEDERATED_TOKEN_FILE with tenant-id + client-id (not available)",
    );
    if nonempty(env, "IDENTITY_ENDPOINT").is_some() || nonempty(env, "MSI_ENDPOINT").is_some() {
        return Ok((
            AuthMode::ManagedIdentity,
            "a managed identity endpoint (IDENTITY_ENDPOINT/MSI_ENDPOINT) is set".into(),
        ));
    }
    checked.push("IDENTITY_ENDPOINT/MSI_ENDPOINT (not set; on an Azure VM choose auth managed-identity explicitly)");
    if find_az(env).is_some() {
        return Ok((AuthMode::AzureCli, "the Azure CLI is on PATH".into()));
    }
    checked.push("az on PATH (not found)");
    Err(AzureError::NoSignIn {
        checked: checked.join("; "),
    })
}

fn find_az(env: &Env) -> Option<PathBuf> {
    let path = env.get("PATH").or_else(|| env.get("Path"))?;
    let cwd = std::env::current_dir().ok()?;
    which::which_in("az", Some(path), cwd).ok()
}

/// The azure_identity options: our HTTP client, the authority, and retries that give up in
/// seconds when the authority is unreachable.
fn client_options(http: &reqwest::Client, endpoints: &Endpoints) -> ClientOptions {
    let mut custom = CustomConfiguration::default();
    custom.authority_host = endpoints.authority.clone();
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        cloud: Some(Arc::new(CloudConfiguration::Custom(custom))),
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(500),
            max_retries: 2,
            max_total_elapsed: azure_core::time::Duration::seconds(10),
            max_delay: azure_core::time::Duration::seconds(2),
        }),
        ..Default::default()
    }
}

fn credential_error(method: &str, e: azure_core::Error) -> AzureError {
    AzureError::Input {
        mode: method.to_string(),
        message: error_chain(&e),
    }
}

/// Picks the sign-in `inputs.auth` names (or `auto` allows) and builds its token source.
pub(crate) fn choose(
    inputs: &Inputs,
    env: &Env,
    http: &reqwest::Client,
    endpoints: &Endpoints,
    observer: Observer,
) -> Result<Chosen, AzureError> {
    let (mode, why) = match inputs.auth {
        AuthMode::Auto => {
            let (m, why) = choose_auto(inputs, env)?;
            (m, Some(why))
        }
        m => (m, None),
    };
    let mut chosen = build(mode, inputs, env, http, endpoints, observer)?;
    if let Some(why) = why {
        chosen.method = format!("{} (auth auto: {why})", chosen.method);
    }
    Ok(chosen)
}

fn app_ids<'a>(inputs: &'a Inputs, mode: &str) -> Result<(&'a str, &'a str), AzureError> {
    let tenant = inputs.tenant_id.as_deref().ok_or_else(|| {
        input_error(
            mode,
            "tenant-id (or AZURE_TENANT_ID) is missing: give the Entra ID tenant",
        )
    })?;
    let client = inputs.client_id.as_deref().ok_or_else(|| {
        input_error(
            mode,
            "client-id (or AZURE_CLIENT_ID) is missing: give the application (client) id",
        )
    })?;
    Ok((tenant, client))
}

fn build(
    mode: AuthMode,
    inputs: &Inputs,
    env: &Env,
    http: &reqwest::Client,
    endpoints: &Endpoints,
    observer: Observer,
) -> Result<Chosen, AzureError> {
    let scope = endpoints.scope.clone();
    let options = || client_options(http, endpoints);
    let credential = |credential: Arc<dyn TokenCredential>| TokenSource::Credential {
        credential,
        scope: scope.clone(),
        authority: endpoints.authority.clone(),
        observer: observer.clone(),
    };
    match mode {
        AuthMode::ClientSecret => {
            let (tenant, client) = app_ids(inputs, "client-secret")?;
            let secret = inputs.client_secret.as_ref().ok_or_else(|| {
                input_error(
                    "client-secret",
                    "client-secret (or AZURE_CLIENT_SECRET) is missing: give the secret's value",
                )
            })?;
            Ok(Chosen {
                source: credential(secret_credential(tenant, client, secret, options())?),
                method: format!("client secret of app {client}"),
                subscription_id: None,
            })
        }
        AuthMode::Oidc => {
            let (tenant, client) = app_ids(inputs, "oidc")?;
            if let Some(url) = nonempty(env, "ACTIONS_ID_TOKEN_REQUEST_URL") {
                let request_token =
                    nonempty(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN").ok_or_else(|| {
                        AzureError::GithubIdTokenPermission {
                            missing: "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
                        }
                    })?;
                let assertion = Assertion(GithubAssertion {
                    http: http.clone(),
                    url: url.to_string(),
                    request_token: Secret::new(request_token),
                    observer: observer.clone(),
                });
                let cred = ClientAssertionCredential::new(
                    tenant.to_string(),
                    client.to_string(),
                    assertion,
                    Some(ClientAssertionCredentialOptions {
                        client_options: options(),
                    }),
                )
                .map_err(|e| credential_error("oidc", e))?;
                return Ok(Chosen {
                    source: credential(cred),
                    method: format!("GitHub OIDC (app {client})"),
                    subscription_id: None,
                });
            }
            if let Some(file) = nonempty(env, "AZURE_FEDERATED_TOKEN_FILE") {
                // The assertion is read here rather than by azure_identity's
                // WorkloadIdentityCredential, which never shows it to us: it is a bearer
                // credential for the app, so it is observed (masked) like GitHub's ID token.
                let assertion = Assertion(FileAssertion {
                    path: PathBuf::from(file),
                    observer: observer.clone(),
                });
                let cred = ClientAssertionCredential::new(
                    tenant.to_string(),
                    client.to_string(),
                    assertion,
                    Some(ClientAssertionCredentialOptions {
                        client_options: options(),
                    }),
                )
                .map_err(|e| credential_error("oidc", e))?;
                return Ok(Chosen {
                    source: credential(cred),
                    method: format!("workload identity federated token file (app {client})"),
                    subscription_id: None,
                });
            }
            if inputs.platform() == Platform::GithubActions {
                return Err(AzureError::GithubIdTokenPermission {
                    missing: "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
                });
            }
            Err(input_error(
                "oidc",
                "no OIDC token here: neither GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL nor AZURE_FEDERATED_TOKEN_FILE (workload identity) is set. On Azure Pipelines use auth azure-pipelines with azure-service-connection.",
            ))
        }
        AuthMode::AzurePipelines => pipelines(inputs, env, http, endpoints, observer),
        AuthMode::ManagedIdentity => {
            let cred = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: inputs.client_id.clone().map(UserAssignedId::ClientId),
                client_options: options(),
            }))
            .map_err(|e| credential_error("managed-identity", e))?;
            Ok(Chosen {
                source: credential(cred),
                method: match &inputs.client_id {
                    Some(c) => format!("managed identity {c}"),
                    None => "system-assigned managed identity".into(),
                },
                subscription_id: None,
            })
        }
        AuthMode::AzureCli => {
            let program = find_az(env).ok_or(AzureError::AzCliMissing)?;
            let method = format!("Azure CLI ({})", program.display());
            Ok(Chosen {
                source: TokenSource::AzCli {
                    program,
                    resource: scope.trim_end_matches(".default").to_string(),
                    tenant: inputs.tenant_id.clone(),
                    observer,
                },
                method,
                subscription_id: None,
            })
        }
        AuthMode::Token => {
            let token = inputs.access_token.clone().ok_or_else(|| {
                input_error("token", "access-token is missing: give an ARM bearer token")
            })?;
            Ok(Chosen {
                source: TokenSource::Static(token),
                method: "the bearer token in access-token".into(),
                subscription_id: None,
            })
        }
        AuthMode::Auto => Err(input_error("auto", "internal: auto must be resolved first")),
    }
}

fn secret_credential(
    tenant: &str,
    client: &str,
    secret: &Secret,
    client_options: ClientOptions,
) -> Result<Arc<dyn TokenCredential>, AzureError> {
    let cred = ClientSecretCredential::new(
        tenant,
        client.to_string(),
        secret.expose().to_string().into(),
        Some(ClientSecretCredentialOptions { client_options }),
    )
    .map_err(|e| credential_error("client-secret", e))?;
    Ok(cred)
}

/// An Azure DevOps AzureRM service connection, as the agent exposes it to a task.
fn pipelines(
    inputs: &Inputs,
    env: &Env,
    http: &reqwest::Client,
    endpoints: &Endpoints,
    observer: Observer,
) -> Result<Chosen, AzureError> {
    const MODE: &str = "azure-pipelines";
    let id = inputs
        .azure_service_connection
        .as_deref()
        .map(str::trim)
        .ok_or_else(|| {
            input_error(
                MODE,
                "azure-service-connection is missing: give the AzureRM service connection (the task input resolves to its id)",
            )
        })?;
    // The agent upper-cases variable names; a hand-made environment may not.
    let var = |prefix: &str, suffix: &str| -> Option<(String, &str)> {
        [id.to_ascii_uppercase(), id.to_string()]
            .into_iter()
            .map(|i| format!("{prefix}{i}{suffix}"))
            .find_map(|name| nonempty(env, &name).map(|v| (name, v)))
    };
    let upper = id.to_ascii_uppercase();
    let scheme = var("ENDPOINT_AUTH_SCHEME_", "").map(|(_, v)| v).ok_or_else(|| {
        input_error(
            MODE,
            format!(
                "the service connection '{id}' is not visible to this step (ENDPOINT_AUTH_SCHEME_{upper} is not set). Give azure-service-connection the AzureRM service connection through the task's input (it resolves to the id), and authorise the pipeline to use it."
            ),
        )
    })?;
    let param = |name: &str| var("ENDPOINT_AUTH_PARAMETER_", &format!("_{name}")).map(|(_, v)| v);
    let subscription_id = var("ENDPOINT_DATA_", "_SUBSCRIPTIONID").map(|(_, v)| v.to_string());
    let tenant = param("TENANTID").ok_or_else(|| {
        input_error(
            MODE,
            format!(
                "service connection '{id}' has no tenant (ENDPOINT_AUTH_PARAMETER_{upper}_TENANTID)"
            ),
        )
    });
    let client = param("SERVICEPRINCIPALID").ok_or_else(|| {
        input_error(
            MODE,
            format!("service connection '{id}' has no service principal id (ENDPOINT_AUTH_PARAMETER_{upper}_SERVICEPRINCIPALID)"),
        )
    });
    let options = || client_options(http, endpoints);
    let source = |credential: Arc<dyn TokenCredential>| TokenSource::Credential {
        credential,
        scope: endpoints.scope.clone(),
        authority: endpoints.authority.clone(),
        observer: observer.clone(),
    };
    match scheme.to_ascii_lowercase().as_str() {
        "serviceprincipal" => {
            let (tenant, client) = (tenant?, client?);
            let key = param("SERVICEPRINCIPALKEY").ok_or_else(|| {
                input_error(
                    MODE,
                    format!("service connection '{id}' is a service principal without a secret (certificate connections are not supported): use a secret or workload identity federation"),
                )
            })?;
            Ok(Chosen {
                source: source(secret_credential(
                    tenant,
                    client,
                    &Secret::new(key),
                    options(),
                )?),
                method: format!(
                    "Azure Pipelines service connection {id} (service principal {client}, secret)"
                ),
                subscription_id,
            })
        }
        "workloadidentityfederation" => {
            let (tenant, client) = (tenant?, client?);
            let uri = nonempty(env, "SYSTEM_OIDCREQUESTURI").ok_or_else(|| {
                input_error(
                    MODE,
                    "SYSTEM_OIDCREQUESTURI is not set: workload identity federation needs agent 3.220.5 or newer (Microsoft-hosted agents have it)",
                )
            })?;
            let access = nonempty(env, "SYSTEM_ACCESSTOKEN")
                .or_else(|| nonempty(env, "ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN"))
                .ok_or_else(|| {
                    input_error(
                        MODE,
                        "no System.AccessToken: map it into the step (`env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`) so the OIDC token of the service connection can be requested",
                    )
                })?;
            let assertion = Assertion(AdoAssertion {
                http: http.clone(),
                uri: uri.to_string(),
                connection: id.to_string(),
                access_token: Secret::new(access),
                observer: observer.clone(),
            });
            let cred = ClientAssertionCredential::new(
                tenant.to_string(),
                client.to_string(),
                assertion,
                Some(ClientAssertionCredentialOptions {
                    client_options: options(),
                }),
            )
            .map_err(|e| credential_error(MODE, e))?;
            Ok(Chosen {
                source: source(cred),
                method: format!(
                    "Azure Pipelines service connection {id} (workload identity federation, app {client})"
                ),
                subscription_id,
            })
        }
        "managedserviceidentity" => {
            let cred = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: None,
                client_options: options(),
            }))
            .map_err(|e| credential_error(MODE, e))?;
            Ok(Chosen {
                source: source(cred),
                method: format!("Azure Pipelines service connection {id} (managed identity)"),
                subscription_id,
            })
        }
        other => Err(input_error(
            MODE,
            format!(
                "service connection '{id}' uses the authentication scheme '{other}', which apim-gate does not support: use ServicePrincipal (secret) or WorkloadIdentityFederation"
            ),
        )),
    }
}

/// The future type `#[async_trait]` traits expect, written out to avoid the macro dependency.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn assertion_error(message: String) -> azure_core::Error {
    azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, message)
}

/// Where an OIDC client assertion comes from (GitHub's ID token, the workload identity token
/// file, Azure DevOps' service connection token).
trait FetchAssertion: Send + Sync + std::fmt::Debug {
    /// The assertion, observed (masked) before it is returned; the error says what to fix.
    fn fetch(&self) -> impl Future<Output = Result<String, String>> + Send;
}

/// Hands a [`FetchAssertion`] to azure_identity's `ClientAssertionCredential`, which asks for
/// it at every sign-in.
struct Assertion<T>(T);

impl<T: std::fmt::Debug> std::fmt::Debug for Assertion<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: FetchAssertion> ClientAssertion for Assertion<T> {
    fn secret<'life0, 'life1, 'async_trait>(
        &'life0 self,
        _options: Option<ClientMethodOptions<'life1>>,
    ) -> BoxFuture<'async_trait, azure_core::Result<String>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.0.fetch().await.map_err(assertion_error) })
    }
}

/// GitHub Actions' ID token for Entra (`ACTIONS_ID_TOKEN_REQUEST_URL&audience=…`).
struct GithubAssertion {
    http: reqwest::Client,
    url: String,
    request_token: Secret,
    observer: Observer,
}

impl std::fmt::Debug for GithubAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubAssertion").finish_non_exhaustive()
    }
}

impl FetchAssertion for GithubAssertion {
    async fn fetch(&self) -> Result<String, String> {
        let mut url = reqwest::Url::parse(&self.url)
            .map_err(|e| format!("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: {e}"))?;
        url.query_pairs_mut()
            .append_pair("audience", EXCHANGE_AUDIENCE);
        let shown = format!("{}{}", url.origin().ascii_serialization(), url.path());
        let resp = self
            .http
            .get(url)
            .bearer_auth(self.request_token.expose())
            .header("accept", "application/json; api-version=2.0")
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot reach GitHub's ID token endpoint {shown}: {}",
                    error_chain(&e)
                )
            })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| error_chain(&e))?;
        if !status.is_success() {
            return Err(format!(
                "GitHub's ID token endpoint {shown} answered {status}: {}. Check `permissions: id-token: write` in the workflow",
                crate::spec::snippet(&String::from_utf8_lossy(&body))
            ));
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let token = v
            .get("value")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                format!("GitHub's ID token endpoint {shown} answered without a token")
            })?;
        observe(&self.observer, &Secret::new(token.as_str()));
        Ok(token)
    }
}

/// The workload identity token file (`AZURE_FEDERATED_TOKEN_FILE`, projected by the AKS workload
/// identity webhook). Read at every sign-in: the kubelet rotates the projected token (Kubernetes
/// docs, "Service account token volume projection"; Microsoft Learn, "Use Microsoft Entra
/// Workload ID with Azure Kubernetes Service").
struct FileAssertion {
    path: PathBuf,
    observer: Observer,
}

impl std::fmt::Debug for FileAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileAssertion")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FetchAssertion for FileAssertion {
    async fn fetch(&self) -> Result<String, String> {
        let text = tokio::fs::read_to_string(&self.path).await.map_err(|e| {
            format!(
                "cannot read the federated token file AZURE_FEDERATED_TOKEN_FILE={}: {e}. Check that the pod's service account carries the azure.workload.identity/use label",
                self.path.display()
            )
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!(
                "the federated token file AZURE_FEDERATED_TOKEN_FILE={} is empty",
                self.path.display()
            ));
        }
        observe(&self.observer, &Secret::new(token));
        Ok(token.to_string())
    }
}

/// Azure DevOps' OIDC token of a service connection (`POST $SYSTEM_OIDCREQUESTURI`).
struct AdoAssertion {
    http: reqwest::Client,
    uri: String,
    connection: String,
    access_token: Secret,
    observer: Observer,
}

impl std::fmt::Debug for AdoAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdoAssertion")
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl FetchAssertion for AdoAssertion {
    async fn fetch(&self) -> Result<String, String> {
        let mut url = reqwest::Url::parse(&self.uri)
            .map_err(|e| format!("SYSTEM_OIDCREQUESTURI is not a URL: {e}"))?;
        url.query_pairs_mut()
            .append_pair("api-version", "7.1")
            .append_pair("serviceConnectionId", &self.connection);
        let shown = format!("{}{}", url.origin().ascii_serialization(), url.path());
        let resp = self
            .http
            .post(url)
            .bearer_auth(self.access_token.expose())
            .header("content-type", "application/json")
            .body("")
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot reach Azure DevOps' OIDC endpoint {shown}: {}",
                    error_chain(&e)
                )
            })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| error_chain(&e))?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = v
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| crate::spec::snippet(&String::from_utf8_lossy(&body)));
            let hint = match status.as_u16() {
                401 | 403 => {
                    " The System.AccessToken is missing or may not use the connection: map SYSTEM_ACCESSTOKEN: $(System.AccessToken) into the step and authorise the pipeline for the service connection."
                }
                404 => " Check that azure-service-connection is the connection's id.",
                _ => "",
            };
            return Err(format!(
                "Azure DevOps' OIDC endpoint {shown} answered {status} for service connection {}: {message}.{hint}",
                self.connection
            ));
        }
        let token = v
            .get("oidcToken")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                format!("Azure DevOps' OIDC endpoint {shown} answered without oidcToken")
            })?;
        observe(&self.observer, &Secret::new(token.as_str()));
        Ok(token)
    }
}

/// `az account get-access-token --resource <arm> -o json`.
async fn az_token(
    program: &std::path::Path,
    resource: &str,
    tenant: Option<&str>,
) -> Result<(Secret, Option<SystemTime>), AzureError> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args([
        "account",
        "get-access-token",
        "--resource",
        resource,
        "-o",
        "json",
    ]);
    if let Some(t) = tenant {
        cmd.args(["--tenant", t]);
    }
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .map_err(|_| AzureError::AzCli {
            message: "it did not answer within 60s".into(),
            hint: "Run it by hand to see what it waits for.".into(),
        })?
        .map_err(|e| AzureError::AzCli {
            message: format!("cannot run {}: {e}", program.display()),
            hint: "Check the Azure CLI installation.".into(),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        return Err(AzureError::AzCli {
            message: format!("{} ({first})", output.status),
            hint: if stderr.contains("az login") {
                "Run `az login` (and `az account set --subscription …`) first.".into()
            } else {
                "Run `az login`, or choose another auth.".into()
            },
        });
    }
    let v: Value = serde_json::from_slice(&output.stdout).map_err(|e| AzureError::AzCli {
        message: format!("its output is not JSON: {e}"),
        hint: "Check the Azure CLI version (2.54 or newer).".into(),
    })?;
    let token = v
        .get("accessToken")
        .and_then(Value::as_str)
        .ok_or_else(|| AzureError::AzCli {
            message: "its output has no accessToken".into(),
            hint: "Check the Azure CLI version.".into(),
        })?;
    let expires = v
        .get("expires_on")
        .and_then(|e| {
            e.as_u64()
                .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
        })
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s));
    Ok((Secret::new(token), expires))
}
