//! API and operation policies (`apis/{apiId}/policies/policy`,
//! `apis/{apiId}/operations/{operationId}/policies/policy`), stored on the revision addressed, so
//! a policy written to `;rev=N` is not live until revision N is released.
//!
//! Sources: `apimapis.json` (2024-05-01), ApiPolicy_* and ApiOperationPolicy_*: the only policy
//! id is `policy` (PolicyIdName; Azure/bicep-types-az#2006: any other name is a 400); PUT answers
//! 201/200 with an ETag; HEAD answers 200 with only an `etag` header (example
//! ApiManagementHeadApiPolicy); GET takes `format` (`xml`, the default, or `rawxml`); DELETE
//! requires `If-Match`. definitions.json PolicyContentFormat: `xml`, `xml-link`, `rawxml`,
//! `rawxml-link`. The checks on PUT and their wording:
//! - not well-formed: 400 ValidationError, target `representation`, .NET's XmlReader message with
//!   line and position (Azure/azure-api-management-devops-resource-kit#202, Azure/apiops#160);
//! - errors inside the document name the element and where it is, "Error in element
//!   'set-header' on line 19, column 7: ..." (microsoft/vscode-apimanagement#145);
//! - `set-backend-service backend-id="X"` naming no backend: "Error in element
//!   'set-backend-service' on line 4, column 4: Backend with id 'X' could not be found."
//!   (Azure/apiops#56, MicrosoftDocs/azure-docs#48421);
//! - `{{name}}` naming no named value: "Cannot find a property 'name'"
//!   (Azure/api-management-policy-snippets#109); named values are resolved when the policy is
//!   saved (Learn, "Use named values in Azure API Management policies"; Azure/apiops#37 and
//!   terraform-provider-azurerm#9214: policies fail until their named values exist).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::{
    arm_error, in_progress, not_found, precondition_failed, validation, validation_error,
};
use super::named_values::by_display_name;
use super::paging::page;
use super::policy_xml::{self, Doc};
use super::resource::{if_match_required, put_answer, put_precondition, read_properties};
use super::state::{ApiRef, Apim, Policy, etag_matches, etag_str, find};
use super::{Ctx, Req, add_headers, json_response};

/// Where a policy lives: the API's own (`op == None`) or one operation's.
pub struct Scope<'a> {
    pub api: &'a ApiRef,
    pub op: Option<&'a str>,
}

impl Scope<'_> {
    fn key(&self) -> String {
        self.op.map(str::to_ascii_lowercase).unwrap_or_default()
    }

    fn path(&self) -> String {
        match self.op {
            None => format!("/apis/{}/policies", self.api.addressed()),
            Some(op) => format!("/apis/{}/operations/{op}/policies", self.api.addressed()),
        }
    }

    fn kind(&self) -> &'static str {
        match self.op {
            None => "Microsoft.ApiManagement/service/apis/policies",
            Some(_) => "Microsoft.ApiManagement/service/apis/operations/policies",
        }
    }
}

fn contract(req: &Req, scope: &Scope, p: &Policy, raw: bool) -> Value {
    let mut props = json!({"value": policy_xml::render(&p.doc, raw)});
    if raw {
        props["format"] = json!("rawxml");
    }
    json!({
        "id": format!("{}{}/policy", req.service_id, scope.path()),
        "type": scope.kind(),
        "name": "policy",
        "properties": props,
    })
}

fn check_policy_id(pid: &str) -> Result<(), Response> {
    if pid == "policy" {
        Ok(())
    } else {
        Err(validation(
            "policyId",
            &format!("'{pid}' is not a policy identifier: the only one is 'policy'."),
        ))
    }
}

/// The `format` a GET asks for: `true` for rawxml.
fn read_format(req: &Req) -> Result<bool, Response> {
    match req.q("format") {
        None | Some("xml") => Ok(false),
        Some("rawxml") => Ok(true),
        Some(f) => Err(validation(
            "format",
            &format!("Format '{f}' cannot be read back; use 'xml' or 'rawxml'."),
        )),
    }
}

/// The revision's policy store, checking the API and operation exist.
fn located<'a>(apim: &'a Apim, scope: &Scope) -> Result<&'a super::state::Revision, Response> {
    let Some((_, r)) = find(apim, scope.api) else {
        return Err(not_found("Api"));
    };
    if let Some(op) = scope.op
        && !r.operations.iter().any(|o| o.name.eq_ignore_ascii_case(op))
    {
        return Err(not_found("Operation"));
    }
    Ok(r)
}

pub fn list(ctx: &Ctx, req: &Req, scope: &Scope) -> Response {
    let apim = ctx.lock();
    let r = match located(&apim, scope) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let items = r
        .policies
        .get(&scope.key())
        .map(|p| vec![contract(req, scope, p, false)])
        .unwrap_or_default();
    page(req, items, &scope.path())
}

pub fn get(ctx: &Ctx, req: &Req, scope: &Scope, pid: &str) -> Response {
    if let Err(r) = check_policy_id(pid) {
        return r;
    }
    let raw = match read_format(req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let apim = ctx.lock();
    let r = match located(&apim, scope) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match r.policies.get(&scope.key()) {
        None => not_found("Policy"),
        Some(p) if req.method == Method::HEAD => {
            let mut resp = StatusCode::OK.into_response();
            add_headers(&mut resp, &[("etag", etag_str(p.etag))]);
            resp
        }
        Some(p) => json_response(
            StatusCode::OK,
            contract(req, scope, p, raw),
            &[("etag", etag_str(p.etag))],
        ),
    }
}

/// Reads and checks a policy document against the service's named values and backends.
pub fn check_document(apim: &Apim, value: &str, raw: bool) -> Result<Doc, Value> {
    let doc = policy_xml::parse(value, raw)
        .map_err(|e| validation_error("representation", &e.to_string()))?;
    let in_element = |e: &policy_xml::Element, message: &str| {
        validation_error(
            &e.name,
            &format!(
                "Error in element '{}' on line {}, column {}: {message}",
                e.name, e.line, e.column
            ),
        )
    };
    let elements = policy_xml::elements(&doc);
    if let Some(root) = elements.first()
        && root.name != "policies"
    {
        return Err(in_element(
            root,
            "The root element of a policy document must be 'policies'.",
        ));
    }
    for (e, name) in policy_xml::references(&doc) {
        if by_display_name(apim.named_values.values(), &name).is_none() {
            return Err(in_element(e, &format!("Cannot find a property '{name}'.")));
        }
    }
    for e in elements
        .iter()
        .filter(|e| e.name.eq_ignore_ascii_case("set-backend-service"))
    {
        let Some((_, id)) = e.attrs.iter().find(|(k, _)| k == "backend-id") else {
            continue;
        };
        // A policy expression picks the backend per request; APIM cannot check it on save.
        if id.trim_start().starts_with('@') {
            continue;
        }
        let resolved = resolve_named_values(apim, id);
        if !apim.backends.contains_key(&resolved) {
            return Err(in_element(
                e,
                &format!("Backend with id '{resolved}' could not be found."),
            ));
        }
    }
    Ok(doc)
}

fn resolve_named_values(apim: &Apim, s: &str) -> String {
    let mut out = s.to_string();
    for name in policy_xml::named_value_refs(s) {
        if let Some(v) = by_display_name(apim.named_values.values(), &name)
            .and_then(|e| e.props.get("value"))
            .and_then(Value::as_str)
        {
            out = out.replace(&format!("{{{{{name}}}}}"), v);
        }
    }
    out
}

pub fn put(ctx: &Ctx, req: &Req, scope: &Scope, pid: &str) -> Response {
    if let Err(r) = check_policy_id(pid) {
        return r;
    }
    // Fault `arm-policy-500`: APIM's internal error, worded as Azure/azure-powershell#4820 shows
    // it (a client retries it, then gives up); nothing is stored.
    if ctx.shared.faults.take("arm-policy-500") {
        let mut r = arm_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Encountered internal server error. Diagnostic information: timestamp '20260101T000000Z', tracking id 'apim-sandbox', request correlation id 'apim-sandbox'.",
            None,
        );
        add_headers(
            &mut r,
            &[("retry-after", ctx.shared.retry_after.to_string())],
        );
        return r;
    }
    let sent = match read_properties(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(value) = sent.get("value").and_then(Value::as_str) else {
        return validation("value", "'value' is required: the policy document.");
    };
    let raw = match sent.get("format").and_then(Value::as_str).unwrap_or("xml") {
        "xml" => false,
        "rawxml" => true,
        f @ ("xml-link" | "rawxml-link") => {
            return validation(
                "format",
                &format!(
                    "Format '{f}' makes APIM download the policy from 'value'; apim-sandbox has no network. Send the document inline with 'rawxml' or 'xml'."
                ),
            );
        }
        f => {
            return validation(
                "format",
                &format!(
                    "Format '{f}' is not a policy format: use 'xml', 'rawxml', 'xml-link' or 'rawxml-link'."
                ),
            );
        }
    };
    let mut apim = ctx.lock();
    if apim
        .apis
        .get(&scope.api.name)
        .is_some_and(|a| a.busy.is_some())
    {
        return in_progress();
    }
    let existing = match located(&apim, scope) {
        Ok(r) => r.policies.get(&scope.key()).map(|p| p.etag),
        Err(resp) => return resp,
    };
    if let Err(r) = put_precondition(req, existing) {
        return r;
    }
    let doc = match check_document(&apim, value, raw) {
        Ok(d) => d,
        Err(body) => return json_response(StatusCode::BAD_REQUEST, body, &[]),
    };
    let etag = apim.next_etag();
    let policy = Policy { doc, etag };
    let Some(rev) = revision_mut(&mut apim, scope.api) else {
        return not_found("Api");
    };
    rev.policies.insert(scope.key(), policy.clone());
    put_answer(
        existing.is_some(),
        contract(req, scope, &policy, false),
        etag,
    )
}

pub fn delete(ctx: &Ctx, req: &Req, scope: &Scope, pid: &str) -> Response {
    if let Err(r) = check_policy_id(pid) {
        return r;
    }
    let Some(m) = req.if_match() else {
        return if_match_required();
    };
    let mut apim = ctx.lock();
    if apim
        .apis
        .get(&scope.api.name)
        .is_some_and(|a| a.busy.is_some())
    {
        return in_progress();
    }
    let existing = match located(&apim, scope) {
        Ok(r) => r.policies.get(&scope.key()).map(|p| p.etag),
        Err(resp) => return resp,
    };
    match existing {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(e) if !etag_matches(&m, e) => precondition_failed(),
        Some(_) => {
            if let Some(rev) = revision_mut(&mut apim, scope.api) {
                rev.policies.remove(&scope.key());
            }
            StatusCode::OK.into_response()
        }
    }
}

fn revision_mut<'a>(apim: &'a mut Apim, api: &ApiRef) -> Option<&'a mut super::state::Revision> {
    let a = apim.apis.get_mut(&api.name).filter(|a| !a.pending)?;
    let n = api.rev.unwrap_or(a.current);
    a.revisions.get_mut(&n).filter(|r| !r.pending)
}
