//! `/_sandbox/*` on the ARM listener: the request log, faults at runtime, the APIM state dump and
//! replacing a service's document (`?path=PATH`: the one it serves at PATH). Not part of ARM; tests and the gate's harness drive it.

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Ctx;
use super::util::percent_decode;

/// `/_sandbox/*` on the ARM listener (the ARM bearer token is already checked).
pub fn control(
    ctx: &Ctx,
    method: &Method,
    path: &str,
    doc_path: Option<&str>,
    body: &Bytes,
) -> Response {
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
            let replaced = match doc_path {
                Some(at) if shared.more_documents(&service).iter().any(|(p, _)| p == at) => {
                    shared.set_more_document(&service, at, body.to_vec())
                }
                Some(at)
                    if shared.document(&service).is_some()
                        && shared.primary_paths.get(&service).map(String::as_str) != Some(at) =>
                {
                    return control_error(
                        StatusCode::NOT_FOUND,
                        &format!("service '{service}' serves no document at {at}"),
                    );
                }
                _ => shared.set_document(&service, body.to_vec()),
            };
            if replaced {
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
            "unknown sandbox control endpoint; see GET /_sandbox/requests, GET|POST /_sandbox/faults, PUT /_sandbox/services/{service}/spec[?path=PATH], GET /_sandbox/apim",
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
