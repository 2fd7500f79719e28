//! The service's OpenAPI document: parse (JSON or YAML, Swagger 2.0 or OpenAPI 3.0/3.1),
//! rewrite its address, lint it for what APIM rejects, and diff it against what APIM serves.
//!
//! Everything here is pure: bytes and values in, values and typed errors out.

pub mod backend_url;
pub mod diff;
pub mod finding;
pub mod lint;
pub mod refs;
pub mod rewrite;
pub mod schema;
pub mod waivers;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use finding::{Finding, Level};
pub use rewrite::{RewriteOptions, rewrite};

/// Which OpenAPI family a document belongs to; APIM imports each with a different `format`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecVersion {
    /// `swagger: "2.0"`
    Swagger2,
    /// `openapi: "3.0.x"`, with the exact version string.
    OpenApi30(String),
    /// `openapi: "3.1.x"`, with the exact version string.
    OpenApi31(String),
}

impl SpecVersion {
    pub fn is_swagger2(&self) -> bool {
        matches!(self, SpecVersion::Swagger2)
    }

    /// The `properties.format` APIM's import takes for this document as inline JSON.
    pub fn apim_format(&self) -> &'static str {
        match self {
            SpecVersion::Swagger2 => "swagger-json",
            SpecVersion::OpenApi30(_) | SpecVersion::OpenApi31(_) => "openapi+json",
        }
    }
}

impl std::fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpecVersion::Swagger2 => f.write_str("Swagger 2.0"),
            SpecVersion::OpenApi30(v) | SpecVersion::OpenApi31(v) => write!(f, "OpenAPI {v}"),
        }
    }
}

/// How the document was written, so a rewrite can keep its look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    Json,
    Yaml,
}

/// Why bytes are not a document apim-gate can work with.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(
        "the document is not UTF-8 text (byte {offset} is not valid UTF-8); OpenAPI documents are JSON or YAML text{hint}"
    )]
    NotUtf8 { offset: usize, hint: &'static str },
    #[error("the document is empty")]
    Empty,
    #[error(
        "this looks like an HTML page, not an OpenAPI document: {snippet}\n\
         The URL probably serves the Swagger UI or an error page; point swagger-path at the JSON \
         document (Swashbuckle: /swagger/v1/swagger.json, .NET 9+: /openapi/v1.json)"
    )]
    Html { snippet: String },
    #[error(
        "the document is not valid JSON: {message} (line {line}, column {column}); it starts with: {snippet}"
    )]
    Json {
        message: String,
        line: usize,
        column: usize,
        snippet: String,
    },
    #[error("the document is neither JSON nor YAML: {message}; it starts with: {snippet}")]
    Yaml { message: String, snippet: String },
    #[error(
        "the document is a JSON {kind}, not an object; an OpenAPI document is an object with a `swagger` or `openapi` member. It starts with: {snippet}"
    )]
    NotAnObject { kind: &'static str, snippet: String },
    #[error(
        "the document has no `swagger: \"2.0\"` or `openapi: \"3.x\"` member, so it is not an OpenAPI document \
         (its members: {members}). It starts with: {snippet}"
    )]
    NotOpenApi { members: String, snippet: String },
    #[error(
        "the document declares {member} {found}; apim-gate supports Swagger 2.0 and OpenAPI 3.0/3.1"
    )]
    UnsupportedVersion { member: &'static str, found: String },
    /// OpenAPI 3.2: the default of Microsoft.AspNetCore.OpenApi from .NET 11, which API
    /// Management does not import (Learn, "API import restrictions and known issues": OpenAPI
    /// 3.0 and 3.1). The setting that makes the app serve 3.1 is
    /// `OpenApiOptions.OpenApiVersion`, of type `Microsoft.OpenApi.OpenApiSpecVersion`; a document
    /// generated at build time takes `--openapi-version OpenApi3_1` in the MSBuild property
    /// `OpenApiGenerateDocumentsOptions` (Learn, "Generate OpenAPI documents",
    /// aspnetcore-openapi).
    #[error(
        "the document declares openapi: {found}; API Management imports OpenAPI 3.0 and 3.1, not 3.2. \
         Make the service serve OpenAPI 3.1: `options.OpenApiVersion = \
         Microsoft.OpenApi.OpenApiSpecVersion.OpenApi3_1` in `AddOpenApi` \
         (builder.Services.AddOpenApi(options => options.OpenApiVersion = \
         Microsoft.OpenApi.OpenApiSpecVersion.OpenApi3_1)), then deploy again. A document generated \
         at build time: `<OpenApiGenerateDocumentsOptions>--openapi-version OpenApi3_1</OpenApiGenerateDocumentsOptions>` \
         in the project file"
    )]
    OpenApi32 { found: String },
    /// A `basePath` or server path that could make APIM call another host (rule
    /// `apim-base-path-invalid`).
    #[error(
        "the document's {member} `{value}` is refused: {problem} (apim-base-path-invalid). It is \
         joined to the address APIM calls, so it must be a path starting with `/` without `@`, `\\`, \
         `?`, `#`, whitespace, control characters or `..` segments. Change {member} in the \
         service's document (or drop it)"
    )]
    BackendPath {
        /// `basePath` or `servers[0].url`.
        member: &'static str,
        /// The value, quoted for a log line.
        value: String,
        problem: Box<backend_url::BackendUrlError>,
    },
}

/// A parsed OpenAPI document.
#[derive(Clone, Debug)]
pub struct Document {
    value: Value,
    version: SpecVersion,
    format: SourceFormat,
}

/// One operation of a document: what APIM will turn into one API operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationRef {
    /// Upper case: `GET`, `POST`, ...
    pub method: String,
    /// The path as written in the document (`/api/pets/{id}`), without basePath or server path.
    pub path: String,
    pub operation_id: Option<String>,
}

pub(crate) const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl Document {
    /// Parses JSON or YAML, with or without a UTF-8 byte-order mark.
    pub fn parse(bytes: &[u8]) -> Result<Document, SpecError> {
        let text = text_of(bytes)?;
        let trimmed = text.trim_start();
        let (value, format) = if trimmed.starts_with('{') || trimmed.starts_with('[') {
            let value: Value = serde_json::from_str(text).map_err(|e| SpecError::Json {
                message: strip_position(&e.to_string()),
                line: e.line(),
                column: e.column(),
                snippet: snippet(text),
            })?;
            (value, SourceFormat::Json)
        } else {
            let value: Value = serde_saphyr::from_str(text).map_err(|e| SpecError::Yaml {
                message: first_line(&e.to_string()),
                snippet: snippet(text),
            })?;
            (value, SourceFormat::Yaml)
        };
        Self::from_value(value, format, text)
    }

    fn from_value(value: Value, format: SourceFormat, text: &str) -> Result<Document, SpecError> {
        let Some(obj) = value.as_object() else {
            return Err(SpecError::NotAnObject {
                kind: json_kind(&value),
                snippet: snippet(text),
            });
        };
        let version = detect_version(obj).ok_or_else(|| SpecError::NotOpenApi {
            members: if obj.is_empty() {
                "none".to_string()
            } else {
                obj.keys()
                    .take(8)
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            snippet: snippet(text),
        })??;
        Ok(Document {
            value,
            version,
            format,
        })
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    pub fn into_value(self) -> Value {
        self.value
    }

    pub fn version(&self) -> &SpecVersion {
        &self.version
    }

    pub fn source_format(&self) -> SourceFormat {
        self.format
    }

    /// `info.title`, which APIM uses as the API's display name when none is given.
    pub fn title(&self) -> Option<&str> {
        self.value.pointer("/info/title").and_then(Value::as_str)
    }

    /// The document as compact JSON: what is sent to APIM (more fits under its 4 MB inline limit).
    pub fn to_compact_json(&self) -> String {
        self.value.to_string()
    }

    /// SHA-256 of the compact JSON, hex: the identity of a published document.
    pub fn sha256(&self) -> String {
        // Streamed into the hash: the same bytes as `to_compact_json`, without building them.
        let mut hasher = Sha256::new();
        if serde_json::to_writer(&mut hasher, &self.value).is_err() {
            // Invariant: a `Value` always serialises and the hasher's writes never fail.
            unreachable!("serialising a serde_json::Value into a hasher cannot fail");
        }
        let digest = hasher.finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Every operation under `paths`, in document order.
    pub fn operations(&self) -> Vec<OperationRef> {
        let mut out = Vec::new();
        let Some(paths) = self.value.get("paths").and_then(Value::as_object) else {
            return out;
        };
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                if !METHODS.contains(&method.as_str()) {
                    continue;
                }
                out.push(OperationRef {
                    method: method.to_ascii_uppercase(),
                    path: path.clone(),
                    operation_id: op
                        .get("operationId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                });
            }
        }
        out
    }
}

pub(crate) fn detect_version(
    obj: &serde_json::Map<String, Value>,
) -> Option<Result<SpecVersion, SpecError>> {
    if let Some(v) = obj.get("swagger") {
        let found = scalar_text(v);
        return Some(if found == "2.0" {
            Ok(SpecVersion::Swagger2)
        } else {
            Err(SpecError::UnsupportedVersion {
                member: "swagger:",
                found,
            })
        });
    }
    let v = obj.get("openapi")?;
    let found = scalar_text(v);
    Some(if found.starts_with("3.0") {
        Ok(SpecVersion::OpenApi30(found))
    } else if found.starts_with("3.1") {
        Ok(SpecVersion::OpenApi31(found))
    } else if found.starts_with("3.2") {
        Err(SpecError::OpenApi32 { found })
    } else {
        Err(SpecError::UnsupportedVersion {
            member: "openapi:",
            found,
        })
    })
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// UTF-8 text without its byte-order mark; HTML and empty input are refused here, before any
/// parser produces a less helpful message.
pub(crate) fn text_of(bytes: &[u8]) -> Result<&str, SpecError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| SpecError::NotUtf8 {
        offset: e.valid_up_to(),
        // Windows PowerShell 5's `Out-File` and `>` write UTF-16 with a byte-order mark: a
        // document saved that way on a build agent is the usual reason for this error.
        hint: if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
            "; this one is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8 \
             (PowerShell: Out-File -Encoding utf8)"
        } else {
            ""
        },
    })?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(SpecError::Empty);
    }
    if trimmed.starts_with('<') {
        return Err(SpecError::Html {
            snippet: snippet(text),
        });
    }
    Ok(text)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The first bytes of a body, on one line and free of control characters, for error messages.
pub fn snippet(text: &str) -> String {
    const MAX: usize = 120;
    let mut out = String::new();
    for c in text.trim_start().chars() {
        if out.chars().count() >= MAX {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("«{collapsed}»")
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash is recorded in APIM by earlier runs: streaming it must keep the very bytes
    /// (`printf '{"swagger":"2.0","info":{"title":"café"},"paths":{}}' | sha256sum`).
    #[test]
    fn sha256_is_the_hash_of_the_compact_json() {
        let d = Document::parse(
            "{ \"swagger\": \"2.0\",\n  \"info\": {\"title\": \"caf\\u00e9\"}, \"paths\": {} }"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            d.to_compact_json(),
            "{\"swagger\":\"2.0\",\"info\":{\"title\":\"café\"},\"paths\":{}}"
        );
        assert_eq!(
            d.sha256(),
            "b2e291fe766ff2036fca384070ea04a53e4934470b9e11c20eb5d10a5edc8a62"
        );
    }

    #[test]
    fn detects_versions_and_formats() {
        let d = Document::parse(b"\xEF\xBB\xBF{\"swagger\":\"2.0\",\"paths\":{}}").unwrap();
        assert_eq!(d.version(), &SpecVersion::Swagger2);
        assert_eq!(d.source_format(), SourceFormat::Json);
        let d = Document::parse(b"openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n")
            .unwrap();
        assert_eq!(d.version(), &SpecVersion::OpenApi31("3.1.0".into()));
        assert_eq!(d.source_format(), SourceFormat::Yaml);
    }

    #[test]
    fn refuses_openapi_32_with_the_setting_to_change() {
        let e = Document::parse(
            b"{\"openapi\":\"3.2.0\",\"info\":{\"title\":\"t\",\"version\":\"1\"},\"paths\":{}}",
        )
        .unwrap_err();
        assert!(matches!(e, SpecError::OpenApi32 { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(
                "options.OpenApiVersion = Microsoft.OpenApi.OpenApiSpecVersion.OpenApi3_1"
            ) && text.contains("AddOpenApi")
                && text.contains("--openapi-version OpenApi3_1"),
            "{text}"
        );
        assert!(Document::parse(b"{\"openapi\":\"3.1.1\",\"info\":{\"title\":\"t\",\"version\":\"1\"},\"paths\":{}}").is_ok());
    }

    #[test]
    fn refuses_what_is_not_openapi() {
        assert!(matches!(
            Document::parse(b"{}"),
            Err(SpecError::NotOpenApi { .. })
        ));
        assert!(matches!(
            Document::parse(b"<!DOCTYPE html><html>"),
            Err(SpecError::Html { .. })
        ));
        assert!(matches!(
            Document::parse(br#"{"error":{"code":"NotFound"}}"#),
            Err(SpecError::NotOpenApi { .. })
        ));
        assert!(matches!(
            Document::parse(b"[1]"),
            Err(SpecError::NotAnObject { .. })
        ));
        assert!(matches!(
            Document::parse(br#"{"swagger":"1.2"}"#),
            Err(SpecError::UnsupportedVersion { .. })
        ));
        assert!(matches!(Document::parse(b"  "), Err(SpecError::Empty)));
        assert!(matches!(
            Document::parse(b"{\"a\":"),
            Err(SpecError::Json { .. })
        ));
    }

    #[test]
    fn lists_operations_in_order() {
        let d = Document::parse(
            br#"{"openapi":"3.0.1","paths":{"/a":{"get":{"operationId":"A"},"parameters":[],"post":{}}}}"#,
        )
        .unwrap();
        let ops = d.operations();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].method, "GET");
        assert_eq!(ops[0].operation_id.as_deref(), Some("A"));
        assert_eq!(ops[1].method, "POST");
    }
}
