//! API exports (`GET .../apis/{apiId}?format=…&export=true`): inline, or as a link to a blob
//! served from another origin, like the storage account real export links point at.
//!
//! Like APIM, the export is APIM's own view of the API, not the document that was imported: it is
//! rebuilt from the revision's operations (names, display names) and the imported document's
//! operation bodies and schemas, with `servers`/`host` pointing at the APIM gateway
//! (`https://{service}.azure-api.net/{path}`) and APIM's subscription-key security schemes.
//! Swagger 2.0 sources are converted to OpenAPI 3 (and back) structurally: parameters, bodies,
//! responses with their headers, and `$ref`s. What the import did not keep (custom `x-`
//! extensions, `deprecated`: [`super::dropped`]) is not in the stored document, so no export
//! shows it.
//!
//! Formats: the spec's ExportFormat links (`swagger-link`, `openapi-link`, `openapi+json-link`,
//! apimapis.json 2024-05-01, "to the Storage Blob with Sas Key valid for 5 minutes") and the
//! inline `swagger`, `openapi`, `openapi+json` APIOps falls back to when a link cannot be
//! downloaded, reading the document from `value` (Azure/apiops tools/code/common/Api.cs,
//! TryGetSpecificationContents). The link is a SAS URL: APIOps downloads it with a pipeline that
//! carries no credentials, and storage refuses a bearer token it was not issued for.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::state::{self, Api, ApiRef, Apim, ExportBlob, Revision};
use super::util::{form_get, now_millis, parse_form, rfc3339_secs};
use super::{Ctx, Req, json_response, validation_error};

/// How long an export link stays valid, as APIM documents (five minutes).
const LINK_LIFETIME_MS: u128 = 5 * 60 * 1000;
/// The blob path export links use, under the storage origin.
const BLOB_PREFIX: &str = "/api-export/";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Swagger,
    OpenApiJson,
    OpenApiYaml,
}

pub fn export(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    if req.q("export") != Some("true") {
        return json_response(
            StatusCode::BAD_REQUEST,
            validation_error("export", "'export' must be 'true'."),
            &[],
        );
    }
    let format = req.q("format").unwrap_or("");
    let (shape, link) = match format {
        "openapi+json-link" => (Shape::OpenApiJson, true),
        "openapi-link" => (Shape::OpenApiYaml, true),
        "swagger-link" => (Shape::Swagger, true),
        "openapi+json" => (Shape::OpenApiJson, false),
        "openapi" => (Shape::OpenApiYaml, false),
        "swagger" => (Shape::Swagger, false),
        "" => {
            return json_response(
                StatusCode::BAD_REQUEST,
                validation_error("format", "'format' is required to export an API."),
                &[],
            );
        }
        other => {
            return json_response(
                StatusCode::BAD_REQUEST,
                validation_error(
                    "format",
                    &format!(
                        "Export format '{other}' is not supported for APIs of type 'http'. Supported: swagger-link, openapi-link, openapi+json-link, swagger, openapi, openapi+json."
                    ),
                ),
                &[],
            );
        }
    };
    // Some APIs' `…-link` export fails inside APIM with a 500 while the inline formats of the
    // same API work; APIOps' extractor falls back to the inline export on that answer
    // (Azure/apiops#223). Fault `arm-export-link-500`: the next N link exports answer so.
    if link && ctx.shared.faults.take("arm-export-link-500") {
        return super::arm_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Request processing failed due to internal error.",
            None,
        );
    }
    let svc = &ctx.shared.identity.apim_service;
    let mut apim = ctx.lock();
    let Some((a, rev)) = state::export_source(&apim, api) else {
        return super::arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "Api not found.",
            Some(Value::Null),
        );
    };
    let doc = match shape {
        Shape::Swagger => swagger2(svc, &a, &rev),
        Shape::OpenApiJson | Shape::OpenApiYaml => openapi3(svc, &a, &rev),
    };
    let id = format!("{}/apis/{}", req.service_id, api.addressed());
    let etag = [("etag", state::etag_str(rev.etag))];
    if !link {
        // Inline: JSON formats carry the document as an object, YAML as text (written as JSON,
        // which every YAML reader accepts).
        let value = match shape {
            Shape::OpenApiYaml => json!(serde_json::to_string_pretty(&doc).unwrap_or_default()),
            _ => doc,
        };
        return json_response(
            StatusCode::OK,
            json!({"id": id, "format": format, "value": value}),
            &etag,
        );
    }
    let body = serde_json::to_string_pretty(&doc).unwrap_or_default();
    let token = crate::tokens::random_hex(16);
    let sig = crate::tokens::random_hex(16);
    let expires_ms = now_millis() + LINK_LIFETIME_MS;
    apim.exports.retain(|_, b| b.expires_ms > now_millis());
    apim.exports.insert(
        format!("{token}/{sig}"),
        ExportBlob {
            content_type: "application/json",
            body,
            expires_ms,
        },
    );
    let link = format!(
        "{}{BLOB_PREFIX}{token}?sv=2021-08-06&sr=b&sp=r&se={}&sig={sig}",
        ctx.shared.urls().blob,
        super::util::percent_encode(&rfc3339_secs(expires_ms))
    );
    json_response(
        StatusCode::OK,
        json!({"id": id, "format": format, "value": {"link": link}}),
        &etag,
    )
}

fn blob<'a>(apim: &'a Apim, token: &str, sig: &str) -> Option<&'a ExportBlob> {
    apim.exports
        .get(&format!("{token}/{sig}"))
        .filter(|b| b.expires_ms > now_millis())
}

/// Azure Storage's refusal, as an XML error with `x-ms-error-code`.
fn storage_error(
    status: StatusCode,
    code: &'static str,
    message: &str,
    detail: Option<&str>,
) -> Response {
    let detail = detail
        .map(|d| format!("<AuthenticationErrorDetail>{d}</AuthenticationErrorDetail>"))
        .unwrap_or_default();
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message>{detail}</Error>"),
    )
        .into_response();
    r.headers_mut().insert(
        HeaderName::from_static("x-ms-error-code"),
        HeaderValue::from_static(code),
    );
    r
}

/// `GET {blob}/api-export/{token}?…&sig=…` on the storage origin, answered as Azure Storage
/// answers a SAS read. A request that also carries an `Authorization` header is refused: storage
/// then authenticates the header, not the SAS, and a management token is no storage credential
/// (`403 AuthenticationFailed`, "Authentication scheme Bearer is not supported in this version."
/// in MicrosoftDocs/azure-docs#95050, microsoft/typespec#7216). A client that sends it has also
/// leaked its ARM token to another host.
pub async fn serve_blob(State(ctx): State<Arc<Ctx>>, uri: Uri, headers: HeaderMap) -> Response {
    const AUTH_FAILED: &str = "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.";
    if headers.contains_key(header::AUTHORIZATION) {
        return storage_error(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            AUTH_FAILED,
            Some("Authentication scheme Bearer is not supported in this version."),
        );
    }
    let Some(token) = uri.path().strip_prefix(BLOB_PREFIX) else {
        return storage_error(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
            None,
        );
    };
    let query = parse_form(uri.query().unwrap_or(""));
    let sig = form_get(&query, "sig").unwrap_or("");
    let apim = ctx.lock();
    match blob(&apim, token, sig) {
        Some(b) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, b.content_type)],
            b.body.clone(),
        )
            .into_response(),
        None => storage_error(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            AUTH_FAILED,
            Some("Signature did not match, or the signed expiry time has passed."),
        ),
    }
}

/// The text behind a link the sandbox serves itself (it has no network for anything else).
pub fn resolve_link(ctx: &Ctx, apim: &Apim, url: &str) -> Option<String> {
    let origin = ctx.shared.urls().blob;
    let rest = url.strip_prefix(&format!("{origin}{BLOB_PREFIX}"))?;
    let (token, query) = rest.split_once('?').unwrap_or((rest, ""));
    let q = parse_form(query);
    blob(apim, token, form_get(&q, "sig").unwrap_or("")).map(|b| b.body.clone())
}

fn gateway(svc: &str, rev: &Revision) -> (String, String) {
    let path = rev
        .props
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_matches('/')
        .to_string();
    (format!("{svc}.azure-api.net"), path)
}

fn info(a: &Api, rev: &Revision) -> Value {
    let mut info = json!({
        "title": rev.props.get("displayName").cloned().unwrap_or(json!(a.name)),
        "version": rev.props.get("apiVersion").cloned().unwrap_or(json!("1.0")),
    });
    if let Some(d) = rev.props.get("description") {
        info["description"] = d.clone();
    }
    info
}

fn is_openapi3(doc: Option<&Value>) -> bool {
    doc.and_then(|d| d.get("openapi")).is_some()
}

/// Rewrites every `$ref` prefix `from` to `to`.
fn rewrite_refs(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if k == "$ref"
                    && let Value::String(s) = child
                    && let Some(rest) = s.strip_prefix(from)
                {
                    *s = format!("{to}{rest}");
                } else {
                    rewrite_refs(child, from, to);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite_refs(c, from, to)),
        _ => {}
    }
}

const SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "pattern",
    "maxLength",
    "minLength",
    "collectionFormat",
];

/// The members a Swagger 2.0 Header Object shares with a schema (Swagger 2.0, Header Object).
const HEADER_SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "items",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
    "multipleOf",
];

/// Response headers are part of APIM's operation contract (2024-05-01 definitions.json:
/// `ResponseContract.headers`, each a `ParameterContract` with `type`, `defaultValue`, `values`,
/// `examples`); the example ApiManagementGetApiOperationPetStore shows the Swagger 2.0 petstore's
/// `loginUser` with its `X-Rate-Limit` and `X-Expires-After` response headers kept (a header
/// name starting with `X-` is a name, not an extension). So an export keeps them whatever the
/// source's version: Swagger 2.0's `{type, format, default, enum…}` becomes OpenAPI 3's
/// `{schema: {…}}`.
fn swagger_header_to_oas3(h: &Value) -> Value {
    let mut out = Map::new();
    let mut schema = Map::new();
    for (k, v) in h.as_object().into_iter().flatten() {
        if HEADER_SCHEMA_KEYS.contains(&k.as_str()) {
            schema.insert(k.clone(), v.clone());
        } else if k != "collectionFormat" {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert("schema".into(), Value::Object(schema));
    Value::Object(out)
}

/// OpenAPI 3's `{schema: {…}}` header as Swagger 2.0's `{type, …}` (`type` is required there;
/// `string` when the schema gives none). OpenAPI 3's `example`/`examples` and `style`/`explode`
/// have no Swagger 2.0 field and APIM exports no extension to carry them: they are left out.
fn oas3_header_to_swagger(h: &Value) -> Value {
    let mut out = Map::new();
    if let Some(d) = h.get("description") {
        out.insert("description".into(), d.clone());
    }
    for (k, v) in h
        .get("schema")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if HEADER_SCHEMA_KEYS.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    out.entry("type").or_insert(json!("string"));
    Value::Object(out)
}

fn openapi3(svc: &str, a: &Api, rev: &Revision) -> Value {
    let (host, path) = gateway(svc, rev);
    let doc = rev.document.as_deref();
    let from_oas3 = is_openapi3(doc);
    let consumes = doc
        .and_then(|d| d.get("consumes"))
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(Value::as_str)
        .unwrap_or("application/json")
        .to_string();
    let produces = doc
        .and_then(|d| d.get("produces"))
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(Value::as_str)
        .unwrap_or("application/json")
        .to_string();
    let mut paths = Map::new();
    for op in rev.operations.iter() {
        let mut o = if from_oas3 {
            op.source.clone()
        } else {
            swagger_op_to_oas3(&op.source, &consumes, &produces)
        };
        if let Some(m) = o.as_object_mut() {
            m.insert("summary".into(), json!(op.display_name));
            m.insert("operationId".into(), json!(op.name));
            m.entry("responses")
                .or_insert_with(|| json!({"200": {"description": null}}));
        }
        let item = paths
            .entry(op.url_template.clone())
            .or_insert_with(|| json!({}));
        item[op.method.to_ascii_lowercase()] = o;
    }
    let mut components = json!({});
    let schemas = if from_oas3 {
        doc.and_then(|d| d.pointer("/components/schemas")).cloned()
    } else {
        doc.and_then(|d| d.get("definitions")).cloned()
    };
    if let Some(s) = schemas {
        components["schemas"] = s;
    }
    components["securitySchemes"] = json!({
        "apiKeyHeader": {"type": "apiKey", "name": "Ocp-Apim-Subscription-Key", "in": "header"},
        "apiKeyQuery": {"type": "apiKey", "name": "subscription-key", "in": "query"}
    });
    let server = if path.is_empty() {
        format!("https://{host}")
    } else {
        format!("https://{host}/{path}")
    };
    let mut out = json!({
        "openapi": "3.0.1",
        "info": info(a, rev),
        "servers": [{"url": server}],
        "paths": paths,
        "components": components,
        "security": [{"apiKeyHeader": []}, {"apiKeyQuery": []}],
    });
    rewrite_refs(&mut out, "#/definitions/", "#/components/schemas/");
    out
}

fn swagger_op_to_oas3(src: &Value, consumes: &str, produces: &str) -> Value {
    let mut out = Map::new();
    let Some(src) = src.as_object() else {
        return Value::Object(out);
    };
    for (k, v) in src {
        match k.as_str() {
            "parameters" | "responses" | "consumes" | "produces" | "schemes" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let consumes = src
        .get("consumes")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(Value::as_str)
        .unwrap_or(consumes);
    let produces = src
        .get("produces")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(Value::as_str)
        .unwrap_or(produces);
    let mut params = Vec::new();
    for p in src
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match p.get("in").and_then(Value::as_str) {
            Some("body") => {
                let mut body = json!({
                    "content": {consumes: {"schema": p.get("schema").cloned().unwrap_or(json!({}))}}
                });
                if let Some(d) = p.get("description") {
                    body["description"] = d.clone();
                }
                if p.get("required") == Some(&json!(true)) {
                    body["required"] = json!(true);
                }
                out.insert("requestBody".into(), body);
            }
            Some("formData") => {}
            _ => {
                let mut q = Map::new();
                let mut schema = Map::new();
                if let Some(pm) = p.as_object() {
                    for (k, v) in pm {
                        if SCHEMA_KEYS.contains(&k.as_str()) {
                            if k != "collectionFormat" {
                                schema.insert(k.clone(), v.clone());
                            }
                        } else {
                            q.insert(k.clone(), v.clone());
                        }
                    }
                }
                q.insert("schema".into(), Value::Object(schema));
                params.push(Value::Object(q));
            }
        }
    }
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    let mut responses = Map::new();
    if let Some(rs) = src.get("responses").and_then(Value::as_object) {
        for (code, r) in rs {
            let mut nr = json!({"description": r.get("description").cloned().unwrap_or(json!(""))});
            if let Some(s) = r.get("schema") {
                nr["content"] = json!({produces: {"schema": s}});
            }
            if let Some(h) = r.get("headers").and_then(Value::as_object) {
                nr["headers"] = h
                    .iter()
                    .map(|(name, h)| (name.clone(), swagger_header_to_oas3(h)))
                    .collect::<Map<_, _>>()
                    .into();
            }
            responses.insert(code.clone(), nr);
        }
    }
    out.insert("responses".into(), Value::Object(responses));
    Value::Object(out)
}

fn oas3_op_to_swagger(src: &Value) -> Value {
    let mut out = Map::new();
    let Some(src) = src.as_object() else {
        return Value::Object(out);
    };
    for (k, v) in src {
        match k.as_str() {
            "parameters" | "responses" | "requestBody" | "servers" | "callbacks" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let mut params = Vec::new();
    for p in src
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut q = Map::new();
        if let Some(pm) = p.as_object() {
            for (k, v) in pm {
                if k == "schema" {
                    if let Some(s) = v.as_object() {
                        for (sk, sv) in s {
                            if SCHEMA_KEYS.contains(&sk.as_str()) {
                                q.insert(sk.clone(), sv.clone());
                            }
                        }
                    }
                } else if k != "style" && k != "explode" && k != "example" && k != "examples" {
                    q.insert(k.clone(), v.clone());
                }
            }
        }
        q.entry("type").or_insert(json!("string"));
        params.push(Value::Object(q));
    }
    if let Some(body) = src.get("requestBody") {
        let schema = body
            .get("content")
            .and_then(Value::as_object)
            .and_then(|c| c.values().next())
            .and_then(|m| m.get("schema"))
            .cloned()
            .unwrap_or(json!({}));
        let mut b = json!({"in": "body", "name": "body", "schema": schema});
        if body.get("required") == Some(&json!(true)) {
            b["required"] = json!(true);
        }
        params.push(b);
    }
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    let mut responses = Map::new();
    if let Some(rs) = src.get("responses").and_then(Value::as_object) {
        for (code, r) in rs {
            let mut nr = json!({"description": r.get("description").cloned().unwrap_or(json!(""))});
            if let Some(s) = r
                .get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.values().next())
                .and_then(|m| m.get("schema"))
            {
                nr["schema"] = s.clone();
            }
            if let Some(h) = r.get("headers").and_then(Value::as_object) {
                nr["headers"] = h
                    .iter()
                    .map(|(name, h)| (name.clone(), oas3_header_to_swagger(h)))
                    .collect::<Map<_, _>>()
                    .into();
            }
            responses.insert(code.clone(), nr);
        }
    }
    out.insert("responses".into(), Value::Object(responses));
    Value::Object(out)
}

fn swagger2(svc: &str, a: &Api, rev: &Revision) -> Value {
    let (host, path) = gateway(svc, rev);
    let doc = rev.document.as_deref();
    let from_oas3 = is_openapi3(doc);
    let mut paths = Map::new();
    for op in rev.operations.iter() {
        let mut o = if from_oas3 {
            oas3_op_to_swagger(&op.source)
        } else {
            op.source.clone()
        };
        if let Some(m) = o.as_object_mut() {
            m.insert("summary".into(), json!(op.display_name));
            m.insert("operationId".into(), json!(op.name));
            m.entry("responses")
                .or_insert_with(|| json!({"200": {"description": ""}}));
        }
        let item = paths
            .entry(op.url_template.clone())
            .or_insert_with(|| json!({}));
        item[op.method.to_ascii_lowercase()] = o;
    }
    let definitions = if from_oas3 {
        doc.and_then(|d| d.pointer("/components/schemas")).cloned()
    } else {
        doc.and_then(|d| d.get("definitions")).cloned()
    };
    let mut out = json!({
        "swagger": "2.0",
        "info": info(a, rev),
        "host": host,
        "basePath": format!("/{path}"),
        "schemes": ["https"],
        "securityDefinitions": {
            "apiKeyHeader": {"type": "apiKey", "name": "Ocp-Apim-Subscription-Key", "in": "header"},
            "apiKeyQuery": {"type": "apiKey", "name": "subscription-key", "in": "query"}
        },
        "security": [{"apiKeyHeader": []}, {"apiKeyQuery": []}],
        "paths": paths,
    });
    if let Some(d) = definitions {
        out["definitions"] = d;
    }
    rewrite_refs(&mut out, "#/components/schemas/", "#/definitions/");
    out
}
