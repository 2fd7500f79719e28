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

pub use client::{API_VERSION, ArmClient, ArmRequest, ArmResponse, OnRetry, Retry, RetryPolicy};
pub use credential::EXCHANGE_AUDIENCE;
pub use error::{ArmError, AzureError};

use crate::inputs::{AzureCloud, Env, Inputs};

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

/// The HTTP client every Azure call uses: rustls on the process provider (ring), the platform's
/// roots plus those in `ca_certificates`, and timeouts that make a dead endpoint fail in seconds.
pub fn http_client(ca_certificates: Option<&Path>) -> Result<reqwest::Client, AzureError> {
    crate::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("apim-gate/", env!("CARGO_PKG_VERSION")));
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
    let endpoints = Endpoints::from_inputs(inputs);
    let base = reqwest::Url::parse(&endpoints.arm).map_err(|e| AzureError::Input {
        mode: "arm-endpoint".into(),
        message: format!("{} is not a URL: {e}", endpoints.arm),
    })?;
    let http = http_client(inputs.ca_certificates.as_deref())?;
    let chosen = credential::choose(inputs, env, &http, &endpoints)?;
    let subscription_id = inputs
        .subscription_id
        .clone()
        .or(chosen.subscription_id.clone())
        .ok_or_else(|| AzureError::Input {
            mode: "subscription".into(),
            message: "subscription-id (or AZURE_SUBSCRIPTION_ID) is missing: give the subscription of the API Management instance".into(),
        })?;
    let arm = ArmClient::new(http, base, chosen.source, chosen.method.clone())
        .with_portal(endpoints.portal.clone());
    arm.check_sign_in().await?;
    Ok(SignedIn {
        arm,
        method: chosen.method,
        subscription_id,
        endpoints,
    })
}

#[cfg(test)]
mod tests {
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
