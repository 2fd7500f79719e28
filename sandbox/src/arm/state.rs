//! API Management's state: APIs and their revisions (`{apiId};rev=N`), releases, product links,
//! running long-running operations and export blobs, with the ETags every entity carries and the
//! `apiId` / `apiId;rev=N` references that address them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::response::Response;
use serde_json::{Map, Value, json};

use super::errors::validation;
use super::import::{Operation, ParsedApi};
use super::products::PRODUCTS;

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
    /// This revision's policies: `""` is the API's own, other keys are operation names. Each
    /// revision carries its own, so a policy written to `;rev=N` goes live only when that
    /// revision is released (Learn, "Revisions in API Management": a revision is a full copy of
    /// the API, policies included; Azure/apiops#728 shows the difference it makes).
    pub policies: BTreeMap<String, Policy>,
}

/// A policy document as stored, with its ETag.
#[derive(Clone, Debug)]
pub struct Policy {
    pub doc: super::policy_xml::Doc,
    pub etag: u64,
}

/// A service-level entity held as its contract's properties (named values, backends, version
/// sets), with its ETag.
#[derive(Clone, Debug)]
pub struct Entity {
    pub props: Map<String, Value>,
    pub etag: u64,
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
    pub result: Result<ParsedApi, Value>,
    pub sent: Map<String, Value>,
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
    /// The client was told the request failed (fault `arm-import-422`) and has no `asyncId` to
    /// poll; the import runs on and requests touching the API move it forward.
    pub orphaned: bool,
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
    pub named_values: BTreeMap<String, Entity>,
    pub backends: BTreeMap<String, Entity>,
    pub version_sets: BTreeMap<String, Entity>,
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
            named_values: BTreeMap::new(),
            backends: BTreeMap::new(),
            version_sets: BTreeMap::new(),
            etag_seq: 0,
        }
    }

    pub fn next_etag(&mut self) -> u64 {
        self.etag_seq += 1;
        self.etag_seq
    }

    pub fn visible(&self, name: &str) -> Option<&Api> {
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
                        "policies": r.policies.keys().collect::<Vec<_>>(),
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
            // Names only: a named value may be a secret.
            "namedValues": self.named_values.keys().collect::<Vec<_>>(),
            "backends": self.backends.iter().map(|(k, b)| json!({
                "name": k, "type": b.props.get("type"), "url": b.props.get("url"),
                "pool": b.props.get("pool"), "circuitBreaker": b.props.get("circuitBreaker"),
            })).collect::<Vec<_>>(),
            "apiVersionSets": self.version_sets.iter().map(|(k, v)| json!({"name": k, "properties": v.props})).collect::<Vec<_>>(),
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

pub fn etag_matches(if_match: &str, etag: u64) -> bool {
    let want = etag_str(etag);
    if_match.split(',').map(str::trim).any(|m| {
        m == "*" || m == want || m.trim_start_matches("W/") == want || m == want.trim_matches('"')
    })
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

    /// From an id in a body (`sourceApiId`, a release's `apiId`): the full resource id of an API
    /// of this service, `{service_id}/apis/{apiId}[;rev=N]`. Taken literally, never
    /// percent-decoded: a body is JSON, not a URL, and ARM's ids spell names as they are
    /// (`rg.contoso_(prod)`, `;rev=2`), as the spec's examples ApiManagementCreateApiRevisionFromExistingApi
    /// and ApiManagementCreateApiRelease do. An encoded id (`rg.contoso_%28prod%29`,
    /// `%3Brev%3D2`) names nothing. ARM compares ids without regard to ASCII case.
    pub fn from_resource_id(s: &str, service_id: &str) -> Option<ApiRef> {
        let prefix = format!("{service_id}/apis/");
        if !s.is_char_boundary(prefix.len().min(s.len())) || s.len() <= prefix.len() {
            return None;
        }
        let (head, tail) = s.split_at(prefix.len());
        if !head.eq_ignore_ascii_case(&prefix) || tail.contains('/') {
            return None;
        }
        ApiRef::parse(tail).ok()
    }

    pub fn addressed(&self) -> String {
        match self.rev {
            Some(n) => format!("{};rev={n}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Looks up the revision an `ApiRef` names among visible ones.
pub fn find<'a>(apim: &'a Apim, api: &ApiRef) -> Option<(&'a Api, &'a Revision)> {
    let a = apim.visible(&api.name)?;
    let n = api.rev.unwrap_or(a.current);
    let r = a.revisions.get(&n).filter(|r| !r.pending)?;
    Some((a, r))
}

/// The revision an export reads: the addressed one, or the current one.
pub fn export_source(apim: &Apim, api: &ApiRef) -> Option<(Api, Revision)> {
    find(apim, api).map(|(a, r)| (a.clone(), r.clone()))
}
