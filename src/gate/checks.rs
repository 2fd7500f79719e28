//! The gate's checks on the rewritten document: the APIM import lint, the breaking-change diff
//! against the baseline, and which live APIM operations an import would delete.

use std::collections::BTreeSet;

use crate::apim::ApiOperation;
use crate::inputs::BreakingChanges;
use crate::spec::diff::Policy;
use crate::spec::lint::normalize_operation_id;
use crate::spec::waivers::{self, Waived};
use crate::spec::{Document, Finding, Level, diff, lint};

use super::{FindingSource, SourcedFinding, StepOutcome};

/// The outcome of one check step.
#[derive(Clone, Debug)]
pub struct CheckResult {
    pub outcome: StepOutcome,
    pub detail: String,
    pub findings: Vec<SourcedFinding>,
    /// True when the gate must stop here (exit 1).
    pub refuse: bool,
    /// Every change the diff found, compatible ones included: the changelog.
    pub changes: Vec<Finding>,
    /// What the `waivers` file let through (among `findings` as info notes).
    pub waived: Vec<Waived>,
}

fn sourced(source: FindingSource, findings: Vec<Finding>) -> Vec<SourcedFinding> {
    findings
        .into_iter()
        .map(|finding| SourcedFinding { source, finding })
        .collect()
}

fn count(findings: &[Finding], level: Level) -> usize {
    findings.iter().filter(|f| f.level == level).count()
}

/// Errors stop the gate; warnings are reported. `policy` may change warnings (never errors:
/// APIM rejects those whatever the gate says).
pub fn lint_step(doc: &Document, policy: &mut waivers::Run<'_>) -> CheckResult {
    let mut findings = lint::lint(doc);
    policy.relevel(&mut findings);
    let waived = policy.waive(&mut findings);
    let errors = count(&findings, Level::Error);
    let warnings = count(&findings, Level::Warning);
    let (outcome, detail) = if errors > 0 {
        (
            StepOutcome::Failed,
            format!("{errors} error(s) APIM would reject, {warnings} warning(s)"),
        )
    } else if warnings > 0 {
        (
            StepOutcome::Warned,
            format!("no errors, {warnings} warning(s)"),
        )
    } else {
        (StepOutcome::Passed, "nothing APIM would reject".to_string())
    };
    CheckResult {
        outcome,
        detail: with_waived(detail, &waived),
        findings: sourced(FindingSource::Lint, findings),
        refuse: errors > 0,
        changes: Vec::new(),
        waived,
    }
}

/// A step's detail, with how many findings the waivers let through.
fn with_waived(detail: String, waived: &[Waived]) -> String {
    match waived.len() {
        0 => detail,
        n => format!("{detail}; {n} waived (see Waived)"),
    }
}

/// Where the baseline came from, for the report.
#[derive(Clone, Debug)]
pub enum Baseline {
    /// No API in APIM yet: a first publish has nothing to break.
    None,
    /// The `baseline-spec` input.
    File(String),
    /// The current revision exported from APIM.
    Live { revision: Option<u32> },
}

impl Baseline {
    fn describe(&self) -> String {
        match self {
            Baseline::None => "first publish: no API in APIM yet, so nothing to break".to_string(),
            Baseline::File(p) => format!("against baseline-spec {p}"),
            Baseline::Live { revision: Some(r) } => {
                format!("against what APIM serves now (revision {r})")
            }
            Baseline::Live { revision: None } => "against what APIM serves now".to_string(),
        }
    }
}

/// The breaking-change check under the deprecation `policy`, plus the live operations an import
/// would delete.
///
/// `live` are the current APIM operations. APIM names them after the normalised operationId and
/// matches on that name when importing, so an operation whose operationId disappears is deleted
/// with its policies even when its path and method stay.
pub fn breaking_step(
    baseline: &Baseline,
    base: Option<&Document>,
    new: &Document,
    live: &[ApiOperation],
    mode: BreakingChanges,
    diff_policy: &Policy,
    policy: &mut waivers::Run<'_>,
) -> CheckResult {
    let mut findings = match base {
        Some(base) => diff::diff_with(base, new, diff_policy),
        None => Vec::new(),
    };
    findings.extend(replaced_operations(live, new));
    // rule-levels first, so a compatible change raised to warning is listed and one lowered to
    // info is counted with the rest; then the waivers, whose notes stay listed.
    policy.relevel(&mut findings);
    let changes = findings.clone();
    // Info findings (an added operation, a new optional property) are what a release is for; a gate
    // lists what could hurt a consumer and only counts the rest. APIM's export also differs from
    // the source in ways that are info by nature (lower-cased operationIds, media type lists).
    let infos = count(&findings, Level::Info);
    findings.retain(|f| f.level > Level::Info);
    let waived = policy.waive(&mut findings);
    let errors = count(&findings, Level::Error);
    let warnings = count(&findings, Level::Warning);
    let what = if infos > 0 {
        format!(
            "{} ({infos} compatible change(s) not listed)",
            baseline.describe()
        )
    } else {
        baseline.describe()
    };
    let (outcome, refuse, detail) = match (errors, mode) {
        (0, _) if warnings > 0 => (
            StepOutcome::Warned,
            false,
            format!("{what}: no breaking change, {warnings} possibly breaking"),
        ),
        (0, _) => (
            StepOutcome::Passed,
            false,
            format!("{what}: no breaking change"),
        ),
        (n, BreakingChanges::Fail) => (
            StepOutcome::Failed,
            true,
            format!(
                "{what}: {n} breaking change(s); breaking-changes is fail, so nothing is published"
            ),
        ),
        (n, BreakingChanges::Warn) => (
            StepOutcome::Warned,
            false,
            format!("{what}: {n} breaking change(s), published anyway (breaking-changes: warn)"),
        ),
        (n, BreakingChanges::Allow) => (
            StepOutcome::Passed,
            false,
            format!("{what}: {n} breaking change(s) allowed (breaking-changes: allow)"),
        ),
    };
    CheckResult {
        outcome,
        detail: with_waived(detail, &waived),
        findings: sourced(FindingSource::BreakingChange, findings),
        refuse,
        changes,
        waived,
    }
}

/// Live operations that `new` still has (same method and URL template) under an operationId that
/// no longer matches their APIM name: the import deletes and recreates them, losing their
/// policies. Operations whose path is gone are the diff's business, not this check's.
pub fn replaced_operations(live: &[ApiOperation], new: &Document) -> Vec<Finding> {
    let operations = new.operations();
    let names: BTreeSet<String> = operations
        .iter()
        .filter_map(|op| op.operation_id.as_deref().map(normalize_operation_id))
        .collect();
    // Without operationIds APIM derives names itself; only named operations match with confidence.
    if names.is_empty() {
        return Vec::new();
    }
    live.iter()
        .filter(|op| !names.contains(&op.name))
        .filter_map(|op| {
            let same = operations.iter().find(|n| {
                n.method == op.method && template_key(&n.path) == template_key(&op.url_template)
            })?;
            let now = same.operation_id.as_deref().unwrap_or("(none)");
            Some(Finding {
                id: "apim-operation-replaced".to_string(),
                level: Level::Warning,
                operation: Some(format!("{} {}", same.method, same.path)),
                path: format!("/operations/{}", op.name),
                message: format!(
                    "APIM operation '{}' ({} {}) is now operationId '{now}', so the import deletes it with its \
                     policies and creates a new one; keep the old operationId to keep the operation",
                    op.name, op.method, op.url_template
                ),
            })
        })
        .collect()
}

/// A URL template with parameter names blanked and no trailing slash: `/pets/{id}/` → `/pets/{}`.
fn template_key(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path
        .split('?')
        .next()
        .unwrap_or("")
        .trim_end_matches('/')
        .chars()
    {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, method: &str, template: &str) -> ApiOperation {
        ApiOperation {
            name: name.into(),
            method: method.into(),
            url_template: template.into(),
        }
    }

    #[test]
    fn renamed_operation_ids_are_reported_removed_paths_are_not() {
        let new = Document::parse(
            br#"{"openapi":"3.0.1","paths":{"/pets/{petId}":{"get":{"operationId":"FetchPet"}},"/toys":{"get":{"operationId":"ListToys"}}}}"#,
        )
        .unwrap();
        let live = [
            op("getpet", "GET", "/pets/{id}"),
            op("listtoys", "GET", "/toys"),
            op("listcats", "GET", "/cats"),
        ];
        let found = replaced_operations(&live, &new);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].id, "apim-operation-replaced");
        assert_eq!(found[0].operation.as_deref(), Some("GET /pets/{petId}"));
        assert!(found[0].message.contains("'getpet'") && found[0].message.contains("FetchPet"));
    }

    #[test]
    fn info_findings_are_counted_not_listed() {
        let base = Document::parse(br#"{"openapi":"3.0.1","paths":{"/a":{"get":{"responses":{"200":{"description":"ok"}}}}}}"#).unwrap();
        let new = Document::parse(br#"{"openapi":"3.0.1","paths":{"/a":{"get":{"responses":{"200":{"description":"ok"}}}},"/b":{"get":{"responses":{"200":{"description":"ok"}}}}}}"#).unwrap();
        let r = breaking_step(
            &Baseline::Live { revision: Some(1) },
            Some(&base),
            &new,
            &[],
            BreakingChanges::Fail,
            &Policy::default(),
            &mut waivers::Run::none(),
        );
        assert!(r.findings.is_empty());
        assert_eq!(
            r.changes.len(),
            1,
            "the changelog keeps the added operation"
        );
        assert_eq!(r.changes[0].id, "endpoint-added");
        assert!(!r.refuse);
        assert!(
            r.detail.contains("1 compatible change(s) not listed"),
            "{}",
            r.detail
        );
        let r = breaking_step(
            &Baseline::Live { revision: Some(1) },
            Some(&new),
            &base,
            &[],
            BreakingChanges::Fail,
            &Policy::default(),
            &mut waivers::Run::none(),
        );
        assert!(r.refuse);
        assert_eq!(r.outcome, StepOutcome::Failed);
        let r = breaking_step(
            &Baseline::Live { revision: Some(1) },
            Some(&new),
            &base,
            &[],
            BreakingChanges::Warn,
            &Policy::default(),
            &mut waivers::Run::none(),
        );
        assert!(!r.refuse);
        assert_eq!(r.outcome, StepOutcome::Warned);
    }
}
