//! Paths and operations: matching by method and path template (parameter names ignored), then
//! what happened to each: removed (with or without deprecation), added, deprecated, renamed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::super::METHODS;
use super::super::refs::{join, resolve};
use super::{Differ, Level, Side};

/// One operation of a document, and where it lives.
pub(super) struct Op<'a> {
    pub(super) method: String,
    pub(super) path: &'a str,
    /// The path item, whose parameters the operation inherits.
    pub(super) item: &'a Value,
    pub(super) item_ptr: String,
    pub(super) value: &'a Value,
    pub(super) ptr: String,
}

impl Op<'_> {
    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Operations keyed by (template key, lower-case method).
type Operations<'a> = BTreeMap<(String, String), Op<'a>>;

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

fn operations(side: Side<'_>) -> Operations<'_> {
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

impl<'a> Differ<'a> {
    /// Every operation of either side: removed ones, added ones, and matched ones compared.
    pub(super) fn compare_operations(&mut self) {
        let base_ops = operations(self.base);
        let new_ops = operations(self.new);
        self.report_removed_operations(&base_ops, &new_ops);
        for (key, n) in &new_ops {
            self.operation = Some(n.label());
            match base_ops.get(key) {
                None => self.emit(
                    "endpoint-added",
                    Level::Info,
                    &n.ptr,
                    "the operation was added.".to_string(),
                ),
                Some(b) => {
                    self.memo.next_operation();
                    self.media_seen.clear();
                    self.compare_operation(b, n);
                }
            }
        }
    }

    fn report_removed_operations(&mut self, base_ops: &Operations<'a>, new_ops: &Operations<'a>) {
        let new_templates: BTreeSet<&str> = new_ops.keys().map(|(t, _)| t.as_str()).collect();
        for (key, b) in base_ops {
            if new_ops.contains_key(key) {
                continue;
            }
            self.operation = Some(b.label());
            let path_gone = !new_templates.contains(key.0.as_str());
            self.report_removed_operation(b, path_gone);
        }
    }

    /// A removal is an error unless the operation was deprecated first (and, with a sunset date,
    /// that date passed: [`super::deprecation`]); the whole path going is reported as such.
    fn report_removed_operation(&mut self, b: &Op<'a>, path_gone: bool) {
        if self.report_removed_deprecated(b.value, &b.ptr, b.path, path_gone) {
            return;
        }
        let (id, what) = if path_gone {
            (
                "api-path-removed-without-deprecation",
                format!(
                    "the path `{}` was removed without being deprecated first",
                    b.path
                ),
            )
        } else {
            (
                "api-removed-without-deprecation",
                "the operation was removed without being deprecated first".to_string(),
            )
        };
        // APIM's export keeps no `deprecated`: say how a deprecation can still be seen.
        let export = if self.policy.base_shows_deprecation {
            ""
        } else {
            " (the baseline is API Management's export, which keeps no `deprecated` or `x-sunset`: \
             document a `Sunset` response header with the date, or give the previous document as \
             baseline-spec)"
        };
        self.emit(
            id,
            Level::Error,
            &b.ptr,
            format!(
                "{what}; clients calling it will get 404. Keep it, or deprecate it in a release before removing it{export}."
            ),
        );
    }

    fn compare_operation(&mut self, b: &Op<'a>, n: &Op<'a>) {
        // A draft or alpha operation promises nothing: oasdiff leaves it out of every check.
        let Some(days) = self.compare_operation_lifecycle(b.value, n.value, &n.ptr) else {
            return;
        };
        self.op_days = days;
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

    /// APIM matches operations by operationId: a renamed one is deleted and created anew.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_keys_ignore_parameter_names() {
        assert_eq!(template_key("/pets/{id}/toys/{toyId}"), "/pets/{}/toys/{}");
        assert_eq!(template_key("/pets/{petId}/toys/{x}"), "/pets/{}/toys/{}");
        assert_eq!(template_params("/a/{x}/b/{y}"), vec!["x", "y"]);
        assert!(template_params("/a/{x").is_empty());
    }
}
