//! Parameters of a matched operation (path, query, header, cookie; Swagger 2.0 bodies and forms
//! are request bodies): matched by location and name, header names without case, path parameters
//! by their position in the template.

use serde_json::Value;

use super::super::refs::{join, resolve};
use super::super::schema::View;
use super::operations::{Op, template_params};
use super::{Differ, Dir, Level, Role, Side, flag};

/// One parameter as an operation sees it (path-level ones inherited).
pub(super) struct Param<'a> {
    /// What matches it across documents: (location, name or `#position` for path parameters).
    key: (String, String),
    location: String,
    name: String,
    ptr: String,
    raw: &'a Value,
    required: bool,
    from_path_item: bool,
}

impl Param<'_> {
    fn describe(&self) -> String {
        format!("the {} parameter `{}`", self.location, self.name)
    }
}

impl<'a> Differ<'a> {
    pub(super) fn compare_parameters(&mut self, b: &Op<'a>, n: &Op<'a>) {
        let bp = parameters(self.base, b);
        let np = parameters(self.new, n);
        for p in &np {
            if !bp.iter().any(|q| q.key == p.key) {
                self.report_added_parameter(p);
            }
        }
        for q in &bp {
            if !np.iter().any(|p| p.key == q.key) {
                self.report_removed_parameter(q);
            }
        }
        for p in &np {
            if let Some(q) = bp.iter().find(|q| q.key == p.key) {
                self.compare_parameter(q, p);
            }
        }
    }

    fn report_added_parameter(&mut self, p: &Param<'a>) {
        let (id, level, tail) = match (p.required, p.from_path_item) {
            (true, true) => (
                "new-required-request-default-parameter-to-existing-path",
                Level::Error,
                "; existing clients don't send it and will be rejected. Make it optional",
            ),
            (true, false) => (
                "new-required-request-parameter",
                Level::Error,
                "; existing clients don't send it and will be rejected. Make it optional",
            ),
            (false, true) => (
                "new-optional-request-default-parameter-to-existing-path",
                Level::Info,
                "",
            ),
            (false, false) => ("new-optional-request-parameter", Level::Info, ""),
        };
        let kind = if p.required { "required" } else { "optional" };
        self.emit(
            id,
            level,
            &p.ptr,
            format!(
                "the {kind} {} parameter `{}` was added{tail}.",
                p.location, p.name
            ),
        );
    }

    fn report_removed_parameter(&mut self, q: &Param<'a>) {
        let what = format!("{} parameter `{}`", q.location, q.name);
        if self.report_removed_deprecated_parameter(q.raw, &q.ptr, &what) {
            return;
        }
        self.emit(
            "request-parameter-removed",
            Level::Warning,
            &q.ptr,
            format!(
                "{} was removed; clients that still send it may be rejected or see it ignored.",
                q.describe()
            ),
        );
    }

    /// One parameter in both: whether it became required, then its schema and its items'.
    fn compare_parameter(&mut self, q: &Param<'a>, p: &Param<'a>) {
        self.compare_parameter_lifecycle(q.raw, p.raw, &p.ptr, &p.describe());
        if p.required && !q.required {
            self.emit(
                "request-parameter-became-required",
                Level::Error,
                &p.ptr,
                format!(
                    "{} became required; clients that omit it will be rejected. Keep it optional.",
                    p.describe()
                ),
            );
        } else if !p.required && q.required {
            self.emit(
                "request-parameter-became-optional",
                Level::Info,
                &p.ptr,
                format!("{} became optional.", p.describe()),
            );
        }
        let (Some(bv), Some(nv)) = (param_schema(self.base, q), param_schema(self.new, p)) else {
            return;
        };
        self.compare_keywords(Dir::Request, Role::Parameter, &bv, &nv, &p.describe());
        if let (Some(bi), Some(ni)) = (&bv.items, &nv.items)
            && let (Some(biv), Some(niv)) = (
                View::of(self.base.root, bi.1, &bi.0),
                View::of(self.new.root, ni.1, &ni.0),
            )
        {
            let what = format!("{}'s items", p.describe());
            self.compare_keywords(Dir::Request, Role::Parameter, &biv, &niv, &what);
        }
    }
}

/// The operation's parameters, path-level ones first and overridden by operation-level ones with
/// the same key.
fn parameters<'a>(side: Side<'a>, op: &Op<'a>) -> Vec<Param<'a>> {
    let names = template_params(op.path);
    let mut out: Vec<Param<'a>> = Vec::new();
    let lists = [
        (
            op.item.get("parameters"),
            join(&op.item_ptr, "parameters"),
            true,
        ),
        (
            op.value.get("parameters"),
            join(&op.ptr, "parameters"),
            false,
        ),
    ];
    for (list, list_ptr, from_path_item) in lists {
        let Some(list) = list.and_then(Value::as_array) else {
            continue;
        };
        for (i, p) in list.iter().enumerate() {
            let Some(param) = parameter(
                side,
                &names,
                p,
                &join(&list_ptr, &i.to_string()),
                from_path_item,
            ) else {
                continue;
            };
            if let Some(existing) = out.iter_mut().find(|e| e.key == param.key) {
                *existing = param;
            } else {
                out.push(param);
            }
        }
    }
    out
}

/// One entry of a `parameters` list, resolved; `None` for bodies and forms (request bodies) and
/// for what names no location or name.
fn parameter<'a>(
    side: Side<'a>,
    names: &[&str],
    p: &'a Value,
    ptr: &str,
    from_path_item: bool,
) -> Option<Param<'a>> {
    let r = resolve(side.root, p, ptr)?;
    let location = r.value.get("in").and_then(Value::as_str)?;
    let name = r.value.get("name").and_then(Value::as_str)?;
    // Swagger 2.0 bodies and forms are compared as request bodies.
    if location == "body" || (side.swagger2 && location == "formData") {
        return None;
    }
    let key = match location {
        "path" => match names.iter().position(|n| *n == name) {
            Some(i) => ("path".to_string(), format!("#{i}")),
            None => ("path".to_string(), name.to_string()),
        },
        "header" => ("header".to_string(), name.to_ascii_lowercase()),
        other => (other.to_string(), name.to_string()),
    };
    Some(Param {
        key,
        location: location.to_string(),
        name: name.to_string(),
        ptr: r.pointer,
        raw: r.value,
        required: location == "path" || flag(r.value.get("required")),
        from_path_item,
    })
}

/// The parameter's schema: the parameter itself in Swagger 2.0, its `schema` or the first media
/// type's schema in OpenAPI 3.
fn param_schema<'a>(side: Side<'a>, p: &Param<'a>) -> Option<View<'a>> {
    if side.swagger2 {
        return View::of(side.root, p.raw, &p.ptr);
    }
    if let Some(schema) = p.raw.get("schema") {
        return View::of(side.root, schema, &join(&p.ptr, "schema"));
    }
    let content = p.raw.get("content")?.as_object()?;
    let (mt, media) = content.iter().next()?;
    let schema = media.get("schema")?;
    View::of(
        side.root,
        schema,
        &join(&join(&join(&p.ptr, "content"), mt), "schema"),
    )
}
