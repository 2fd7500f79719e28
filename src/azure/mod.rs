//! Azure sign-in and the ARM client.
//!
//! [`sign_in`] picks the sign-in the `auth` input names (or the first one `auto` finds the
//! environment allows), gets a first token so a refusal shows at once, and returns an
//! [`ArmClient`] that keeps its token fresh. Nothing here prints, and no secret ever reaches a
//! message, a `Debug` output or a log.

mod client;
mod credential;
mod error;

use std::path::Path;
use std::time::Duration;

pub use client::{
    API_VERSION, ArmClient, ArmRequest, ArmResponse, CLEANUP_GRACE, OnRetry, Retry, RetryPolicy,
};
pub use credential::{EXCHANGE_AUDIENCE, TokenObserver};
pub use error::{ArmError, AzureError};

use crate::inputs::{AzureCloud, Env, Inputs};
use crate::proxy::{NameProxy, ProxyEnv};

/// Where a cloud's services live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Azure Resource Manager, no trailing slash.
    pub arm: String,
    /// Entra ID authority host, no trailing slash.
    pub authority: String,
    /// The OAuth2 scope of ARM tokens. Stays the cloud's own when `arm-endpoint` points elsewhere
    /// (a private endpoint, the sandbox): the token's audience is the cloud's ARM.
    pub scope: String,
    /// The Azure portal, for links in the report.
    pub portal: String,
}

impl Endpoints {
    pub fn for_cloud(cloud: AzureCloud) -> Endpoints {
        let (arm, authority, portal) = match cloud {
            AzureCloud::AzureCloud => (
                "https://management.azure.com",
                "https://login.microsoftonline.com",
                "https://portal.azure.com",
            ),
            AzureCloud::AzureChinaCloud => (
                "https://management.chinacloudapi.cn",
                "https://login.chinacloudapi.cn",
                "https://portal.azure.cn",
            ),
            AzureCloud::AzureUSGovernment => (
                "https://management.usgovcloudapi.net",
                "https://login.microsoftonline.us",
                "https://portal.azure.us",
            ),
        };
        Endpoints {
            arm: arm.to_string(),
            authority: authority.to_string(),
            scope: format!("{arm}/.default"),
            portal: portal.to_string(),
        }
    }

    /// `azure-cloud`, with `arm-endpoint` and `authority-host` overriding it.
    pub fn from_inputs(inputs: &Inputs) -> Endpoints {
        let mut e = Endpoints::for_cloud(inputs.azure_cloud);
        if let Some(arm) = &inputs.arm_endpoint {
            e.arm = arm.trim_end_matches('/').to_string();
        }
        if let Some(a) = &inputs.authority_host {
            e.authority = a.trim_end_matches('/').to_string();
        }
        e
    }
}

/// [`http_client_via`] with no proxy: for callers that do not read the environment.
pub fn http_client(ca_certificates: Option<&Path>) -> Result<reqwest::Client, AzureError> {
    http_client_via(ca_certificates, &ProxyEnv::none())
}

/// The HTTP client every Azure call uses: rustls on the process provider (ring), the platform's
/// roots plus those in `ca_certificates`, timeouts that make a dead endpoint fail in seconds, and
/// the proxy [`ProxyEnv`] chooses per URL (ARM, Entra ID, the export link, IMDS each on its own).
pub fn http_client_via(
    ca_certificates: Option<&Path>,
    proxies: &ProxyEnv,
) -> Result<reqwest::Client, AzureError> {
    crate::install_crypto_provider();
    // reqwest's own reading of the proxy variables (curl's rules) is turned off: every client of
    // the gate answers "proxy or not" the same way, kubectl's (see crate::proxy).
    let chooser = proxies.clone();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("apim-gate/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .proxy(reqwest::Proxy::custom(move |url| {
            chooser.for_url(url).map(|p| p.expose().to_string())
        }))
        .connector_layer(NameProxy::new(proxies));
    if let Some(path) = ca_certificates {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| AzureError::CaCertificates {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            AzureError::CaCertificates {
                path: shown.clone(),
                reason: format!("not PEM certificates: {}", error::error_chain(&e)),
            }
        })?;
        if certs.is_empty() {
            return Err(AzureError::CaCertificates {
                path: shown,
                reason: "it holds no -----BEGIN CERTIFICATE----- block".into(),
            });
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| AzureError::CaCertificates {
        path: ca_certificates
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(none)".into()),
        reason: format!(
            "the HTTPS client cannot be set up: {}",
            error::error_chain(&e)
        ),
    })
}

/// A signed-in ARM client and what the report says about it.
#[derive(Debug)]
pub struct SignedIn {
    pub arm: ArmClient,
    /// `client secret of app <id>`, `GitHub OIDC (app <id>)`, … with, under `auth auto`, why.
    pub method: String,
    pub subscription_id: String,
    pub endpoints: Endpoints,
}

/// Signs in as the inputs say and checks it by getting a first token.
pub async fn sign_in(inputs: &Inputs, env: &Env) -> Result<SignedIn, AzureError> {
    sign_in_observed(inputs, env, None).await
}

/// [`sign_in`], telling `observer` of every token obtained, now and on each refresh.
pub async fn sign_in_observed(
    inputs: &Inputs,
    env: &Env,
    observer: Option<std::sync::Arc<dyn TokenObserver>>,
) -> Result<SignedIn, AzureError> {
    let endpoints = Endpoints::from_inputs(inputs);
    let base = reqwest::Url::parse(&endpoints.arm).map_err(|e| AzureError::Input {
        mode: "arm-endpoint".into(),
        message: format!("{} is not a URL: {e}", endpoints.arm),
    })?;
    let proxies = ProxyEnv::from_env(env).map_err(|e| AzureError::Input {
        mode: "proxy".to_string(),
        message: e.to_string(),
    })?;
    let http = http_client_via(inputs.ca_certificates.as_deref(), &proxies)?;
    let chosen = credential::choose(inputs, env, &http, &endpoints, observer)?;
    let subscription_id = inputs
        .subscription_id
        .clone()
        .or(chosen.subscription_id.clone())
        .ok_or_else(|| AzureError::Input {
            mode: "subscription".into(),
            message: "subscription-id (or AZURE_SUBSCRIPTION_ID) is missing: give the subscription of the API Management instance".into(),
        })?;
    let api_version = checked_api_version(&inputs.arm_api_version)?;
    let arm = ArmClient::new(http, base, chosen.source, chosen.method.clone())
        .with_portal(endpoints.portal.clone())
        .with_api_version(api_version)
        .with_deadline(tokio::time::Instant::now() + inputs.timeout, inputs.timeout);
    arm.check_sign_in().await?;
    Ok(SignedIn {
        arm,
        method: chosen.method,
        subscription_id,
        endpoints,
    })
}

/// `arm-api-version` as ARM spells versions: `2024-05-01` or `2024-06-01-preview`.
fn checked_api_version(v: &str) -> Result<String, AzureError> {
    let v = v.trim();
    // `get`, not `split_at`: a multi-byte character across byte 10 must be refused, not panic.
    let (date, suffix) = match (v.get(..10), v.get(10..)) {
        (Some(d), Some(s)) => (d, s),
        _ => (v, ""),
    };
    let date_ok = date.len() == 10
        && date.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if date_ok && (suffix.is_empty() || suffix == "-preview") {
        Ok(v.to_string())
    } else {
        Err(AzureError::Input {
            mode: "arm-api-version".into(),
            message: format!(
                "arm-api-version '{v}' is not an ARM api-version: give a date like 2024-05-01 (or 2024-06-01-preview), a version Microsoft.ApiManagement publishes"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_versions_are_dates() {
        assert_eq!(checked_api_version(" 2024-05-01 ").unwrap(), "2024-05-01");
        assert!(checked_api_version("2024-06-01-preview").is_ok());
        for bad in [
            "",
            "latest",
            "2024-5-1",
            "2024-05-01&x=1",
            "2024-05-01-beta",
            "2024-05-0é",
            "2024-05-0é-preview",
            "é",
        ] {
            let e = checked_api_version(bad).unwrap_err();
            assert!(e.to_string().contains("arm-api-version"), "{e}");
            assert_eq!(e.exit(), crate::exit::Exit::Input);
        }
    }

    use super::*;

    #[test]
    fn clouds_have_their_own_endpoints_and_scopes() {
        let public = Endpoints::for_cloud(AzureCloud::AzureCloud);
        assert_eq!(public.scope, "https://management.azure.com/.default");
        let china = Endpoints::for_cloud(AzureCloud::AzureChinaCloud);
        assert_eq!(china.authority, "https://login.chinacloudapi.cn");
        assert_eq!(china.scope, "https://management.chinacloudapi.cn/.default");
        let gov = Endpoints::for_cloud(AzureCloud::AzureUSGovernment);
        assert_eq!(gov.arm, "https://management.usgovcloudapi.net");
    }

    #[test]
    fn missing_ca_file_is_an_input_error() {
        let e = http_client(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert_eq!(e.exit(), crate::exit::Exit::Input);
        assert!(e.to_string().contains("ca-certificates"));
    }
}
