//! Responses of a matched operation: status codes (success ones must stay), their media types and
//! schemas, and their headers.

use std::collections::BTreeMap;

use serde_json::Value;

use super::super::refs::{join, resolve};
use super::media::{Media, MediaSchema, content_media, media_types, same_media};
use super::operations::Op;
use super::{Differ, Dir, Level, Side, flag};

/// Responses by upper-case status code, with where each lives.
type Responses<'a> = BTreeMap<String, (String, &'a Value)>;

/// Headers by lower-case name: (name as written, where, required).
type Headers = BTreeMap<String, (String, String, bool)>;

impl<'a> Differ<'a> {
    pub(super) fn compare_responses(&mut self, b: &Op<'a>, n: &Op<'a>) {
        let br = responses(self.base, b);
        let nr = responses(self.new, n);
        self.report_removed_responses(&br, &nr);
        for (code, (ptr, nv)) in &nr {
            match br.get(code) {
                None => self.report_added_response(code, ptr),
                Some((bptr, bv)) => {
                    let bm = response_media(self.base, b, bptr, bv);
                    let nm = response_media(self.new, n, ptr, nv);
                    self.compare_response_media(code, &bm, &nm);
                    self.compare_response_headers(code, bptr, bv, ptr, nv);
                }
            }
        }
    }

    fn report_removed_responses(&mut self, br: &Responses<'a>, nr: &Responses<'a>) {
        for (code, (ptr, _)) in br {
            if nr.contains_key(code) {
                continue;
            }
            if is_success(code) {
                self.emit(
                    "response-success-status-removed",
                    Level::Error,
                    ptr,
                    format!(
                        "the success response {code} was removed; clients expecting it will break. Keep it."
                    ),
                );
            } else {
                self.emit(
                    "response-non-success-status-removed",
                    Level::Info,
                    ptr,
                    format!("the response {code} was removed."),
                );
            }
        }
    }

    fn report_added_response(&mut self, code: &str, ptr: &str) {
        let id = if is_success(code) {
            "response-success-status-added"
        } else {
            "response-non-success-status-added"
        };
        self.emit(
            id,
            Level::Info,
            ptr,
            format!("the response {code} was added."),
        );
    }

    fn compare_response_media(&mut self, code: &str, bm: &[Media<'a>], nm: &[Media<'a>]) {
        for m in bm {
            if !nm.iter().any(|x| same_media(&x.name, &m.name)) {
                self.emit(
                    "response-media-type-removed",
                    Level::Error,
                    &m.ptr,
                    format!(
                        "the media type `{}` of response {code} was removed; clients asking for it \
                         will get 406 or something they can't parse. Keep producing it.",
                        m.name
                    ),
                );
            }
        }
        for m in nm {
            match bm.iter().find(|x| same_media(&x.name, &m.name)) {
                None => self.emit(
                    "response-media-type-added",
                    Level::Info,
                    &m.ptr,
                    format!("the media type `{}` was added to response {code}.", m.name),
                ),
                Some(old) => self.compare_media_schemas(Dir::Response, old, m),
            }
        }
    }

    fn compare_response_headers(
        &mut self,
        code: &str,
        bptr: &str,
        bv: &'a Value,
        nptr: &str,
        nv: &'a Value,
    ) {
        let bh = headers(self.base, bptr, bv);
        let nh = headers(self.new, nptr, nv);
        for (key, (name, ptr, required)) in &bh {
            match nh.get(key) {
                None if *required => self.emit(
                    "required-response-header-removed",
                    Level::Error,
                    ptr,
                    format!("the required header `{name}` of response {code} was removed; clients reading it will break."),
                ),
                None => self.emit(
                    "optional-response-header-removed",
                    Level::Warning,
                    ptr,
                    format!("the optional header `{name}` of response {code} was removed."),
                ),
                Some((_, nptr, nreq)) if *required && !nreq => self.emit(
                    "response-header-became-optional",
                    Level::Error,
                    nptr,
                    format!("the header `{name}` of response {code} became optional; clients relying on it will break."),
                ),
                Some(_) => {}
            }
        }
        for (key, (name, ptr, _)) in &nh {
            if !bh.contains_key(key) {
                self.emit(
                    "response-header-added",
                    Level::Info,
                    ptr,
                    format!("the header `{name}` was added to response {code}."),
                );
            }
        }
    }
}

fn is_success(code: &str) -> bool {
    code.starts_with('2')
}

fn responses<'a>(side: Side<'a>, op: &Op<'a>) -> Responses<'a> {
    let mut out = BTreeMap::new();
    let responses_ptr = join(&op.ptr, "responses");
    if let Some(map) = op.value.get("responses").and_then(Value::as_object) {
        for (code, r) in map {
            if let Some(r) = resolve(side.root, r, &join(&responses_ptr, code)) {
                out.insert(code.to_ascii_uppercase(), (r.pointer, r.value));
            }
        }
    }
    out
}

/// A response's media types: its `content` (OpenAPI 3), or its one schema under each of the
/// operation's `produces` (Swagger 2.0).
fn response_media<'a>(side: Side<'a>, op: &Op<'a>, ptr: &str, r: &'a Value) -> Vec<Media<'a>> {
    if !side.swagger2 {
        return content_media(r, ptr);
    }
    let Some(schema) = r.get("schema") else {
        return Vec::new();
    };
    let schema_ptr = join(ptr, "schema");
    let (types, types_ptr) = media_types(side, op, "produces");
    types
        .into_iter()
        .map(|name| Media {
            name,
            ptr: types_ptr.clone(),
            schema: Some(MediaSchema::Value(schema_ptr.clone(), schema)),
        })
        .collect()
}

fn headers<'a>(side: Side<'a>, ptr: &str, v: &'a Value) -> Headers {
    let mut out = Headers::new();
    let hptr = join(ptr, "headers");
    if let Some(map) = v.get("headers").and_then(Value::as_object) {
        for (name, h) in map {
            if let Some(r) = resolve(side.root, h, &join(&hptr, name)) {
                out.insert(
                    name.to_ascii_lowercase(),
                    (name.clone(), r.pointer, flag(r.value.get("required"))),
                );
            }
        }
    }
    out
}
