//! Request bodies: OpenAPI 3 `requestBody`, Swagger 2.0 `body` parameters, and Swagger 2.0
//! `formData` parameters read as the form body OpenAPI 3 would describe. Added, removed, required
//! or not, and per media type.

use std::collections::BTreeSet;

use serde_json::Value;

use super::super::refs::{join, resolve};
use super::super::schema::Property;
use super::media::{Media, MediaSchema, content_media, media_types, same_media};
use super::operations::Op;
use super::{Differ, Dir, Level, Side, flag};

/// The request body of one operation.
struct Body<'a> {
    ptr: String,
    required: bool,
    media: Vec<Media<'a>>,
}

impl<'a> Differ<'a> {
    pub(super) fn compare_request_bodies(&mut self, b: &Op<'a>, n: &Op<'a>) {
        let bb = request_body(self.base, b);
        let nb = request_body(self.new, n);
        match (bb, nb) {
            (None, None) => {}
            (Some(bb), None) => self.emit(
                "request-body-removed",
                Level::Error,
                &bb.ptr,
                "the request body was removed; clients that send one may be rejected. Keep accepting it."
                    .to_string(),
            ),
            (None, Some(nb)) => self.report_added_body(&nb),
            (Some(bb), Some(nb)) => {
                self.compare_body_required(&bb, &nb);
                self.compare_body_media(&bb, &nb);
            }
        }
    }

    fn report_added_body(&mut self, nb: &Body<'a>) {
        if nb.required {
            self.emit(
                "request-body-added-required",
                Level::Error,
                &nb.ptr,
                "a required request body was added; existing clients don't send one and will be \
                 rejected. Make it optional."
                    .to_string(),
            );
        } else {
            self.emit(
                "request-body-added-optional",
                Level::Info,
                &nb.ptr,
                "an optional request body was added.".to_string(),
            );
        }
    }

    fn compare_body_required(&mut self, bb: &Body<'a>, nb: &Body<'a>) {
        if nb.required && !bb.required {
            self.emit(
                "request-body-became-required",
                Level::Error,
                &nb.ptr,
                "the request body became required; clients that send none will be rejected. \
                 Keep it optional."
                    .to_string(),
            );
        } else if !nb.required && bb.required {
            self.emit(
                "request-body-became-optional",
                Level::Info,
                &nb.ptr,
                "the request body became optional.".to_string(),
            );
        }
    }

    fn compare_body_media(&mut self, bb: &Body<'a>, nb: &Body<'a>) {
        for m in &bb.media {
            if !nb.media.iter().any(|x| same_media(&x.name, &m.name)) {
                self.emit(
                    "request-body-media-type-removed",
                    Level::Error,
                    &m.ptr,
                    format!(
                        "the request media type `{}` was removed; clients sending it will get 415. \
                         Keep accepting it.",
                        m.name
                    ),
                );
            }
        }
        for m in &nb.media {
            let Some(old) = bb.media.iter().find(|x| same_media(&x.name, &m.name)) else {
                self.emit(
                    "request-body-media-type-added",
                    Level::Info,
                    &m.ptr,
                    format!("the request media type `{}` was added.", m.name),
                );
                continue;
            };
            self.compare_media_schemas(Dir::Request, old, m);
        }
    }
}

fn request_body<'a>(side: Side<'a>, op: &Op<'a>) -> Option<Body<'a>> {
    if !side.swagger2 {
        let body = op.value.get("requestBody")?;
        let r = resolve(side.root, body, &join(&op.ptr, "requestBody"))?;
        return Some(Body {
            required: flag(r.value.get("required")),
            media: content_media(r.value, &r.pointer),
            ptr: r.pointer,
        });
    }
    let params: Vec<(&'a Value, String)> = body_params(op)
        .iter()
        .filter_map(|(p, ptr)| resolve(side.root, p, ptr).map(|r| (r.value, r.pointer)))
        .collect();
    swagger2_body(side, op, &params).or_else(|| swagger2_form(side, op, &params))
}

/// Every parameter of the operation, resolved later; operation-level ones first, so that
/// searching from the start lets them win over the path item's.
fn body_params<'a>(op: &Op<'a>) -> Vec<(&'a Value, String)> {
    let mut out = Vec::new();
    for (v, ptr) in [(op.item, &op.item_ptr), (op.value, &op.ptr)] {
        if let Some(list) = v.get("parameters").and_then(Value::as_array) {
            let list_ptr = join(ptr, "parameters");
            out.extend(
                list.iter()
                    .enumerate()
                    .map(|(i, p)| (p, join(&list_ptr, &i.to_string()))),
            );
        }
    }
    out.reverse();
    out
}

fn location(v: &Value) -> Option<&str> {
    v.get("in").and_then(Value::as_str)
}

/// A Swagger 2.0 `in: body` parameter, one media type per `consumes` entry.
fn swagger2_body<'a>(
    side: Side<'a>,
    op: &Op<'a>,
    params: &[(&'a Value, String)],
) -> Option<Body<'a>> {
    let (raw, ptr) = params.iter().find(|(v, _)| location(v) == Some("body"))?;
    let (types, types_ptr) = media_types(side, op, "consumes");
    let schema = raw
        .get("schema")
        .map(|s| MediaSchema::Value(join(ptr, "schema"), s));
    Some(Body {
        required: flag(raw.get("required")),
        media: types
            .into_iter()
            .map(|name| Media {
                name,
                ptr: types_ptr.clone(),
                schema: schema.clone(),
            })
            .collect(),
        ptr: ptr.clone(),
    })
}

/// Swagger 2.0 `in: formData` parameters as one object body; without `consumes`, the media type
/// a client would send (multipart when a file is among them).
fn swagger2_form<'a>(
    side: Side<'a>,
    op: &Op<'a>,
    params: &[(&'a Value, String)],
) -> Option<Body<'a>> {
    let mut form: Vec<Property<'a>> = Vec::new();
    let mut required = BTreeSet::new();
    for (v, ptr) in params {
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        // Operation-level parameters come first; keep the first of each name.
        if location(v) != Some("formData") || form.iter().any(|p| p.name == name) {
            continue;
        }
        if flag(v.get("required")) {
            required.insert(name.to_string());
        }
        form.push(Property {
            name: name.to_string(),
            pointer: ptr.clone(),
            value: v,
        });
    }
    let first = form.first()?.pointer.clone();
    let has_file = form
        .iter()
        .any(|p| p.value.get("type").and_then(Value::as_str) == Some("file"));
    let (mut types, types_ptr) = media_types(side, op, "consumes");
    if op.value.get("consumes").is_none() && side.root.get("consumes").is_none() {
        types = vec![if has_file {
            "multipart/form-data".to_string()
        } else {
            "application/x-www-form-urlencoded".to_string()
        }];
    }
    let schema = MediaSchema::Form(first.clone(), form, required.clone());
    Some(Body {
        required: !required.is_empty(),
        media: types
            .into_iter()
            .map(|name| Media {
                name,
                ptr: types_ptr.clone(),
                schema: Some(schema.clone()),
            })
            .collect(),
        ptr: first,
    })
}
