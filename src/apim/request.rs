//! What a caller asks [`super::publish`] for ([`PublishRequest`]) and what it gets back
//! ([`PublishOutcome`]).

use super::ApiTarget;
use crate::inputs::{Env, RevisionMode};
use crate::spec::Document;

/// What to publish.
#[derive(Clone, Debug)]
pub struct PublishRequest<'a> {
    pub target: &'a ApiTarget,
    /// Already rewritten to the address APIM calls.
    pub document: &'a Document,
    /// The service URL the API must end up with ([`crate::spec::rewrite::Rewritten::service_url`]).
    pub service_url: &'a str,
    pub revision: RevisionMode,
    pub dry_run: bool,
    /// `None`: notes naming the commit (or the document's hash).
    pub release_notes: Option<String>,
    /// The commit being released ([`commit_from_env`]), for the default notes.
    pub commit: Option<String>,
    /// What the caller already read with [`super::current_api`] or [`super::current_contract`]
    /// in this run (`Some(None)`: no API yet), so publishing does not read it again; `None` reads
    /// it here.
    pub current: Option<&'a Option<super::CurrentApi>>,
    /// The `policy` and `operation-policies` inputs, read and checked; `None` leaves the API's
    /// policies as they are.
    pub policies: Option<&'a crate::policy::Policies>,
}

/// `GITHUB_SHA` or `BUILD_SOURCEVERSION`: the commit a pipeline builds.
pub fn commit_from_env(env: &Env) -> Option<String> {
    ["GITHUB_SHA", "BUILD_SOURCEVERSION"]
        .iter()
        .find_map(|v| env.get(v).map(str::trim).filter(|s| !s.is_empty()))
        .map(str::to_string)
}

/// What a publish did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishKind {
    /// The API did not exist; it was created with the document (revision 1, current at once).
    Created,
    /// A new revision was imported, verified and released.
    Staged,
    /// The document was imported into the current revision.
    InPlace,
    /// The current revision already holds this document.
    Unchanged,
}

/// The result of [`super::publish`], for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishOutcome {
    pub api_id: String,
    pub kind: PublishKind,
    /// The current revision after the run (in a dry run: the one that would be).
    pub revision: Option<u32>,
    /// The revision that was current before.
    pub previous_revision: Option<u32>,
    pub service_url: String,
    /// Operations of the document (verified in APIM unless dry run).
    pub operations: usize,
    /// Whether anything was written to APIM (never in a dry run).
    pub changed: bool,
    pub dry_run: bool,
    pub sha256: String,
    pub release_id: Option<String>,
    pub products: Vec<String>,
    pub portal_url: String,
    /// What a dry run would do, in sentences.
    pub dry_run_plan: Option<String>,
    /// Things worth saying: a serviceUrl fixed with PATCH, an api-path that differs, ...
    pub notes: Vec<String>,
    /// Dry run with policies: a unified diff per policy from what APIM holds now.
    pub policy_diff: Option<String>,
}
