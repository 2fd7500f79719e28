//! Breaking-change detection between two documents: which consumers of `base` would `new` break.
//!
//! Operations are matched by method and path template with parameter names ignored
//! (`/pets/{id}` is `/pets/{petId}`), parameters by location and name (header names without case;
//! path parameters by their position in the template), request bodies and responses by media type,
//! and schemas recursively after `$ref`s are followed and `allOf` is merged. Rule ids and levels are
//! oasdiff's where the concept is the same, so API teams recognise them.
//!
//! Deliberately ignored: `host`, `schemes`, `basePath` and `servers`. Through APIM they only set the
//! backend's service URL; consumers call APIM's own URL (its API suffix plus the path templates), so
//! moving the backend never changes what consumers call. Descriptions, examples, tags and
//! extensions are ignored too.
//!
//! Termination: `$ref` chains are bounded (`refs::MAX_REF_HOPS`), each pair of schemas is compared
//! at most once per operation and direction (which also cuts reference cycles), and schema nesting
//! is followed to [`MAX_SCHEMA_DEPTH`] levels, so neither cycles nor deep documents recurse unboundedly.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use serde_json::Value;

use super::finding::{Finding, Level, Report, sort_findings};
use super::refs::{join, resolve};
use super::schema::{Additional, Bound, Property, View};
use super::{Document, METHODS};

/// Schema nesting compared below a body or parameter; deeper differences go unreported.
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// The diff's report: `{"breaking": bool, "findings": [...]}`.
pub type DiffReport = Report;

/// Findings of `new` against `base`: errors first, then by operation and location.
pub fn diff(base: &Document, new: &Document) -> Vec<Finding> {
    let mut differ = Differ {
        base: Side::of(base),
        new: Side::of(new),
        out: Vec::new(),
        operation: None,
        memo: Memo::default(),
        media_seen: Vec::new(),
    };
    differ.run();
    let mut out = differ.out;
    sort_findings(&mut out);
    out
}

/// [`diff`] wrapped in the report the CLI prints.
pub fn diff_report(base: &Document, new: &Document) -> DiffReport {
    Report::new(diff(base, new))
}

#[derive(Clone, Copy)]
struct Side<'a> {
    root: &'a Value,
    swagger2: bool,
}

impl<'a> Side<'a> {
    fn of(doc: &'a Document) -> Side<'a> {
        Side {
            root: doc.value(),
            swagger2: doc.version().is_swagger2(),
        }
    }
}

struct Op<'a> {
    method: String,
    path: &'a str,
    item: &'a Value,
    item_ptr: String,
    value: &'a Value,
    ptr: String,
}

impl Op<'_> {
    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// `/pets/{petId}` → `/pets/{}`: what identifies a path regardless of parameter names.
fn template_key(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('{');
            }
            '}' if in_param => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// Parameter names in a path template, in order.
pub(crate) fn template_params(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    out
}

fn operations<'a>(side: Side<'a>) -> BTreeMap<(String, String), Op<'a>> {
    let mut out = BTreeMap::new();
    let Some(paths) = side.root.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, item) in paths {
        let item_ptr0 = join("/paths", path);
        let Some(item) = resolve(side.root, item, &item_ptr0) else {
            continue;
        };
        let Some(obj) = item.value.as_object() else {
            continue;
        };
        for (method, op) in obj {
            if !METHODS.contains(&method.as_str()) || !op.is_object() {
                continue;
            }
            out.insert(
                (template_key(path), method.clone()),
                Op {
                    method: method.to_ascii_uppercase(),
                    path,
                    item: item.value,
                    item_ptr: item.pointer.clone(),
                    value: op,
                    ptr: join(&item.pointer, method),
                },
            );
        }
    }
    out
}

fn flag(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

fn is_success(code: &str) -> bool {
    code.starts_with('2')
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Dir {
    Request,
    Response,
}

/// What a schema comparison is about: decides rule ids and the wording of messages.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Parameter,
    Body,
    Property,
}

struct Param<'a> {
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

struct Media<'a> {
    name: String,
    ptr: String,
    schema: Option<MediaSchema<'a>>,
}

#[derive(Clone)]
enum MediaSchema<'a> {
    /// A schema in the document, and where.
    Value(String, &'a Value),
    /// Swagger 2.0 `formData` parameters, compared as the object OpenAPI 3 would describe them
    /// with, so a 2.0 document compares cleanly with its OpenAPI 3 export from APIM.
    Form(String, Vec<Property<'a>>, BTreeSet<String>),
}

impl<'a> MediaSchema<'a> {
    fn pointer(&self) -> &str {
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

struct Body<'a> {
    ptr: String,
    required: bool,
    media: Vec<Media<'a>>,
}

struct Differ<'a> {
    base: Side<'a>,
    new: Side<'a>,
    out: Vec<Finding>,
    operation: Option<String>,
    /// Schema pairs already compared in the current operation, and comparisons remembered across
    /// operations.
    memo: Memo,
    /// Media schemas (by direction and where they are) already compared in the current operation:
    /// the media types of one body or response usually share one schema, and comparing it again
    /// would only find its pair already visited.
    media_seen: Vec<(Dir, bool, String, String)>,
}

/// What one schema comparison depends on besides the schema pairs visited before it: the pair
/// (by pointers and direction), whether each side was viewed as nullable (a `{anyOf: [X, null]}`
/// wrapper views `X` nullable), the role, the property path and the depth.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct MemoKey {
    pair: u32,
    name: u32,
    depth: u32,
    role: Role,
    nullable: (bool, bool),
}

/// One finished comparison whose outcome did not depend on pairs visited before it: the pairs it
/// visited (a range of [`Memo::log`]) and the findings it emitted (a range of [`Differ::out`]).
/// Replaying it in another operation is exact as long as none of those pairs was visited there yet.
struct Entry {
    pairs: Range<usize>,
    findings: Range<usize>,
}

/// A comparison in progress.
struct Frame {
    key: Option<MemoKey>,
    /// Stamp of its own pair: pairs stamped earlier were visited before it started.
    stamp: u64,
    pairs_start: usize,
    findings_start: usize,
    /// It met a pair visited before it started, so its outcome depends on that and is not kept.
    tainted: bool,
}

/// Each pair of shared schemas is compared once per direction, role and property path; later
/// operations reaching the same pair replay the findings under their own name. Which pairs a
/// comparison meets is logged, so a replay happens only where the original run's pruning
/// ("each pair at most once per operation") would have been the same.
#[derive(Default)]
struct Memo {
    base_ptrs: HashMap<String, u32>,
    new_ptrs: HashMap<String, u32>,
    names: HashMap<String, u32>,
    pairs: HashMap<(u32, u32, Dir), u32>,
    /// Per pair: the operation (generation) that last visited it, and when.
    visited: Vec<(u64, u64)>,
    generation: u64,
    tick: u64,
    log: Vec<u32>,
    entries: HashMap<MemoKey, Entry>,
    frames: Vec<Frame>,
}

fn intern(map: &mut HashMap<String, u32>, s: &str) -> u32 {
    if let Some(&id) = map.get(s) {
        return id;
    }
    let id = u32::try_from(map.len()).unwrap_or(u32::MAX);
    map.insert(s.to_string(), id);
    id
}

impl Memo {
    fn pair(&mut self, b: &str, n: &str, dir: Dir) -> u32 {
        let key = (
            intern(&mut self.base_ptrs, b),
            intern(&mut self.new_ptrs, n),
            dir,
        );
        let next = u32::try_from(self.pairs.len()).unwrap_or(u32::MAX);
        let id = *self.pairs.entry(key).or_insert(next);
        if self.visited.len() <= id as usize {
            self.visited.resize(id as usize + 1, (0, 0));
        }
        id
    }

    /// Starts a new operation: nothing visited yet.
    fn next_operation(&mut self) {
        self.generation += 1;
    }

    fn seen(&self, pair: u32) -> Option<u64> {
        let (generation, stamp) = self.visited[pair as usize];
        (generation == self.generation).then_some(stamp)
    }

    fn mark(&mut self, pair: u32) -> u64 {
        self.tick += 1;
        self.visited[pair as usize] = (self.generation, self.tick);
        self.tick
    }

    /// Logs a pair met by the comparisons in progress.
    fn met(&mut self, pair: u32) {
        if !self.frames.is_empty() {
            self.log.push(pair);
        }
    }
}

impl<'a> Differ<'a> {
    fn emit(&mut self, id: &str, level: Level, path: &str, message: String) {
        self.out.push(Finding {
            id: id.to_string(),
            level,
            operation: self.operation.clone(),
            path: path.to_string(),
            message,
        });
    }

    fn run(&mut self) {
        self.compare_security(
            self.base.root.get("security"),
            self.new.root.get("security"),
            "/security",
            "api-global-security",
        );
        let base_ops = operations(self.base);
        let new_ops = operations(self.new);
        let new_templates: BTreeSet<&str> = new_ops.keys().map(|(t, _)| t.as_str()).collect();
        for (key, b) in &base_ops {
            if new_ops.contains_key(key) {
                continue;
            }
            self.operation = Some(b.label());
            let deprecated = flag(b.value.get("deprecated"));
            let path_gone = !new_templates.contains(key.0.as_str());
            let (id, level, what) = match (path_gone, deprecated) {
                (true, false) => (
                    "api-path-removed-without-deprecation",
                    Level::Error,
                    format!(
                        "the path `{}` was removed without being deprecated first",
                        b.path
                    ),
                ),
                (true, true) => (
                    "api-path-removed-with-deprecation",
                    Level::Info,
                    format!("the deprecated path `{}` was removed", b.path),
                ),
                (false, false) => (
                    "api-removed-without-deprecation",
                    Level::Error,
                    "the operation was removed without being deprecated first".to_string(),
                ),
                (false, true) => (
                    "api-removed-with-deprecation",
                    Level::Info,
                    "the deprecated operation was removed".to_string(),
                ),
            };
            let tail = if level == Level::Error {
                "; clients calling it will get 404. Keep it, or deprecate it in a release before removing it"
            } else {
                ""
            };
            self.emit(id, level, &b.ptr, format!("{what}{tail}."));
        }
        for (key, n) in &new_ops {
            let Some(b) = base_ops.get(key) else {
                self.operation = Some(n.label());
                self.emit(
                    "endpoint-added",
                    Level::Info,
                    &n.ptr,
                    "the operation was added.".to_string(),
                );
                continue;
            };
            self.operation = Some(n.label());
            self.memo.next_operation();
            self.media_seen.clear();
            self.compare_operation(b, n);
        }
        self.operation = None;
    }

    fn compare_operation(&mut self, b: &Op<'a>, n: &Op<'a>) {
        let (bdep, ndep) = (
            flag(b.value.get("deprecated")),
            flag(n.value.get("deprecated")),
        );
        if !bdep && ndep {
            let deprecated_ptr = join(&n.ptr, "deprecated");
            if let Some(sunset) = n.value.get("x-sunset").and_then(Value::as_str) {
                self.emit(
                    "endpoint-deprecated-with-sunset",
                    Level::Info,
                    &deprecated_ptr,
                    format!("the operation was deprecated, with sunset date {sunset}."),
                );
            } else {
                self.emit(
                    "endpoint-deprecated",
                    Level::Info,
                    &deprecated_ptr,
                    "the operation was deprecated.".to_string(),
                );
            }
        } else if bdep && !ndep {
            self.emit(
                "endpoint-reactivated",
                Level::Info,
                &n.ptr,
                "the operation is no longer deprecated.".to_string(),
            );
        }
        self.compare_operation_id(b, n);
        self.compare_security(
            b.value.get("security"),
            n.value.get("security"),
            &join(&n.ptr, "security"),
            "api-security",
        );
        self.compare_parameters(b, n);
        self.compare_request_bodies(b, n);
        self.compare_responses(b, n);
    }

    fn compare_operation_id(&mut self, b: &Op<'a>, n: &Op<'a>) {
        let bid = b.value.get("operationId").and_then(Value::as_str);
        let nid = n.value.get("operationId").and_then(Value::as_str);
        match (bid, nid) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => self.emit(
                "api-operation-id-removed",
                Level::Info,
                &join(&n.ptr, "operationId"),
                format!(
                    "the operationId changed from `{x}` to `{y}`; APIM matches operations by \
                     operationId, so it will delete `{x}` (with its policies) and create `{y}`. \
                     Keep the old operationId to keep the APIM operation."
                ),
            ),
            (Some(x), None) => self.emit(
                "api-operation-id-removed",
                Level::Info,
                &b.ptr,
                format!(
                    "the operationId `{x}` was removed; APIM will derive a new name and delete the \
                     old operation with its policies. Keep the operationId."
                ),
            ),
            (None, Some(y)) => self.emit(
                "api-operation-id-added",
                Level::Info,
                &join(&n.ptr, "operationId"),
                format!("the operationId `{y}` was added."),
            ),
            (None, None) => {}
        }
    }

    fn compare_security(&mut self, b: Option<&Value>, n: Option<&Value>, ptr: &str, prefix: &str) {
        let (bs, ns) = (requirements(b), requirements(n));
        for (key, schemes) in &ns {
            match bs.get(key) {
                None => self.emit(
                    &format!("{prefix}-added"),
                    Level::Info,
                    ptr,
                    format!("the security requirement `{key}` was added."),
                ),
                Some(bschemes) => {
                    for (scheme, scopes) in schemes {
                        let before = bschemes.get(scheme);
                        for scope in scopes {
                            if !before.is_some_and(|b| b.contains(scope)) {
                                self.emit(
                                    &format!("{prefix}-scope-added"),
                                    Level::Info,
                                    ptr,
                                    format!(
                                        "the scope `{scope}` was added to the security requirement `{key}`."
                                    ),
                                );
                            }
                        }
                        for scope in before.into_iter().flatten() {
                            if !scopes.contains(scope) {
                                self.emit(
                                    &format!("{prefix}-scope-removed"),
                                    Level::Info,
                                    ptr,
                                    format!(
                                        "the scope `{scope}` was removed from the security requirement `{key}`."
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        for key in bs.keys() {
            if !ns.contains_key(key) {
                self.emit(
                    &format!("{prefix}-removed"),
                    Level::Info,
                    ptr,
                    format!("the security requirement `{key}` was removed."),
                );
            }
        }
    }

    // ---------------------------------------------------------------- parameters

    fn parameters(&self, side: Side<'a>, op: &Op<'a>) -> Vec<Param<'a>> {
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
                let Some(r) = resolve(side.root, p, &join(&list_ptr, &i.to_string())) else {
                    continue;
                };
                let (Some(location), Some(name)) = (
                    r.value.get("in").and_then(Value::as_str),
                    r.value.get("name").and_then(Value::as_str),
                ) else {
                    continue;
                };
                // Swagger 2.0 bodies and forms are compared as request bodies.
                if location == "body" || (side.swagger2 && location == "formData") {
                    continue;
                }
                let key = match location {
                    "path" => match names.iter().position(|n| *n == name) {
                        Some(i) => ("path".to_string(), format!("#{i}")),
                        None => ("path".to_string(), name.to_string()),
                    },
                    "header" => ("header".to_string(), name.to_ascii_lowercase()),
                    other => (other.to_string(), name.to_string()),
                };
                let param = Param {
                    key,
                    location: location.to_string(),
                    name: name.to_string(),
                    ptr: r.pointer,
                    raw: r.value,
                    required: location == "path" || flag(r.value.get("required")),
                    from_path_item,
                };
                // Operation-level parameters override path-level ones with the same key.
                if let Some(existing) = out.iter_mut().find(|e| e.key == param.key) {
                    *existing = param;
                } else {
                    out.push(param);
                }
            }
        }
        out
    }

    fn param_schema(side: Side<'a>, p: &Param<'a>) -> Option<View<'a>> {
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

    fn compare_parameters(&mut self, b: &Op<'a>, n: &Op<'a>) {
        let bp = self.parameters(self.base, b);
        let np = self.parameters(self.new, n);
        for p in &np {
            if bp.iter().any(|q| q.key == p.key) {
                continue;
            }
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
        for q in &bp {
            if np.iter().any(|p| p.key == q.key) {
                continue;
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
        for p in &np {
            let Some(q) = bp.iter().find(|q| q.key == p.key) else {
                continue;
            };
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
            if let (Some(bv), Some(nv)) = (
                Self::param_schema(self.base, q),
                Self::param_schema(self.new, p),
            ) {
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
    }

    // ---------------------------------------------------------------- request bodies

    fn media_types(side: Side<'a>, op: &Op<'a>, key: &str) -> (Vec<String>, String) {
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

    fn request_body(
        side: Side<'a>,
        op: &Op<'a>,
        params: &[(&'a Value, String)],
    ) -> Option<Body<'a>> {
        if side.swagger2 {
            let resolved: Vec<(&'a Value, String)> = params
                .iter()
                .filter_map(|(p, ptr)| resolve(side.root, p, ptr).map(|r| (r.value, r.pointer)))
                .collect();
            let location = |v: &Value| v.get("in").and_then(Value::as_str).map(str::to_string);
            if let Some((raw, ptr)) = resolved
                .iter()
                .find(|(v, _)| location(v).as_deref() == Some("body"))
            {
                let (types, types_ptr) = Self::media_types(side, op, "consumes");
                let schema = raw
                    .get("schema")
                    .map(|s| MediaSchema::Value(join(ptr, "schema"), s));
                return Some(Body {
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
                });
            }
            // Operation-level parameters come first in `params`; keep the first of each name.
            let mut form: Vec<Property<'a>> = Vec::new();
            let mut required = BTreeSet::new();
            for (v, ptr) in &resolved {
                let Some(name) = v.get("name").and_then(Value::as_str) else {
                    continue;
                };
                if location(v).as_deref() != Some("formData") || form.iter().any(|p| p.name == name)
                {
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
            let (mut types, types_ptr) = Self::media_types(side, op, "consumes");
            if op.value.get("consumes").is_none() && side.root.get("consumes").is_none() {
                types = vec![if has_file {
                    "multipart/form-data".to_string()
                } else {
                    "application/x-www-form-urlencoded".to_string()
                }];
            }
            let schema = MediaSchema::Form(first.clone(), form, required.clone());
            return Some(Body {
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
            });
        }
        let body = op.value.get("requestBody")?;
        let r = resolve(side.root, body, &join(&op.ptr, "requestBody"))?;
        Some(Body {
            required: flag(r.value.get("required")),
            media: content_media(r.value, &r.pointer),
            ptr: r.pointer,
        })
    }

    fn body_params(op: &Op<'a>) -> Vec<(&'a Value, String)> {
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
        // Operation-level parameters come last; searching from the end lets them win.
        out.reverse();
        out
    }

    fn compare_request_bodies(&mut self, b: &Op<'a>, n: &Op<'a>) {
        let bb = Self::request_body(self.base, b, &Self::body_params(b));
        let nb = Self::request_body(self.new, n, &Self::body_params(n));
        match (bb, nb) {
            (None, None) => {}
            (Some(bb), None) => self.emit(
                "request-body-removed",
                Level::Error,
                &bb.ptr,
                "the request body was removed; clients that send one may be rejected. Keep accepting it."
                    .to_string(),
            ),
            (None, Some(nb)) => {
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
            (Some(bb), Some(nb)) => {
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
    }

    fn compare_media_schemas(&mut self, dir: Dir, old: &Media<'a>, new: &Media<'a>) {
        let side = match dir {
            Dir::Request => "request",
            Dir::Response => "response",
        };
        match (&old.schema, &new.schema) {
            (Some(bs), Some(ns)) => {
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

    // ---------------------------------------------------------------- responses

    fn responses(side: Side<'a>, op: &Op<'a>) -> BTreeMap<String, (String, &'a Value)> {
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

    fn response_media(side: Side<'a>, op: &Op<'a>, ptr: &str, r: &'a Value) -> Vec<Media<'a>> {
        if !side.swagger2 {
            return content_media(r, ptr);
        }
        let Some(schema) = r.get("schema") else {
            return Vec::new();
        };
        let schema_ptr = join(ptr, "schema");
        let (types, types_ptr) = Self::media_types(side, op, "produces");
        types
            .into_iter()
            .map(|name| Media {
                name,
                ptr: types_ptr.clone(),
                schema: Some(MediaSchema::Value(schema_ptr.clone(), schema)),
            })
            .collect()
    }

    fn compare_responses(&mut self, b: &Op<'a>, n: &Op<'a>) {
        let br = Self::responses(self.base, b);
        let nr = Self::responses(self.new, n);
        for (code, (ptr, _)) in &br {
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
        for (code, (ptr, nv)) in &nr {
            let Some((bptr, bv)) = br.get(code) else {
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
                continue;
            };
            let bm = Self::response_media(self.base, b, bptr, bv);
            let nm = Self::response_media(self.new, n, ptr, nv);
            for m in &bm {
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
            for m in &nm {
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
            self.compare_response_headers(code, bptr, bv, ptr, nv);
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
        let headers = |side: Side<'a>, ptr: &str, v: &'a Value| {
            let mut out: BTreeMap<String, (String, String, bool)> = BTreeMap::new();
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
        };
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

    // ---------------------------------------------------------------- schemas

    /// Compares two schemas in a request or a response. `name` is the property path below the
    /// body (`pet/tags/items`), empty for the body itself.
    fn compare_schema(
        &mut self,
        dir: Dir,
        role: Role,
        b: &View<'a>,
        n: &View<'a>,
        name: &str,
        depth: usize,
    ) {
        self.compare_schema_at(dir, role, b, n, name, depth, true);
    }

    /// [`Self::compare_schema`]; `memoise` is false for views not read from their pointer alone
    /// (Swagger 2.0 forms), which are compared afresh every time.
    #[allow(clippy::too_many_arguments)]
    fn compare_schema_at(
        &mut self,
        dir: Dir,
        role: Role,
        b: &View<'a>,
        n: &View<'a>,
        name: &str,
        depth: usize,
        memoise: bool,
    ) {
        if depth > MAX_SCHEMA_DEPTH {
            return;
        }
        let pair = self.memo.pair(&b.pointer, &n.pointer, dir);
        if let Some(stamp) = self.memo.seen(pair) {
            // Compared earlier in this operation: the comparisons in progress that started after
            // that depend on it, so they are not remembered.
            self.memo.met(pair);
            for frame in self.memo.frames.iter_mut().rev() {
                if frame.stamp <= stamp {
                    break;
                }
                frame.tainted = true;
            }
            return;
        }
        let key = memoise.then(|| MemoKey {
            pair,
            name: intern(&mut self.memo.names, name),
            depth: u32::try_from(depth).unwrap_or(u32::MAX),
            role,
            nullable: (b.nullable, n.nullable),
        });
        if let Some(key) = key
            && self.replay(key)
        {
            return;
        }
        let stamp = self.memo.mark(pair);
        let pairs_start = self.memo.log.len();
        self.memo.log.push(pair);
        self.memo.frames.push(Frame {
            key,
            stamp,
            pairs_start,
            findings_start: self.out.len(),
            tainted: false,
        });
        self.compare_schema_body(dir, role, b, n, name, depth);
        if let Some(frame) = self.memo.frames.pop()
            && !frame.tainted
            && let Some(key) = frame.key
        {
            let entry = Entry {
                pairs: frame.pairs_start..self.memo.log.len(),
                findings: frame.findings_start..self.out.len(),
            };
            self.memo.entries.entry(key).or_insert(entry);
        }
    }

    /// Replays a remembered comparison in the current operation, if no pair it visited has been
    /// visited here yet (otherwise the original would have been pruned differently).
    fn replay(&mut self, key: MemoKey) -> bool {
        let Some(entry) = self.memo.entries.get(&key) else {
            return false;
        };
        let (pairs, findings) = (entry.pairs.clone(), entry.findings.clone());
        if self.memo.log[pairs.clone()]
            .iter()
            .any(|&p| self.memo.seen(p).is_some())
        {
            return false;
        }
        for i in pairs.clone() {
            let p = self.memo.log[i];
            if self.memo.seen(p).is_none() {
                self.memo.mark(p);
            }
        }
        if !self.memo.frames.is_empty() {
            self.memo.log.extend_from_within(pairs);
        }
        self.out.reserve(findings.len());
        for i in findings {
            let f = &self.out[i];
            let copy = Finding {
                id: f.id.clone(),
                level: f.level,
                operation: self.operation.clone(),
                path: f.path.clone(),
                message: f.message.clone(),
            };
            self.out.push(copy);
        }
        true
    }

    fn compare_schema_body(
        &mut self,
        dir: Dir,
        role: Role,
        b: &View<'a>,
        n: &View<'a>,
        name: &str,
        depth: usize,
    ) {
        let what = describe(dir, role, name);
        self.compare_keywords(dir, role, b, n, &what);
        self.compare_additional(dir, role, b, n, name, &what, depth);
        self.compare_properties(dir, b, n, name, depth);
        if let (Some(bi), Some(ni)) = (&b.items, &n.items)
            && let (Some(bv), Some(nv)) = (
                View::of(self.base.root, bi.1, &bi.0),
                View::of(self.new.root, ni.1, &ni.0),
            )
        {
            let child = child_name(name, "items");
            self.compare_schema(dir, Role::Property, &bv, &nv, &child, depth + 1);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn compare_additional(
        &mut self,
        dir: Dir,
        role: Role,
        b: &View<'a>,
        n: &View<'a>,
        name: &str,
        what: &str,
        depth: usize,
    ) {
        let prefix = prefix(dir, role);
        match (&b.additional, &n.additional) {
            (Additional::Schema(bp, bs), Additional::Schema(np, ns)) => {
                if let (Some(bv), Some(nv)) = (
                    View::of(self.base.root, bs, bp),
                    View::of(self.new.root, ns, np),
                ) {
                    let child = child_name(name, "additionalProperties");
                    self.compare_schema(dir, Role::Property, &bv, &nv, &child, depth + 1);
                }
            }
            (Additional::Allowed | Additional::Schema(..), Additional::Forbidden)
                if dir == Dir::Request =>
            {
                self.emit(
                    &format!("{prefix}-additional-properties-disallowed"),
                    Level::Error,
                    &join(&n.pointer, "additionalProperties"),
                    format!(
                        "{what} no longer accepts additional properties; requests carrying extra members \
                         will be rejected. Keep additionalProperties allowed."
                    ),
                );
            }
            (Additional::Forbidden, Additional::Allowed | Additional::Schema(..))
                if dir == Dir::Request =>
            {
                self.emit(
                    &format!("{prefix}-additional-properties-allowed"),
                    Level::Info,
                    &n.pointer,
                    format!("{what} now accepts additional properties."),
                );
            }
            _ => {}
        }
    }

    fn compare_properties(
        &mut self,
        dir: Dir,
        b: &View<'a>,
        n: &View<'a>,
        name: &str,
        depth: usize,
    ) {
        if !b.has_properties() && !n.has_properties() {
            return;
        }
        let view_of =
            |root: &'a Value, p: &super::schema::Property<'a>| View::of(root, p.value, &p.pointer);
        // A property the server sets (readOnly) is never sent by clients, one clients set
        // (writeOnly) never returned; either way it is not part of that direction's contract.
        let hidden_view = |v: &View<'a>| match dir {
            Dir::Request => v.read_only,
            Dir::Response => v.write_only,
        };
        let hidden = |v: &Option<View<'a>>| v.as_ref().is_some_and(hidden_view);
        for np in &n.properties {
            if b.property(&np.name).is_some() {
                continue;
            }
            let nv = view_of(self.new.root, np);
            if hidden(&nv) {
                continue;
            }
            let child = child_name(name, &np.name);
            let required = n.required.contains(&np.name);
            match (dir, required) {
                (Dir::Request, true) => self.emit(
                    "new-required-request-property",
                    Level::Error,
                    &np.pointer,
                    format!(
                        "the required request property `{child}` was added; existing clients don't send it \
                         and will be rejected. Make it optional."
                    ),
                ),
                (Dir::Request, false) => self.emit(
                    "new-optional-request-property",
                    Level::Info,
                    &np.pointer,
                    format!("the optional request property `{child}` was added."),
                ),
                (Dir::Response, true) => self.emit(
                    "response-required-property-added",
                    Level::Info,
                    &np.pointer,
                    format!("the required response property `{child}` was added."),
                ),
                (Dir::Response, false) => self.emit(
                    "response-optional-property-added",
                    Level::Info,
                    &np.pointer,
                    format!("the optional response property `{child}` was added."),
                ),
            }
        }
        for bp in &b.properties {
            if n.property(&bp.name).is_some() {
                continue;
            }
            let bv = view_of(self.base.root, bp);
            if hidden(&bv) {
                continue;
            }
            let child = child_name(name, &bp.name);
            match dir {
                Dir::Request => self.emit(
                    "request-property-removed",
                    Level::Warning,
                    &bp.pointer,
                    format!(
                        "the request property `{child}` was removed; clients that still send it may be \
                         rejected or see it ignored."
                    ),
                ),
                Dir::Response if b.required.contains(&bp.name) => self.emit(
                    "response-required-property-removed",
                    Level::Error,
                    &bp.pointer,
                    format!(
                        "the required response property `{child}` was removed; clients reading it will break. \
                         Keep returning it."
                    ),
                ),
                Dir::Response => self.emit(
                    "response-optional-property-removed",
                    Level::Warning,
                    &bp.pointer,
                    format!(
                        "the optional response property `{child}` was removed; clients that use it lose it."
                    ),
                ),
            }
        }
        for np in &n.properties {
            let Some(bp) = b.property(&np.name) else {
                continue;
            };
            let (Some(bv), Some(nv)) = (view_of(self.base.root, bp), view_of(self.new.root, np))
            else {
                continue;
            };
            if hidden_view(&nv) {
                continue;
            }
            let child = child_name(name, &np.name);
            let (was, is) = (b.required.contains(&np.name), n.required.contains(&np.name));
            match (dir, was, is) {
                (Dir::Request, false, true) => self.emit(
                    "request-property-became-required",
                    Level::Error,
                    &np.pointer,
                    format!(
                        "the request property `{child}` became required; clients that omit it will be \
                         rejected. Keep it optional."
                    ),
                ),
                (Dir::Request, true, false) => self.emit(
                    "request-property-became-optional",
                    Level::Info,
                    &np.pointer,
                    format!("the request property `{child}` became optional."),
                ),
                (Dir::Response, true, false) => self.emit(
                    "response-property-became-optional",
                    Level::Error,
                    &np.pointer,
                    format!(
                        "the response property `{child}` became optional; clients that expect it will \
                         break when it is missing. Keep it required."
                    ),
                ),
                (Dir::Response, false, true) => self.emit(
                    "response-property-became-required",
                    Level::Info,
                    &np.pointer,
                    format!("the response property `{child}` became required."),
                ),
                _ => {}
            }
            self.compare_schema(dir, Role::Property, &bv, &nv, &child, depth + 1);
        }
    }

    /// Type, format, nullable, enum, pattern and bounds: the keywords that decide which values pass.
    fn compare_keywords(&mut self, dir: Dir, role: Role, b: &View<'a>, n: &View<'a>, what: &str) {
        let prefix = prefix(dir, role);
        self.compare_types(dir, prefix, b, n, what);
        self.compare_nullable(dir, prefix, b, n, what);
        self.compare_enum(dir, role, prefix, b, n, what);
        self.compare_pattern(dir, role, prefix, b, n, what);
        self.compare_bounds(dir, prefix, b, n, what);
        self.compare_lengths(dir, prefix, b, n, what);
    }

    fn compare_types(&mut self, dir: Dir, prefix: &str, b: &View<'a>, n: &View<'a>, what: &str) {
        let (Some(bt), Some(nt)) = (&b.types, &n.types) else {
            return;
        };
        let (bf, nf) = (constraining(b.format), constraining(n.format));
        if bt == nt && bf == nf {
            return;
        }
        let widened = accepts_all(bt, bf, nt, nf);
        let narrowed = accepts_all(nt, nf, bt, bf);
        let change = format!("from {} to {}", b.type_text(), n.type_text());
        let ptr = join(&n.pointer, if bt == nt { "format" } else { "type" });
        match dir {
            Dir::Request if widened => self.emit(
                &format!("{prefix}-type-generalized"),
                Level::Info,
                &ptr,
                format!("{what}'s type was generalized {change}."),
            ),
            Dir::Request => self.emit(
                &format!("{prefix}-type-changed"),
                Level::Error,
                &ptr,
                format!(
                    "{what}'s type changed {change}; values clients send today may be rejected. \
                     Keep the old type or add a new field."
                ),
            ),
            Dir::Response if narrowed => self.emit(
                &format!("{prefix}-type-specialized"),
                Level::Info,
                &ptr,
                format!("{what}'s type was narrowed {change}."),
            ),
            Dir::Response if widened => self.emit(
                &format!("{prefix}-type-generalized"),
                Level::Error,
                &ptr,
                format!(
                    "{what}'s type was widened {change}; clients parsing the old type may break. \
                     Keep the old type or add a new field."
                ),
            ),
            Dir::Response => self.emit(
                &format!("{prefix}-type-changed"),
                Level::Error,
                &ptr,
                format!(
                    "{what}'s type changed {change}; clients parsing the old type will break. \
                     Keep the old type or add a new field."
                ),
            ),
        }
    }

    fn compare_nullable(&mut self, dir: Dir, prefix: &str, b: &View<'a>, n: &View<'a>, what: &str) {
        if b.nullable == n.nullable {
            return;
        }
        let ptr = n.pointer.clone();
        match (dir, n.nullable) {
            (Dir::Request, false) => self.emit(
                &format!("{prefix}-became-not-nullable"),
                Level::Error,
                &ptr,
                format!("{what} is no longer nullable; clients that send null will be rejected. Keep it nullable."),
            ),
            (Dir::Request, true) => self.emit(
                &format!("{prefix}-became-nullable"),
                Level::Info,
                &ptr,
                format!("{what} became nullable."),
            ),
            (Dir::Response, true) => self.emit(
                &format!("{prefix}-became-nullable"),
                Level::Error,
                &ptr,
                format!("{what} became nullable; clients that don't expect null will break. Keep it non-null."),
            ),
            (Dir::Response, false) => self.emit(
                &format!("{prefix}-became-not-nullable"),
                Level::Info,
                &ptr,
                format!("{what} is no longer nullable."),
            ),
        }
    }

    fn compare_enum(
        &mut self,
        dir: Dir,
        role: Role,
        prefix: &str,
        b: &View<'a>,
        n: &View<'a>,
        what: &str,
    ) {
        let ptr = join(&n.pointer, "enum");
        match (&b.enum_values, &n.enum_values) {
            (None, Some(values)) if dir == Dir::Request => self.emit(
                &format!("{prefix}-became-enum"),
                Level::Error,
                &ptr,
                format!(
                    "{what} became an enum of {}; other values clients send today will be rejected.",
                    list(values)
                ),
            ),
            (Some(bv), Some(nv)) => {
                let added: Vec<&Value> = nv.iter().filter(|v| !bv.contains(v)).copied().collect();
                let removed: Vec<&Value> = bv.iter().filter(|v| !nv.contains(v)).copied().collect();
                let body = role == Role::Body;
                match dir {
                    Dir::Request => {
                        if !removed.is_empty() {
                            self.emit(
                                &format!("{prefix}-enum-value-removed"),
                                Level::Error,
                                &ptr,
                                format!(
                                    "{what} no longer accepts {}; clients sending it will be rejected. Keep the value.",
                                    list(&removed)
                                ),
                            );
                        }
                        if !added.is_empty() {
                            self.emit(
                                &format!("{prefix}-enum-value-added"),
                                Level::Info,
                                &ptr,
                                format!("{what} now also accepts {}.", list(&added)),
                            );
                        }
                    }
                    Dir::Response => {
                        if !added.is_empty() {
                            let id = if body {
                                "response-mediatype-enum-value-added"
                            } else {
                                "response-property-enum-value-added"
                            };
                            self.emit(
                                id,
                                Level::Warning,
                                &ptr,
                                format!(
                                    "{what} may now return {}; clients that switch over the known values \
                                     may not handle it.",
                                    list(&added)
                                ),
                            );
                        }
                        if !removed.is_empty() {
                            let id = if body {
                                "response-mediatype-enum-value-removed"
                            } else {
                                "response-property-enum-value-removed"
                            };
                            self.emit(
                                id,
                                Level::Info,
                                &ptr,
                                format!("{what} no longer returns {}.", list(&removed)),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn compare_pattern(
        &mut self,
        dir: Dir,
        role: Role,
        prefix: &str,
        b: &View<'a>,
        n: &View<'a>,
        what: &str,
    ) {
        if b.pattern == n.pattern || (dir == Dir::Response && role == Role::Body) {
            return;
        }
        let ptr = join(&n.pointer, "pattern");
        let level = |request: Level| match dir {
            Dir::Request => request,
            Dir::Response => Level::Info,
        };
        match (b.pattern, n.pattern) {
            (None, Some(p)) => self.emit(
                &format!("{prefix}-pattern-added"),
                level(Level::Error),
                &ptr,
                format!("{what} must now match the pattern `{p}`; values that don't are rejected."),
            ),
            (Some(p), None) => self.emit(
                &format!("{prefix}-pattern-removed"),
                Level::Info,
                &n.pointer,
                format!("{what} no longer has to match the pattern `{p}`."),
            ),
            (Some(old), Some(p)) => self.emit(
                &format!("{prefix}-pattern-changed"),
                level(Level::Warning),
                &ptr,
                format!(
                    "{what}'s pattern changed from `{old}` to `{p}`; check that every value matching the \
                     old pattern still matches."
                ),
            ),
            (None, None) => {}
        }
    }

    fn compare_bounds(&mut self, dir: Dir, prefix: &str, b: &View<'a>, n: &View<'a>, what: &str) {
        for upper in [true, false] {
            let (bb, nb) = if upper {
                (b.max, n.max)
            } else {
                (b.min, n.min)
            };
            let word = if upper { "max" } else { "min" };
            let keyword = match (upper, nb.is_some_and(|x| x.exclusive)) {
                (true, false) => "maximum",
                (true, true) => "exclusiveMaximum",
                (false, false) => "minimum",
                (false, true) => "exclusiveMinimum",
            };
            let ex = |x: Option<Bound>| {
                if x.is_some_and(|x| x.exclusive) {
                    "exclusive-"
                } else {
                    ""
                }
            };
            let ptr = join(&n.pointer, keyword);
            let stricter = |old: Bound, new: Bound| {
                let tighter = if upper {
                    new.value < old.value
                } else {
                    new.value > old.value
                };
                tighter || (new.value == old.value && new.exclusive && !old.exclusive)
            };
            match (dir, bb, nb) {
                (Dir::Request, None, Some(x)) => self.emit(
                    &format!("{prefix}-{}{word}-set", ex(nb)),
                    Level::Warning,
                    &ptr,
                    format!(
                        "{what} now has a {keyword} of {}; {} values clients send today are rejected.",
                        x.value,
                        if upper { "larger" } else { "smaller" }
                    ),
                ),
                (Dir::Request, Some(o), Some(x)) if stricter(o, x) => {
                    let dirword = if upper { "decreased" } else { "increased" };
                    self.emit(
                        &format!("{prefix}-{}{word}-{dirword}", ex(nb)),
                        Level::Error,
                        &ptr,
                        format!(
                            "{what}'s {keyword} {dirword} from {} to {}; values clients send today may be rejected.",
                            o.value, x.value
                        ),
                    )
                }
                (Dir::Request, Some(o), Some(x)) if stricter(x, o) => {
                    let dirword = if upper { "increased" } else { "decreased" };
                    self.emit(
                        &format!("{prefix}-{}{word}-{dirword}", ex(nb)),
                        Level::Info,
                        &ptr,
                        format!("{what}'s {keyword} {dirword} from {} to {}.", o.value, x.value),
                    )
                }
                (Dir::Response, Some(o), x) if x.is_none_or(|x| stricter(x, o)) => {
                    let dirword = if upper { "increased" } else { "decreased" };
                    let change = match x {
                        Some(x) => format!("from {} to {}", o.value, x.value),
                        None => format!("from {} to unbounded", o.value),
                    };
                    self.emit(
                        &format!("{prefix}-{}{word}-{dirword}", ex(Some(o))),
                        Level::Error,
                        &n.pointer,
                        format!(
                            "{what}'s {word}imum {dirword} {change}; clients sized for the old range may break."
                        ),
                    )
                }
                _ => {}
            }
        }
    }

    fn compare_lengths(&mut self, dir: Dir, prefix: &str, b: &View<'a>, n: &View<'a>, what: &str) {
        // (keyword, rule word, base, new, is an upper bound)
        let pairs = [
            ("maxLength", "max-length", b.max_length, n.max_length, true),
            ("minLength", "min-length", b.min_length, n.min_length, false),
            ("maxItems", "max-items", b.max_items, n.max_items, true),
            ("minItems", "min-items", b.min_items, n.min_items, false),
        ];
        for (keyword, word, old, new, upper) in pairs {
            let ptr = join(&n.pointer, keyword);
            if upper {
                match (dir, old, new) {
                    (Dir::Request, None, Some(x)) => self.emit(
                        &format!("{prefix}-{word}-set"),
                        Level::Warning,
                        &ptr,
                        format!("{what} now has a {keyword} of {x}; longer values clients send today are rejected."),
                    ),
                    (Dir::Request, Some(o), Some(x)) if x < o => self.emit(
                        &format!("{prefix}-{word}-decreased"),
                        Level::Error,
                        &ptr,
                        format!("{what}'s {keyword} decreased from {o} to {x}; longer values are now rejected."),
                    ),
                    (Dir::Request, Some(o), Some(x)) if x > o => self.emit(
                        &format!("{prefix}-{word}-increased"),
                        Level::Info,
                        &ptr,
                        format!("{what}'s {keyword} increased from {o} to {x}."),
                    ),
                    (Dir::Response, Some(o), Some(x)) if x > o => self.emit(
                        &format!("{prefix}-{word}-increased"),
                        Level::Error,
                        &ptr,
                        format!("{what}'s {keyword} increased from {o} to {x}; clients sized for the old limit may break."),
                    ),
                    (Dir::Response, Some(o), None) => self.emit(
                        &format!("{prefix}-{word}-unset"),
                        Level::Error,
                        &n.pointer,
                        format!("{what}'s {keyword} of {o} was removed; clients sized for it may break."),
                    ),
                    _ => {}
                }
            } else {
                match (dir, old, new) {
                    (Dir::Request, None, Some(x)) if word == "min-items" => self.emit(
                        &format!("{prefix}-{word}-set"),
                        Level::Warning,
                        &ptr,
                        format!("{what} now has a {keyword} of {x}; shorter values clients send today are rejected."),
                    ),
                    (Dir::Request, o, Some(x)) if x > o.unwrap_or(0.0) => self.emit(
                        &format!("{prefix}-{word}-increased"),
                        Level::Error,
                        &ptr,
                        format!(
                            "{what}'s {keyword} increased from {} to {x}; shorter values are now rejected.",
                            o.unwrap_or(0.0)
                        ),
                    ),
                    (Dir::Request, Some(o), x) if x.unwrap_or(0.0) < o => self.emit(
                        &format!("{prefix}-{word}-decreased"),
                        Level::Info,
                        &n.pointer,
                        format!("{what}'s {keyword} decreased from {o} to {}.", x.unwrap_or(0.0)),
                    ),
                    (Dir::Response, Some(o), None) if word == "min-items" => self.emit(
                        &format!("{prefix}-{word}-unset"),
                        Level::Error,
                        &n.pointer,
                        format!("{what}'s {keyword} of {o} was removed; clients that rely on it may break."),
                    ),
                    (Dir::Response, Some(o), x) if x.unwrap_or(0.0) < o => self.emit(
                        &format!("{prefix}-{word}-decreased"),
                        Level::Error,
                        &n.pointer,
                        format!(
                            "{what}'s {keyword} decreased from {o} to {}; clients that rely on it may break.",
                            x.unwrap_or(0.0)
                        ),
                    ),
                    _ => {}
                }
            }
        }
    }
}

/// Media types of an OpenAPI 3 `content` map.
fn content_media<'a>(v: &'a Value, ptr: &str) -> Vec<Media<'a>> {
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

fn same_media(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Security requirements keyed by their scheme names (`oauth + apiKey`), with scopes per scheme.
fn requirements(v: Option<&Value>) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut out = BTreeMap::new();
    for req in v.and_then(Value::as_array).into_iter().flatten() {
        let Some(obj) = req.as_object() else { continue };
        let schemes: BTreeMap<String, BTreeSet<String>> = obj
            .iter()
            .map(|(k, scopes)| {
                (
                    k.clone(),
                    scopes
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                )
            })
            .collect();
        let key = if schemes.is_empty() {
            "(anonymous)".to_string()
        } else {
            schemes.keys().cloned().collect::<Vec<_>>().join(" + ")
        };
        out.insert(key, schemes);
    }
    out
}

/// A format that restricts values; `binary` and `password` only describe them (2.0 generators
/// often write a file as a plain string where OpenAPI 3 says `format: binary`).
fn constraining(format: Option<&str>) -> Option<&str> {
    format.filter(|f| !matches!(*f, "binary" | "password"))
}

/// Whether every value of type `old`/`old_format` is also a value of `new`/`new_format`.
fn accepts_all(
    old: &BTreeSet<String>,
    old_format: Option<&str>,
    new: &BTreeSet<String>,
    new_format: Option<&str>,
) -> bool {
    let types_ok = old
        .iter()
        .all(|t| new.contains(t) || (t == "integer" && new.contains("number")));
    let format_ok = match (old_format, new_format) {
        (_, None) => true,
        (Some(o), Some(n)) => o == n || matches!((o, n), ("int32", "int64") | ("float", "double")),
        (None, Some(_)) => false,
    };
    types_ok && format_ok
}

fn prefix(dir: Dir, role: Role) -> &'static str {
    match (dir, role) {
        (Dir::Request, Role::Parameter) => "request-parameter",
        (Dir::Request, Role::Body) => "request-body",
        (Dir::Request, Role::Property) => "request-property",
        (Dir::Response, Role::Body | Role::Parameter) => "response-body",
        (Dir::Response, Role::Property) => "response-property",
    }
}

fn describe(dir: Dir, role: Role, name: &str) -> String {
    let side = match dir {
        Dir::Request => "request",
        Dir::Response => "response",
    };
    match role {
        Role::Body | Role::Parameter => format!("the {side} body"),
        Role::Property => format!("the {side} property `{name}`"),
    }
}

fn child_name(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}/{child}")
    }
}

fn list(values: &[&Value]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shared definitions are compared once and replayed per operation, but each operation still
    /// reports a schema only at its first place, as if compared afresh.
    #[test]
    fn shared_schemas_report_the_same_in_every_operation() {
        let doc = |t: &str| {
            let ops = |codes: &[(&str, &str)]| {
                let responses: serde_json::Map<String, Value> = codes
                    .iter()
                    .map(|(c, d)| {
                        let schema = serde_json::json!({"$ref": format!("#/definitions/{d}")});
                        (
                            (*c).to_string(),
                            serde_json::json!({"description": "", "schema": schema}),
                        )
                    })
                    .collect();
                serde_json::json!({"get": {"responses": responses}})
            };
            let value = serde_json::json!({
                "swagger": "2.0", "info": {"title": "t", "version": "1"},
                "paths": {
                    "/p1": ops(&[("200", "B"), ("201", "A")]),
                    "/p2": ops(&[("200", "B"), ("201", "A")]),
                    "/p3": ops(&[("201", "A")]),
                },
                "definitions": {
                    "A": {"type": "object", "properties": {"x": {"type": t}, "b": {"$ref": "#/definitions/B"}}},
                    "B": {"type": "object", "properties": {"y": {"type": t}}},
                }
            });
            Document::parse(value.to_string().as_bytes()).unwrap()
        };
        let findings = diff(&doc("string"), &doc("integer"));
        let of = |op: &str| {
            findings
                .iter()
                .filter(|f| f.operation.as_deref() == Some(op))
                .map(|f| (f.id.clone(), f.path.clone(), f.message.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(of("GET /p1"), of("GET /p2"));
        assert_eq!(of("GET /p1").len(), 2);
        assert!(!of("GET /p1").iter().any(|f| f.2.contains("`b/y`")));
        assert_eq!(of("GET /p3").len(), 2);
        assert!(of("GET /p3").iter().any(|f| f.2.contains("`b/y`")));
    }

    #[test]
    fn template_keys_ignore_parameter_names() {
        assert_eq!(template_key("/pets/{id}/toys/{toyId}"), "/pets/{}/toys/{}");
        assert_eq!(template_key("/pets/{petId}/toys/{x}"), "/pets/{}/toys/{}");
        assert_eq!(template_params("/a/{x}/b/{y}"), vec!["x", "y"]);
        assert!(template_params("/a/{x").is_empty());
    }

    #[test]
    fn type_widening() {
        let s = |t: &[&str]| t.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        assert!(accepts_all(
            &s(&["integer"]),
            Some("int32"),
            &s(&["number"]),
            None
        ));
        assert!(accepts_all(
            &s(&["integer"]),
            Some("int32"),
            &s(&["integer"]),
            Some("int64")
        ));
        assert!(!accepts_all(&s(&["integer"]), None, &s(&["string"]), None));
        assert!(!accepts_all(
            &s(&["string"]),
            None,
            &s(&["string"]),
            Some("uuid")
        ));
    }
}
