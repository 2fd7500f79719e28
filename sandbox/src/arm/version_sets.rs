//! API version sets (`apiVersionSets/{id}`) and the rules APIs in a set follow.
//!
//! Sources: `apimapiversionsets.json` (2024-05-01): PUT answers 201/200 with an ETag, DELETE
//! requires `If-Match`; the contract's type is `Microsoft.ApiManagement/service/api-version-sets`
//! (example ApiManagementCreateApiVersionSet). definitions.json ApiVersionSetContractProperties:
//! `displayName` (1-100 characters) and `versioningScheme` (`Segment`, `Query`, `Header`) are
//! required; `versionQueryName` is the query parameter "when versioningScheme is set to `query`",
//! `versionHeaderName` the header "when ... `header`" (each 1-100 characters). An API in a set
//! carries `apiVersion` and `apiVersionSetId`, and its contract shows `apiVersionSet` with the
//! set's id, display name (as `name`) and scheme (example
//! ApiManagementCreateApiNewVersionUsingExistingApi). Learn, "Versions in Azure API Management":
//! the versions of a set are told apart by their version identifier, so a set's APIs have
//! distinct `apiVersion`s. Deleting the last API of a set deletes the set
//! (MicrosoftDocs/azure-docs#81857; in [`super::apis`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::errors::validation;
use super::paging::page;
use super::resource::{
    delete_precondition, get_answer, put_answer, put_precondition, read_properties,
};
use super::state::{Apim, Entity};
use super::{Ctx, Req};

const KEPT: &[&str] = &[
    "displayName",
    "description",
    "versioningScheme",
    "versionQueryName",
    "versionHeaderName",
];

pub fn contract(req: &Req, id: &str, e: &Entity) -> Value {
    json!({
        "id": format!("{}/apiVersionSets/{id}", req.service_id),
        "type": "Microsoft.ApiManagement/service/api-version-sets",
        "name": id,
        "properties": e.props,
    })
}

pub fn list(ctx: &Ctx, req: &Req) -> Response {
    let apim = ctx.lock();
    let items = apim
        .version_sets
        .iter()
        .map(|(id, e)| contract(req, id, e))
        .collect();
    page(req, items, "/apiVersionSets")
}

pub fn get(ctx: &Ctx, req: &Req, id: &str) -> Response {
    let apim = ctx.lock();
    get_answer(req, apim.version_sets.get(id), "ApiVersionSet", |e| {
        contract(req, id, e)
    })
}

fn check(p: &Map<String, Value>) -> Result<(), Response> {
    let name_ok = |k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty() && s.chars().count() <= 100)
    };
    // The wording APIM answers with, as quoted in Azure/bicep-registry-modules#5708: target
    // `name`, "name (display name) should not be empty"; an unusable scheme, "The specified
    // condition was not met for 'versioningScheme'.". Over 100 characters: the same target.
    if !name_ok("displayName") {
        return Err(validation(
            "name",
            "name (display name) should not be empty",
        ));
    }
    let (needed, label) = match p.get("versioningScheme").and_then(Value::as_str) {
        Some("Segment") => (None, "Segment"),
        Some("Query") => (Some("versionQueryName"), "Query"),
        Some("Header") => (Some("versionHeaderName"), "Header"),
        _ => {
            return Err(validation(
                "versioningScheme",
                "The specified condition was not met for 'versioningScheme'.",
            ));
        }
    };
    if let Some(k) = needed
        && !name_ok(k)
    {
        return Err(validation(
            k,
            &format!(
                "'{k}' is required when versioningScheme is '{label}', 1 to 100 characters: the name that carries the version."
            ),
        ));
    }
    Ok(())
}

pub fn put(ctx: &Ctx, req: &Req, id: &str) -> Response {
    let sent = match read_properties(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let props: Map<String, Value> = sent
        .into_iter()
        .filter(|(k, _)| KEPT.contains(&k.as_str()))
        .collect();
    if let Err(r) = check(&props) {
        return r;
    }
    let mut apim = ctx.lock();
    let existing = apim.version_sets.get(id).map(|e| e.etag);
    if let Err(r) = put_precondition(req, existing) {
        return r;
    }
    let etag = apim.next_etag();
    let entity = Entity { props, etag };
    apim.version_sets.insert(id.to_string(), entity.clone());
    put_answer(existing.is_some(), contract(req, id, &entity), etag)
}

pub fn delete(ctx: &Ctx, req: &Req, id: &str) -> Response {
    let mut apim = ctx.lock();
    if let Err(r) = delete_precondition(req, apim.version_sets.get(id).map(|e| e.etag)) {
        return r;
    }
    apim.version_sets.remove(id);
    StatusCode::OK.into_response()
}

/// The version set an `apiVersionSetId` names: `{service}/apiVersionSets/{id}`, compared
/// without regard to ASCII case as ARM compares ids, or the short form `/apiVersionSets/{id}`
/// APIM also takes (Azure/apiops#497: APIOps' extractor writes the short form and publishes it).
pub fn set_name<'a>(service_id: &str, full: &'a str) -> Option<&'a str> {
    let long = format!("{service_id}/apiVersionSets/");
    let short = "/apiVersionSets/";
    [long.as_str(), short]
        .into_iter()
        .find_map(|prefix| {
            full.get(..prefix.len())
                .filter(|h| h.eq_ignore_ascii_case(prefix))
                .map(|_| &full[prefix.len()..])
        })
        .filter(|n| !n.is_empty() && !n.contains('/'))
}

/// Checks an API's properties (as they will be) against the other APIs and its version set, and
/// returns the `apiVersionSet` its contract shows (`None` when the API is in no set).
///
/// Two APIs share a path only as versions of one set: real APIM refuses the write with `400
/// ValidationError`, target `path`, "Cannot create API 'X' with the same Path 'P' as API 'Y'
/// unless it's a part of the same version set" (two spaces before "unless", as quoted in
/// Azure/azure-powershell#11027 and Azure/apiops#697, #712; the older wording without ids in
/// Azure/azure-powershell#8957). Paths are compared without regard to case, the stricter reading.
/// A second API with a set's `apiVersion` is refused with "API with specified version 'v1'
/// already exists" (`ValidationError`, Azure/azure-cli#28908); versions are compared ignoring case.
pub fn check_api(
    apim: &Apim,
    service_id: &str,
    api_name: &str,
    props: &Map<String, Value>,
) -> Result<Option<Value>, Response> {
    let set = match props
        .get("apiVersionSetId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(full) => {
            let Some(set_id) = set_name(service_id, full) else {
                return Err(validation(
                    "apiVersionSetId",
                    &format!(
                        "'{full}' is not the resource id of a version set of this service ('{service_id}/apiVersionSets/{{versionSetId}}')."
                    ),
                ));
            };
            let Some((set_key, set)) = apim
                .version_sets
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(set_id))
            else {
                return Err(validation(
                    "apiVersionSetId",
                    &format!(
                        "Version set '{set_id}' does not exist: create it (PUT apiVersionSets/{set_id}) before adding APIs to it."
                    ),
                ));
            };
            Some((set_key, set))
        }
    };
    let version = props
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let path = props.get("path").and_then(Value::as_str).unwrap_or("");
    for (other, a) in apim
        .apis
        .iter()
        .filter(|(n, a)| *n != api_name && !a.pending)
    {
        let Some(cur) = a.revisions.get(&a.current) else {
            continue;
        };
        let other_path = cur.props.get("path").and_then(Value::as_str).unwrap_or("");
        let other_set = cur
            .props
            .get("apiVersionSetId")
            .and_then(Value::as_str)
            .and_then(|f| set_name(service_id, f));
        let same_set =
            matches!((set, other_set), (Some((key, _)), Some(o)) if o.eq_ignore_ascii_case(key));
        if !same_set {
            if other_path.eq_ignore_ascii_case(path) {
                return Err(validation(
                    "path",
                    &format!(
                        "Cannot create API '{api_name}' with the same Path '{path}' as API '{other}'  unless it's a part of the same version set"
                    ),
                ));
            }
            continue;
        }
        // The versions of a set usually share a path (Learn, "Versions in Azure API
        // Management"), but no source shows APIM refusing one on another path: not refused.
        let other_version = cur
            .props
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if other_version.eq_ignore_ascii_case(version) {
            return Err(validation(
                "apiVersion",
                &format!("API with specified version '{version}' already exists"),
            ));
        }
    }
    let Some((set_key, set)) = set else {
        return Ok(None);
    };
    let mut shown = json!({
        "id": format!("{service_id}/apiVersionSets/{set_key}"),
        "name": set.props.get("displayName").cloned().unwrap_or(json!(set_key)),
        "versioningScheme": set.props.get("versioningScheme").cloned().unwrap_or(Value::Null),
    });
    for k in ["description", "versionQueryName", "versionHeaderName"] {
        if let Some(v) = set.props.get(k) {
            shown[k] = v.clone();
        }
    }
    Ok(Some(shown))
}
