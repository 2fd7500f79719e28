//! The APIM import lint: what Azure API Management rejects or silently changes when it imports a
//! document inline, found before anything is written. Errors stop the gate; warnings are reported.
//!
//! Sources: Microsoft's "API import restrictions and known issues" (learn.microsoft.com,
//! api-management-api-import-restrictions), the APIM facts in the shared fixtures' README, and the
//! API Management team's notes on operationId normalisation.
//!
//! | rule id | level | what APIM does |
//! |---|---|---|
//! | `apim-size-limit` | error | refuses inline documents over 4 MB (compact JSON, as sent) |
//! | `apim-swagger2-no-scheme` | error | refuses Swagger 2.0 without an `http`/`https` scheme: "Cannot infer scheme" |
//! | `apim-base-path-invalid` | error | (apim-gate's own) a `basePath` or server path that, joined to the address APIM calls, could name another host: not starting with `/`, or holding `@`, `\`, `?`, `#`, whitespace, control characters or `..` |
//! | `apim-external-ref` | error | cannot follow `$ref`s to other files |
//! | `apim-unresolved-ref` | error | fails on a local `$ref` that names nothing |
//! | `apim-operation-id-collision` | error | two operationIds normalise to the same name: one gets a `-1` suffix and updates match the wrong operation |
//! | `apim-duplicate-operation` | error | two operations with the same method and template (parameter names aside): "Operation with the same method and URL template already exists" |
//! | `apim-duplicate-url-parameter` | error | required path and query parameter names must be unique in the URL template, without case |
//! | `apim-path-parameter-not-in-template` | error | a declared path parameter must be part of the URL template |
//! | `apim-template-parameter-undeclared` | error | a `{name}` in the path needs a path parameter |
//! | `apim-operation-id-missing` | warning | derives a name from method and path, which changes when the path does (one finding for the document when no operation has one) |
//! | `apim-operation-id-truncated` | warning | cuts normalised operationIds at 76 characters |
//! | `apim-recursive-schema` | warning | does not support recursive definitions |
//! | `apim-cookie-parameter` | warning | does not import cookie parameters |
//! | `apim-form-parameter` | warning | Swagger 2.0 `formData` parameters become a form representation, not parameters |
//! | `apim-path-servers` | warning | ignores `servers` on a path item |
//! | `apim-operation-servers` | warning | ignores `servers` on an operation |
//! | `apim-body-ignored` | warning | discards request bodies of GET, HEAD and OPTIONS |
//! | `apim-openapi31-webhooks` | warning | imports OpenAPI 3.1 `webhooks` as nothing |
//! | `apim-openapi31-type-array` | warning | 3.1 `type` arrays with several non-null types are imported poorly |
//! | `apim-openapi31-keyword` | warning | 3.1-only JSON Schema keywords (`const`, `prefixItems`, `$schema`, `if`...) are dropped |

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::backend_url::{RULE as BASE_PATH_RULE, check_path, quoted};
use super::diff::template_params;
use super::finding::{Cap, sort_findings};
use super::refs::{escape, join, local_pointer, ref_of, resolve};
use super::rewrite::server_path;
use super::{Document, Finding, Level, METHODS, SpecVersion};

/// APIM's limit for documents sent inline.
pub const MAX_INLINE_BYTES: usize = 4 * 1024 * 1024;

/// Length at which APIM cuts normalised operationIds.
pub const MAX_OPERATION_ID: usize = 76;

/// Nesting followed by the document walk; parsers stop far earlier, this is a backstop.
const MAX_WALK_DEPTH: usize = 512;

/// What APIM would reject or silently change in `doc`, errors first.
pub fn lint(doc: &Document) -> Vec<Finding> {
    let mut l = Linter {
        root: doc.value(),
        version: doc.version(),
        out: Vec::new(),
        cap: Cap::default(),
    };
    l.size(doc);
    l.schemes();
    l.base_path();
    l.operations();
    l.walk_document();
    l.recursion();
    let notes = l.cap.notes();
    l.out.extend(notes);
    sort_findings(&mut l.out);
    l.out
}

/// [`lint`] wrapped in the report the CLI prints.
pub fn lint_report(doc: &Document) -> super::finding::Report {
    super::finding::Report::new(lint(doc))
}

/// The name APIM gives an operation with this operationId: lower case, each run of characters other
/// than ASCII letters and digits replaced by one `-`, at most 76 characters.
pub fn normalize_operation_id(id: &str) -> String {
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
    out.chars().take(MAX_OPERATION_ID).collect()
}

fn untruncated_len(id: &str) -> usize {
    let mut n = 0;
    let mut dash = false;
    for c in id.chars() {
        if c.is_ascii_alphanumeric() {
            n += 1;
            dash = false;
        } else if !dash {
            n += 1;
            dash = true;
        }
    }
    n
}

struct Linter<'a> {
    root: &'a Value,
    version: &'a SpecVersion,
    out: Vec<Finding>,
    /// At most [`super::finding::MAX_FINDINGS_PER_RULE`] of each rule are kept.
    cap: Cap,
}

/// One step of a JSON pointer, borrowed from the document: the walk keeps the path to where it
/// is as tokens and builds a pointer only for a finding it keeps. Copying the parent's pointer for
/// every child made a 600 KB document (a 60,000-character name over a 30,000-entry `allOf`) take
/// gigabytes.
#[derive(Clone, Copy)]
enum Token<'a> {
    Key(&'a str),
    Index(usize),
}

/// The JSON pointer of a path of tokens.
fn pointer(path: &[Token<'_>]) -> String {
    let mut out = String::new();
    for token in path {
        out.push('/');
        match token {
            Token::Key(k) => out.push_str(&escape(k)),
            Token::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

impl<'a> Linter<'a> {
    fn emit(
        &mut self,
        id: &str,
        level: Level,
        operation: Option<String>,
        path: &str,
        message: String,
    ) {
        self.emit_with(id, level, operation, || path.to_string(), || message);
    }

    /// [`Self::emit`] that builds the pointer and the message only when the finding is kept.
    fn emit_with(
        &mut self,
        id: &str,
        level: Level,
        operation: Option<String>,
        path: impl FnOnce() -> String,
        message: impl FnOnce() -> String,
    ) {
        if !self.cap.admit(id, level) {
            return;
        }
        self.out.push(Finding {
            id: id.to_string(),
            level,
            operation,
            path: path(),
            message: message(),
        });
    }

    fn size(&mut self, doc: &Document) {
        let size = doc.to_compact_json().len();
        if size > MAX_INLINE_BYTES {
            self.emit(
                "apim-size-limit",
                Level::Error,
                None,
                "",
                format!(
                    "the document is {size} bytes as compact JSON; APIM refuses inline documents over \
                     {MAX_INLINE_BYTES} bytes (4 MB). Split the API, or drop examples and unused schemas."
                ),
            );
        }
    }

    fn schemes(&mut self) {
        if !self.version.is_swagger2() {
            return;
        }
        let schemes: Vec<&str> = self
            .root
            .get("schemes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if schemes
            .iter()
            .any(|s| s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("http"))
        {
            return;
        }
        let (path, found) = if self.root.get("schemes").is_some() {
            ("/schemes", format!("`schemes` is {:?}", schemes))
        } else {
            ("", "`schemes` is missing".to_string())
        };
        self.emit(
            "apim-swagger2-no-scheme",
            Level::Error,
            None,
            path,
            format!(
                "{found}; APIM refuses a Swagger 2.0 document without an http or https scheme \
                 (\"Cannot infer scheme from the document\"). Set `schemes: [\"https\"]` (apim-gate's \
                 rewrite does when it sets the host)."
            ),
        );
    }

    /// `basePath` (Swagger 2.0) or each top-level server's path (OpenAPI 3): what apim-gate joins
    /// to the address APIM calls.
    fn base_path(&mut self) {
        if self.version.is_swagger2() {
            if let Some(p) = self.root.get("basePath").and_then(Value::as_str) {
                self.backend_path("basePath", "/basePath", p, p.trim_end_matches('/'));
            }
            return;
        }
        let servers = self.root.get("servers").and_then(Value::as_array);
        for (i, server) in servers.into_iter().flatten().enumerate() {
            let written = server.get("url").and_then(Value::as_str).unwrap_or("");
            let member = format!("servers[{i}].url");
            let ptr = format!("/servers/{i}/url");
            self.backend_path(&member, &ptr, written, &server_path(server));
        }
    }

    fn backend_path(&mut self, member: &str, ptr: &str, written: &str, path: &str) {
        let Err(problem) = check_path(path) else {
            return;
        };
        self.emit(
            BASE_PATH_RULE,
            Level::Error,
            None,
            ptr,
            format!(
                "the {member} `{}` {problem}; apim-gate joins it to the address APIM calls, where it \
                 could name another host (`@`) or leave the path. Make it a path starting with `/` \
                 without `@`, `\\`, `?`, `#`, whitespace, control characters or `..` segments.",
                quoted(written)
            ),
        );
    }

    fn operations(&mut self) {
        let Some(paths) = self.root.get("paths").and_then(Value::as_object) else {
            return;
        };
        // normalised id → first (operation, pointer, original id)
        let mut ids: BTreeMap<String, (String, String, String)> = BTreeMap::new();
        // method + template key → first operation
        let mut templates: BTreeMap<(String, String), String> = BTreeMap::new();
        // Operations without an operationId, and how many operations there are.
        let mut missing_ids: Vec<(String, String)> = Vec::new();
        let mut total = 0;
        for (path, item) in paths {
            let Some(item) = resolve(self.root, item, &join("/paths", path)) else {
                continue;
            };
            let Some(item_obj) = item.value.as_object() else {
                continue;
            };
            if item_obj.contains_key("servers") && !self.version.is_swagger2() {
                self.emit(
                    "apim-path-servers",
                    Level::Warning,
                    None,
                    &join(&item.pointer, "servers"),
                    format!(
                        "APIM ignores `servers` on the path `{path}`; every operation is sent to the API's \
                         service URL. Move the server to the document's top-level `servers`, or publish \
                         these operations as a separate API."
                    ),
                );
            }
            for (method, op) in item_obj {
                if !METHODS.contains(&method.as_str()) || !op.is_object() {
                    continue;
                }
                let label = format!("{} {path}", method.to_ascii_uppercase());
                let op_ptr = join(&item.pointer, method);
                let key = (method.clone(), template_key(path));
                if let Some(first) = templates.get(&key) {
                    self.emit(
                        "apim-duplicate-operation",
                        Level::Error,
                        Some(label.clone()),
                        &op_ptr,
                        format!(
                            "`{label}` has the same method and URL template as `{first}` once parameter names \
                             are ignored; APIM refuses the second (\"Operation with the same method and URL \
                             template already exists\"). Merge them or change one path."
                        ),
                    );
                } else {
                    templates.insert(key, label.clone());
                }
                total += 1;
                if !self.operation_id(op, &op_ptr, &label, &mut ids) {
                    missing_ids.push((label.clone(), op_ptr.clone()));
                }
                self.operation(path, item_obj, &item.pointer, op, &op_ptr, &label, method);
            }
        }
        self.missing_operation_ids(missing_ids, total);
    }

    /// `apim-operation-id-missing`: one finding per operation, or one for the document when no
    /// operation has an operationId (common for minimal APIs), which says the same thing once.
    fn missing_operation_ids(&mut self, missing: Vec<(String, String)>, total: usize) {
        const FIX: &str = "Set an operationId (ASP.NET Core: `.WithName(...)` or \
                           `[HttpGet(Name = ...)]`).";
        if total > 1 && missing.len() == total {
            self.emit(
                "apim-operation-id-missing",
                Level::Warning,
                None,
                "/paths",
                format!(
                    "none of the {total} operations has an operationId; APIM derives each operation's \
                     name from its method and path, so renaming a path later deletes the APIM operation \
                     and its policies. {FIX}"
                ),
            );
            return;
        }
        for (label, op_ptr) in missing {
            self.emit(
                "apim-operation-id-missing",
                Level::Warning,
                Some(label.clone()),
                &op_ptr,
                format!(
                    "`{label}` has no operationId; APIM derives the operation's name from the method and \
                     path, so renaming the path later deletes the APIM operation and its policies. {FIX}"
                ),
            );
        }
    }

    /// The operationId rules of one operation; false when it has none (reported by
    /// [`Linter::missing_operation_ids`] once every operation is seen).
    fn operation_id(
        &mut self,
        op: &Value,
        op_ptr: &str,
        label: &str,
        ids: &mut BTreeMap<String, (String, String, String)>,
    ) -> bool {
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty());
        let Some(id) = id else {
            return false;
        };
        let id_ptr = join(op_ptr, "operationId");
        let normalized = normalize_operation_id(id);
        if untruncated_len(id) > MAX_OPERATION_ID {
            self.emit(
                "apim-operation-id-truncated",
                Level::Warning,
                Some(label.to_string()),
                &id_ptr,
                format!(
                    "the operationId `{id}` is longer than {MAX_OPERATION_ID} characters once normalised; \
                     APIM cuts it to `{normalized}`, and ids that differ only after that collide. Shorten it."
                ),
            );
        }
        match ids.get(&normalized) {
            Some((first_label, _, first_id)) => {
                let message = format!(
                    "the operationId `{id}` of `{label}` and `{first_id}` of `{first_label}` both become \
                     `{normalized}` in APIM (lower case, non-alphanumerics to `-`, {MAX_OPERATION_ID} \
                     characters); APIM renames one with a numeric suffix and later imports may update the \
                     wrong operation. Make them differ in letters or digits."
                );
                self.emit(
                    "apim-operation-id-collision",
                    Level::Error,
                    Some(label.to_string()),
                    &id_ptr,
                    message,
                );
            }
            None => {
                ids.insert(
                    normalized,
                    (label.to_string(), id_ptr.clone(), id.to_string()),
                );
            }
        }
        true
    }

    /// Parameters of one operation (path-level ones overridden by operation-level ones), resolved.
    fn parameters(
        &self,
        item: &'a Map<String, Value>,
        item_ptr: &str,
        op: &'a Value,
        op_ptr: &str,
    ) -> Vec<(String, &'a Value)> {
        let mut out: Vec<(String, &'a Value)> = Vec::new();
        let lists = [
            (item.get("parameters"), join(item_ptr, "parameters")),
            (op.get("parameters"), join(op_ptr, "parameters")),
        ];
        for (list, list_ptr) in lists {
            for (i, p) in list
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let Some(r) = resolve(self.root, p, &join(&list_ptr, &i.to_string())) else {
                    continue;
                };
                let key = |v: &Value| {
                    (
                        v.get("in").and_then(Value::as_str).map(str::to_string),
                        v.get("name").and_then(Value::as_str).map(str::to_string),
                    )
                };
                let k = key(r.value);
                if let Some(existing) = out.iter_mut().find(|(_, v)| key(v) == k) {
                    *existing = (r.pointer, r.value);
                } else {
                    out.push((r.pointer, r.value));
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn operation(
        &mut self,
        path: &str,
        item: &'a Map<String, Value>,
        item_ptr: &str,
        op: &'a Value,
        op_ptr: &str,
        label: &str,
        method: &str,
    ) {
        let operation = Some(label.to_string());
        // Learn, "API import restrictions and known issues": APIM does not import TRACE.
        if method == "trace" {
            self.emit(
                "apim-trace-dropped",
                Level::Warning,
                operation.clone(),
                op_ptr,
                format!(
                    "APIM does not import TRACE operations: `{label}` will not exist in APIM and \
                     calls to it are refused at the gateway. Drop it from the document (or accept \
                     that it is not published)."
                ),
            );
        }
        if op.get("servers").is_some() && !self.version.is_swagger2() {
            self.emit(
                "apim-operation-servers",
                Level::Warning,
                operation.clone(),
                &join(op_ptr, "servers"),
                "APIM ignores `servers` on an operation; it is sent to the API's service URL. Move the \
                 server to the top-level `servers` or set a backend policy for this operation."
                    .to_string(),
            );
        }
        let params = self.parameters(item, item_ptr, op, op_ptr);
        let template: Vec<&str> = template_params(path);
        let mut url_names: BTreeMap<String, String> = BTreeMap::new();
        let mut declared_path: BTreeSet<&str> = BTreeSet::new();
        let mut has_body = op.get("requestBody").is_some();
        let mut form: Vec<(&str, &str)> = Vec::new();
        for (ptr, p) in &params {
            let location = p.get("in").and_then(Value::as_str).unwrap_or("");
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            let required = location == "path" || p.get("required") == Some(&Value::Bool(true));
            match location {
                "cookie" => self.emit(
                    "apim-cookie-parameter",
                    Level::Warning,
                    operation.clone(),
                    ptr,
                    format!(
                        "APIM does not import the cookie parameter `{name}`; it is not shown, documented or \
                         validated by APIM. Pass it as a header or query parameter if consumers need it."
                    ),
                ),
                "formData" => form.push((ptr.as_str(), name)),
                "body" => has_body = true,
                "path" => {
                    declared_path.insert(name);
                    if !template.contains(&name) {
                        self.emit(
                            "apim-path-parameter-not-in-template",
                            Level::Error,
                            operation.clone(),
                            ptr,
                            format!(
                                "the path parameter `{name}` is not in the template `{path}`; APIM refuses \
                                 URL parameters that are not part of the URL template. Add `{{{name}}}` to \
                                 the path or declare it `in: query`."
                            ),
                        );
                    }
                }
                _ => {}
            }
            if required && (location == "path" || location == "query") {
                let folded = name.to_lowercase();
                if let Some(other) = url_names.get(&folded) {
                    self.emit(
                        "apim-duplicate-url-parameter",
                        Level::Error,
                        operation.clone(),
                        ptr,
                        format!(
                            "the required {location} parameter `{name}` has the same name as `{other}` once \
                             case is ignored; APIM puts required path and query parameters in one URL \
                             template where names must be unique. Rename one of them."
                        ),
                    );
                } else {
                    url_names.insert(folded, name.to_string());
                }
            }
        }
        if let Some((first, _)) = form.first() {
            let names = form
                .iter()
                .map(|(_, n)| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.emit(
                "apim-form-parameter",
                Level::Warning,
                operation.clone(),
                first,
                format!(
                    "the Swagger 2.0 form parameters {names} are imported by APIM as a form \
                     representation, not as parameters, and APIM does not validate them; publish OpenAPI 3 \
                     (a `requestBody` with a form media type) to keep their schema."
                ),
            );
        }
        for name in template {
            if !declared_path.contains(name) {
                self.emit(
                    "apim-template-parameter-undeclared",
                    Level::Error,
                    operation.clone(),
                    op_ptr,
                    format!(
                        "the path `{path}` has the template parameter `{{{name}}}` but the operation \
                         declares no path parameter `{name}`; APIM needs every template parameter defined. \
                         Add `{{\"name\": \"{name}\", \"in\": \"path\", \"required\": true}}`."
                    ),
                );
            }
        }
        if has_body && matches!(method, "get" | "head" | "options") {
            self.emit(
                "apim-body-ignored",
                Level::Warning,
                operation,
                op_ptr,
                format!(
                    "APIM discards the request body of {} operations on import; send the data as query \
                     parameters or use POST.",
                    method.to_ascii_uppercase()
                ),
            );
        }
    }

    /// One pass over the whole document for `$ref`s and OpenAPI 3.1 keywords. Keys of maps whose
    /// keys are names (properties, paths, responses...) are not keywords; example, default, enum and
    /// const values and `x-` extensions are data, not schema, and are not entered.
    fn walk_document(&mut self) {
        let mut seen: BTreeMap<&'static str, (String, usize)> = BTreeMap::new();
        // Where the value popped last is; a value at depth d has d tokens.
        let mut path: Vec<Token<'a>> = Vec::new();
        // (value, its token below its parent, whether its keys are names, depth)
        let mut stack: Vec<(&'a Value, Option<Token<'a>>, bool, usize)> =
            vec![(self.root, None, false, 0)];
        let v31 = matches!(self.version, SpecVersion::OpenApi31(_));
        while let Some((value, token, names, depth)) = stack.pop() {
            // Depth-first: everything popped since this value's parent lies below the parent.
            path.truncate(depth.saturating_sub(1));
            path.extend(token);
            if depth > MAX_WALK_DEPTH {
                continue;
            }
            match value {
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate().rev() {
                        stack.push((v, Some(Token::Index(i)), false, depth + 1));
                    }
                }
                Value::Object(obj) => {
                    if !names {
                        if let Some(r) = ref_of(value) {
                            self.reference(r, &path);
                        }
                        if v31 {
                            three_one_keywords(obj, &path, &mut seen);
                        }
                    }
                    for (k, v) in obj.iter().rev() {
                        if !names && (is_data_keyword(k) || k.starts_with("x-")) {
                            continue;
                        }
                        let child_names = !names && is_name_map(k);
                        stack.push((v, Some(Token::Key(k)), child_names, depth + 1));
                    }
                }
                _ => {}
            }
        }
        if v31
            && let Some(webhooks) = self.root.get("webhooks").and_then(Value::as_object)
            && !webhooks.is_empty()
        {
            self.emit(
                "apim-openapi31-webhooks",
                Level::Warning,
                None,
                "/webhooks",
                format!(
                    "APIM imports nothing from `webhooks` ({} declared); they will not appear in APIM or its \
                     developer portal. Document them elsewhere or as callbacks.",
                    webhooks.len()
                ),
            );
        }
        for (keyword, (first, count)) in seen {
            let more = if count > 1 {
                format!(" ({count} places; the first is shown)")
            } else {
                String::new()
            };
            if keyword == "type" {
                self.emit(
                    "apim-openapi31-type-array",
                    Level::Warning,
                    None,
                    &first,
                    format!(
                        "a `type` array with more than one non-null type{more}: APIM imports OpenAPI 3.1 \
                         type arrays poorly and may keep only one type. Use `oneOf` or a single type."
                    ),
                );
            } else {
                self.emit(
                    "apim-openapi31-keyword",
                    Level::Warning,
                    None,
                    &first,
                    format!(
                        "the OpenAPI 3.1 keyword `{keyword}`{more} is dropped by APIM's import, so APIM's \
                         schema (and validate-content) won't enforce it. Express it with OpenAPI 3.0 \
                         keywords (e.g. a one-value `enum` for `const`) or accept the looser schema."
                    ),
                );
            }
        }
    }

    fn reference(&mut self, reference: &str, path: &[Token<'_>]) {
        let ref_ptr = || join(&pointer(path), "$ref");
        match local_pointer(reference) {
            None => self.emit_with(
                "apim-external-ref",
                Level::Error,
                None,
                ref_ptr,
                || format!(
                    "`$ref: {reference}` points outside the document; APIM cannot follow references to \
                     other files. Bundle the document into one file first."
                ),
            ),
            Some(target) if self.root.pointer(&target).is_none() => self.emit_with(
                "apim-unresolved-ref",
                Level::Error,
                None,
                ref_ptr,
                || format!(
                    "`$ref: {reference}` names nothing in the document; APIM's import fails on it. Fix the \
                     reference or add the missing component."
                ),
            ),
            Some(_) => {}
        }
    }

    /// Named schemas that reach themselves through `$ref`s, one finding per cycle.
    fn recursion(&mut self) {
        let sections = ["/definitions", "/components/schemas"];
        let mut nodes: Vec<(String, &Value)> = Vec::new();
        for section in sections {
            if let Some(map) = self.root.pointer(section).and_then(Value::as_object) {
                nodes.extend(map.iter().map(|(k, v)| (join(section, k), v)));
            }
        }
        let index: BTreeMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (p.as_str(), i))
            .collect();
        let edges: Vec<Vec<usize>> = nodes
            .iter()
            .map(|(_, v)| {
                let mut refs = Vec::new();
                collect_refs(v, &mut refs);
                let targets: BTreeSet<usize> = refs
                    .iter()
                    .filter_map(|r| local_pointer(r))
                    .filter_map(|target| schema_node(&target, &index))
                    .collect();
                targets.into_iter().collect()
            })
            .collect();
        for component in strongly_connected(&edges) {
            let Some(&first) = component.iter().min() else {
                continue;
            };
            if component.len() == 1 && !edges[first].contains(&first) {
                continue;
            }
            let mut members = component.clone();
            members.sort_unstable();
            let shown = members
                .iter()
                .take(5)
                .map(|&j| format!("`{}`", nodes[j].0.rsplit('/').next().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ");
            let names = if members.len() > 5 {
                format!("{shown} and {} more", members.len() - 5)
            } else {
                shown
            };
            self.emit(
                "apim-recursive-schema",
                Level::Warning,
                None,
                &nodes[first].0,
                format!(
                    "the schema refers to itself (cycle through {names}); APIM does not support recursive \
                     definitions, so its schema for these types may be cut or dropped and validate-content \
                     cannot use it. Break the cycle (e.g. reference children by id) if APIM must enforce it."
                ),
            );
        }
    }
}

/// Tarjan's strongly connected components, with an explicit stack so that long reference chains
/// cannot overflow the thread's stack.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(top) = calls.last_mut() {
            let (v, i) = *top;
            if let Some(&w) = edges[v].get(i) {
                top.1 += 1;
                if index[w] == UNSEEN {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(component);
            }
        }
    }
    out
}

/// The named schema a `$ref` target falls in (`/components/schemas/A/properties/b` → `A`).
fn schema_node(target: &str, index: &BTreeMap<&str, usize>) -> Option<usize> {
    for section in ["/definitions/", "/components/schemas/"] {
        if let Some(rest) = target.strip_prefix(section) {
            let name = rest.split('/').next()?;
            return index.get(format!("{section}{name}").as_str()).copied();
        }
    }
    None
}

/// Every `$ref` string below `v`, without following them; iterative, and skipping data keywords.
fn collect_refs<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_WALK_DEPTH {
            continue;
        }
        match v {
            Value::Object(obj) => {
                if let Some(r) = ref_of(v) {
                    out.push(r);
                }
                for (k, child) in obj {
                    if !is_data_keyword(k) && !k.starts_with("x-") {
                        stack.push((child, depth + 1));
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
}

fn is_data_keyword(k: &str) -> bool {
    matches!(k, "example" | "examples" | "default" | "enum" | "const")
}

/// Keys whose values are maps from user-chosen names to objects.
fn is_name_map(k: &str) -> bool {
    matches!(
        k,
        "properties"
            | "patternProperties"
            | "definitions"
            | "$defs"
            | "schemas"
            | "paths"
            | "responses"
            | "parameters"
            | "headers"
            | "content"
            | "encoding"
            | "links"
            | "callbacks"
            | "securitySchemes"
            | "securityDefinitions"
            | "requestBodies"
            | "webhooks"
            | "pathItems"
            | "variables"
            | "mapping"
            | "dependentSchemas"
            | "scopes"
    )
}

fn three_one_keywords(
    obj: &Map<String, Value>,
    path: &[Token<'_>],
    seen: &mut BTreeMap<&'static str, (String, usize)>,
) {
    const KEYWORDS: &[&str] = &[
        "const",
        "prefixItems",
        "$schema",
        "if",
        "then",
        "else",
        "dependentSchemas",
        "dependentRequired",
        "unevaluatedProperties",
        "unevaluatedItems",
        "$defs",
        "$dynamicRef",
        "$dynamicAnchor",
        "$anchor",
        "contentMediaType",
        "contentEncoding",
        "contentSchema",
        "propertyNames",
        "contains",
    ];
    // Only the first place of each keyword is shown: its pointer is built once.
    let mut note = |keyword: &'static str, token: &str| {
        let entry = seen
            .entry(keyword)
            .or_insert_with(|| (join(&pointer(path), token), 0));
        entry.1 += 1;
    };
    for &k in KEYWORDS {
        if obj.contains_key(k) {
            note(k, k);
        }
    }
    if let Some(Value::Array(types)) = obj.get("type") {
        let non_null = types.iter().filter(|t| t.as_str() != Some("null")).count();
        if non_null > 1 {
            note("type", "type");
        }
    }
}

/// `/pets/{petId}` → `/pets/{}`.
fn template_key(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..=start]);
        match rest[start..].find('}') {
            Some(end) => {
                out.push('}');
                rest = &rest[start + end + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_apim() {
        assert_eq!(normalize_operation_id("Pets_GetById"), "pets-getbyid");
        assert_eq!(normalize_operation_id("pets--get by id"), "pets-get-by-id");
        assert_eq!(
            normalize_operation_id(&"a".repeat(100)).len(),
            MAX_OPERATION_ID
        );
        assert_eq!(untruncated_len("a__b"), 3);
    }

    #[test]
    fn finds_cycles_iteratively() {
        let edges = vec![vec![1], vec![0], vec![2], vec![0], vec![]];
        let mut cycles: Vec<Vec<usize>> = strongly_connected(&edges)
            .into_iter()
            .map(|mut c| {
                c.sort();
                c
            })
            .collect();
        cycles.sort();
        assert_eq!(cycles, vec![vec![0, 1], vec![2], vec![3], vec![4]]);
        let long: Vec<Vec<usize>> = (0..100_000).map(|i| vec![(i + 1) % 100_000]).collect();
        assert_eq!(strongly_connected(&long).len(), 1);
    }

    #[test]
    fn template_keys() {
        assert_eq!(template_key("/a/{x}/b/{yy}"), "/a/{}/b/{}");
        assert_eq!(template_key("/a/{x"), "/a/{");
    }
}
