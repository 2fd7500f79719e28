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
        (m, p) if p.starts_with("/_sandbox/nodes/") => {
            let name = percent_decode(p.trim_start_matches("/_sandbox/nodes/"), false);
            nodes(shared, m, &name, body)
        }
        ("PUT", p) if p.starts_with("/_sandbox/services/") && p.ends_with("/nodeport") => {
            let service = percent_decode(
                p.trim_start_matches("/_sandbox/services/")
                    .trim_end_matches("/nodeport"),
                false,
            );
            node_port(shared, &service, body)
        }
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
            "unknown sandbox control endpoint; see GET /_sandbox/requests, GET|POST /_sandbox/faults, PUT /_sandbox/services/{service}/spec[?path=PATH], PUT /_sandbox/services/{service}/nodeport, PUT|DELETE /_sandbox/nodes/{name}, GET /_sandbox/apim",
        ),
    }
}

/// `PUT /_sandbox/nodes/{name}` (`{"internalIP", "ready", "unschedulable", "taints"}`) adds or
/// changes a node; `DELETE` removes it, moving its pods as a drain does (see
/// [`crate::cluster::ClusterHandle::delete_node`]).
fn nodes(shared: &crate::Shared, method: &str, name: &str, body: &Bytes) -> Response {
    let Some(cluster) = shared.cluster() else {
        return control_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is not running",
        );
    };
    if name.is_empty() || name.contains('/') {
        return control_error(StatusCode::NOT_FOUND, "name a node: /_sandbox/nodes/{name}");
    }
    match method {
        "PUT" => {
            let change: crate::cluster::NodeChange = match serde_json::from_slice(body) {
                Ok(c) => c,
                Err(e) => {
                    return control_error(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "the body must be {{\"internalIP\", \"ready\", \"unschedulable\", \"taints\": [{{\"key\", \"value\", \"effect\"}}]}}: {e}"
                        ),
                    );
                }
            };
            match cluster.put_node(name, change) {
                Ok(true) => StatusCode::CREATED.into_response(),
                Ok(false) => StatusCode::OK.into_response(),
                Err(e) => control_error(StatusCode::BAD_REQUEST, &e),
            }
        }
        "DELETE" => match cluster.delete_node(name) {
            Ok(Some(moved)) => axum::Json(json!({ "moved": moved })).into_response(),
            Ok(None) => control_error(StatusCode::NOT_FOUND, &format!("no node '{name}'")),
            Err(e) => control_error(StatusCode::BAD_REQUEST, &e),
        },
        _ => control_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "PUT or DELETE /_sandbox/nodes/{name}",
        ),
    }
}

/// `PUT /_sandbox/services/{svc}/nodeport` with `{"nodePort": N}` (and `"port"`, the Service
/// port's name or number, when it has several); answers `{"previous": N}`.
fn node_port(shared: &crate::Shared, service: &str, body: &Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Change {
        node_port: u16,
        port: Option<Value>,
    }
    let Some(cluster) = shared.cluster() else {
        return control_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is not running",
        );
    };
    let change: Change = match serde_json::from_slice(body) {
        Ok(c) => c,
        Err(e) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                &format!("the body must be {{\"nodePort\": N, \"port\": NAME_OR_NUMBER}}: {e}"),
            );
        }
    };
    let port = change.port.map(|p| match p {
        Value::String(s) => s,
        other => other.to_string(),
    });
    match cluster.set_node_port(service, port.as_deref(), change.node_port) {
        Ok(Some(previous)) => axum::Json(json!({ "previous": previous })).into_response(),
        Ok(None) => control_error(
            StatusCode::NOT_FOUND,
            &format!("no service '{service}' in the sandbox"),
        ),
        Err(e) => control_error(StatusCode::UNPROCESSABLE_ENTITY, &e),
    }
}

fn control_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": "SandboxControl", "message": message}})),
    )
        .into_response()
}
