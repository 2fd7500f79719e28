//! APIs and their revisions as entities: the ApiContract, reads and lists, `PUT` (plain create or
//! update, a new revision from `sourceApiId` or the current one, and imports), `PATCH` and
//! `DELETE`.
//!
//! An import is accepted at once (201 create / 200 update with `provisioningState: InProgress`)
//! and applied only when polled to completion (see [`super::lro`]), so a plain GET shows the old
//! state meanwhile; other writes to an API with a running import answer 409; every read and write
//! carries an ETag that changes with the entity, and If-Match is honoured.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::errors::{
    in_progress, management_api_request_failed, not_found, precondition_failed, validation,
};
use super::import::{self, Format, ParsedApi};
use super::lro::{lro_headers, new_async_id};
use super::paging::page;
use super::resource::{put_precondition, read_properties};
use super::state::{
    Api, ApiRef, Apim, AsyncOp, OpState, PendingImport, Revision, etag_matches, etag_str, find,
};
use super::util::{now_millis, rfc3339_millis};
use super::{
    Ctx, Req, add_headers, export, json_response, revisions, validation_error, version_sets,
};

/// The version set an API (its current revision) is in.
fn set_of(service_id: &str, api: &Api) -> Option<String> {
    let full = api
        .revisions
        .get(&api.current)?
        .props
        .get("apiVersionSetId")?
        .as_str()?;
    version_sets::set_name(service_id, full).map(str::to_string)
}

/// Records the version set an API's contract shows (`apiVersionSet`), or that it has none.
fn set_version_set(rev: &mut Revision, shown: Option<Value>) {
    match shown {
        Some(v) => rev.props.insert("apiVersionSet".into(), v),
        None => rev.props.remove("apiVersionSet"),
    };
}

/// Contract properties a PUT or PATCH may set and APIM keeps.
pub const WRITABLE: &[&str] = &[
    "displayName",
    "description",
    "serviceUrl",
    "path",
    "protocols",
    "subscriptionRequired",
    "apiRevisionDescription",
    "authenticationSettings",
    "subscriptionKeyParameterNames",
    "type",
    "apiVersion",
    "apiVersionDescription",
    "apiVersionSetId",
    "termsOfServiceUrl",
    "contact",
    "license",
];

/// ApiContract for one revision, named as it was addressed.
pub fn contract(
    req: &Req,
    addressed: &str,
    api: &Api,
    rev: &Revision,
    provisioning: Option<&str>,
) -> Value {
    let mut p = Map::new();
    let get = |k: &str| rev.props.get(k).cloned();
    p.insert(
        "displayName".into(),
        get("displayName").unwrap_or(json!(api.name)),
    );
    p.insert("apiRevision".into(), json!(rev.number.to_string()));
    if let Some(d) = get("description").filter(|d| d.as_str() != Some("")) {
        p.insert("description".into(), d);
    }
    p.insert(
        "subscriptionRequired".into(),
        get("subscriptionRequired").unwrap_or(json!(true)),
    );
    if let Some(u) = get("serviceUrl").filter(|u| !u.is_null() && u.as_str() != Some("")) {
        p.insert("serviceUrl".into(), u);
    }
    p.insert("path".into(), get("path").unwrap_or(json!("")));
    p.insert(
        "protocols".into(),
        get("protocols").unwrap_or(json!(["https"])),
    );
    if let Some(Value::Object(mut auth)) = get("authenticationSettings") {
        // APIM answers with the list form too, whichever form was sent.
        if let Some(o) = auth.get("oAuth2").cloned()
            && !auth.contains_key("oAuth2AuthenticationSettings")
        {
            auth.insert("oAuth2AuthenticationSettings".into(), json!([o]));
        }
        if let Some(o) = auth.get("openid").cloned()
            && !auth.contains_key("openidAuthenticationSettings")
        {
            auth.insert("openidAuthenticationSettings".into(), json!([o]));
        }
        p.insert("authenticationSettings".into(), Value::Object(auth));
    }
    p.insert(
        "subscriptionKeyParameterNames".into(),
        get("subscriptionKeyParameterNames").unwrap_or(json!({
            "header": "Ocp-Apim-Subscription-Key",
            "query": "subscription-key"
        })),
    );
    for k in [
        "type",
        "apiVersion",
        "apiVersionDescription",
        "apiVersionSetId",
        "apiVersionSet",
        "termsOfServiceUrl",
        "contact",
        "license",
    ] {
        if let Some(v) = get(k) {
            p.insert(k.into(), v);
        }
    }
    if let Some(d) = get("apiRevisionDescription") {
        p.insert("apiRevisionDescription".into(), d);
    }
    p.insert("isCurrent".into(), json!(rev.number == api.current));
    p.insert("isOnline".into(), json!(true));
    if let Some(s) = provisioning {
        p.insert("provisioningState".into(), json!(s));
    }
    json!({
        "id": format!("{}/apis/{addressed}", req.service_id),
        "type": "Microsoft.ApiManagement/service/apis",
        "name": addressed,
        "properties": p,
    })
}

pub fn get_api(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let apim = ctx.lock();
    match find(&apim, api) {
        Some((a, r)) => json_response(
            StatusCode::OK,
            contract(req, &api.addressed(), a, r, None),
            &[("etag", etag_str(r.etag))],
        ),
        None => not_found("Api"),
    }
}

pub fn list_apis(ctx: &Ctx, req: &Req) -> Response {
    let apim = ctx.lock();
    let items: Vec<Value> = apim
        .apis
        .values()
        .filter(|a| !a.pending)
        .filter_map(|a| {
            a.revisions
                .get(&a.current)
                .map(|r| contract(req, &a.name, a, r, None))
        })
        .collect();
    page(req, items, "/apis")
}

pub fn writable(props: &Map<String, Value>) -> Map<String, Value> {
    props
        .iter()
        .filter(|(k, _)| WRITABLE.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn put_api(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let sent = match read_properties(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let format = sent.get("format").and_then(Value::as_str);
    let value = sent.get("value").and_then(Value::as_str);
    let import_format = match format {
        None => None,
        Some(f) => match Format::parse(f) {
            Some(fm) => Some(fm),
            None => {
                return validation(
                    "format",
                    &format!(
                        "Format '{f}' is not supported by apim-sandbox; use swagger-json, openapi+json, openapi, or a -link format."
                    ),
                );
            }
        },
    };
    if import_format.is_some() && value.is_none() {
        return validation("value", "'value' is required when 'format' is specified.");
    }
    if let (Some(fm), Some(v)) = (import_format, value)
        && !fm.is_link()
        && v.len() > import::MAX_DOCUMENT_BYTES
    {
        return validation(
            "value",
            "The API definition is larger than the 4 MB limit for inline imports. Import it from a link instead.",
        );
    }
    let now = rfc3339_millis(now_millis());
    let retry = ctx.shared.retry_after;
    let mut apim = ctx.lock();

    // State checks, in APIM's order: busy, then preconditions.
    let existing = apim.apis.get(&api.name);
    if existing.is_some_and(|a| a.busy.is_some()) {
        return in_progress();
    }
    let existing = existing.filter(|a| !a.pending);
    let target_rev = existing.and_then(|a| {
        let n = api.rev.unwrap_or(a.current);
        a.revisions.get(&n).map(|r| (n, r.etag))
    });
    if let Err(r) = put_precondition(req, target_rev.map(|(_, etag)| etag)) {
        return r;
    }
    let source = match sent.get("sourceApiId").and_then(Value::as_str) {
        None => None,
        Some(s) => match ApiRef::from_resource_id(s, &req.service_id)
            .as_ref()
            .and_then(|r| find(&apim, r).map(|(_, rev)| rev.clone()))
        {
            Some(rev) => Some(rev),
            None => return not_found("Source Api"),
        },
    };

    // Where the write lands: an existing revision, a new revision, or a new API.
    let (creating_api, creating_rev) = match (existing, target_rev) {
        (Some(_), Some(_)) => (false, false),
        (Some(_), None) => (false, true),
        (None, _) => {
            if api.rev.is_some_and(|n| n != 1) && source.is_none() {
                return not_found("Api");
            }
            (true, false)
        }
    };
    // The API as it will be, checked against its version set (if any).
    let mut effective = match (&source, existing) {
        (Some(src), _) if creating_api || creating_rev => src.props.clone(),
        (_, Some(a)) => a
            .revisions
            .get(&api.rev.unwrap_or(a.current))
            .or_else(|| a.revisions.get(&a.current))
            .map(|r| r.props.clone())
            .unwrap_or_default(),
        _ => Map::new(),
    };
    let is_import = import_format.is_some();
    if is_import {
        leave_set_unless_sent(&mut effective, &sent);
    }
    effective.extend(writable(&sent));
    let version_set = match version_sets::check_api(&apim, &req.service_id, &api.name, &effective) {
        Ok(v) => v,
        Err(r) => return r,
    };
    // A PUT that lands on a revision other than the current one (a new revision always does) may
    // not change the API-wide properties; an import finds out on its poll (see below).
    let non_current: Option<Api> = existing
        .filter(|a| api.rev.is_some_and(|n| n != a.current))
        .cloned();
    if !is_import
        && let Some(a) = &non_current
        && let Some(label) = revisions::locked_change(a, &writable(&sent))
    {
        return revisions::locked_response(label);
    }
    if creating_api && sent.get("path").and_then(Value::as_str).is_none() && source.is_none() {
        return validation("path", "'path' is required.");
    }
    if creating_api
        && !is_import
        && source.is_none()
        && sent.get("displayName").and_then(Value::as_str).is_none()
    {
        return validation("displayName", "'displayName' is required.");
    }
    let rev_number = api.rev.unwrap_or(1);
    let base_rev = |props: Map<String, Value>, etag: u64| Revision {
        number: rev_number,
        props,
        operations: Arc::default(),
        document: None,
        created: now.clone(),
        updated: now.clone(),
        etag,
        pending: false,
        policies: BTreeMap::new(),
    };

    // Parse now so the accepted answer can already show the document's title and description.
    let parsed: Option<Result<ParsedApi, Value>> = match (import_format, value) {
        (Some(fm), Some(v)) => Some(parse_import(ctx, &mut apim, fm, v)),
        _ => None,
    };
    // An import into a non-current revision takes display name and description from the
    // document's info and protocols from its schemes: when they differ from the API's, the
    // import is accepted and fails on its poll (Azure/azure-powershell#9270).
    let parsed = match (parsed, &non_current) {
        (Some(Ok(p)), Some(a)) => {
            let mut wanted = writable(&sent);
            derived_props(&mut wanted, &p);
            match revisions::locked_change(a, &wanted) {
                Some(label) => Some(Err(revisions::locked_error(label))),
                None => Some(Ok(p)),
            }
        }
        (other, _) => other,
    };
    let injected_failure = is_import && ctx.shared.faults.take("lro-fail");

    let etag = apim.next_etag();
    let async_id = new_async_id();
    let code: u16 = if creating_api || creating_rev {
        201
    } else {
        200
    };
    {
        let entry = apim.apis.entry(api.name.clone()).or_insert_with(|| Api {
            name: api.name.clone(),
            revisions: BTreeMap::new(),
            current: rev_number,
            releases: BTreeMap::new(),
            busy: None,
            pending: false,
        });
        if creating_api || creating_rev {
            let mut rev = match &source {
                Some(src) => {
                    let mut r = src.clone();
                    r.number = rev_number;
                    r.created = now.clone();
                    r.updated = now.clone();
                    r.etag = etag;
                    r.props.remove("apiRevisionDescription");
                    r
                }
                None => match entry.revisions.get(&entry.current) {
                    // A new revision without a source starts from the current one.
                    Some(cur) if creating_rev => {
                        let mut r = cur.clone();
                        r.number = rev_number;
                        r.created = now.clone();
                        r.updated = now.clone();
                        r.etag = etag;
                        r.props.remove("apiRevisionDescription");
                        r
                    }
                    _ => base_rev(Map::new(), etag),
                },
            };
            if !is_import {
                rev.props.extend(writable(&sent));
            } else {
                // Until the import completes, the new entity carries only what was sent.
                let mut props = writable(&sent);
                props.remove("serviceUrl");
                rev.props.extend(props);
                rev.pending = creating_rev;
            }
            if let Some(Ok(p)) = &parsed
                && is_import
            {
                rev.props
                    .entry("displayName")
                    .or_insert_with(|| json!(p.title.clone().unwrap_or_else(|| api.name.clone())));
                if let Some(d) = &p.description {
                    rev.props.entry("description").or_insert_with(|| json!(d));
                }
            }
            entry.revisions.insert(rev_number, rev);
            if creating_api {
                entry.current = rev_number;
                entry.pending = is_import;
            }
        } else if !is_import
            && let Some(rev) = entry.revisions.get_mut(&api.rev.unwrap_or(entry.current))
        {
            rev.props.extend(writable(&sent));
            rev.updated = now.clone();
            rev.etag = etag;
        }
    }

    let n = api.rev.unwrap_or_else(|| {
        apim.apis
            .get(&api.name)
            .map(|a| a.current)
            .unwrap_or(rev_number)
    });
    if let Some(rev) = apim
        .apis
        .get_mut(&api.name)
        .and_then(|a| a.revisions.get_mut(&n))
    {
        set_version_set(rev, version_set);
    }
    let state = match parsed {
        Some(result) => {
            let result = if injected_failure {
                Err(validation_error(
                    "representation",
                    "Parsing error(s): The API import failed (injected by the apim-sandbox fault lro-fail).",
                ))
            } else {
                result
            };
            if let Some(a) = apim.apis.get_mut(&api.name) {
                a.busy = Some(async_id.clone());
            }
            OpState::Running(Box::new(PendingImport { result, sent }))
        }
        None => OpState::Succeeded,
    };
    let done = matches!(state, OpState::Succeeded);
    apim.ops.insert(
        async_id.clone(),
        AsyncOp {
            api: api.name.clone(),
            rev: Some(n),
            polls: 0,
            code,
            delete: false,
            state,
            orphaned: false,
            started: now.clone(),
            ended: done.then(|| now.clone()),
        },
    );

    if is_import && ctx.shared.faults.take("arm-import-422") {
        if let Some(op) = apim.ops.get_mut(&async_id) {
            op.orphaned = true;
        }
        return management_api_request_failed();
    }

    // The accepted answer shows what the import will produce, as APIM's does.
    let Some(a) = apim.apis.get(&api.name) else {
        return not_found("Api");
    };
    let Some(rev) = a.revisions.get(&n) else {
        return not_found("Api");
    };
    let mut shown_rev = rev.clone();
    if let Some(OpState::Running(p)) = apim.ops.get(&async_id).map(|o| &o.state)
        && let Ok(parsed) = &p.result
    {
        apply_props(&mut shown_rev, parsed, &p.sent);
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    let mut headers = lro_headers(req, &api.addressed(), &async_id, code, retry);
    headers.push(("etag", etag_str(rev.etag)));
    json_response(
        status,
        contract(req, &api.addressed(), a, &shown_rev, Some("InProgress")),
        &headers,
    )
}

/// Reads an import's document (inline, or from a link the sandbox itself serves) and parses it.
pub fn parse_import(
    ctx: &Ctx,
    apim: &mut Apim,
    format: Format,
    value: &str,
) -> Result<ParsedApi, Value> {
    let (text, link) = if format.is_link() {
        match export::resolve_link(ctx, apim, value) {
            Some(text) => (text, Some(value)),
            None => {
                return Err(validation_error(
                    "value",
                    &format!(
                        "Unable to download the API definition from '{value}'. (apim-sandbox has no network: links must point at its own export links.)"
                    ),
                ));
            }
        }
    } else {
        (value.to_string(), None)
    };
    import::parse(format, &text, link).map_err(|m| validation_error("representation", &m))
}

/// What an import takes from the document unless the request sends it: display name and
/// description from `info`, protocols from a Swagger 2.0 document's `schemes`.
fn derived_props(props: &mut Map<String, Value>, parsed: &ParsedApi) {
    if !props.contains_key("displayName")
        && let Some(t) = &parsed.title
    {
        props.insert("displayName".into(), json!(t));
    }
    if !props.contains_key("description")
        && let Some(d) = &parsed.description
    {
        props.insert("description".into(), json!(d));
    }
    if !props.contains_key("protocols")
        && let Some(p) = &parsed.protocols
    {
        props.insert("protocols".into(), json!(p));
    }
}

/// An import does not carry an API's version over: without `apiVersionSetId` (and
/// `apiVersion`) in its body the API leaves its version set (Azure/apiops#759, an API that lost
/// its version to an import). The strict reading: both go unless sent.
fn leave_set_unless_sent(props: &mut Map<String, Value>, sent: &Map<String, Value>) {
    if !sent.contains_key("apiVersionSetId") {
        props.remove("apiVersionSetId");
        props.remove("apiVersionSet");
    }
    if !sent.contains_key("apiVersion") {
        props.remove("apiVersion");
    }
}

/// Applies what a completed import derives, with the properties sent alongside it.
pub fn apply_props(rev: &mut Revision, parsed: &ParsedApi, sent: &Map<String, Value>) {
    leave_set_unless_sent(&mut rev.props, sent);
    let mut props = writable(sent);
    let sent_service_url = props.remove("serviceUrl");
    derived_props(&mut props, parsed);
    rev.props.extend(props);
    // OpenAPI 3 imports take the service URL from the document only (a sent one is ignored);
    // Swagger 2.0 imports let a sent one override the document's.
    let service_url = match (parsed.openapi3, sent_service_url) {
        (false, Some(u)) => Some(u),
        _ => parsed.service_url.as_ref().map(|u| json!(u)),
    };
    match service_url {
        Some(u) => rev.props.insert("serviceUrl".into(), u),
        None => rev.props.remove("serviceUrl"),
    };
    rev.operations = Arc::clone(&parsed.operations);
    // An import drops the operations it does not match, and their policies with them.
    rev.policies.retain(|k, _| {
        k.is_empty()
            || parsed
                .operations
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(k))
    });
    rev.document = Some(Arc::clone(&parsed.document));
}

pub fn patch_api(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let sent = match read_properties(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut apim = ctx.lock();
    if apim.apis.get(&api.name).is_some_and(|a| a.busy.is_some()) {
        return in_progress();
    }
    let Some((a, rev)) = find(&apim, api) else {
        return not_found("Api");
    };
    // Api_Update declares `If-Match` required (IfMatchRequiredParameter, apimanagement.json,
    // Microsoft.ApiManagement 2024-05-01: "ETag of the Entity. ETag should match the current
    // entity state from the header response of the GET request or it should be * for
    // unconditional update"). The sources are silent on the wording of the refusal; as strict as
    // the spec, a PATCH without it is refused.
    let Some(m) = req.if_match() else {
        return validation(
            "If-Match",
            "The 'If-Match' header is required: send the ETag of the API (from its GET), or '*' for an unconditional update.",
        );
    };
    if !etag_matches(&m, rev.etag) {
        return precondition_failed();
    }
    if rev.number != a.current
        && let Some(label) = revisions::locked_change(a, &writable(&sent))
    {
        return revisions::locked_response(label);
    }
    let mut effective = rev.props.clone();
    effective.extend(writable(&sent));
    let version_set = match version_sets::check_api(&apim, &req.service_id, &api.name, &effective) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let etag = apim.next_etag();
    let now = rfc3339_millis(now_millis());
    let Some(a) = apim.apis.get_mut(&api.name) else {
        return not_found("Api");
    };
    let n = api.rev.unwrap_or(a.current);
    let Some(rev) = a.revisions.get_mut(&n) else {
        return not_found("Api");
    };
    rev.props.extend(writable(&sent));
    set_version_set(rev, version_set);
    rev.updated = now;
    rev.etag = etag;
    let rev = rev.clone();
    let a = a.clone();
    json_response(
        StatusCode::OK,
        contract(req, &api.addressed(), &a, &rev, None),
        &[("etag", etag_str(rev.etag))],
    )
}

pub fn delete_api(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let mut apim = ctx.lock();
    if apim.apis.get(&api.name).is_some_and(|a| a.busy.is_some()) {
        return in_progress();
    }
    let Some((a, rev)) = find(&apim, api) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    if let Some(m) = req.if_match()
        && !etag_matches(&m, rev.etag)
    {
        return precondition_failed();
    }
    if api.rev.is_some_and(|n| n == a.current) && a.revisions.len() > 1 {
        return validation(
            "apiId",
            "The current revision of an API cannot be deleted. Make another revision current first, or delete the API.",
        );
    }
    match api.rev {
        Some(n) if a.revisions.len() > 1 => {
            if let Some(a) = apim.apis.get_mut(&api.name) {
                a.revisions.remove(&n);
            }
        }
        _ => {
            let removed = apim.apis.remove(&api.name);
            for linked in apim.products.values_mut() {
                linked.remove(&api.name);
            }
            if let Some(set) = removed.as_ref().and_then(|a| set_of(&req.service_id, a)) {
                // Deleting the last API of a version set deletes the set too
                // (MicrosoftDocs/azure-docs#81857, on "Versions in Azure API Management": "When
                // deleting the last API/version from a version set, the version set itself is
                // being removed", whichever client sends the DELETE).
                let still_used = apim.apis.values().any(|a| {
                    set_of(&req.service_id, a).is_some_and(|s| s.eq_ignore_ascii_case(&set))
                });
                if !still_used {
                    apim.version_sets
                        .retain(|k, _| !k.eq_ignore_ascii_case(&set));
                }
            }
        }
    }
    let id = new_async_id();
    let now = rfc3339_millis(now_millis());
    apim.ops.insert(
        id.clone(),
        AsyncOp {
            api: api.name.clone(),
            rev: api.rev,
            polls: 0,
            code: 200,
            delete: true,
            state: OpState::Succeeded,
            orphaned: false,
            started: now.clone(),
            ended: Some(now),
        },
    );
    let mut r = StatusCode::ACCEPTED.into_response();
    add_headers(
        &mut r,
        &lro_headers(req, &api.addressed(), &id, 200, ctx.shared.retry_after),
    );
    r
}
