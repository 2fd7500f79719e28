//! Every rule id a waiver or a `rule-levels` entry may name, and what kind of rule it is: the
//! APIM import lint's rules (its errors are what APIM itself rejects), the breaking-change rules
//! (oasdiff's ids, which the diff uses where the concept is the same, the ids the diff composes
//! for schema keywords, plus the gate's own).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::inputs::table::edit_distance;
use crate::spec::Level;

/// oasdiff's rule ids, one a line (`#` lines are comments).
const OASDIFF: &str = include_str!("oasdiff-rule-ids.txt");

/// The lint's rules and their levels, as `spec::lint` reports them (its module table).
pub const LINT: &[(&str, Level)] = &[
    ("apim-size-limit", Level::Error),
    ("apim-swagger2-no-scheme", Level::Error),
    ("apim-base-path-invalid", Level::Error),
    ("apim-external-ref", Level::Error),
    ("apim-unresolved-ref", Level::Error),
    ("apim-operation-id-collision", Level::Error),
    ("apim-duplicate-operation", Level::Error),
    ("apim-duplicate-url-parameter", Level::Error),
    ("apim-path-parameter-not-in-template", Level::Error),
    ("apim-template-parameter-undeclared", Level::Error),
    ("apim-operation-id-missing", Level::Warning),
    ("apim-operation-id-truncated", Level::Warning),
    ("apim-recursive-schema", Level::Warning),
    ("apim-cookie-parameter", Level::Warning),
    ("apim-form-parameter", Level::Warning),
    ("apim-path-servers", Level::Warning),
    ("apim-operation-servers", Level::Warning),
    ("apim-body-ignored", Level::Warning),
    ("apim-openapi31-webhooks", Level::Warning),
    ("apim-openapi31-type-array", Level::Warning),
    ("apim-openapi31-keyword", Level::Warning),
    ("apim-trace-dropped", Level::Warning),
];

/// Breaking-change rules of the gate's own, or the diff's where oasdiff has no id for the concept.
pub const GATE_BREAKING: &[&str] = &[
    // gate::checks: the import would delete a live operation with its policies.
    "apim-operation-replaced",
    // spec::diff::keywords: oasdiff names the property form only.
    "response-mediatype-enum-value-added",
    "response-mediatype-enum-value-removed",
];

/// What `spec::diff` puts before a schema keyword's change (`schemas::prefix`).
const SCHEMA_PREFIXES: &[&str] = &[
    "request-parameter",
    "request-body",
    "request-property",
    "response-body",
    "response-property",
];

/// The changes `spec::diff::keywords` and `schemas` name after the prefix, oasdiff's words.
const SCHEMA_CHANGES: &[&str] = &[
    "type-generalized",
    "type-changed",
    "type-specialized",
    "became-not-nullable",
    "became-nullable",
    "became-enum",
    "enum-value-removed",
    "enum-value-added",
    "pattern-added",
    "pattern-removed",
    "pattern-changed",
    "additional-properties-disallowed",
    "additional-properties-allowed",
    "max-set",
    "max-increased",
    "max-decreased",
    "min-set",
    "min-increased",
    "min-decreased",
    "exclusive-max-set",
    "exclusive-max-increased",
    "exclusive-max-decreased",
    "exclusive-min-set",
    "exclusive-min-increased",
    "exclusive-min-decreased",
    "max-length-set",
    "max-length-increased",
    "max-length-decreased",
    "max-length-unset",
    "min-length-set",
    "min-length-increased",
    "min-length-decreased",
    "min-length-unset",
    "max-items-set",
    "max-items-increased",
    "max-items-decreased",
    "max-items-unset",
    "min-items-set",
    "min-items-increased",
    "min-items-decreased",
    "min-items-unset",
];

/// Every breaking-change id: oasdiff's, the diff's compositions, the gate's own.
fn breaking() -> &'static BTreeSet<String> {
    static IDS: OnceLock<BTreeSet<String>> = OnceLock::new();
    IDS.get_or_init(|| {
        let mut ids: BTreeSet<String> = OASDIFF
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        ids.extend(GATE_BREAKING.iter().map(|s| s.to_string()));
        for p in SCHEMA_PREFIXES {
            ids.extend(SCHEMA_CHANGES.iter().map(|c| format!("{p}-{c}")));
        }
        ids
    })
}

/// What a rule is, for what may be done to its findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// APIM rejects the import: neither waived nor re-levelled, whatever a file says.
    LintError,
    LintWarning,
    Breaking,
}

pub fn kind(id: &str) -> Option<RuleKind> {
    if let Some((_, level)) = LINT.iter().find(|(l, _)| *l == id) {
        return Some(if *level == Level::Error {
            RuleKind::LintError
        } else {
            RuleKind::LintWarning
        });
    }
    breaking().contains(id).then_some(RuleKind::Breaking)
}

fn all() -> impl Iterator<Item = &'static str> {
    LINT.iter()
        .map(|(id, _)| *id)
        .chain(breaking().iter().map(String::as_str))
}

/// Up to five known ids closest to an unknown one: near by spelling, else sharing its first words.
pub fn close_to(id: &str) -> Vec<&'static str> {
    let id = id.trim().to_ascii_lowercase();
    // An id the user shortened (`api-path-removed`) counts as near its longer forms.
    let distance = |known: &str| {
        if known.starts_with(&id) {
            1
        } else {
            edit_distance(&id, known)
        }
    };
    let mut near: Vec<(usize, &'static str)> = all()
        .map(|known| (distance(known), known))
        .filter(|(d, known)| *d <= 3.max(known.len() / 4))
        .collect();
    if near.is_empty() {
        let stem: String = id.split('-').take(2).collect::<Vec<_>>().join("-");
        near = all()
            .filter(|known| id.contains('-') && known.starts_with(&stem))
            .map(|known| (edit_distance(&id, known), known))
            .collect();
    }
    near.sort();
    near.dedup_by(|a, b| a.1 == b.1);
    near.into_iter().take(5).map(|(_, k)| k).collect()
}

/// `unknown rule `x`: did you mean a, b?` for messages.
pub fn unknown(id: &str) -> String {
    let close = close_to(id);
    if close.is_empty() {
        format!(
            "unknown rule `{id}`: not one of apim-gate's lint rules (apim-…) nor oasdiff's rule ids; README \"Waivers\" says where to find them"
        )
    } else {
        format!(
            "unknown rule `{id}`; close ones: {}",
            close
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind("apim-size-limit"), Some(RuleKind::LintError));
        assert_eq!(
            kind("apim-operation-id-missing"),
            Some(RuleKind::LintWarning)
        );
        assert_eq!(
            kind("api-path-removed-without-deprecation"),
            Some(RuleKind::Breaking)
        );
        assert_eq!(kind("apim-operation-replaced"), Some(RuleKind::Breaking));
        assert_eq!(kind("api-path-removed"), None);
        assert_eq!(kind("# oasdiff/oasdiff (Apache-2.0) rule ids"), None);
        assert_eq!(
            kind("response-property-max-length-set"),
            Some(RuleKind::Breaking)
        );
        assert_eq!(kind("response-property-max-length-sat"), None);
        assert!(breaking().len() > 500);
    }

    #[test]
    fn close_ids_for_typos_and_stems() {
        assert_eq!(
            close_to("response-property-becam-optional")[0],
            "response-property-became-optional"
        );
        assert!(close_to("api-path-removed").contains(&"api-path-removed-without-deprecation"));
        assert!(close_to("zzzz").is_empty());
        assert!(unknown("apim-size-limt").contains("`apim-size-limit`"));
    }
}
