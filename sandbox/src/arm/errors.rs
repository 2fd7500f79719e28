//! Error answers: ARM's error body (`{"error":{"code","message"}}` with `x-ms-failure-cause`),
//! APIM's ValidationError with details, and the APIM errors every resource shares (not found,
//! precondition failed, operation in progress).

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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

pub fn precondition_failed() -> Response {
    arm_error(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        "The specified entity tag does not match the current entity tag of the resource; it was changed by another request.",
        Some(Value::Null),
    )
}

/// A write to an API while an operation on it runs. The code is APIM's own, byte for byte as
/// clients log it: `{"error":{"code":"PessimisticConcurrencyConflict","message":"Operation on the
/// API is in progress","details":null}}` (Azure/apiops#141, #379, #497; apiops PR #799 retries on
/// this code).
pub fn in_progress() -> Response {
    arm_error(
        StatusCode::CONFLICT,
        "PessimisticConcurrencyConflict",
        "Operation on the API is in progress",
        Some(Value::Null),
    )
}

/// The same refusal under ARM's generic code: `409 {"error":{"code":"Conflict","message":"Operation
/// on the API is in progress"}}`, which APIM answers too (Azure/apiops PR #787 added this form to
/// `CommonRetryPolicy.ShouldRetryInner`, tools/code/common/Http.cs, because pipelines failed on
/// it); only the message tells it from any other conflict. Fault `arm-409-conflict`.
pub fn in_progress_conflict() -> Response {
    arm_error(
        StatusCode::CONFLICT,
        "Conflict",
        "Operation on the API is in progress",
        None,
    )
}

/// APIM's management API giving up on a request whose work goes on: a large import is answered
/// `422 ManagementApiRequestFailed` after a while, yet completes (Azure/apiops#689, #497; the
/// body's shape, with `details` and `innerError` null, is the one #497 logs).
pub fn management_api_request_failed() -> Response {
    let mut r = json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"error": {
            "code": "ManagementApiRequestFailed",
            "message": "The management API request failed: the request timed out while the API was being updated.",
            "details": null,
            "innerError": null,
        }}),
        &[],
    );
    r.headers_mut().insert(
        HeaderName::from_static("x-ms-failure-cause"),
        HeaderValue::from_static("service"),
    );
    r
}

pub fn not_found(what: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("{what} not found."),
        Some(Value::Null),
    )
}

pub fn validation(target: &str, message: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        validation_error(target, message),
        &[],
    )
}
