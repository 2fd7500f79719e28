//! Azure Resource Manager with Microsoft.ApiManagement 2024-05-01 (APIs, revisions, releases,
//! operations, product links, exports and their long-running operations), and the `/_sandbox`
//! test-control endpoints on the same listener.
//!
//! ARM's own layer lives here: bearer-token checks, `api-version`, subscription / resource group /
//! service resolution, throttling and transient faults, and ARM's error body. APIM's behaviour is
//! in [`apim`] (state and semantics), [`import`] (document to operations) and [`export`].

// Handlers bail out with a finished response; boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod apim;
pub mod export;
pub mod import;
pub mod util;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Shared;
use crate::tokens::TokenProblem;
use util::{form_get, now_millis, parse_form, percent_decode, rfc3339_millis};

/// The api-versions of Microsoft.ApiManagement this emulator speaks.
pub const API_VERSIONS: &[&str] = &["2024-05-01"];
pub const API_VERSION: &str = "2024-05-01";

/// Everything the ARM handlers need.
pub struct Ctx {
    pub shared: Arc<Shared>,
    pub apim: Mutex<apim::Apim>,
}

impl Ctx {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, apim::Apim> {
        // Handlers never leave the state half-updated across an await or a panic point, so a
        // poisoned lock still guards consistent data.
        self.apim.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    let ctx = Arc::new(Ctx {
        shared,
        apim: Mutex::new(apim::Apim::new()),
    });
    Router::new()
        .fallback(handle)
        // Oversized inline documents must reach APIM's own 4 MB check, not axum's 2 MB default.
        .layer(axum::extract::DefaultBodyLimit::max(32 * 1024 * 1024))
        .with_state(ctx)
}

/// One ARM request, decoded.
pub struct Req {
    pub method: Method,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Path segments after `/providers/Microsoft.ApiManagement/service/{svc}`, percent-decoded.
    pub rest: Vec<String>,
    /// `/subscriptions/…/service/{svc}` as ARM spells resource ids.
    pub service_id: String,
    /// `https://127.0.0.1:port`, for Location and nextLink URLs.
    pub arm_url: String,
}

impl Req {
    pub fn q(&self, key: &str) -> Option<&str> {
        form_get(&self.query, key)
    }

    pub fn if_match(&self) -> Option<String> {
        self.headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn json_body(&self) -> Result<Value, Response> {
        if self.body.is_empty() {
            return Err(arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: 'The request body is empty.'.",
                None,
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContent",
                &format!("The request content was invalid and could not be deserialized: '{e}'."),
                None,
            )
        })
    }
}

/// ARM's error body. `details: None` leaves the member out, as ARM's own front door does.
pub fn arm_error(
    status: StatusCode,
    code: &str,
    message: &str,
    details: Option<Value>,
) -> Response {
    let mut error = json!({"code": code, "message": message});
    if let Some(d) = details {
        error["details"] = d;
    }
    let mut r = (status, axum::Json(json!({ "error": error }))).into_response();
    r.headers_mut().insert(
        HeaderName::from_static("x-ms-failure-cause"),
        HeaderValue::from_static("service"),
    );
    r
}

/// APIM's ValidationError with one detail.
pub fn validation_error(target: &str, message: &str) -> Value {
    json!({
        "error": {
            "code": "ValidationError",
            "message": "One or more fields contain incorrect values:",
            "details": [{"code": "ValidationError", "target": target, "message": message}]
        }
    })
}

pub fn json_response(status: StatusCode, body: Value, headers: &[(&str, String)]) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    add_headers(&mut r, headers);
    r
}

pub fn add_headers(r: &mut Response, headers: &[(&str, String)]) {
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(name, value);
        }
    }
}

async fn handle(
    State(ctx): State<Arc<Ctx>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = parse_form(uri.query().unwrap_or(""));
    if let Some(token) = path.strip_prefix("/_sandbox/exports/") {
        // Export links stand in for storage SAS URLs: the signature is in the URL, not a header.
        return export::serve_blob(&ctx, token, &query);
    }
    if let Err(r) = check_token(&ctx.shared, &headers) {
        return r;
    }
    if path.starts_with("/_sandbox/") {
        return control(&ctx, &method, &path, &body);
    }
    let Some(version) = form_get(&query, "api-version") else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
            None,
        );
    };
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect();
    let id = &ctx.shared.identity;
    let is = |i: usize, lit: &str| segments.get(i).is_some_and(|s| s.eq_ignore_ascii_case(lit));
    if !(is(0, "subscriptions")
        && is(2, "resourceGroups")
        && is(4, "providers")
        && is(5, "Microsoft.ApiManagement")
        && is(6, "service")
        && segments.len() >= 8)
    {
        return arm_error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            &format!(
                "The resource type could not be found in the namespace for api version '{version}'. This sandbox serves /subscriptions/{{sub}}/resourceGroups/{{rg}}/providers/Microsoft.ApiManagement/service/{{svc}}/..."
            ),
            None,
        );
    }
    if !API_VERSIONS.contains(&version) {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            &format!(
                "The api-version '{version}' is invalid. The supported versions are '{}'.",
                API_VERSIONS.join(",")
            ),
            None,
        );
    }
    let (sub, rg, svc) = (&segments[1], &segments[3], &segments[7]);
    if !sub.eq_ignore_ascii_case(&id.subscription_id) {
        return arm_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
            None,
        );
    }
    if !rg.eq_ignore_ascii_case(&id.resource_group) {
        return arm_error(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
            None,
        );
    }
    if !svc.eq_ignore_ascii_case(&id.apim_service) {
        return arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!(
                "The Resource 'Microsoft.ApiManagement/service/{svc}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
            None,
        );
    }
    let write = matches!(
        method,
        Method::PUT | Method::PATCH | Method::DELETE | Method::POST
    );
    if let Some(r) = injected_fault(&ctx.shared, write) {
        return r;
    }
    let req = Req {
        method,
        query,
        headers,
        body,
        rest: segments[8..].to_vec(),
        service_id: format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}",
            id.subscription_id, id.resource_group, id.apim_service
        ),
        arm_url: ctx.shared.urls().arm,
    };
    let mut response = apim::dispatch(&ctx, &req);
    add_headers(
        &mut response,
        &[
            ("x-ms-request-id", crate::tokens::guid()),
            ("x-ms-correlation-request-id", crate::tokens::guid()),
        ],
    );
    response
}

fn check_token(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (code, message) = match shared.tokens.check(auth) {
        Ok(()) => return Ok(()),
        Err(TokenProblem::Missing) => (
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".to_string(),
        ),
        Err(TokenProblem::Invalid) => (
            "InvalidAuthenticationToken",
            "The access token is invalid.".to_string(),
        ),
        Err(TokenProblem::Expired) => (
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time is earlier than current UTC time '{}'.",
                rfc3339_millis(now_millis())
            ),
        ),
    };
    let mut r = arm_error(StatusCode::UNAUTHORIZED, code, &message, None);
    let challenge = format!(
        "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\", error_description=\"{}\"",
        shared.urls().entra,
        shared.identity.tenant_id,
        message.replace('"', "'")
    );
    add_headers(&mut r, &[("www-authenticate", challenge)]);
    Err(r)
}

fn injected_fault(shared: &Shared, write: bool) -> Option<Response> {
    let retry = shared.retry_after.to_string();
    if write && shared.faults.take("arm-429") {
        let mut r = arm_error(
            StatusCode::TOO_MANY_REQUESTS,
            "SubscriptionRequestsThrottled",
            &format!(
                "Number of 'write' requests for subscription '{}' actor '{}' exceeded. Please try again after '{retry}' seconds after additional tips: https://aka.ms/ARMThrottlingTips",
                shared.identity.subscription_id, shared.identity.client_id
            ),
            None,
        );
        add_headers(
            &mut r,
            &[
                ("retry-after", retry),
                ("x-ms-ratelimit-remaining-subscription-writes", "0".into()),
            ],
        );
        return Some(r);
    }
    if shared.faults.take("arm-5xx") {
        let mut r = arm_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please retry the request.",
            None,
        );
        add_headers(&mut r, &[("retry-after", retry)]);
        return Some(r);
    }
    if write && shared.faults.take("arm-409") {
        return Some(apim::in_progress());
    }
    None
}

/// `/_sandbox/*` on the ARM listener (the ARM bearer token is already checked).
fn control(ctx: &Ctx, method: &Method, path: &str, body: &Bytes) -> Response {
    let shared = &ctx.shared;
    match (method.as_str(), path) {
        ("GET", "/_sandbox/requests") => axum::Json(json!(shared.log.entries())).into_response(),
        ("GET", "/_sandbox/faults") => axum::Json(json!(shared.faults.snapshot())).into_response(),
        ("POST", "/_sandbox/faults") => {
            let parsed: Result<serde_json::Map<String, Value>, _> = serde_json::from_slice(body);
            let Ok(map) = parsed else {
                return control_error(
                    StatusCode::BAD_REQUEST,
                    "the body must be a JSON object {\"NAME\": VALUE}",
                );
            };
            let mut values = Vec::new();
            for (name, v) in &map {
                let value = match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse().ok(),
                    Value::Bool(b) => Some(u64::from(*b)),
                    _ => None,
                };
                match value {
                    Some(value) if crate::FAULT_NAMES.contains(&name.as_str()) => {
                        values.push((name.clone(), value))
                    }
                    Some(_) => {
                        return control_error(
                            StatusCode::BAD_REQUEST,
                            &crate::Error::UnknownFault(name.clone()).to_string(),
                        );
                    }
                    None => {
                        return control_error(
                            StatusCode::BAD_REQUEST,
                            &format!("fault '{name}' needs a whole number value"),
                        );
                    }
                }
            }
            for (name, value) in values {
                if let Err(e) = shared.faults.set(&name, value) {
                    return control_error(StatusCode::BAD_REQUEST, &e.to_string());
                }
            }
            axum::Json(json!(shared.faults.snapshot())).into_response()
        }
        ("GET", "/_sandbox/apim") => axum::Json(ctx.lock().dump()).into_response(),
        ("PUT", p) if p.starts_with("/_sandbox/services/") && p.ends_with("/spec") => {
            let service = percent_decode(
                p.trim_start_matches("/_sandbox/services/")
                    .trim_end_matches("/spec"),
                false,
            );
            if shared.set_document(&service, body.to_vec()) {
                StatusCode::NO_CONTENT.into_response()
            } else {
                control_error(
                    StatusCode::NOT_FOUND,
                    &format!("no service '{service}' in the sandbox"),
                )
            }
        }
        _ => control_error(
            StatusCode::NOT_FOUND,
            "unknown sandbox control endpoint; see GET /_sandbox/requests, GET|POST /_sandbox/faults, PUT /_sandbox/services/{service}/spec, GET /_sandbox/apim",
        ),
    }
}

fn control_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": "SandboxControl", "message": message}})),
    )
        .into_response()
}
