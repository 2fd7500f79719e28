//! The gate's checks on the rewritten document: the APIM import lint, the breaking-change diff
//! against the baseline, and which live APIM operations an import would delete.

use std::collections::BTreeSet;

use crate::inputs::BreakingChanges;
use crate::spec::lint::normalize_operation_id;
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

/// Errors stop the gate; warnings are reported.
pub fn lint_step(doc: &Document) -> CheckResult {
    let findings = lint::lint(doc);
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
        detail,
        findings: sourced(FindingSource::Lint, findings),
        refuse: errors > 0,
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

/// The breaking-change check, plus the live operations an import would delete.
///
/// `live_operation_names` are the names of the current APIM operations (APIM names them after the
/// normalised operationId): matching on update is by that name, so an operation whose operationId
/// disappears is deleted with its policies even when its path and method stay.
pub fn breaking_step(
    baseline: &Baseline,
    base: Option<&Document>,
    new: &Document,
    live_operation_names: &[String],
    mode: BreakingChanges,
) -> CheckResult {
    let mut findings = match base {
        Some(base) => diff::diff(base, new),
        None => Vec::new(),
    };
    findings.extend(replaced_operations(live_operation_names, new));
    let errors = count(&findings, Level::Error);
    let warnings = count(&findings, Level::Warning);
    let what = baseline.describe();
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
        detail,
        findings: sourced(FindingSource::BreakingChange, findings),
        refuse,
    }
}

/// Live operations whose name no operation of `new` will take.
pub fn replaced_operations(live_operation_names: &[String], new: &Document) -> Vec<Finding> {
    if live_operation_names.is_empty() {
        return Vec::new();
    }
    let incoming: BTreeSet<String> = new
        .operations()
        .iter()
        .filter_map(|op| op.operation_id.as_deref().map(normalize_operation_id))
        .collect();
    // Operations without an operationId get names APIM derives itself; only named ones can be
    // matched with confidence.
    if incoming.is_empty() {
        return Vec::new();
    }
    live_operation_names
        .iter()
        .filter(|name| !incoming.contains(name.as_str()))
        .map(|name| Finding {
            id: "apim-operation-deleted".to_string(),
            level: Level::Warning,
            operation: None,
            path: format!("/operations/{name}"),
            message: format!(
                "APIM operation '{name}' matches no operationId of the new document, so the import deletes it \
                 together with its policies; if it was renamed, keep the old operationId or move its policies"
            ),
        })
        .collect()
}
