//! The verdict of a gate run: every step with its outcome and duration, what was found and
//! published, and the exit code. The one model every reporter renders.

use std::time::Duration;

use serde::Serialize;

use crate::exit::Exit;
use crate::spec::Finding;

/// The steps of a run, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepName {
    Inputs,
    Cluster,
    /// The `spec-file` document and where APIM will call it (from the inputs, the live API or
    /// the cluster): in place of `Cluster`.
    Document,
    Rewrite,
    Lint,
    SignIn,
    BreakingChanges,
    Publish,
    Report,
    /// `apim-gate check`: what APIM serves against the cluster.
    Drift,
    /// `apim-gate check --repair`: the address fixed in place.
    Repair,
}

impl StepName {
    pub fn title(self) -> &'static str {
        match self {
            StepName::Inputs => "Inputs",
            StepName::Cluster => "Cluster: address and document",
            StepName::Document => "Document: spec-file and address",
            StepName::Rewrite => "Rewrite address",
            StepName::Lint => "APIM import lint",
            StepName::SignIn => "Azure sign-in",
            StepName::BreakingChanges => "Breaking changes",
            StepName::Publish => "Publish to APIM",
            StepName::Report => "Report",
            StepName::Drift => "Drift check",
            StepName::Repair => "Repair address",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepOutcome {
    Passed,
    /// Passed with findings worth reading.
    Warned,
    Failed,
    /// Not run because an earlier step failed, or not needed.
    Skipped,
}

#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub name: StepName,
    pub outcome: StepOutcome,
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
    /// One line a person reads: what happened.
    pub detail: String,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Where a finding came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingSource {
    Lint,
    BreakingChange,
    /// About the waivers themselves: `waiver-expired`, `waiver-unused`.
    Waiver,
    /// `apim-gate check`.
    Drift,
}

#[derive(Clone, Debug, Serialize)]
pub struct SourcedFinding {
    pub source: FindingSource,
    #[serde(flatten)]
    pub finding: Finding,
}

/// A finding a reviewed waiver let through: as the check found it (its level before), and why.
#[derive(Clone, Debug, Serialize)]
pub struct WaivedFinding {
    pub source: FindingSource,
    #[serde(flatten)]
    pub finding: Finding,
    pub reason: String,
    /// The last day the waiver waives, `YYYY-MM-DD`.
    pub until: String,
    /// Which waiver: `.apim-gate/waivers.yaml entry 2`.
    pub waiver: String,
}

/// The address APIM calls and why, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct AddressReport {
    pub address: String,
    pub why: String,
    /// `backend: pool`: the nodes, taken or skipped, and the backends written.
    pub pool: Option<super::pool::PoolReport>,
}

/// What APIM holds after the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PublishReport {
    pub api_id: String,
    /// The current revision after the run.
    pub revision: Option<u32>,
    pub service_url: String,
    pub operations: usize,
    /// False when the document was unchanged (or a dry run).
    pub changed: bool,
    pub dry_run: bool,
    /// The API in the Azure portal.
    pub portal_url: String,
    /// Dry run with policies: a unified diff per policy from what APIM holds now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_diff: Option<String>,
}

/// The overall result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    /// The gate refused the release (exit 1).
    Refused,
    /// Something broke (exit 2–5).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// `namespace/service`.
    pub service: String,
    pub outcome: Outcome,
    #[serde(serialize_with = "exit_code")]
    pub exit: Exit,
    pub steps: Vec<Step>,
    pub address: Option<AddressReport>,
    pub findings: Vec<SourcedFinding>,
    /// Findings waived by the `waivers` file (also among `findings`, as info notes).
    pub waived: Vec<WaivedFinding>,
    pub publish: Option<PublishReport>,
    /// Where the published document was written (`output-spec`).
    pub spec_path: Option<String>,
    /// The error that ended the run, when one did: what happened, why, what to do.
    pub error: Option<String>,
    /// Things the user should know that are not findings.
    pub warnings: Vec<String>,
    /// Every change from the baseline to the new document, compatible ones included (the
    /// changelog), as the diff found them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Finding>,
}

fn exit_code<S: serde::Serializer>(e: &Exit, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(e.code())
}

impl Verdict {
    /// A drift check's verdict (`apim-gate check`, `mode: check`), not a release's.
    pub fn is_check(&self) -> bool {
        self.steps.iter().any(|s| s.name == StepName::Drift)
    }

    /// Breaking-change findings at error level.
    pub fn breaking_changes(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| {
                f.source == FindingSource::BreakingChange
                    && f.finding.level == crate::spec::Level::Error
            })
            .count()
    }
}
