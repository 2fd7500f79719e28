//! ARM's own layer in front of every Microsoft.ApiManagement request: bearer-token checks,
//! `api-version`, subscription / resource group / service resolution, throttling and transient
//! faults, and the request ids ARM adds to every answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::Value;

use super::errors::{add_headers, arm_error, in_progress, in_progress_conflict};
use super::util::{form_get, now_millis, parse_form, percent_decode, rfc3339_millis};
use super::{API_VERSIONS, Ctx, control, routes};
use crate::Shared;
use crate::tokens::TokenProblem;

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

pub async fn handle(
    State(ctx): State<Arc<Ctx>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = parse_form(uri.query().unwrap_or(""));
    if let Err(r) = check_token(&ctx.shared, &headers) {
        return r;
    }
    if path.starts_with("/_sandbox/") {
        return control::control(&ctx, &method, &path, form_get(&query, "path"), &body);
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
    let mut response = routes::dispatch(&ctx, &req);
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
        return Some(in_progress());
    }
    if write && shared.faults.take("arm-409-conflict") {
        return Some(in_progress_conflict());
    }
    None
}
