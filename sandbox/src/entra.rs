//! Entra ID's OAuth2 token endpoint (client credentials, with a secret or a federated client
//! assertion), the metadata MSAL reads first, and the CI OIDC issuers whose tokens Entra accepts:
//! GitHub Actions' `ACTIONS_ID_TOKEN_REQUEST_URL` and Azure DevOps' `SYSTEM_OIDCREQUESTURI`.
//!
//! Federated credentials configured on the sandbox's app registration (issuer, subject), all with
//! the audience `api://AzureADTokenExchange`: the GitHub workflow [`GITHUB_SUBJECT`], the Azure
//! DevOps service connection (`sc://…/{connection id}`) and the AKS workload identity service
//! account [`WORKLOAD_SUBJECT`]. Any other assertion is refused with the AADSTS code Entra uses.

// Handlers bail out with a finished response; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::Shared;
use crate::arm::util::{entra_timestamp, form_get, now_millis, parse_form};
use crate::tokens::{self, DEFAULT_TTL};

/// The audience Entra requires of federated client assertions.
pub const EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const GITHUB_REPOSITORY: &str = "apim-gate/sample-api";
pub const GITHUB_SUBJECT: &str = "repo:apim-gate/sample-api:ref:refs/heads/main";
pub const ADO_ORGANIZATION: &str = "apim-gate";
pub const ADO_PROJECT: &str = "sample-api";
pub const ADO_CONNECTION_NAME: &str = "apim-sandbox";
pub const WORKLOAD_SUBJECT: &str = "system:serviceaccount:default:apim-gate";

/// Scopes clients send for ARM, whatever address ARM is reached at.
const ARM_SCOPES: &[&str] = &[
    "https://management.azure.com/.default",
    "https://management.azure.com//.default",
    "https://management.core.windows.net/.default",
    "https://management.core.windows.net//.default",
];

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/common/discovery/instance", get(instance_discovery))
        .route("/_oidc/github/token", get(github_oidc))
        .route("/_oidc/ado/oidctoken", post(ado_oidc))
        .with_state(shared)
}

/// The AKS workload identity token (`AZURE_FEDERATED_TOKEN_FILE`) this Entra accepts.
pub fn federated_token(shared: &Shared) -> String {
    let now = tokens::now_secs();
    tokens::jwt(&json!({
        "aud": [EXCHANGE_AUDIENCE],
        "iss": workload_issuer(shared),
        "sub": WORKLOAD_SUBJECT,
        "exp": now + 86_400,
        "iat": now,
        "nbf": now,
        "kubernetes.io": {
            "namespace": "default",
            "serviceaccount": {"name": "apim-gate", "uid": tokens::guid()}
        }
    }))
}

fn workload_issuer(shared: &Shared) -> String {
    format!(
        "https://eastus.oic.prod-aks.azure.com/{}/{}/",
        shared.identity.tenant_id, shared.identity.subscription_id
    )
}

fn ado_issuer(shared: &Shared) -> String {
    // Azure DevOps issues as its organisation GUID; the tenant stands in for it here.
    format!(
        "https://vstoken.dev.azure.com/{}",
        shared.identity.tenant_id
    )
}

fn ado_subject(shared: &Shared) -> String {
    format!(
        "sc://{ADO_ORGANIZATION}/{ADO_PROJECT}/{ADO_CONNECTION_NAME}-{}",
        shared.identity.ado_service_connection_id
    )
}

/// An OAuth2 error as Entra spells it.
fn oauth_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let trace_id = tokens::guid();
    let correlation_id = tokens::guid();
    let timestamp = entra_timestamp(now_millis());
    let description = format!(
        "AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"
    );
    (
        status,
        [(header::CACHE_CONTROL, "no-store, no-cache")],
        axum::Json(json!({
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        })),
    )
        .into_response()
}

fn unknown_tenant(tenant: &str) -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        90002,
        &format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        ),
    )
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = &shared.identity;
    if !tenant.eq_ignore_ascii_case(&id.tenant_id) {
        return unknown_tenant(&tenant);
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    let form = parse_form(&String::from_utf8_lossy(&body));
    let Some(grant_type) = form_get(&form, "grant_type") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    };
    if grant_type != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant_type}'."),
        );
    }
    let Some(client_id) = form_get(&form, "client_id").filter(|c| !c.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    if !client_id.eq_ignore_ascii_case(&id.client_id) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        );
    }
    let Some(scope) = form_get(&form, "scope").filter(|s| !s.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    };
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if scopes.len() != 1 || !ARM_SCOPES.contains(&scopes[0]) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        );
    }
    match (
        form_get(&form, "client_secret"),
        form_get(&form, "client_assertion"),
    ) {
        (Some(secret), None) => {
            if secret != id.client_secret {
                return oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    &format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                        id.client_id
                    ),
                );
            }
        }
        (None, Some(assertion)) => {
            if form_get(&form, "client_assertion_type")
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    700023,
                    "The client_assertion_type must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
                );
            }
            if let Err(response) = check_assertion(&shared, assertion) {
                return response;
            }
        }
        (Some(_), Some(_)) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type, but not more than one.",
            );
        }
        (None, None) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        }
    }
    let ttl = shared.faults.value("token-ttl").unwrap_or(DEFAULT_TTL);
    let access_token = shared.tokens.issue(Some(ttl));
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store, no-cache")],
        axum::Json(json!({
            "token_type": "Bearer",
            "expires_in": ttl,
            "ext_expires_in": ttl,
            "access_token": access_token,
        })),
    )
        .into_response()
}

/// Accepts exactly the assertions of the federated credentials this app registration has.
fn check_assertion(shared: &Shared, assertion: &str) -> Result<(), Response> {
    let Some(claims) = tokens::verify_jwt(assertion) else {
        // A well-formed JWT signed by someone else fails on its signature; anything else is malformed.
        let (code, text) = if assertion.split('.').count() == 3 {
            (
                700027,
                "Client assertion failed signature validation. (The issuer's signing key is not trusted.)",
            )
        } else {
            (50027, "JWT token is invalid or malformed.")
        };
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            code,
            text,
        ));
    };
    let now = tokens::now_secs();
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    if exp <= now {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let known = [
        (GITHUB_ISSUER.to_string(), GITHUB_SUBJECT.to_string()),
        (ado_issuer(shared), ado_subject(shared)),
        (workload_issuer(shared), WORKLOAD_SUBJECT.to_string()),
    ];
    if !known.iter().any(|(i, s)| i == iss && s == sub) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            70021,
            &format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'.",
                audiences.join(",")
            ),
        ));
    }
    if !audiences.iter().any(|a| a == EXCHANGE_AUDIENCE) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            700212,
            &format!(
                "No matching federated identity record found for presented assertion audience '{}'.",
                audiences.join(",")
            ),
        ));
    }
    Ok(())
}

async fn openid_configuration(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
) -> Response {
    if !tenant.eq_ignore_ascii_case(&shared.identity.tenant_id)
        && tenant != "organizations"
        && tenant != "common"
    {
        return unknown_tenant(&tenant);
    }
    let base = shared.urls().entra;
    let tid = &shared.identity.tenant_id;
    axum::Json(json!({
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{tid}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{tenant}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid"],
        "kerberos_endpoint": format!("{base}/{tenant}/kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net"
    }))
    .into_response()
}

async fn keys() -> Response {
    // Sandbox tokens are HMAC-signed: there is no public key to publish.
    axum::Json(json!({"keys": []})).into_response()
}

async fn instance_discovery(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let base = shared.urls().entra;
    let host = base.trim_start_matches("https://").to_string();
    let query = parse_form(uri.query().unwrap_or(""));
    let authorize = form_get(&query, "authorization_endpoint")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{base}/common/oauth2/v2.0/authorize"));
    axum::Json(json!({
        "tenant_discovery_endpoint": format!("{}/v2.0/.well-known/openid-configuration",
            authorize.trim_end_matches("/oauth2/v2.0/authorize")),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host]
        }]
    }))
    .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

/// GitHub Actions' ID token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`, with `&audience=`).
async fn github_oidc(State(shared): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    if bearer(&headers) != Some(shared.identity.github_oidc_request_token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    let query = parse_form(uri.query().unwrap_or(""));
    let audience = form_get(&query, "audience")
        .filter(|a| !a.is_empty())
        // Without `audience` GitHub uses the repository owner's URL.
        .map(str::to_string)
        .unwrap_or_else(|| "https://github.com/apim-gate".to_string());
    let now = tokens::now_secs();
    let run_id = now % 10_000_000_000;
    let token = tokens::jwt(&json!({
        "jti": tokens::guid(),
        "sub": GITHUB_SUBJECT,
        "aud": audience,
        "ref": "refs/heads/main",
        "sha": "5e2d1a8d5b0b7c1e9f3a4b6c8d0e2f4a6b8c0d2e",
        "repository": GITHUB_REPOSITORY,
        "repository_owner": "apim-gate",
        "run_id": run_id.to_string(),
        "run_number": "1",
        "run_attempt": "1",
        "actor": "octocat",
        "workflow": "release",
        "event_name": "push",
        "ref_type": "branch",
        "job_workflow_ref": format!("{GITHUB_REPOSITORY}/.github/workflows/release.yml@refs/heads/main"),
        "iss": GITHUB_ISSUER,
        "nbf": now,
        "iat": now,
        "exp": now + 300,
    }));
    axum::Json(json!({"count": 1, "value": token})).into_response()
}

/// Azure DevOps' OIDC token endpoint (`SYSTEM_OIDCREQUESTURI?api-version=7.1&serviceConnectionId=`).
async fn ado_oidc(State(shared): State<Arc<Shared>>, headers: HeaderMap, uri: Uri) -> Response {
    if bearer(&headers) != Some(shared.identity.ado_access_token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({
                "$id": "1",
                "innerException": null,
                "message": "TF400813: The user '' is not authorized to access this resource.",
                "typeName": "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, Microsoft.TeamFoundation.Framework.Server",
                "typeKey": "UnauthorizedRequestException",
                "errorCode": 0,
                "eventId": 3000
            })),
        )
            .into_response();
    }
    let query = parse_form(uri.query().unwrap_or(""));
    if form_get(&query, "api-version").is_none() {
        return ado_error(
            StatusCode::BAD_REQUEST,
            "VssVersionNotSpecifiedException",
            "TF400918: No api-version was supplied for the POST request. An api-version must be supplied for all non-GET requests.",
        );
    }
    let connection = form_get(&query, "serviceConnectionId").unwrap_or("");
    if !connection.eq_ignore_ascii_case(&shared.identity.ado_service_connection_id) {
        return ado_error(
            StatusCode::NOT_FOUND,
            "ServiceEndpointNotFoundException",
            &format!("Service connection with id '{connection}' could not be found."),
        );
    }
    let now = tokens::now_secs();
    let token = tokens::jwt(&json!({
        "jti": tokens::guid(),
        "sub": ado_subject(&shared),
        "aud": EXCHANGE_AUDIENCE,
        "iss": ado_issuer(&shared),
        "nbf": now,
        "iat": now,
        "exp": now + 900,
    }));
    axum::Json(json!({"oidcToken": token})).into_response()
}

fn ado_error(status: StatusCode, type_key: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "$id": "1",
            "innerException": null,
            "message": message,
            "typeName": format!("Microsoft.VisualStudio.Services.{type_key}, Microsoft.VisualStudio.Services.WebApi"),
            "typeKey": type_key,
            "errorCode": 0,
            "eventId": 3000
        })),
    )
        .into_response()
}
