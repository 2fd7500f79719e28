//! Named values (`namedValues/{id}`): the service-wide key/value pairs policies reference as
//! `{{displayName}}`.
//!
//! Sources: `apimnamedvalues.json` (2024-05-01) — PUT is long-running (`Location` +
//! `Azure-AsyncOperation`, final state via `Location`), answered 201/200 with
//! `provisioningState: InProgress` as example ApiManagementCreateNamedValue shows; PATCH and
//! DELETE require `If-Match`; GET's 200 is "The response body contains the specified named value
//! entity. No secrets included", and a secret's value is read with `POST .../listValue`.
//! definitions.json, NamedValueCreateContractProperties: `displayName` is required, at most 256
//! characters, "may contain only letters, digits, period, dash, and underscore characters";
//! `value` is required, at most 4096 characters, "may not be empty or consist only of
//! whitespace". Policies name a value by its display name (Learn, "Use named values in Azure API
//! Management policies").

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::errors::{not_found, precondition_failed, validation};
use super::lro::{new_async_id, resource_lro_headers};
use super::paging::page;
use super::resource::{
    delete_precondition, get_answer, if_match_required, put_precondition, read_properties,
};
use super::state::{AsyncOp, Entity, OpState, etag_matches, etag_str};
use super::util::{now_millis, rfc3339_millis};
use super::{Ctx, Req, json_response};

const KEPT: &[&str] = &["displayName", "value", "tags", "secret", "keyVault"];

pub fn contract(req: &Req, id: &str, e: &Entity, provisioning: Option<&str>) -> Value {
    let mut p = Map::new();
    p.insert(
        "displayName".into(),
        e.props.get("displayName").cloned().unwrap_or(json!(id)),
    );
    let secret = e
        .props
        .get("secret")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !secret && let Some(v) = e.props.get("value") {
        p.insert("value".into(), v.clone());
    }
    p.insert(
        "tags".into(),
        e.props.get("tags").cloned().unwrap_or(json!([])),
    );
    p.insert("secret".into(), json!(secret));
    if let Some(kv) = e.props.get("keyVault") {
        p.insert("keyVault".into(), kv.clone());
    }
    if let Some(s) = provisioning {
        p.insert("provisioningState".into(), json!(s));
    }
    json!({
        "id": format!("{}/namedValues/{id}", req.service_id),
        "type": "Microsoft.ApiManagement/service/namedValues",
        "name": id,
        "properties": p,
    })
}

/// The named value policies reach as `{{name}}`: by display name.
pub fn by_display_name<'a>(
    values: impl IntoIterator<Item = &'a Entity>,
    name: &str,
) -> Option<&'a Entity> {
    values
        .into_iter()
        .find(|e| e.props.get("displayName").and_then(Value::as_str) == Some(name))
}

pub fn list(ctx: &Ctx, req: &Req) -> Response {
    let apim = ctx.lock();
    let items = apim
        .named_values
        .iter()
        .map(|(id, e)| contract(req, id, e, None))
        .collect();
    page(req, items, "/namedValues")
}

pub fn get(ctx: &Ctx, req: &Req, id: &str) -> Response {
    let apim = ctx.lock();
    get_answer(req, apim.named_values.get(id), "NamedValue", |e| {
        contract(req, id, e, None)
    })
}

/// `POST .../namedValues/{id}/listValue`: the value, secret or not.
pub fn list_value(ctx: &Ctx, id: &str) -> Response {
    let apim = ctx.lock();
    match apim.named_values.get(id) {
        Some(e) => json_response(
            StatusCode::OK,
            json!({"value": e.props.get("value").cloned().unwrap_or(Value::Null)}),
            &[("etag", etag_str(e.etag))],
        ),
        None => not_found("NamedValue"),
    }
}

fn check(id: &str, props: &Map<String, Value>) -> Result<(), Response> {
    let ok_name = |s: &str| {
        !s.is_empty()
            && s.len() <= 256
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    };
    // NamedValueIdParameter: `^[^*#&+:<>?]+$`, at most 256.
    if id.is_empty() || id.len() > 256 || id.contains(['*', '#', '&', '+', ':', '<', '>', '?']) {
        return Err(validation(
            "namedValueId",
            &format!(
                "'{id}' is not a valid named value identifier: at most 256 characters, none of * # & + : < > ?."
            ),
        ));
    }
    match props.get("displayName") {
        Some(Value::String(d)) if ok_name(d) => {}
        Some(Value::String(d)) => {
            return Err(validation(
                "displayName",
                &format!(
                    "Display name '{d}' is invalid: it may contain only letters, digits, period, dash, and underscore characters, at most 256."
                ),
            ));
        }
        _ => return Err(validation("displayName", "'displayName' is required.")),
    }
    if props.contains_key("keyVault") {
        return Ok(());
    }
    match props.get("value") {
        Some(Value::String(v)) if v.trim().is_empty() => Err(validation(
            "value",
            "The value may not be empty or consist only of whitespace.",
        )),
        Some(Value::String(v)) if v.chars().count() > 4096 => Err(validation(
            "value",
            "The value is longer than 4096 characters.",
        )),
        Some(Value::String(_)) => Ok(()),
        _ => Err(validation("value", "'value' is required.")),
    }
}

pub fn put(ctx: &Ctx, req: &Req, id: &str) -> Response {
    let sent = match read_properties(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = check(id, &sent) {
        return r;
    }
    let mut apim = ctx.lock();
    let existing = apim.named_values.get(id).map(|e| e.etag);
    if let Err(r) = put_precondition(req, existing) {
        return r;
    }
    let display = sent
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some((other, _)) = apim.named_values.iter().find(|(k, e)| {
        k.as_str() != id && e.props.get("displayName").and_then(Value::as_str) == Some(display)
    }) {
        return validation(
            "displayName",
            &format!(
                "Named value '{other}' already has display name '{display}'; display names are unique, as policies reference named values by them."
            ),
        );
    }
    let etag = apim.next_etag();
    let props: Map<String, Value> = sent
        .into_iter()
        .filter(|(k, _)| KEPT.contains(&k.as_str()))
        .collect();
    let entity = Entity { props, etag };
    apim.named_values.insert(id.to_string(), entity.clone());
    let code: u16 = if existing.is_some() { 200 } else { 201 };
    let async_id = new_async_id();
    let now = rfc3339_millis(now_millis());
    apim.ops.insert(
        async_id.clone(),
        AsyncOp {
            api: format!("namedValues/{id}"),
            rev: None,
            polls: 0,
            code,
            delete: false,
            state: OpState::Succeeded,
            orphaned: false,
            started: now.clone(),
            ended: Some(now),
        },
    );
    let mut headers = resource_lro_headers(
        req,
        &format!("namedValues/{id}"),
        &async_id,
        code,
        ctx.shared.retry_after,
    );
    headers.push(("etag", etag_str(etag)));
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        contract(req, id, &entity, Some("InProgress")),
        &headers,
    )
}

pub fn patch(ctx: &Ctx, req: &Req, id: &str) -> Response {
    let sent = match read_properties(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(m) = req.if_match() else {
        return if_match_required();
    };
    let mut apim = ctx.lock();
    let Some(e) = apim.named_values.get(id) else {
        return not_found("NamedValue");
    };
    if !etag_matches(&m, e.etag) {
        return precondition_failed();
    }
    let mut props = e.props.clone();
    props.extend(sent.into_iter().filter(|(k, _)| KEPT.contains(&k.as_str())));
    if let Err(r) = check(id, &props) {
        return r;
    }
    let etag = apim.next_etag();
    let entity = Entity { props, etag };
    apim.named_values.insert(id.to_string(), entity.clone());
    json_response(
        StatusCode::OK,
        contract(req, id, &entity, None),
        &[("etag", etag_str(etag))],
    )
}

pub fn delete(ctx: &Ctx, req: &Req, id: &str) -> Response {
    let mut apim = ctx.lock();
    if let Err(r) = delete_precondition(req, apim.named_values.get(id).map(|e| e.etag)) {
        return r;
    }
    apim.named_values.remove(id);
    StatusCode::OK.into_response()
}
