//! API Management's state and semantics: APIs and their revisions (`{apiId};rev=N`), releases,
//! operations, product links, and the long-running imports behind `Location`/`asyncId` and
//! `Azure-AsyncOperation`.
//!
//! Behaviours clients depend on: an import is accepted at once (201 create / 200 update with
//! `provisioningState: InProgress`) and applied only when polled to completion, so a plain GET
//! shows the old state meanwhile and a failed import is visible only on the `asyncId` poll; other
//! writes to an API with a running import answer 409; every read and write carries an ETag that
//! changes with the entity, and If-Match is honoured.

// Handlers bail out with a finished response; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::import::{self, Format, Operation, ParsedApi};
use super::util::{now_millis, percent_decode, rfc3339_millis};
use super::{
    API_VERSION, Ctx, Req, add_headers, arm_error, export, json_response, validation_error,
};

/// Items per page of list answers; small so clients must follow `nextLink`.
pub const PAGE_SIZE: usize = 10;
pub const PRODUCTS: &[(&str, &str, &str)] = &[
    (
        "starter",
        "Starter",
        "Subscribers will be able to run 5 calls/minute up to a maximum of 100 calls/week.",
    ),
    (
        "unlimited",
        "Unlimited",
        "Subscribers have completely unlimited access to the API. Administrator approval is required.",
    ),
];

/// Contract properties a PUT or PATCH may set and APIM keeps.
const WRITABLE: &[&str] = &[
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

#[derive(Clone, Debug)]
pub struct Revision {
    pub number: u32,
    pub props: Map<String, Value>,
    // Shared: a new revision starts as a copy of another, and responses copy revisions out of
    // the lock; neither should copy every operation and the whole document.
    pub operations: Arc<Vec<Operation>>,
    pub document: Option<Arc<Value>>,
    pub created: String,
    pub updated: String,
    pub etag: u64,
    /// Created by an import that has not completed: invisible until it does.
    pub pending: bool,
}

#[derive(Clone, Debug)]
pub struct Release {
    pub api_id: String,
    pub notes: Option<String>,
    pub created: String,
    pub updated: String,
    pub etag: u64,
}

#[derive(Clone, Debug)]
pub struct Api {
    pub name: String,
    pub revisions: BTreeMap<u32, Revision>,
    pub current: u32,
    pub releases: BTreeMap<String, Release>,
    /// asyncId of the import running on this API.
    pub busy: Option<String>,
    /// Created by an import that has not completed: the API does not exist yet for readers.
    pub pending: bool,
}

pub struct PendingImport {
    result: Result<ParsedApi, Value>,
    sent: Map<String, Value>,
}

pub enum OpState {
    Running(Box<PendingImport>),
    Succeeded,
    Failed(Value),
}

pub struct AsyncOp {
    pub api: String,
    pub rev: Option<u32>,
    pub polls: u32,
    pub code: u16,
    pub delete: bool,
    pub state: OpState,
    pub started: String,
    pub ended: Option<String>,
}

pub struct ExportBlob {
    pub content_type: &'static str,
    pub body: String,
    pub expires_ms: u128,
}

pub struct Apim {
    pub apis: BTreeMap<String, Api>,
    pub ops: HashMap<String, AsyncOp>,
    /// Product id → API names linked to it.
    pub products: BTreeMap<String, BTreeSet<String>>,
    pub exports: HashMap<String, ExportBlob>,
    etag_seq: u64,
}

impl Default for Apim {
    fn default() -> Self {
        Self::new()
    }
}

impl Apim {
    pub fn new() -> Apim {
        Apim {
            apis: BTreeMap::new(),
            ops: HashMap::new(),
            products: PRODUCTS
                .iter()
                .map(|(id, _, _)| (id.to_string(), BTreeSet::new()))
                .collect(),
            exports: HashMap::new(),
            etag_seq: 0,
        }
    }

    fn next_etag(&mut self) -> u64 {
        self.etag_seq += 1;
        self.etag_seq
    }

    fn visible(&self, name: &str) -> Option<&Api> {
        self.apis.get(name).filter(|a| !a.pending)
    }

    /// The whole state, for `GET /_sandbox/apim`.
    pub fn dump(&self) -> Value {
        let apis: Vec<Value> = self
            .apis
            .values()
            .map(|a| {
                json!({
                    "name": a.name,
                    "current": a.current,
                    "pending": a.pending,
                    "busy": a.busy,
                    "revisions": a.revisions.values().map(|r| json!({
                        "apiRevision": r.number.to_string(),
                        "pending": r.pending,
                        "etag": etag_str(r.etag),
                        "properties": r.props,
                        "operations": r.operations.iter().map(|o| json!({
                            "name": o.name, "method": o.method, "urlTemplate": o.url_template,
                            "displayName": o.display_name,
                        })).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "releases": a.releases.iter().map(|(id, r)| json!({
                        "name": id, "apiId": r.api_id, "notes": r.notes,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "apis": apis,
            "products": self.products,
            "operations": self.ops.iter().map(|(id, op)| json!({
                "id": id, "api": op.api, "polls": op.polls,
                "status": match op.state { OpState::Running(_) => "InProgress", OpState::Succeeded => "Succeeded", OpState::Failed(_) => "Failed" },
            })).collect::<Vec<_>>(),
        })
    }
}

pub fn etag_str(n: u64) -> String {
    format!("\"AAAAAAAA{n:08x}\"")
}

fn etag_matches(if_match: &str, etag: u64) -> bool {
    let want = etag_str(etag);
    if_match.split(',').map(str::trim).any(|m| {
        m == "*" || m == want || m.trim_start_matches("W/") == want || m == want.trim_matches('"')
    })
}

fn precondition_failed() -> Response {
    arm_error(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        "The specified entity tag does not match the current entity tag of the resource; it was changed by another request.",
        Some(Value::Null),
    )
}

pub fn in_progress() -> Response {
    arm_error(
        StatusCode::CONFLICT,
        "Conflict",
        "Operation on the API is in progress",
        Some(Value::Null),
    )
}

fn not_found(what: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("{what} not found."),
        Some(Value::Null),
    )
}

fn validation(target: &str, message: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        validation_error(target, message),
        &[],
    )
}

/// `x` or `x;rev=N`.
pub struct ApiRef {
    pub name: String,
    pub rev: Option<u32>,
}

impl ApiRef {
    pub fn parse(s: &str) -> Result<ApiRef, Response> {
        let bad = || {
            validation(
                "apiId",
                &format!("'{s}' is not a valid API identifier: expected 'apiId' or 'apiId;rev=N'."),
            )
        };
        if s.is_empty() || s.len() > 256 || s.contains(['*', '#', '&', '+', ':', '<', '>', '?']) {
            return Err(bad());
        }
        match s.split_once(';') {
            None => Ok(ApiRef {
                name: s.to_string(),
                rev: None,
            }),
            Some((name, rev)) => {
                let n = rev
                    .strip_prefix("rev=")
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(bad)?;
                if name.is_empty() {
                    return Err(bad());
                }
                Ok(ApiRef {
                    name: name.to_string(),
                    rev: Some(n),
                })
            }
        }
    }

    /// From an id in a body (`sourceApiId`, release `apiId`): a full resource id or `/apis/x;rev=N`.
    pub fn from_resource_id(s: &str) -> Option<ApiRef> {
        let decoded = percent_decode(s, false);
        let idx = decoded.to_ascii_lowercase().rfind("/apis/")?;
        let tail = &decoded[idx + "/apis/".len()..];
        let tail = tail.split('/').next().unwrap_or(tail);
        ApiRef::parse(tail).ok()
    }

    pub fn addressed(&self) -> String {
        match self.rev {
            Some(n) => format!("{};rev={n}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Entry point for everything under `.../service/{svc}`.
pub fn dispatch(ctx: &Ctx, req: &Req) -> Response {
    let rest: Vec<&str> = req.rest.iter().map(String::as_str).collect();
    let m = &req.method;
    match rest.as_slice() {
        [] if m == Method::GET => service(ctx, req),
        ["apis"] if m == Method::GET => list_apis(ctx, req),
        ["apis", api] => match ApiRef::parse(api) {
            Err(r) => r,
            Ok(api) => match *m {
                Method::GET | Method::HEAD => {
                    if req.q("asyncId").is_some() {
                        poll_location(ctx, req, &api)
                    } else if req.q("export").is_some() {
                        export::export(ctx, req, &api)
                    } else {
                        get_api(ctx, req, &api)
                    }
                }
                Method::PUT => put_api(ctx, req, &api),
                Method::PATCH => patch_api(ctx, req, &api),
                Method::DELETE => delete_api(ctx, req, &api),
                _ => method_not_allowed(),
            },
        },
        ["apis", api, "operations"] if m == Method::GET => {
            with_api(api, |a| list_operations(ctx, req, &a))
        }
        ["apis", api, "operations", op] if m == Method::GET => {
            with_api(api, |a| get_operation(ctx, req, &a, op))
        }
        ["apis", api, "revisions"] if m == Method::GET => {
            with_api(api, |a| list_revisions(ctx, req, &a))
        }
        ["apis", api, "releases"] if m == Method::GET => {
            with_api(api, |a| list_releases(ctx, req, &a))
        }
        ["apis", api, "releases", rid] => with_api(api, |a| match *m {
            Method::GET | Method::HEAD => get_release(ctx, req, &a, rid),
            Method::PUT => put_release(ctx, req, &a, rid),
            Method::DELETE => delete_release(ctx, req, &a, rid),
            _ => method_not_allowed(),
        }),
        ["apis", api, "products"] if m == Method::GET => {
            with_api(api, |a| list_api_products(ctx, req, &a))
        }
        ["products"] if m == Method::GET => list_products(req),
        ["products", pid] if m == Method::GET => match product(pid) {
            Some(p) => json_response(StatusCode::OK, product_contract(req, p), &[]),
            None => not_found("Product"),
        },
        ["products", pid, "apis"] if m == Method::GET => list_product_apis(ctx, req, pid),
        ["products", pid, "apis", api] => with_api(api, |a| match *m {
            Method::PUT => link_product(ctx, req, pid, &a),
            Method::DELETE => unlink_product(ctx, pid, &a),
            Method::GET | Method::HEAD => product_link_exists(ctx, pid, &a),
            _ => method_not_allowed(),
        }),
        ["tenant", "operationResults", id] if m == Method::GET => {
            poll_async_operation(ctx, req, id)
        }
        _ => arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "The requested resource is not emulated by apim-sandbox.",
            Some(Value::Null),
        ),
    }
}

fn with_api(api: &str, f: impl FnOnce(ApiRef) -> Response) -> Response {
    match ApiRef::parse(api) {
        Ok(a) => f(a),
        Err(r) => r,
    }
}

fn method_not_allowed() -> Response {
    arm_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The requested method is not allowed on this resource.",
        None,
    )
}

fn service(ctx: &Ctx, req: &Req) -> Response {
    let svc = &ctx.shared.identity.apim_service;
    json_response(
        StatusCode::OK,
        json!({
            "id": req.service_id,
            "name": svc,
            "type": "Microsoft.ApiManagement/service",
            "location": "West Europe",
            "sku": {"name": "Developer", "capacity": 1},
            "properties": {
                "provisioningState": "Succeeded",
                "gatewayUrl": format!("https://{svc}.azure-api.net"),
                "managementApiUrl": format!("https://{svc}.management.azure-api.net"),
                "publisherEmail": "apim@example.com",
                "publisherName": "apim-sandbox",
            }
        }),
        &[],
    )
}

/// Looks up the revision an `ApiRef` names among visible ones.
fn find<'a>(apim: &'a Apim, api: &ApiRef) -> Option<(&'a Api, &'a Revision)> {
    let a = apim.visible(&api.name)?;
    let n = api.rev.unwrap_or(a.current);
    let r = a.revisions.get(&n).filter(|r| !r.pending)?;
    Some((a, r))
}

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

fn get_api(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
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

/// One page of `items` honouring `$top`/`$skip`, with a `nextLink` that continues it.
fn page(req: &Req, items: Vec<Value>, path: &str) -> Response {
    page_of(req, &items, Value::clone, path)
}

/// A page of `items`, rendering only the ones shown (an operations list is read page by page,
/// and rendering all of them for each page made reading a list quadratic).
fn page_of<T>(req: &Req, items: &[T], render: impl Fn(&T) -> Value, path: &str) -> Response {
    let total = items.len();
    let skip = req
        .q("$skip")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let top = req.q("$top").and_then(|s| s.parse::<usize>().ok());
    let take = top.unwrap_or(usize::MAX).min(PAGE_SIZE);
    let value: Vec<Value> = items.iter().skip(skip).take(take).map(render).collect();
    let shown = value.len();
    let remaining_wanted = top.map(|t| t.saturating_sub(shown));
    let more = skip + shown < total && remaining_wanted != Some(0);
    let next = if more {
        let mut link = format!(
            "{}{}{path}?api-version={API_VERSION}&$skip={}",
            req.arm_url,
            req.service_id,
            skip + shown
        );
        if let Some(t) = remaining_wanted {
            link.push_str(&format!("&$top={t}"));
        }
        link
    } else {
        // APIM spells "no further page" as an empty string.
        String::new()
    };
    json_response(
        StatusCode::OK,
        json!({"value": value, "count": total, "nextLink": next}),
        &[],
    )
}

fn list_apis(ctx: &Ctx, req: &Req) -> Response {
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

fn operation_contract(req: &Req, addressed: &str, op: &Operation) -> Value {
    json!({
        "id": format!("{}/apis/{addressed}/operations/{}", req.service_id, op.name),
        "type": "Microsoft.ApiManagement/service/apis/operations",
        "name": op.name,
        "properties": op.properties(),
    })
}

fn list_operations(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
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

fn get_operation(ctx: &Ctx, req: &Req, api: &ApiRef, op: &str) -> Response {
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

fn list_revisions(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let apim = ctx.lock();
    let Some(a) = apim.visible(&api.name) else {
        return not_found("Api");
    };
    let items = a
        .revisions
        .values()
        .filter(|r| !r.pending)
        .map(|r| {
            let path = r.props.get("path").and_then(Value::as_str).unwrap_or("");
            let mut v = json!({
                "apiId": format!("{}/apis/{};rev={}", req.service_id, a.name, r.number),
                "apiRevision": r.number.to_string(),
                "createdDateTime": r.created,
                "updatedDateTime": r.updated,
                "isOnline": true,
                "isCurrent": r.number == a.current,
            });
            if let Some(d) = r.props.get("apiRevisionDescription") {
                v["description"] = d.clone();
            }
            if r.number != a.current {
                v["privateUrl"] = json!(format!("/{path};rev={}", r.number));
            }
            v
        })
        .collect();
    page(req, items, &format!("/apis/{}/revisions", a.name))
}

fn sent_properties(body: &Value) -> Result<Map<String, Value>, Response> {
    match body.get("properties") {
        Some(Value::Object(p)) => Ok(p.clone()),
        _ => Err(validation(
            "properties",
            "The request body must contain 'properties'.",
        )),
    }
}

fn writable(props: &Map<String, Value>) -> Map<String, Value> {
    props
        .iter()
        .filter(|(k, _)| WRITABLE.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn lro_headers(
    req: &Req,
    addressed: &str,
    id: &str,
    code: u16,
    retry: u64,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "location",
            format!(
                "{}{}/apis/{addressed}?api-version={API_VERSION}&asyncId={id}&asyncCode={code}",
                req.arm_url, req.service_id
            ),
        ),
        (
            "azure-asyncoperation",
            format!(
                "{}{}/tenant/operationResults/{id}?api-version={API_VERSION}",
                req.arm_url, req.service_id
            ),
        ),
        ("retry-after", retry.to_string()),
    ]
}

fn new_async_id() -> String {
    crate::tokens::random_hex(12)
}

fn put_api(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let body = match req.json_body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let sent = match sent_properties(&body) {
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
    if let Some(m) = req.if_match() {
        let ok = match target_rev {
            Some((_, etag)) => etag_matches(&m, etag),
            None => m.trim() == "*",
        };
        if !ok {
            return precondition_failed();
        }
    }
    let source = match sent.get("sourceApiId").and_then(Value::as_str) {
        None => None,
        Some(s) => match ApiRef::from_resource_id(s)
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
    let is_import = import_format.is_some();
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
    };

    // Parse now so the accepted answer can already show the document's title and description.
    let parsed: Option<Result<ParsedApi, Value>> = match (import_format, value) {
        (Some(fm), Some(v)) => Some(parse_import(ctx, &mut apim, fm, v)),
        _ => None,
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
            started: now.clone(),
            ended: done.then(|| now.clone()),
        },
    );

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
fn parse_import(
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

/// Applies what a completed import derives, with the properties sent alongside it.
fn apply_props(rev: &mut Revision, parsed: &ParsedApi, sent: &Map<String, Value>) {
    let mut props = writable(sent);
    let sent_service_url = props.remove("serviceUrl");
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
    rev.document = Some(Arc::clone(&parsed.document));
}

/// Counts one poll of `id` and completes the operation once it has been polled enough.
fn advance(ctx: &Ctx, apim: &mut Apim, id: &str) {
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
fn poll_location(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
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
            let status = StatusCode::from_u16(op.code).unwrap_or(StatusCode::OK);
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
fn poll_async_operation(ctx: &Ctx, req: &Req, id: &str) -> Response {
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

fn patch_api(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let body = match req.json_body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let sent = match sent_properties(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut apim = ctx.lock();
    if apim.apis.get(&api.name).is_some_and(|a| a.busy.is_some()) {
        return in_progress();
    }
    let Some((_, rev)) = find(&apim, api) else {
        return not_found("Api");
    };
    if let Some(m) = req.if_match()
        && !etag_matches(&m, rev.etag)
    {
        return precondition_failed();
    }
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

fn delete_api(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
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
            apim.apis.remove(&api.name);
            for linked in apim.products.values_mut() {
                linked.remove(&api.name);
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

fn release_contract(req: &Req, api: &str, id: &str, r: &Release) -> Value {
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

fn list_releases(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
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

fn get_release(ctx: &Ctx, req: &Req, api: &ApiRef, rid: &str) -> Response {
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
fn put_release(ctx: &Ctx, req: &Req, api: &ApiRef, rid: &str) -> Response {
    let body = match req.json_body() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let sent = match sent_properties(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let target = match sent.get("apiId").and_then(Value::as_str) {
        Some(id) => match ApiRef::from_resource_id(id) {
            Some(t) => t,
            None => return validation("apiId", &format!("'{id}' is not an API identifier.")),
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
    if let Some(m) = req.if_match() {
        let ok = match existing_etag {
            Some(e) => etag_matches(&m, e),
            None => m.trim() == "*",
        };
        if !ok {
            return precondition_failed();
        }
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
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(status, body, &[("etag", etag_str(etag))])
}

fn delete_release(ctx: &Ctx, req: &Req, api: &ApiRef, rid: &str) -> Response {
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

fn product(pid: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    PRODUCTS
        .iter()
        .find(|(id, _, _)| id.eq_ignore_ascii_case(pid))
}

fn product_contract(req: &Req, p: &(&str, &str, &str)) -> Value {
    json!({
        "id": format!("{}/products/{}", req.service_id, p.0),
        "type": "Microsoft.ApiManagement/service/products",
        "name": p.0,
        "properties": {
            "displayName": p.1,
            "description": p.2,
            "subscriptionRequired": true,
            "approvalRequired": p.0 == "unlimited",
            "subscriptionsLimit": 1,
            "state": "published",
        }
    })
}

fn list_products(req: &Req) -> Response {
    let items = PRODUCTS.iter().map(|p| product_contract(req, p)).collect();
    page(req, items, "/products")
}

fn list_api_products(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let apim = ctx.lock();
    if apim.visible(&api.name).is_none() {
        return not_found("Api");
    }
    let items = PRODUCTS
        .iter()
        .filter(|p| {
            apim.products
                .get(p.0)
                .is_some_and(|s| s.contains(&api.name))
        })
        .map(|p| product_contract(req, p))
        .collect();
    page(req, items, &format!("/apis/{}/products", api.name))
}

fn list_product_apis(ctx: &Ctx, req: &Req, pid: &str) -> Response {
    let Some(p) = product(pid) else {
        return not_found("Product");
    };
    let apim = ctx.lock();
    let items = apim
        .products
        .get(p.0)
        .map(|names| {
            names
                .iter()
                .filter_map(|n| apim.visible(n))
                .filter_map(|a| {
                    a.revisions
                        .get(&a.current)
                        .map(|r| contract(req, &a.name, a, r, None))
                })
                .collect()
        })
        .unwrap_or_default();
    page(req, items, &format!("/products/{}/apis", p.0))
}

fn link_product(ctx: &Ctx, req: &Req, pid: &str, api: &ApiRef) -> Response {
    let Some(p) = product(pid) else {
        return not_found("Product");
    };
    let mut apim = ctx.lock();
    let Some((a, r)) = find(
        &apim,
        &ApiRef {
            name: api.name.clone(),
            rev: None,
        },
    ) else {
        return not_found("Api");
    };
    let body = contract(req, &a.name, a, r, None);
    let created = apim
        .products
        .entry(p.0.to_string())
        .or_default()
        .insert(api.name.clone());
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(status, body, &[])
}

fn unlink_product(ctx: &Ctx, pid: &str, api: &ApiRef) -> Response {
    let Some(p) = product(pid) else {
        return not_found("Product");
    };
    let mut apim = ctx.lock();
    let removed = apim
        .products
        .get_mut(p.0)
        .is_some_and(|s| s.remove(&api.name));
    if removed {
        StatusCode::OK.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

fn product_link_exists(ctx: &Ctx, pid: &str, api: &ApiRef) -> Response {
    let Some(p) = product(pid) else {
        return not_found("Product");
    };
    let apim = ctx.lock();
    if apim
        .products
        .get(p.0)
        .is_some_and(|s| s.contains(&api.name))
    {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found("Api")
    }
}

/// The revision an export reads: the addressed one, or the current one.
pub fn export_source(apim: &Apim, api: &ApiRef) -> Option<(Api, Revision)> {
    find(apim, api).map(|(a, r)| (a.clone(), r.clone()))
}
