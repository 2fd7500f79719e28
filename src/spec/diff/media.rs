//! What request bodies and responses share: media types (OpenAPI 3 `content`, Swagger 2.0
//! `consumes`/`produces`) and the schema each carries, compared pairwise.

use std::collections::BTreeSet;

use serde_json::Value;

use super::super::refs::join;
use super::super::schema::{Property, View};
use super::operations::Op;
use super::{Differ, Dir, Level, Role, Side};

/// One media type of a body or response.
pub(super) struct Media<'a> {
    pub(super) name: String,
    pub(super) ptr: String,
    pub(super) schema: Option<MediaSchema<'a>>,
}

#[derive(Clone)]
pub(super) enum MediaSchema<'a> {
    /// A schema in the document, and where.
    Value(String, &'a Value),
    /// Swagger 2.0 `formData` parameters, compared as the object OpenAPI 3 would describe them
    /// with, so a 2.0 document compares cleanly with its OpenAPI 3 export from APIM.
    Form(String, Vec<Property<'a>>, BTreeSet<String>),
}

impl<'a> MediaSchema<'a> {
    pub(super) fn pointer(&self) -> &str {
        match self {
            MediaSchema::Value(p, _) | MediaSchema::Form(p, _, _) => p,
        }
    }

    fn view(&self, root: &'a Value) -> Option<View<'a>> {
        match self {
            MediaSchema::Value(p, v) => View::of(root, v, p),
            MediaSchema::Form(p, props, required) => {
                Some(View::object(p.clone(), props.clone(), required.clone()))
            }
        }
    }
}

/// Swagger 2.0 media types (`consumes` or `produces`) of an operation, else of the document, else
/// JSON; with where they were found.
pub(super) fn media_types(side: Side<'_>, op: &Op<'_>, key: &str) -> (Vec<String>, String) {
    let from = |v: &Value, ptr: String| {
        v.get(key).and_then(Value::as_array).map(|a| {
            (
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
                ptr,
            )
        })
    };
    from(op.value, join(&op.ptr, key))
        .or_else(|| from(side.root, format!("/{key}")))
        .unwrap_or_else(|| (vec!["application/json".to_string()], op.ptr.clone()))
}

/// Media types of an OpenAPI 3 `content` map.
pub(super) fn content_media<'a>(v: &'a Value, ptr: &str) -> Vec<Media<'a>> {
    let content_ptr = join(ptr, "content");
    let Some(map) = v.get("content").and_then(Value::as_object) else {
        return Vec::new();
    };
    map.iter()
        .map(|(name, media)| {
            let mptr = join(&content_ptr, name);
            Media {
                name: name.clone(),
                schema: media
                    .get("schema")
                    .map(|s| MediaSchema::Value(join(&mptr, "schema"), s)),
                ptr: mptr,
            }
        })
        .collect()
}

pub(super) fn same_media(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl<'a> Differ<'a> {
    /// The schemas of one media type present on both sides.
    pub(super) fn compare_media_schemas(&mut self, dir: Dir, old: &Media<'a>, new: &Media<'a>) {
        let side = match dir {
            Dir::Request => "request",
            Dir::Response => "response",
        };
        match (&old.schema, &new.schema) {
            (Some(bs), Some(ns)) => self.compare_media_schema_pair(dir, bs, ns),
            (None, Some(ns)) => {
                let (id, level) = match dir {
                    Dir::Request => ("request-body-media-type-schema-added", Level::Error),
                    Dir::Response => ("response-body-media-type-schema-added", Level::Info),
                };
                self.emit(
                    id,
                    level,
                    ns.pointer(),
                    format!(
                        "a schema was added to the {side} media type `{}`.",
                        new.name
                    ),
                );
            }
            (Some(bs), None) => {
                let (id, level) = match dir {
                    Dir::Request => ("request-body-media-type-schema-removed", Level::Info),
                    Dir::Response => ("response-body-media-type-schema-removed", Level::Warning),
                };
                self.emit(
                    id,
                    level,
                    bs.pointer(),
                    format!(
                        "the schema of the {side} media type `{}` was removed.",
                        new.name
                    ),
                );
            }
            (None, None) => {}
        }
    }

    /// Compares the pair once per operation: the media types of one body usually share it.
    fn compare_media_schema_pair(&mut self, dir: Dir, bs: &MediaSchema<'a>, ns: &MediaSchema<'a>) {
        let memoise = matches!((bs, ns), (MediaSchema::Value(..), MediaSchema::Value(..)));
        let (bp, np) = (bs.pointer(), ns.pointer());
        if self
            .media_seen
            .iter()
            .any(|(d, m, b, n)| *d == dir && *m == memoise && b == bp && n == np)
        {
            return;
        }
        self.media_seen
            .push((dir, memoise, bp.to_string(), np.to_string()));
        if let (Some(bv), Some(nv)) = (bs.view(self.base.root), ns.view(self.new.root)) {
            self.compare_schema_at(dir, Role::Body, &bv, &nv, "", 0, memoise);
        }
    }
}
