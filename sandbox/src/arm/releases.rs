//! API releases: creating one makes the named revision current; the previous current one stays as
//! a revision.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::{in_progress, not_found, precondition_failed, validation};
use super::paging::page;
use super::resource::{put_answer, put_precondition, read_properties};
use super::state::{ApiRef, Release, etag_matches, etag_str, find};
use super::util::{now_millis, rfc3339_millis};
use super::{Ctx, Req, json_response};

pub fn release_contract(req: &Req, api: &str, id: &str, r: &Release) -> Value {
    let mut props = json!({
        "apiId": r.api_id,
        "createdDateTime": r.created,
        "updatedDateTime": r.updated,
    });
    if let Some(n) = &r.notes {
        props["notes"] = json!(n);
    }
    json!({
        "id": format!("{}/apis/{api}/releases/{id}", req.service_id),
        "type": "Microsoft.ApiManagement/service/apis/releases",
        "name": id,
        "properties": props,
    })
}

pub fn list_releases(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let apim = ctx.lock();
    let Some(a) = apim.visible(&api.name) else {
        return not_found("Api");
    };
    let items = a
        .releases
        .iter()
        .map(|(id, r)| release_contract(req, &a.name, id, r))
        .collect();
    page(req, items, &format!("/apis/{}/releases", a.name))
}

pub fn get_release(ctx: &Ctx, req: &Req, api: &ApiRef, rid: &str) -> Response {
    let apim = ctx.lock();
    let Some(a) = apim.visible(&api.name) else {
        return not_found("Api");
    };
    match a.releases.get(rid) {
        Some(r) => json_response(
            StatusCode::OK,
            release_contract(req, &a.name, rid, r),
            &[("etag", etag_str(r.etag))],
        ),
        None => not_found("Release"),
    }
}

/// Releasing makes the named revision current; the previous current one stays as a revision.
pub fn put_release(ctx: &Ctx, req: &Req, api: &ApiRef, rid: &str) -> Response {
    let sent = match read_properties(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let target = match sent.get("apiId").and_then(Value::as_str) {
        Some(id) => match ApiRef::from_resource_id(id, &req.service_id) {
            Some(t) => t,
            None => {
                return validation(
                    "apiId",
                    &format!(
                        "'{id}' is not the resource id of an API of this service ('{}/apis/{{apiId}};rev=N', names spelled as they are, not percent-encoded).",
                        req.service_id
                    ),
                );
            }
        },
        None => match api.rev {
            Some(_) => ApiRef {
                name: api.name.clone(),
                rev: api.rev,
            },
            None => return validation("apiId", "'apiId' is required."),
        },
    };
    if !target.name.eq_ignore_ascii_case(&api.name) {
        return validation(
            "apiId",
            &format!(
                "The release's apiId names API '{}', not '{}'.",
                target.name, api.name
            ),
        );
    }
    let mut apim = ctx.lock();
    if apim.apis.get(&api.name).is_some_and(|a| a.busy.is_some()) {
        return in_progress();
    }
    let Some((a, _)) = find(&apim, &target) else {
        return not_found("Api revision");
    };
    let n = target.rev.unwrap_or(a.current);
    let existing_etag = a.releases.get(rid).map(|r| r.etag);
    if let Err(r) = put_precondition(req, existing_etag) {
        return r;
    }
    let etag = apim.next_etag();
    let rev_etag = apim.next_etag();
    let now = rfc3339_millis(now_millis());
    let Some(a) = apim.apis.get_mut(&api.name) else {
        return not_found("Api");
    };
    let old = a.current;
    a.current = n;
    for num in [old, n] {
        if let Some(r) = a.revisions.get_mut(&num) {
            r.etag = rev_etag;
            r.updated = now.clone();
        }
    }
    let created = !a.releases.contains_key(rid);
    let api_id = format!("{}/apis/{}", req.service_id, target.addressed());
    let release = a.releases.entry(rid.to_string()).or_insert(Release {
        api_id: api_id.clone(),
        notes: None,
        created: now.clone(),
        updated: now.clone(),
        etag,
    });
    release.api_id = api_id;
    release.notes = sent
        .get("notes")
        .and_then(Value::as_str)
        .map(str::to_string);
    release.updated = now;
    release.etag = etag;
    let body = release_contract(req, &a.name, rid, release);
    // The release is applied, but the answer is lost: ARM gives up waiting on the resource
    // provider and answers 504 GatewayTimeout ("The gateway did not receive a response from
    // 'Microsoft.ApiManagement' within the specified time period", Learn, "Troubleshoot common
    // Azure deployment errors"), while APIM completes the write. A client that then rolls back
    // meets "Cannot delete the current revision" (Azure/apiops-cli#260). Fault `arm-release-lost`.
    if ctx.shared.faults.take("arm-release-lost") {
        return super::arm_error(
            StatusCode::GATEWAY_TIMEOUT,
            "GatewayTimeout",
            "The gateway did not receive a response from 'Microsoft.ApiManagement' within the specified time period.",
            None,
        );
    }
    put_answer(!created, body, etag)
}

pub fn delete_release(ctx: &Ctx, req: &Req, api: &ApiRef, rid: &str) -> Response {
    let mut apim = ctx.lock();
    let Some(a) = apim.apis.get_mut(&api.name).filter(|a| !a.pending) else {
        return not_found("Api");
    };
    if let (Some(m), Some(r)) = (req.if_match(), a.releases.get(rid))
        && !etag_matches(&m, r.etag)
    {
        return precondition_failed();
    }
    match a.releases.remove(rid) {
        Some(_) => StatusCode::OK.into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}
