//! An API revision's operations: list and get, as the import derived them.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::errors::not_found;
use super::import::Operation;
use super::paging::page_of;
use super::state::{ApiRef, etag_str, find};
use super::{Ctx, Req, json_response};

pub fn operation_contract(req: &Req, addressed: &str, op: &Operation) -> Value {
    json!({
        "id": format!("{}/apis/{addressed}/operations/{}", req.service_id, op.name),
        "type": "Microsoft.ApiManagement/service/apis/operations",
        "name": op.name,
        "properties": op.properties(),
    })
}

pub fn list_operations(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let apim = ctx.lock();
    let Some((_, r)) = find(&apim, api) else {
        return not_found("Api");
    };
    let addressed = api.addressed();
    page_of(
        req,
        &r.operations,
        |o| operation_contract(req, &addressed, o),
        &format!("/apis/{addressed}/operations"),
    )
}

pub fn get_operation(ctx: &Ctx, req: &Req, api: &ApiRef, op: &str) -> Response {
    let apim = ctx.lock();
    let Some((_, r)) = find(&apim, api) else {
        return not_found("Api");
    };
    match r
        .operations
        .iter()
        .find(|o| o.name.eq_ignore_ascii_case(op))
    {
        Some(o) => json_response(
            StatusCode::OK,
            operation_contract(req, &api.addressed(), o),
            &[("etag", etag_str(r.etag))],
        ),
        None => not_found("Operation"),
    }
}
