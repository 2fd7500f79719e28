//! Long-running operations: the `Location` (`.../apis/{apiId}?asyncId=…`) and
//! `Azure-AsyncOperation` (`.../tenant/operationResults/{id}`) pollers, and completing an import
//! once it has been polled enough. A failed import is visible only on its poll.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::apis::{apply_props, contract, get_api};
use super::errors::not_found;
use super::state::{ApiRef, Apim, OpState, etag_str, find};
use super::util::{encode_path, now_millis, rfc3339_millis};
use super::{API_VERSION, Ctx, Req, add_headers, json_response};

/// The headers of every answer that leaves an operation running (the PUT's 200/201, DELETE's 202,
/// a `Location` poll's 202): where to poll, both ways, and `Retry-After`, the seconds to wait
/// before the next poll, as ARM's asynchronous operations carry it (Learn, "Track asynchronous
/// Azure operations"; Azure/azure-resource-manager-rpc, async-api-reference.md, "202 Accepted and
/// Location Headers"). `Config::retry_after` sets it; a poller that ignores it polls too fast.
pub fn lro_headers(
    req: &Req,
    addressed: &str,
    id: &str,
    code: u16,
    retry: u64,
) -> Vec<(&'static str, String)> {
    resource_lro_headers(req, &format!("apis/{addressed}"), id, code, retry)
}

/// [`lro_headers`] for any resource of the service (`namedValues/{id}`, as the spec's example
/// ApiManagementCreateNamedValue answers).
pub fn resource_lro_headers(
    req: &Req,
    resource: &str,
    id: &str,
    code: u16,
    retry: u64,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "location",
            format!(
                "{}{}?api-version={API_VERSION}&asyncId={id}&asyncCode={code}",
                req.arm_url,
                encode_path(&format!("{}/{resource}", req.service_id))
            ),
        ),
        (
            "azure-asyncoperation",
            format!(
                "{}{}/tenant/operationResults/{id}?api-version={API_VERSION}",
                req.arm_url,
                encode_path(&req.service_id)
            ),
        ),
        ("retry-after", retry.to_string()),
    ]
}

pub fn new_async_id() -> String {
    crate::tokens::random_hex(12)
}

/// Counts one poll of `id` and completes the operation once it has been polled enough.
pub fn advance(ctx: &Ctx, apim: &mut Apim, id: &str) {
    let lro_polls = ctx.shared.lro_polls.max(1);
    let Some(op) = apim.ops.get_mut(id) else {
        return;
    };
    op.polls += 1;
    if op.polls < lro_polls || !matches!(op.state, OpState::Running(_)) {
        return;
    }
    let now = rfc3339_millis(now_millis());
    let state = std::mem::replace(&mut op.state, OpState::Succeeded);
    op.ended = Some(now.clone());
    let (api_name, rev_n) = (op.api.clone(), op.rev);
    let OpState::Running(pending) = state else {
        return;
    };
    let etag = apim.next_etag();
    match pending.result {
        Ok(parsed) => {
            if let Some(a) = apim.apis.get_mut(&api_name) {
                a.busy = None;
                a.pending = false;
                let n = rev_n.unwrap_or(a.current);
                if let Some(rev) = a.revisions.get_mut(&n) {
                    apply_props(rev, &parsed, &pending.sent);
                    rev.pending = false;
                    rev.updated = now;
                    rev.etag = etag;
                }
            }
        }
        Err(error) => {
            let mut remove_api = false;
            if let Some(a) = apim.apis.get_mut(&api_name) {
                a.busy = None;
                if a.pending {
                    remove_api = true;
                } else if let Some(n) = rev_n
                    && a.revisions.get(&n).is_some_and(|r| r.pending)
                {
                    a.revisions.remove(&n);
                }
            }
            if remove_api {
                apim.apis.remove(&api_name);
            }
            if let Some(op) = apim.ops.get_mut(id) {
                op.state = OpState::Failed(error);
            }
        }
    }
}

/// `GET .../apis/{apiId}?asyncId=…`: the import's own outcome, unlike a plain GET.
pub fn poll_location(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let id = req.q("asyncId").unwrap_or("").to_string();
    let mut apim = ctx.lock();
    if !apim.ops.contains_key(&id) {
        drop(apim);
        return get_api(ctx, req, api);
    }
    advance(ctx, &mut apim, &id);
    let Some(op) = apim.ops.get(&id) else {
        return not_found("Operation");
    };
    let retry = ctx.shared.retry_after;
    match &op.state {
        OpState::Running(_) => {
            let mut r = StatusCode::ACCEPTED.into_response();
            add_headers(
                &mut r,
                &lro_headers(req, &api.addressed(), &id, op.code, retry),
            );
            r
        }
        OpState::Failed(error) => json_response(StatusCode::BAD_REQUEST, error.clone(), &[]),
        OpState::Succeeded if op.delete => StatusCode::NO_CONTENT.into_response(),
        OpState::Succeeded => {
            // Done is 200, whatever the PUT answered (201 for a new API): Terraform's APIM
            // poller treats a poll's 201 as still in progress and only 200 as done
            // (terraform-provider-azurerm, internal/services/apimanagement/custompollers/
            // api_management_api_poller.go), and works against real APIM.
            let status = StatusCode::OK;
            let shown = ApiRef {
                name: api.name.clone(),
                rev: api.rev,
            };
            match find(&apim, &shown) {
                Some((a, r)) => json_response(
                    status,
                    contract(req, &api.addressed(), a, r, None),
                    &[("etag", etag_str(r.etag))],
                ),
                None => not_found("Api"),
            }
        }
    }
}

/// `GET .../tenant/operationResults/{id}`: ARM's standard async-operation status.
pub fn poll_async_operation(ctx: &Ctx, req: &Req, id: &str) -> Response {
    let mut apim = ctx.lock();
    if !apim.ops.contains_key(id) {
        return not_found("Operation");
    }
    advance(ctx, &mut apim, id);
    let Some(op) = apim.ops.get(id) else {
        return not_found("Operation");
    };
    let mut body = json!({
        "id": format!("{}/tenant/operationResults/{id}", req.service_id),
        "name": id,
        "startTime": op.started,
    });
    let mut headers = Vec::new();
    match &op.state {
        OpState::Running(_) => {
            body["status"] = json!("InProgress");
            headers.push(("retry-after", ctx.shared.retry_after.to_string()));
        }
        OpState::Succeeded => body["status"] = json!("Succeeded"),
        OpState::Failed(e) => {
            body["status"] = json!("Failed");
            body["error"] = e.get("error").cloned().unwrap_or(Value::Null);
        }
    }
    if let Some(end) = &op.ended {
        body["endTime"] = json!(end);
    }
    json_response(StatusCode::OK, body, &headers)
}

/// Moves on imports whose client was told they failed (fault `arm-import-422`): each request
/// that touches the API counts as one poll, so the import completes as real APIM's does, in the
/// background, while writes meanwhile meet 409 PessimisticConcurrencyConflict.
pub fn settle_orphans(ctx: &Ctx, api_name: &str) {
    let mut apim = ctx.lock();
    let ids: Vec<String> = apim
        .ops
        .iter()
        .filter(|(_, op)| {
            op.orphaned
                && op.api.eq_ignore_ascii_case(api_name)
                && matches!(op.state, OpState::Running(_))
        })
        .map(|(id, _)| id.clone())
        .collect();
    for id in ids {
        advance(ctx, &mut apim, &id);
    }
}
