//! The address rewrite: point a document at the address APIM will call.
//!
//! Swagger 2.0 gets `host` and `schemes`; OpenAPI 3.x gets `servers` (one entry per scheme, keeping
//! the path of the first existing server so a path prefix survives). Every other member keeps its
//! value, its position and, for JSON input, its exact text: only the top-level members that change
//! are re-serialised, the rest is copied verbatim (numbers, escapes and unicode survive unchanged,
//! and a 10 MB document is rewritten without building its tree).

use std::borrow::Cow;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

pub use super::backend_url::Scheme;
use super::backend_url::{backend_url, quoted};
use super::{Document, SourceFormat, SpecError, SpecVersion, snippet, text_of};
use crate::address::HostPort;

#[derive(Clone, Debug)]
pub struct RewriteOptions {
    pub address: HostPort,
    /// At least one; `["http"]` is what an in-cluster NodePort serves.
    pub schemes: Vec<Scheme>,
    /// One line instead of the input's indentation.
    pub compact: bool,
}

/// The rewritten text and what it is.
#[derive(Clone, Debug)]
pub struct Rewritten {
    pub text: String,
    pub version: SpecVersion,
    /// The server URL (OpenAPI 3) or `scheme://host/basePath` (Swagger 2.0) APIM should call: the
    /// service URL the published API must end up with.
    pub service_url: String,
}

/// Rewrites `input` (JSON or YAML, with or without a BOM) to call `options.address`.
/// JSON stays JSON with its look; YAML becomes JSON (what APIM imports inline).
pub fn rewrite(input: &[u8], options: &RewriteOptions) -> Result<Rewritten, SpecError> {
    let text = text_of(input)?;
    if text.trim_start().starts_with('{') {
        rewrite_json(text, options)
    } else {
        let doc = Document::parse(input)?;
        rewrite_value(doc, options)
    }
}

/// The top-level members of a JSON object, in order, each as its exact source text.
struct TopLevel<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for TopLevel<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    members.push((k, v));
                }
                Ok(TopLevel(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// Indentation and line ending of the input, so the output looks like it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Style {
    Compact,
    Pretty {
        indent: String,
        newline: &'static str,
    },
}

fn detect_style(text: &str) -> Style {
    let body = text.trim_start();
    let after_brace = &body[1..];
    let Some(nl) = after_brace.find('\n') else {
        return Style::Compact;
    };
    if !after_brace[..nl].trim().is_empty() {
        return Style::Compact;
    }
    let newline = if after_brace[..nl].ends_with('\r') {
        "\r\n"
    } else {
        "\n"
    };
    let next = &after_brace[nl + 1..];
    let indent: String = next
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    if indent.is_empty() {
        Style::Compact
    } else {
        Style::Pretty { indent, newline }
    }
}

fn rewrite_json(text: &str, options: &RewriteOptions) -> Result<Rewritten, SpecError> {
    let top: TopLevel<'_> = serde_json::from_str(text).map_err(|e| SpecError::Json {
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or("")
            .to_string(),
        line: e.line(),
        column: e.column(),
        snippet: snippet(text),
    })?;
    let members = top.0;
    // Version detection needs only the `swagger`/`openapi` members.
    let mut header = Map::new();
    for (k, v) in &members {
        if k == "swagger" || k == "openapi" {
            let value: Value = serde_json::from_str(v.get()).unwrap_or(Value::Null);
            header.insert(k.clone(), value);
        }
    }
    let version = match super::detect_version(&header) {
        Some(v) => v?,
        None => {
            return Err(SpecError::NotOpenApi {
                members: if members.is_empty() {
                    "none".to_string()
                } else {
                    members
                        .iter()
                        .take(8)
                        .map(|(k, _)| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                snippet: snippet(text),
            });
        }
    };

    // The last of duplicate members, as `Document::parse` (serde_json) and most readers take it.
    let get = |name: &str| {
        members
            .iter()
            .rfind(|(k, _)| k == name)
            .and_then(|(_, v)| serde_json::from_str::<Value>(v.get()).ok())
    };
    let (replacements, service_url) = if version.is_swagger2() {
        swagger2_members(get("basePath"), options)?
    } else {
        openapi3_members(get("servers"), options)?
    };

    let style = if options.compact {
        Style::Compact
    } else {
        detect_style(text)
    };
    let trailing_newline = text.ends_with('\n');

    // Members in output order: originals (replaced in place), then any new ones after their anchor.
    // Untouched members borrow the input's text: a large document is not copied twice.
    let mut out: Vec<(String, Cow<'_, str>)> = Vec::with_capacity(members.len() + 2);
    let mut placed = vec![false; replacements.len()];
    for (k, raw) in &members {
        if let Some(i) = replacements.iter().position(|(name, _)| name == k) {
            if !placed[i] {
                out.push((k.clone(), render_value(&replacements[i].1, &style).into()));
                placed[i] = true;
            }
            continue;
        }
        let text = match style {
            Style::Compact => Cow::Owned(minify(raw.get())),
            Style::Pretty { .. } => Cow::Borrowed(raw.get()),
        };
        out.push((k.clone(), text));
    }
    for (i, (name, value)) in replacements.iter().enumerate() {
        if placed[i] {
            continue;
        }
        let at = insertion_point(&out, name);
        out.insert(at, (name.clone(), render_value(value, &style).into()));
    }

    let mut text_out = String::with_capacity(text.len() + 128);
    match &style {
        Style::Compact => {
            text_out.push('{');
            for (i, (k, v)) in out.iter().enumerate() {
                if i > 0 {
                    text_out.push(',');
                }
                text_out.push_str(&json_string(k));
                text_out.push(':');
                text_out.push_str(v);
            }
            text_out.push('}');
        }
        Style::Pretty { indent, newline } => {
            text_out.push('{');
            text_out.push_str(newline);
            for (i, (k, v)) in out.iter().enumerate() {
                text_out.push_str(indent);
                text_out.push_str(&json_string(k));
                text_out.push_str(": ");
                text_out.push_str(v);
                if i + 1 < out.len() {
                    text_out.push(',');
                }
                text_out.push_str(newline);
            }
            text_out.push('}');
        }
    }
    if trailing_newline {
        text_out.push_str(match &style {
            Style::Pretty { newline, .. } => newline,
            Style::Compact => "\n",
        });
    }
    Ok(Rewritten {
        text: text_out,
        version,
        service_url,
    })
}

/// Where a new member goes: right after the member it conventionally follows.
fn insertion_point<T>(out: &[(String, T)], name: &str) -> usize {
    let anchors: &[&str] = match name {
        "host" => &["info", "swagger"],
        "schemes" => &["basePath", "host", "info", "swagger"],
        _ => &["info", "openapi"],
    };
    for anchor in anchors {
        if let Some(i) = out.iter().position(|(k, _)| k == anchor) {
            return i + 1;
        }
    }
    0
}

fn rewrite_value(doc: Document, options: &RewriteOptions) -> Result<Rewritten, SpecError> {
    let version = doc.version().clone();
    let Value::Object(obj) = doc.into_value() else {
        // Document::parse only accepts objects.
        unreachable!("a parsed Document is always an object")
    };
    let (replacements, service_url) = if version.is_swagger2() {
        swagger2_members(obj.get("basePath").cloned(), options)?
    } else {
        openapi3_members(obj.get("servers").cloned(), options)?
    };
    let mut out: Vec<(String, Value)> = obj.into_iter().collect();
    for (name, value) in replacements {
        if let Some(slot) = out.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value;
        } else {
            let at = insertion_point(&out, &name);
            out.insert(at, (name, value));
        }
    }
    let value = Value::Object(out.into_iter().collect());
    let mut text = if options.compact {
        value.to_string()
    } else {
        pretty(&value, "  ")
    };
    text.push('\n');
    Ok(Rewritten {
        text,
        version,
        service_url,
    })
}

/// Members replaced in the document, and the service URL.
type Replaced = (Vec<(String, Value)>, String);

fn swagger2_members(
    base_path: Option<Value>,
    options: &RewriteOptions,
) -> Result<Replaced, SpecError> {
    let host = options.address.to_string();
    let schemes: Vec<Value> = options.schemes.iter().map(|s| json!(s.as_str())).collect();
    let written = base_path.as_ref().and_then(Value::as_str).unwrap_or("");
    let base = written.trim_end_matches('/');
    let scheme = preferred_scheme(&options.schemes);
    let service_url =
        backend_url(scheme, &options.address, base).map_err(|problem| SpecError::BackendPath {
            member: "basePath",
            value: quoted(written),
            problem: Box::new(problem),
        })?;
    Ok((
        vec![
            ("host".to_string(), Value::String(host)),
            ("schemes".to_string(), Value::Array(schemes)),
        ],
        service_url,
    ))
}

fn openapi3_members(
    servers: Option<Value>,
    options: &RewriteOptions,
) -> Result<Replaced, SpecError> {
    let first = servers.as_ref().and_then(|s| s.get(0));
    let path = first.map(server_path).unwrap_or_default();
    let url_of = |scheme: Scheme| {
        backend_url(scheme, &options.address, &path).map_err(|problem| SpecError::BackendPath {
            member: "servers[0].url",
            value: quoted(
                first
                    .and_then(|s| s.get("url"))
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            ),
            problem: Box::new(problem),
        })
    };
    let urls = options
        .schemes
        .iter()
        .map(|s| url_of(*s))
        .collect::<Result<Vec<String>, SpecError>>()?;
    let service_url = url_of(preferred_scheme(&options.schemes))?;
    let servers = urls.into_iter().map(|u| json!({ "url": u })).collect();
    Ok((
        vec![("servers".to_string(), Value::Array(servers))],
        service_url,
    ))
}

/// APIM takes https when a document offers both.
pub fn preferred_scheme(schemes: &[Scheme]) -> Scheme {
    if schemes.contains(&Scheme::Https) {
        Scheme::Https
    } else {
        schemes.first().copied().unwrap_or(Scheme::Http)
    }
}

/// The path part of a server object's URL, `{variables}` replaced by their defaults, without a
/// trailing slash: `http://x:5000/api/` → `/api`, `/resource-server` → `/resource-server`.
pub fn server_path(server: &Value) -> String {
    let Some(url) = server.get("url").and_then(Value::as_str) else {
        return String::new();
    };
    let mut url = url.to_string();
    if let Some(vars) = server.get("variables").and_then(Value::as_object) {
        for (name, var) in vars {
            if let Some(default) = var.get("default").and_then(Value::as_str) {
                url = url.replace(&format!("{{{name}}}"), default);
            }
        }
    }
    let without_scheme = match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => url[i + 3 + j..].to_string(),
            None => String::new(),
        },
        // `//host/path` is scheme-relative.
        None if url.starts_with("//") => match url[2..].find('/') {
            Some(j) => url[2 + j..].to_string(),
            None => String::new(),
        },
        None if url.starts_with('/') => url,
        None if url.is_empty() || url == "." => String::new(),
        None => format!("/{}", url.trim_start_matches("./")),
    };
    let path = without_scheme
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_end_matches('/');
    path.to_string()
}

fn render_value(value: &Value, style: &Style) -> String {
    match style {
        Style::Compact => value.to_string(),
        Style::Pretty { indent, newline } => {
            let text = pretty(value, indent);
            // The value sits one level deep: indent its continuation lines once more.
            let mut out = String::with_capacity(text.len() + 16);
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    out.push_str(newline);
                    out.push_str(indent);
                }
                out.push_str(line);
            }
            out
        }
    }
}

fn pretty(value: &Value, indent: &str) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    // Serialising a Value into a Vec cannot fail: no I/O errors, and every key is a string.
    value
        .serialize(&mut ser)
        .expect("serialising a JSON value into memory cannot fail");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Removes insignificant whitespace from valid JSON text, leaving strings byte for byte.
pub fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The rewritten document parsed, for the steps after the rewrite (lint, diff, publish).
impl Rewritten {
    pub fn document(&self) -> Result<Document, SpecError> {
        Document::parse(self.text.as_bytes())
    }

    pub fn format(&self) -> SourceFormat {
        SourceFormat::Json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(addr: &str, compact: bool) -> RewriteOptions {
        RewriteOptions {
            address: addr.parse().unwrap(),
            schemes: vec![Scheme::Http],
            compact,
        }
    }

    #[test]
    fn swagger2_keeps_everything_else_byte_for_byte() {
        let input = "{\n  \"swagger\": \"2.0\",\n  \"info\": {\n    \"title\": \"caf\\u00e9 é\",\n    \"x\": 1.0e3\n  },\n  \"basePath\": \"/v1\",\n  \"paths\": {}\n}\n";
        let out = rewrite(input.as_bytes(), &opts("10.0.0.4:30080", false)).unwrap();
        assert_eq!(
            out.text,
            "{\n  \"swagger\": \"2.0\",\n  \"info\": {\n    \"title\": \"caf\\u00e9 é\",\n    \"x\": 1.0e3\n  },\n  \"host\": \"10.0.0.4:30080\",\n  \"basePath\": \"/v1\",\n  \"schemes\": [\n    \"http\"\n  ],\n  \"paths\": {}\n}\n"
        );
        assert_eq!(out.service_url, "http://10.0.0.4:30080/v1");
    }

    #[test]
    fn openapi3_keeps_server_path_and_resolves_variables() {
        let input = r#"{"openapi":"3.0.1","servers":[{"url":"{s}://old:1/{base}/","variables":{"s":{"default":"https"},"base":{"default":"api"}}}],"paths":{}}"#;
        let out = rewrite(input.as_bytes(), &opts("h:8", false)).unwrap();
        assert_eq!(
            out.text,
            r#"{"openapi":"3.0.1","servers":[{"url":"http://h:8/api"}],"paths":{}}"#
        );
        assert_eq!(out.service_url, "http://h:8/api");
    }

    #[test]
    fn server_paths() {
        assert_eq!(
            server_path(&json!({"url": "/resource-server"})),
            "/resource-server"
        );
        assert_eq!(server_path(&json!({"url": "http://localhost:51071"})), "");
        assert_eq!(server_path(&json!({"url": "api/v2/"})), "/api/v2");
        assert_eq!(server_path(&json!({"url": "//cdn/x?y"})), "/x");
    }

    #[test]
    fn compact_minifies_but_keeps_strings() {
        let input = "{\n  \"openapi\": \"3.1.0\",\n  \"info\": { \"title\": \"a  b\" }\n}";
        let out = rewrite(input.as_bytes(), &opts("h", true)).unwrap();
        assert_eq!(
            out.text,
            r#"{"openapi":"3.1.0","info":{"title":"a  b"},"servers":[{"url":"http://h"}]}"#
        );
    }

    #[test]
    fn yaml_becomes_json() {
        let input = "openapi: 3.0.0\ninfo:\n  title: t\n  version: '1'\npaths: {}\n";
        let out = rewrite(input.as_bytes(), &opts("h:1", false)).unwrap();
        let v: Value = serde_json::from_str(&out.text).unwrap();
        assert_eq!(v["servers"][0]["url"], "http://h:1");
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["openapi", "info", "servers", "paths"]);
    }

    #[test]
    fn refuses_non_documents() {
        assert!(matches!(
            rewrite(b"{}", &opts("h", false)),
            Err(SpecError::NotOpenApi { .. })
        ));
        assert!(matches!(
            rewrite(b"<html>", &opts("h", false)),
            Err(SpecError::Html { .. })
        ));
    }
}
