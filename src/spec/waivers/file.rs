//! The waivers file: a YAML (or JSON) list of reviewed exceptions, each naming the rule, the
//! operation, optionally the API, until when, and why.
//!
//! ```yaml
//! waivers:                      # or the list itself at the top level
//!   - rule: api-path-removed-without-deprecation
//!     operation: GET /products  # or "*" for every operation (and document-wide findings)
//!     api-id: shop-api          # optional: only for this API
//!     until: 2027-03-31         # required, YYYY-MM-DD, the last day it waives
//!     reason: clients moved to /v2/products (JIRA-123)   # required
//! ```
//!
//! Every problem names its entry (1-based, in file order) and field, and all are reported at once.

use serde_json::{Map, Value};

use super::date::Date;
use super::rules::{self, RuleKind};
use crate::spec::METHODS;

/// One waiver, as checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiver {
    /// Its place in the file, from 1.
    pub entry: usize,
    pub rule: String,
    pub operation: Operation,
    pub api_id: Option<String>,
    /// The last day it waives.
    pub until: Date,
    pub reason: String,
}

/// Which findings of the rule a waiver covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `*`: every finding of the rule, document-wide ones too.
    Any,
    /// `METHOD /path`: method in any case; path parameters match whatever their names.
    One { text: String, key: String },
}

impl Operation {
    fn parse(s: &str) -> Result<Operation, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(Operation::Any);
        }
        let (method, path) = s.split_once(char::is_whitespace).ok_or_else(|| {
            format!("`{s}` is not \"METHOD /path\" (e.g. \"GET /pets/{{id}}\") or \"*\"")
        })?;
        let method = method.to_ascii_lowercase();
        let path = path.trim();
        if !METHODS.contains(&method.as_str()) {
            return Err(format!(
                "`{s}`: `{method}` is not an HTTP method of OpenAPI ({})",
                METHODS.join(", ")
            ));
        }
        if !path.starts_with('/') {
            return Err(format!(
                "`{s}`: the path must start with `/`, as in the document"
            ));
        }
        Ok(Operation::One {
            text: format!("{} {path}", method.to_ascii_uppercase()),
            key: key(&method, path),
        })
    }

    /// Whether a finding's `operation` (`METHOD /path` as the document writes it) is this one.
    pub fn covers(&self, operation: Option<&str>) -> bool {
        match self {
            Operation::Any => true,
            Operation::One { key: k, .. } => operation
                .and_then(|o| o.split_once(' '))
                .is_some_and(|(m, p)| key(&m.to_ascii_lowercase(), p.trim()) == *k),
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operation::Any => f.write_str("*"),
            Operation::One { text, .. } => f.write_str(text),
        }
    }
}

/// `get /pets/{}`: parameter names blanked (`/pets/{id}` is `/pets/{petId}`, as the diff and
/// APIM match templates), one trailing `/` dropped; the path's case is kept, as OpenAPI's is.
fn key(method: &str, path: &str) -> String {
    let path = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    let mut out = format!("{method} ");
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

const FIELDS: &[&str] = &["rule", "operation", "api-id", "until", "reason"];

/// Reads the file's text; `Err` lists every problem, each naming its entry and field.
pub fn parse(text: &str) -> Result<Vec<Waiver>, Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_saphyr::from_str(text).map_err(|e| vec![format!("not YAML: {e}")])?
    };
    let list = match root {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list,
        Value::Object(mut top) => {
            let others: Vec<&String> = top.keys().filter(|k| *k != "waivers").collect();
            if !others.is_empty() {
                return Err(vec![format!(
                    "unknown top-level key(s) {}: the file holds `waivers:` and its list only",
                    others
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )]);
            }
            match top.remove("waivers") {
                Some(Value::Array(list)) => list,
                Some(Value::Null) | None => return Ok(Vec::new()),
                Some(other) => {
                    return Err(vec![format!(
                        "`waivers` must be a list of entries, not {}",
                        what(&other)
                    )]);
                }
            }
        }
        other => {
            return Err(vec![format!(
                "expected a list of waivers (or `waivers:` with the list), not {}",
                what(&other)
            )]);
        }
    };
    let mut waivers = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in list.into_iter().enumerate() {
        let entry = i + 1;
        match item {
            Value::Object(map) => match one(entry, &map) {
                Ok(w) => waivers.push(w),
                Err(mut p) => problems.append(&mut p),
            },
            other => problems.push(format!(
                "entry {entry}: expected a mapping with {}, not {}",
                FIELDS.join(", "),
                what(&other)
            )),
        }
    }
    if problems.is_empty() {
        Ok(waivers)
    } else {
        Err(problems)
    }
}

fn one(entry: usize, map: &Map<String, Value>) -> Result<Waiver, Vec<String>> {
    let mut problems = Vec::new();
    for k in map.keys() {
        if !FIELDS.contains(&k.as_str()) {
            let hint = FIELDS
                .iter()
                .find(|f| crate::inputs::table::edit_distance(k, f) <= 2)
                .map(|f| format!(" (did you mean `{f}`?)"))
                .unwrap_or_default();
            problems.push(format!(
                "entry {entry}, field `{k}`: not a waiver field{hint}; the fields are {}",
                FIELDS.join(", ")
            ));
        }
    }
    let mut text = |field: &str, required: bool| -> Option<String> {
        match map.get(field) {
            None | Some(Value::Null) if required => {
                problems.push(format!(
                    "entry {entry}, field `{field}`: missing (required)"
                ));
                None
            }
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                problems.push(format!("entry {entry}, field `{field}`: empty"));
                None
            }
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(other) => {
                problems.push(format!(
                    "entry {entry}, field `{field}`: expected text, not {}{}",
                    what(other),
                    if field == "until" {
                        " (write the date as YYYY-MM-DD)"
                    } else {
                        ""
                    }
                ));
                None
            }
        }
    };
    let rule = text("rule", true);
    let operation = text("operation", true);
    let api_id = text("api-id", false);
    let until = text("until", true);
    let reason = text("reason", true);
    let rule = rule.and_then(|r| match rules::kind(&r) {
        None => {
            problems.push(format!(
                "entry {entry}, field `rule`: {}",
                rules::unknown(&r)
            ));
            None
        }
        Some(RuleKind::LintError) => {
            problems.push(format!(
                "entry {entry}, field `rule`: `{r}` cannot be waived: it is a lint error, a document \
                 APIM itself rejects on import, so no waiver can make the release succeed; fix the \
                 document (lint warnings can be waived)"
            ));
            None
        }
        Some(_) => Some(r),
    });
    let operation = operation.and_then(|o| {
        Operation::parse(&o)
            .map_err(|e| problems.push(format!("entry {entry}, field `operation`: {e}")))
            .ok()
    });
    let until = until.and_then(|u| {
        Date::parse(&u)
            .map_err(|e| problems.push(format!("entry {entry}, field `until`: {e}")))
            .ok()
    });
    match (rule, operation, until, reason) {
        (Some(rule), Some(operation), Some(until), Some(reason)) if problems.is_empty() => {
            Ok(Waiver {
                entry,
                rule,
                operation,
                api_id,
                until,
                reason,
            })
        }
        _ => Err(problems),
    }
}

fn what(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_shapes() {
        let listed = parse(
            "- rule: api-path-removed-without-deprecation\n  operation: get /pets/{id}\n  until: 2027-01-31\n  reason: moved to v2\n",
        )
        .unwrap();
        let wrapped = parse(
            "waivers:\n  - rule: api-path-removed-without-deprecation\n    operation: GET /pets/{id}\n    until: \"2027-01-31\"\n    reason: moved to v2\n",
        )
        .unwrap();
        assert_eq!(listed, wrapped);
        assert!(listed[0].operation.covers(Some("GET /pets/{petId}")));
        assert!(listed[0].operation.covers(Some("GET /pets/{petId}/")));
        assert!(!listed[0].operation.covers(Some("GET /Pets/{petId}")));
        assert!(!listed[0].operation.covers(Some("POST /pets/{petId}")));
        assert!(!listed[0].operation.covers(None));
        assert!(Operation::Any.covers(None));
        assert!(parse("").unwrap().is_empty());
        assert!(parse("waivers:\n").unwrap().is_empty());
    }

    #[test]
    fn names_every_bad_entry_and_field() {
        let problems = parse(
            "waivers:\n\
             - rule: api-path-removed-without-deprecation\n  operation: GET /a\n  until: 2027-01-31\n  reason: ok\n\
             - rule: api-path-removed-without-deprecation\n  operation: FETCH /a\n  until: 2027-02-30\n\
             - rule: apim-size-limit\n  operation: '*'\n  until: 2027-01-01\n  reason: big\n  expires: x\n\
             - just text\n",
        )
        .unwrap_err();
        let all = problems.join("\n");
        assert!(all.contains("entry 2, field `operation`"), "{all}");
        assert!(all.contains("entry 2, field `until`"), "{all}");
        assert!(all.contains("entry 2, field `reason`: missing"), "{all}");
        assert!(
            all.contains("entry 3, field `rule`: `apim-size-limit` cannot be waived"),
            "{all}"
        );
        assert!(all.contains("entry 3, field `expires`"), "{all}");
        assert!(all.contains("entry 4: expected a mapping"), "{all}");
        assert!(!all.contains("entry 1"), "{all}");
        assert!(parse("until: 2027-01-01").is_err());
        assert!(
            parse("- rule: nope\n  operation: '*'\n  until: 2027-01-01\n  reason: r\n")
                .unwrap_err()[0]
                .contains("unknown rule `nope`")
        );
    }
}
