//! Revisions: the ApiRevisionContract list (`GET .../apis/{apiId}/revisions`) and the rule that
//! the API-wide properties of a revision change only on the current one. Creating a revision is a
//! PUT of `{apiId};rev=N`, in [`super::apis`].

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::errors::not_found;
use super::json_response;
use super::paging::page;
use super::state::{Api, ApiRef};
use super::{Ctx, Req};

/// Properties that belong to the API, not to one revision, with the name APIM's error gives them.
/// Microsoft Learn, "Revisions in API Management" (Current revision): a non-current revision
/// cannot change Name, Type, Description, Subscription required, API version, API version
/// description, Path or Protocols. Seen in the field as `Can't change property Description for
/// non-current revision ` (Azure/apiops#285, #436), `... property ApiVersion ...`
/// (hashicorp/terraform-provider-azurerm#18093, creating a revision) and `... property Name ...`
/// for an import into `;rev=N` (Azure/azure-powershell#9270).
pub const LOCKED: &[(&str, &str)] = &[
    ("displayName", "Name"),
    ("type", "Type"),
    ("description", "Description"),
    ("subscriptionRequired", "SubscriptionRequired"),
    ("apiVersion", "ApiVersion"),
    ("apiVersionDescription", "ApiVersionDescription"),
    ("path", "Path"),
    ("protocols", "Protocols"),
];

/// The first locked property `wanted` (properties about to land on a non-current revision) would
/// change from the API's values (those of its current revision), by APIM's name for it.
pub fn locked_change(api: &Api, wanted: &Map<String, Value>) -> Option<&'static str> {
    let current = api.revisions.get(&api.current)?;
    LOCKED
        .iter()
        .find(|(key, _)| {
            wanted.get(*key).is_some_and(|v| {
                normalised(key, Some(v), &api.name)
                    != normalised(key, current.props.get(*key), &api.name)
            })
        })
        .map(|(_, label)| *label)
}

/// Values as the ApiContract shows them, so that sending a default is not a change.
fn normalised(key: &str, v: Option<&Value>, api_name: &str) -> Value {
    let v = v.filter(|v| !v.is_null());
    match key {
        "displayName" => v.cloned().unwrap_or_else(|| json!(api_name)),
        "subscriptionRequired" => v.cloned().unwrap_or(json!(true)),
        "type" => v.cloned().unwrap_or(json!("http")),
        "path" => json!(v.and_then(Value::as_str).unwrap_or("").trim_matches('/')),
        "protocols" => {
            let mut p: Vec<String> = v
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .collect()
                })
                .unwrap_or_else(|| vec!["https".into()]);
            p.sort();
            p.dedup();
            json!(p)
        }
        _ => v
            .filter(|v| v.as_str() != Some(""))
            .cloned()
            .unwrap_or(Value::Null),
    }
}

/// APIM's refusal, with the trailing space its message has.
pub fn locked_error(label: &str) -> Value {
    json!({"error": {
        "code": "ValidationError",
        "message": format!("Can't change property {label} for non-current revision "),
        "details": null,
    }})
}

pub fn locked_response(label: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, locked_error(label), &[])
}

pub fn list_revisions(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
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
