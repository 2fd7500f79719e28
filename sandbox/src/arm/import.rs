//! APIM's importer: turns an inline Swagger 2.0 / OpenAPI 3 document into the API's title,
//! description, service URL and operations, the way API Management derives them.
//!
//! What it mirrors: operation names are the normalised `operationId` (lower case, runs of other
//! characters to `-`, at most 76 characters, `-1`, `-2`… on collisions) or, without one, derived
//! from method and path; `summary` becomes the display name; the Swagger 2.0 service URL is
//! `scheme://host/basePath` (https preferred) and a document without `schemes` cannot be imported
//! inline; the OpenAPI 3 service URL is the first absolute HTTPS server, else none; `trace`
//! operations are not imported; custom `x-` extensions and `deprecated` are not kept
//! ([`super::dropped`]), so neither the stored document nor any export shows them.

use serde_json::{Map, Value, json};

/// Inline documents larger than this are refused.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// APIM's limit on operation names.
const MAX_NAME: usize = 76;
/// The methods APIM makes operations of. A document's `trace` operations are dropped: APIM does
/// not import them (Microsoft Learn, "API import restrictions and known issues", OpenAPI import);
/// the rest of the document imports as usual.
const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

/// The `properties.format` values this emulator imports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    SwaggerJson,
    OpenApiJson,
    OpenApiYaml,
    SwaggerLink,
    OpenApiLink,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "swagger-json" => Some(Format::SwaggerJson),
            "openapi+json" => Some(Format::OpenApiJson),
            "openapi" => Some(Format::OpenApiYaml),
            "swagger-link-json" | "swagger-link" => Some(Format::SwaggerLink),
            "openapi-link" | "openapi+json-link" => Some(Format::OpenApiLink),
            _ => None,
        }
    }

    pub fn is_link(self) -> bool {
        matches!(self, Format::SwaggerLink | Format::OpenApiLink)
    }
}

#[derive(Clone, Debug)]
pub struct Operation {
    pub name: String,
    pub display_name: String,
    pub method: String,
    pub url_template: String,
    pub description: Option<String>,
    pub template_parameters: Vec<Value>,
    pub query_parameters: Vec<Value>,
    pub header_parameters: Vec<Value>,
    /// The operation object as the document had it (exports start from it).
    pub source: Value,
}

impl Operation {
    pub fn properties(&self) -> Value {
        let mut p = json!({
            "displayName": self.display_name,
            "method": self.method,
            "urlTemplate": self.url_template,
            "templateParameters": self.template_parameters,
            "request": {
                "queryParameters": self.query_parameters,
                "headers": self.header_parameters,
                "representations": []
            },
            "responses": [],
        });
        if let (Some(d), Some(obj)) = (&self.description, p.as_object_mut()) {
            obj.insert("description".into(), json!(d));
        }
        p
    }
}

/// What an import derives from a document.
#[derive(Clone, Debug)]
pub struct ParsedApi {
    pub title: Option<String>,
    pub description: Option<String>,
    /// `None`: the document names no usable backend.
    pub service_url: Option<String>,
    pub openapi3: bool,
    /// The gateway protocols a Swagger 2.0 document implies (its `schemes`, else the scheme of
    /// the link it came from); `None` for OpenAPI 3.
    pub protocols: Option<Vec<String>>,
    /// Shared with the revisions that take them (an import's status is polled several times).
    pub operations: std::sync::Arc<Vec<Operation>>,
    /// The parsed document (schemas and security for exports).
    pub document: std::sync::Arc<Value>,
}

/// Parses `text` as `format`. `link` is the URL a `*-link` document came from (it supplies the
/// scheme and host a document leaves out). Errors are the `Parsing error(s)` detail message.
pub fn parse(format: Format, text: &str, link: Option<&str>) -> Result<ParsedApi, String> {
    // Swashbuckle writes a UTF-8 byte-order mark; APIM's reader skips it.
    let text = text.trim_start_matches('\u{feff}');
    let mut doc: Value = match format {
        Format::SwaggerJson | Format::OpenApiJson => serde_json::from_str(text).map_err(|e| {
            format!("Parsing error(s): Unexpected character encountered while parsing value. {e}")
        })?,
        Format::OpenApiYaml | Format::SwaggerLink | Format::OpenApiLink => {
            match serde_json::from_str(text) {
                Ok(v) => v,
                // OpenAPI documents are YAML 1.2: `y`/`no` are strings, not booleans.
                Err(_) => serde_saphyr::from_str_with_options::<Value>(
                    text,
                    serde_saphyr::options! { strict_booleans: true },
                )
                .map_err(|e| format!("Parsing error(s): {e}"))?,
            }
        }
    };
    // APIM ignores custom extensions on import and keeps no `deprecated`: what it stores, and
    // so every export, is the document without them.
    super::dropped::strip(&mut doc);
    let Some(root) = doc.as_object() else {
        return Err("Parsing error(s): The input OpenAPI file is not valid for the OpenAPI specification https://github.com/OAI/OpenAPI-Specification/blob/master/versions/3.0.0.md (schema https://github.com/OAI/OpenAPI-Specification/blob/master/schemas/v3.0/schema.yaml).".into());
    };
    let swagger2 = root.get("swagger").and_then(Value::as_str) == Some("2.0");
    let openapi3 = root
        .get("openapi")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("3."));
    match format {
        Format::SwaggerJson | Format::SwaggerLink if !swagger2 => {
            return Err("Parsing error(s): The Swagger version specified is unknown. Only Swagger 2.0 is supported.".into());
        }
        _ if !swagger2 && !openapi3 => {
            return Err("Parsing error(s): The input OpenAPI file is not valid for the OpenAPI specification https://github.com/OAI/OpenAPI-Specification/blob/master/versions/3.0.0.md (schema https://github.com/OAI/OpenAPI-Specification/blob/master/schemas/v3.0/schema.yaml).".into());
        }
        _ => {}
    }
    let Some(paths) = root.get("paths").and_then(Value::as_object) else {
        return Err("Parsing error(s): Required property 'paths' not found in JSON. Path '', line 1, position 1.".into());
    };
    let info = root.get("info").and_then(Value::as_object);
    let title = info
        .and_then(|i| i.get("title"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let description = info
        .and_then(|i| i.get("description"))
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let service_url = if swagger2 {
        swagger_service_url(root, link, format)?
    } else {
        openapi_service_url(root, link)
    };
    let operations = operations(paths)?;
    let protocols = swagger2.then(|| swagger_protocols(root, link));
    Ok(ParsedApi {
        title,
        description,
        service_url,
        openapi3,
        protocols,
        operations: std::sync::Arc::new(operations),
        document: std::sync::Arc::new(doc),
    })
}

fn swagger_service_url(
    root: &Map<String, Value>,
    link: Option<&str>,
    format: Format,
) -> Result<Option<String>, String> {
    let schemes: Vec<&str> = root
        .get("schemes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let link_scheme = link.and_then(|l| l.split_once("://")).map(|(s, _)| s);
    let scheme = if schemes.contains(&"https") {
        "https"
    } else if let Some(first) = schemes.first() {
        first
    } else if let Some(s) = link_scheme {
        s
    } else if format == Format::SwaggerJson {
        return Err(
            "Parsing error(s): Cannot infer scheme from the document. Either import from URL or specify explicitly."
                .into(),
        );
    } else {
        "https"
    };
    let host = match root.get("host").and_then(Value::as_str) {
        Some(h) if !h.is_empty() => h.to_string(),
        // Without a host, the document is served by its own API (Swagger 2.0 says so); inline
        // there is nothing to go by and APIM leaves the service URL empty.
        _ => match link.and_then(|l| l.split_once("://")).map(|(_, rest)| rest) {
            Some(rest) => rest.split('/').next().unwrap_or("").to_string(),
            None => return Ok(None),
        },
    };
    let base = root.get("basePath").and_then(Value::as_str).unwrap_or("");
    let url = format!("{scheme}://{host}{}", base.trim_end_matches('/'));
    Ok(Some(url))
}

/// A Swagger 2.0 import that sends no `protocols` takes them from the document's `schemes`: the
/// spec's example ApiManagementCreateApiUsingSwaggerImport (2024-05-01) sends none, imports
/// `http://petstore.swagger.io/v2/swagger.json` and answers `"protocols": ["http"]`. Without
/// `schemes` the link's scheme stands in, as it does for the service URL.
fn swagger_protocols(root: &Map<String, Value>, link: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in root
        .get("schemes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let s = s.to_ascii_lowercase();
        if matches!(s.as_str(), "http" | "https" | "ws" | "wss") && !out.contains(&s) {
            out.push(s);
        }
    }
    if out.is_empty()
        && let Some((scheme, _)) = link.and_then(|l| l.split_once("://"))
    {
        out.push(scheme.to_ascii_lowercase());
    }
    if out.is_empty() {
        out.push("https".into());
    }
    out
}

fn openapi_service_url(root: &Map<String, Value>, link: Option<&str>) -> Option<String> {
    let servers = root.get("servers").and_then(Value::as_array)?;
    let mut candidates = Vec::new();
    for server in servers {
        let Some(url) = server.get("url").and_then(Value::as_str) else {
            continue;
        };
        let mut url = url.to_string();
        if let Some(vars) = server.get("variables").and_then(Value::as_object) {
            for (name, var) in vars {
                if let Some(default) = var.get("default").and_then(Value::as_str) {
                    url = url.replace(&format!("{{{name}}}"), default);
                }
            }
        }
        if url.starts_with('/') {
            // Relative servers resolve against the document's own address; inline there is none.
            match link.and_then(origin) {
                Some(o) => url = format!("{o}{url}"),
                None => continue,
            }
        }
        candidates.push(url.trim_end_matches('/').to_string());
    }
    candidates.into_iter().find(|u| u.starts_with("https://"))
}

fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}"))
}

fn operations(paths: &Map<String, Value>) -> Result<Vec<Operation>, String> {
    let mut out: Vec<Operation> = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        let shared_params: Vec<Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let Some(op_obj) = op.as_object() else {
                return Err(format!(
                    "Parsing error(s): Operation '{method} {path}' is not an object."
                ));
            };
            let operation_id = op_obj
                .get("operationId")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty());
            let base = match operation_id {
                Some(id) => normalize(id),
                None => normalize(&format!("{method}-{path}")),
            };
            let base = if base.is_empty() {
                normalize(&format!("{method}-{path}"))
            } else {
                base
            };
            let name = unique(&base, &taken);
            taken.insert(name.clone());
            let display_name = op_obj
                .get("summary")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
                .or_else(|| operation_id.map(str::to_string))
                .unwrap_or_else(|| format!("{path} - {}", method.to_uppercase()));
            let mut params = shared_params.clone();
            if let Some(own) = op_obj.get("parameters").and_then(Value::as_array) {
                for p in own {
                    // Operation parameters override path-level ones with the same name and location.
                    params.retain(|q| q.get("name") != p.get("name") || q.get("in") != p.get("in"));
                    params.push(p.clone());
                }
            }
            let mut template = Vec::new();
            let mut query = Vec::new();
            let mut headers = Vec::new();
            for p in &params {
                let Some(name) = p.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let ty = p
                    .get("type")
                    .or_else(|| p.get("schema").and_then(|s| s.get("type")))
                    .and_then(Value::as_str)
                    .unwrap_or("string");
                let mut contract = json!({
                    "name": name,
                    "type": ty,
                    "values": [],
                });
                if let Some(d) = p.get("description").and_then(Value::as_str) {
                    contract["description"] = json!(d);
                }
                match p.get("in").and_then(Value::as_str) {
                    Some("path") => {
                        contract["required"] = json!(true);
                        template.push(contract);
                    }
                    Some("query") => {
                        contract["required"] = json!(p.get("required") == Some(&json!(true)));
                        query.push(contract);
                    }
                    Some("header") => {
                        contract["required"] = json!(p.get("required") == Some(&json!(true)));
                        headers.push(contract);
                    }
                    _ => {}
                }
            }
            out.push(Operation {
                name,
                display_name,
                method: method.to_uppercase(),
                url_template: path.clone(),
                description: op_obj
                    .get("description")
                    .and_then(Value::as_str)
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
                template_parameters: template,
                query_parameters: query,
                header_parameters: headers,
                source: op.clone(),
            });
        }
    }
    Ok(out)
}

/// APIM's operation name for an `operationId`.
pub fn normalize(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    let mut dash = false;
    for c in id.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            dash = false;
        } else if !dash {
            out.push('-');
            dash = true;
        }
    }
    let trimmed = out.trim_matches('-');
    let mut s: String = trimmed.chars().take(MAX_NAME).collect();
    while s.ends_with('-') {
        s.pop();
    }
    s
}

fn unique(base: &str, taken: &std::collections::HashSet<String>) -> String {
    if !taken.contains(base) {
        return base.to_string();
    }
    for i in 1..=999 {
        let suffix = format!("-{i}");
        let mut stem: String = base.chars().take(MAX_NAME - suffix.len()).collect();
        while stem.ends_with('-') {
            stem.pop();
        }
        let candidate = format!("{stem}{suffix}");
        if !taken.contains(&candidate) {
            return candidate;
        }
    }
    // More than 999 collisions cannot come from one document's operationIds in practice.
    format!("{base}-{}", crate::tokens::random_hex(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_like_apim() {
        assert_eq!(normalize("Products_GetAll"), "products-getall");
        assert_eq!(normalize("get /pets/{petId}"), "get-pets-petid");
        assert_eq!(normalize("__X__"), "x");
        let long = "a".repeat(100);
        assert_eq!(normalize(&long).len(), 76);
        let mut taken = std::collections::HashSet::new();
        taken.insert("a".repeat(76));
        let u = unique(&"a".repeat(76), &taken);
        assert_eq!(u.len(), 76);
        assert!(u.ends_with("-1"));
    }

    #[test]
    fn swagger_without_schemes_is_refused_inline_only() {
        let doc = r#"{"swagger":"2.0","info":{"title":"t","version":"1"},"host":"h","paths":{}}"#;
        let err = parse(Format::SwaggerJson, doc, None).unwrap_err();
        assert!(err.contains("Cannot infer scheme"), "{err}");
        let ok = parse(Format::SwaggerLink, doc, Some("http://x/doc.json")).unwrap();
        assert_eq!(ok.service_url.as_deref(), Some("http://h"));
    }

    #[test]
    fn openapi_takes_first_https_server() {
        let doc = r#"{"openapi":"3.0.1","info":{"title":"t","version":"1"},
            "servers":[{"url":"http://a"},{"url":"https://{host}/v1/","variables":{"host":{"default":"b"}}}],
            "paths":{"/x/{id}":{"get":{"summary":"Get x","parameters":[{"name":"id","in":"path","schema":{"type":"integer"}}]},
                                "post":{"operationId":"Post X"}}}}"#;
        let api = parse(Format::OpenApiJson, doc, None).unwrap();
        assert_eq!(api.service_url.as_deref(), Some("https://b/v1"));
        assert_eq!(api.operations[0].name, "get-x-id");
        assert_eq!(api.operations[0].display_name, "Get x");
        assert_eq!(api.operations[0].template_parameters[0]["type"], "integer");
        assert_eq!(api.operations[1].name, "post-x");
    }

    #[test]
    fn yaml_documents_parse() {
        let doc = "openapi: 3.0.1\ninfo:\n  title: Y\n  version: '1'\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n";
        let api = parse(Format::OpenApiYaml, doc, None).unwrap();
        assert_eq!(api.title.as_deref(), Some("Y"));
        assert_eq!(api.service_url, None);
    }
}
