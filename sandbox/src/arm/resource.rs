//! The shape APIM's entity resources share: a PUT or PATCH body's `properties`, PUT's optional
//! `If-Match`, DELETE's required one, GET/HEAD with the entity's ETag, and PUT's 201 or 200.
//!
//! Sources: Microsoft.ApiManagement 2024-05-01 (`apimapis.json`, `apimbackends.json`,
//! `apimapiversionsets.json`, `apimnamedvalues.json`, `apimpolicies.json`,
//! `apimreleases.json`): each `CreateOrUpdate` takes an optional `IfMatchOptionalParameter`
//! ("Not required when creating an entity, but required when updating an entity") and answers
//! 201 for a new entity and 200 for an updated one, with an `ETag` header; each `Delete` takes
//! `IfMatchRequiredParameter` and answers 200, or 204 when there was nothing to delete; `Get`
//! and `GetEntityTag` (HEAD) answer 200 with the `ETag` header.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::errors::{not_found, precondition_failed, validation};
use super::state::{Entity, etag_matches, etag_str};
use super::{Req, add_headers, json_response};

/// The `properties` object of a JSON request body.
pub fn sent_properties(body: &Value) -> Result<Map<String, Value>, Response> {
    match body.get("properties") {
        Some(Value::Object(p)) => Ok(p.clone()),
        _ => Err(validation(
            "properties",
            "The request body must contain 'properties'.",
        )),
    }
}

/// The request's JSON body, read for its `properties`.
pub fn read_properties(req: &Req) -> Result<Map<String, Value>, Response> {
    sent_properties(&req.json_body()?)
}

/// PUT's optional `If-Match`: when sent, it must match the entity's ETag, or be `*` when there
/// is no entity yet.
pub fn put_precondition(req: &Req, existing: Option<u64>) -> Result<(), Response> {
    let Some(m) = req.if_match() else {
        return Ok(());
    };
    let ok = match existing {
        Some(e) => etag_matches(&m, e),
        None => m.trim() == "*",
    };
    if ok {
        Ok(())
    } else {
        Err(precondition_failed())
    }
}

/// PUT's answer: 200 when the entity existed, 201 when it is new, with its ETag.
pub fn put_answer(existed: bool, body: Value, etag: u64) -> Response {
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    json_response(status, body, &[("etag", etag_str(etag))])
}

/// GET's and HEAD's answer for a service-level entity: its contract (GET) or only its ETag
/// (HEAD), or a 404 naming `kind`.
pub fn get_answer(
    req: &Req,
    entity: Option<&Entity>,
    kind: &str,
    contract: impl FnOnce(&Entity) -> Value,
) -> Response {
    match entity {
        Some(e) if req.method == Method::HEAD => {
            let mut r = StatusCode::OK.into_response();
            add_headers(&mut r, &[("etag", etag_str(e.etag))]);
            r
        }
        Some(e) => json_response(StatusCode::OK, contract(e), &[("etag", etag_str(e.etag))]),
        None => not_found(kind),
    }
}

/// DELETE's preconditions, in APIM's order: `If-Match` is required, then a missing entity
/// answers 204 and a stale ETag 412. `Ok` means the caller deletes and answers 200.
pub fn delete_precondition(req: &Req, existing: Option<u64>) -> Result<(), Response> {
    let Some(m) = req.if_match() else {
        return Err(if_match_required());
    };
    match existing {
        None => Err(StatusCode::NO_CONTENT.into_response()),
        Some(e) if !etag_matches(&m, e) => Err(precondition_failed()),
        Some(_) => Ok(()),
    }
}

/// The spec's `IfMatchRequiredParameter` on PATCH and DELETE.
pub fn if_match_required() -> Response {
    validation(
        "If-Match",
        "The If-Match header is required: send the entity's ETag, or '*' to match any.",
    )
}
