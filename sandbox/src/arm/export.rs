//! API exports (`GET .../apis/{apiId}?format=…-link&export=true`) and the blob links they return.
//!
//! Like APIM, the export is APIM's own view of the API, not the document that was imported: it is
//! rebuilt from the revision's operations (names, display names) and the imported document's
//! operation bodies and schemas, with `servers`/`host` pointing at the APIM gateway
//! (`https://{service}.azure-api.net/{path}`) and APIM's subscription-key security schemes.
//! Swagger 2.0 sources are converted to OpenAPI 3 (and back) structurally: parameters, bodies,
//! responses and `$ref`s. The link behaves like a storage SAS URL: no bearer, valid five minutes.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::state::{self, Api, ApiRef, Apim, ExportBlob, Revision};
use super::util::{form_get, now_millis, rfc3339_secs};
use super::{Ctx, Req, json_response, validation_error};

/// How long an export link stays valid, as APIM documents (five minutes).
const LINK_LIFETIME_MS: u128 = 5 * 60 * 1000;

pub fn export(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    if req.q("export") != Some("true") {
        return json_response(
            StatusCode::BAD_REQUEST,
            validation_error("export", "'export' must be 'true'."),
            &[],
        );
    }
    let format = req.q("format").unwrap_or("");
    let openapi = match format {
        "openapi+json-link" | "openapi-link" => true,
        "swagger-link" => false,
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
                    &format!("Export format '{other}' is not supported for APIs of type 'http'."),
                ),
                &[],
            );
        }
    };
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
    let doc = if openapi {
        openapi3(svc, &a, &rev)
    } else {
        swagger2(svc, &a, &rev)
    };
    let body = serde_json::to_string_pretty(&doc).unwrap_or_default();
    let token = crate::tokens::random_hex(16);
    let sig = crate::tokens::random_hex(16);
    let expires_ms = now_millis() + LINK_LIFETIME_MS;
    apim.exports.retain(|_, b| b.expires_ms > now_millis());
    apim.exports.insert(
        format!("{token}/{sig}"),
        ExportBlob {
            // OpenAPI YAML exports are written as JSON, which every YAML reader accepts.
            content_type: "application/json",
            body,
            expires_ms,
        },
    );
    let link = format!(
        "{}/_sandbox/exports/{token}?sv=2021-08-06&sr=b&sp=r&se={}&sig={sig}",
        req.arm_url,
        super::util::percent_encode(&rfc3339_secs(expires_ms))
    );
    json_response(
        StatusCode::OK,
        json!({
            "id": format!("{}/apis/{}", req.service_id, api.addressed()),
            "format": format,
            "value": {"link": link},
        }),
        &[("etag", state::etag_str(rev.etag))],
    )
}

fn blob<'a>(apim: &'a Apim, token: &str, sig: &str) -> Option<&'a ExportBlob> {
    apim.exports
        .get(&format!("{token}/{sig}"))
        .filter(|b| b.expires_ms > now_millis())
}

/// `GET /_sandbox/exports/{token}?…&sig=…`, answered like Azure Storage answers a SAS read.
pub fn serve_blob(ctx: &Ctx, token: &str, query: &[(String, String)]) -> Response {
    let sig = form_get(query, "sig").unwrap_or("");
    let apim = ctx.lock();
    match blob(&apim, token, sig) {
        Some(b) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, b.content_type)],
            b.body.clone(),
        )
            .into_response(),
        None => (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "application/xml")],
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature, or the signed expiry time has not passed.</Message></Error>",
        )
            .into_response(),
    }
}

/// The text behind a link the sandbox serves itself (it has no network for anything else).
pub fn resolve_link(ctx: &Ctx, apim: &Apim, url: &str) -> Option<String> {
    let arm = ctx.shared.urls().arm;
    let rest = url.strip_prefix(&format!("{arm}/_sandbox/exports/"))?;
    let (token, query) = rest.split_once('?').unwrap_or((rest, ""));
    let q = super::util::parse_form(query);
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
